//! The command line: every command, its arguments and their help, as
//! clap reads them. What the commands do is in the other modules.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{network, office, staffing};

/// anpi (安否): offline-first safety checks for home-care teams.
#[derive(Parser)]
#[command(name = "anpi", version, about)]
pub(crate) struct Cli {
    /// Language of the output (ja: 日本語, en: English).
    #[arg(long, value_enum, default_value_t = LangArg::Ja, global = true)]
    pub(crate) lang: LangArg,
    /// The data folder of this device.
    #[arg(long, env = "ANPI_DATA", global = true)]
    pub(crate) data: Option<PathBuf>,
    /// Which space, when this device holds several (its office and a shared
    /// area): a name or an id.
    #[arg(long, global = true, value_name = "NAME|ID")]
    pub(crate) space: Option<String>,
    /// A file whose first line is the passphrase of the data folder's
    /// encryption (or set ANPI_PASSPHRASE).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LangArg {
    Ja,
    En,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a new space on a new device (a data folder).
    Init {
        /// The space's name (an office, or a shared area).
        #[arg(long)]
        space: String,
        /// This device's organisation.
        #[arg(long)]
        org: Option<String>,
        /// The person using this device.
        #[arg(long)]
        staff: Option<String>,
    },
    /// A new device (its own identity) that joins the spaces of the data
    /// folder SRC_DIR, copying them through the sync engine.
    Clone {
        /// The data folder to join from.
        src_dir: PathBuf,
        /// The person using this device.
        #[arg(long)]
        staff: Option<String>,
        /// This device's organisation.
        #[arg(long)]
        org: Option<String>,
    },
    /// Import the roster CSV (UTF-8 or Shift_JIS); all rows or none.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Check the file and say what an import would add, update and
        /// leave; import nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The priority list (安否確認優先順位) of the open incident.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// One recipient: 様式1 evacuation plan and check history.
    Show {
        /// 利用者ID
        id: String,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Start, list or end incidents (災害).
    Incident {
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Record a safety check (安否確認) in the open incident.
    Check(office::CheckArgs),
    /// The staff list (職員名簿) and the staff board (職員安否).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Record a staff safety report (職員安否報告) in the open incident.
    Report(staffing::ReportArgs),
    /// Assign recipients to a staff member in the open incident (admins).
    Assign(staffing::AssignArgs),
    /// The assignments of the incident shown.
    Assignments {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Say that someone is on the way (向かっています).
    Claim {
        /// 利用者ID
        id: String,
        /// How long the claim holds, 1 to 720 minutes (12 hours). A check
        /// this device records of the recipient ends it.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
    },
    /// Withdraw this device's claim.
    Release {
        /// 利用者ID
        id: String,
    },
    /// Duplicate visits in the open incident.
    Duplicates {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Export 様式2 (the priority list) as CSV for Excel or as HTML for paper.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Two-way sync with another data folder (a USB stick when there is no
    /// network).
    Merge {
        /// The other data folder.
        other_dir: PathBuf,
    },
    /// Shared area spaces of several agencies (連携型BCP): create one, share
    /// consented recipients with it, see declared disaster exceptions.
    Area {
        #[command(subcommand)]
        command: AreaCommand,
    },
    /// Record a recipient's consent to share with other agencies
    /// (情報提供同意), or withdraw it.
    Consent {
        /// 利用者ID
        id: String,
        /// 同意日 (2026-04-01, 令和8年4月1日, …).
        #[arg(long, required_unless_present = "withdraw")]
        date: Option<String>,
        /// 同意範囲: what may be shared, with whom.
        #[arg(long, default_value = "")]
        scope: String,
        /// 同意取得者: who obtained it.
        #[arg(long, required_unless_present = "withdraw")]
        by: Option<String>,
        /// Withdraw the consent instead.
        #[arg(long, conflicts_with_all = ["date", "by"])]
        withdraw: bool,
    },
    /// The office's priority weights: show them, or (admins) set them for
    /// every device of the space.
    Priority {
        #[command(subcommand)]
        command: PriorityCommand,
    },
    /// The audit trail of this device: list it, or verify its hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The office dashboard's personal logins (needed when the dashboard is
    /// served beyond this PC): make, list, remove, new password.
    Login {
        #[command(subcommand)]
        command: LoginCommand,
    },
    /// This device's id, and the devices that belong to the space.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Make an invite for a new phone (admins): prints the code and writes
    /// it as a QR code. It works once, at this office, until it expires.
    Invite {
        #[command(flatten)]
        carrier: CarrierArgs,
        /// Where this office's `serve` is reached from the phones
        /// (repeatable).
        #[arg(long = "address", value_name = "HOST:PORT", required = true)]
        addresses: Vec<String>,
        /// Hours until the invite expires.
        #[arg(long, default_value_t = 24)]
        valid_hours: i64,
        /// Also write the code as a QR code (PNG) here.
        #[arg(long, value_name = "FILE.png")]
        qr: Option<PathBuf>,
    },
    /// Join through the office: with an invite code, or with the office's
    /// address and id once an admin added this device.
    Join {
        /// An invite code from `anpi invite`.
        #[arg(long, value_name = "CODE", conflicts_with_all = ["office", "office_id"])]
        invite: Option<String>,
        /// The office node's address.
        #[arg(long, value_name = "HOST:PORT", requires = "office_id")]
        office: Option<String>,
        /// The office device's id (as `anpi device id` prints it there).
        #[arg(long, value_name = "ID", requires = "office")]
        office_id: Option<String>,
    },
    /// A long-running node (the office, or a laptop at a shelter): answers
    /// peers, syncs with peers it finds, keeps the office link.
    Serve {
        /// Where to listen.
        #[arg(long, default_value = "0.0.0.0:7150", value_name = "ADDR")]
        listen: String,
        /// Also serve the office dashboard in a browser at this address
        /// (loopback only, e.g. 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        #[command(flatten)]
        net: NetOptions,
    },
    /// Sync once with peers, the office and devices found nearby, until
    /// quiet; print what moved.
    Sync {
        #[command(flatten)]
        net: NetOptions,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30, value_name = "S")]
        timeout: u64,
    },
    /// Write an encrypted backup of this data folder to FILE (also while
    /// `serve` runs). Restoring it needs this folder's passphrase.
    Backup {
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make the data folder (--data, a new folder) again from a backup
    /// file. The device keeps its id; what it recorded after the backup
    /// comes back from the phones at their next syncs.
    Restore {
        /// The backup file (`anpi backup --out`).
        file: PathBuf,
    },
    /// An office and two phones of two organisations, offline checks, a
    /// duplicate visit, a merge, and the merged priority list.
    Demo {
        /// Keep the data folders here instead of a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub(crate) struct NetOptions {
    /// A peer to sync with (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) peer: Vec<String>,
    /// The id the peer's key must prove, one per --peer, in order.
    #[arg(long, value_name = "ID")]
    pub(crate) peer_id: Vec<String>,
    /// Find peers of the same space on the local network (mDNS).
    #[arg(long)]
    pub(crate) mdns: bool,
    /// An interface mDNS may use (repeatable; required with --mdns).
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Vec<String>,
}

impl From<NetOptions> for network::NetArgs {
    fn from(o: NetOptions) -> Self {
        network::NetArgs {
            peers: o.peer,
            peer_ids: o.peer_id,
            mdns: o.mdns,
            interfaces: o.interface,
        }
    }
}

/// Who carries a device, and what they may do.
#[derive(clap::Args)]
pub(crate) struct CarrierArgs {
    /// Who carries the device.
    #[arg(long)]
    pub(crate) staff: String,
    /// Their organisation (default: this device's).
    #[arg(long)]
    pub(crate) org: Option<String>,
    /// admin, care_manager or partner.
    #[arg(long, default_value = "care_manager")]
    pub(crate) role: String,
}

impl From<CarrierArgs> for network::Carrier {
    fn from(c: CarrierArgs) -> Self {
        network::Carrier {
            staff: c.staff,
            org: c.org,
            role: c.role,
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum AreaCommand {
    /// A new area space on this device (its first admin); add other
    /// agencies' devices with `device add --space NAME` or `invite --space NAME`.
    Create {
        /// Its name (e.g. 東地区連携).
        name: String,
    },
    /// Share this office's consented recipients with an area space (only
    /// what safety checks need). With --exception-hours, first declare a
    /// disaster exception: recipients without consent are shared too, for
    /// that long, visibly to every member and in the audit trail.
    Share {
        /// The area space (name or id).
        #[arg(long)]
        to: String,
        /// Declare a disaster exception lasting this many hours.
        #[arg(long, requires = "reason", value_name = "HOURS")]
        exception_hours: Option<i64>,
        /// Why life is at risk (required with --exception-hours).
        #[arg(long)]
        reason: Option<String>,
    },
    /// 支援代行: bring the checks partner agencies made in an area space
    /// for this office's recipients into the office's open incident (its
    /// list, duplicates and 様式2). Safe to repeat.
    Collect {
        /// The area space (name or id).
        #[arg(long)]
        from: String,
    },
    /// Disaster exceptions declared in the area spaces this device holds.
    Exceptions {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum PriorityCommand {
    /// Every weight with its name, points and meaning.
    Show {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Change weights: NAME=POINTS... (e.g. lives_alone=30 dementia=15).
    /// All or nothing; the audit trail keeps the change.
    Set {
        /// NAME=POINTS pairs.
        #[arg(required_unless_present = "reset")]
        weights: Vec<String>,
        /// Start from the defaults instead of the current weights.
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Every entry, oldest first: when, who, what, of what.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Check that no entry was changed, removed or reordered; exit 1 naming
    /// the first entry that was.
    Verify,
}

#[derive(Subcommand)]
pub(crate) enum LoginCommand {
    /// Make a login (admins). The password is read from standard input
    /// (typed without echo on a terminal).
    Add {
        /// The login name (ASCII letters, digits, . _ -).
        login: String,
        /// The person's name.
        #[arg(long)]
        name: String,
        /// Their organisation (default: this device's).
        #[arg(long)]
        org: Option<String>,
        /// admin or care_manager.
        #[arg(long, default_value = "care_manager")]
        role: String,
    },
    /// The logins.
    List,
    /// Remove a login (admins).
    Remove {
        /// The login name.
        login: String,
    },
    /// Give a login a new password, read from standard input (admins).
    Password {
        /// The login name.
        login: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// Print this device's id (making the data folder and its key if new).
    Id,
    /// Add a device to the space (admins only).
    Add {
        /// The device's id (as `anpi device id` printed it on that device).
        id: String,
        #[command(flatten)]
        carrier: CarrierArgs,
    },
    /// Revoke a device (lost, or its carrier left); admins only. Every
    /// device refuses it once the revocation reaches it.
    Revoke {
        /// The device's id.
        id: String,
    },
    /// The devices of the space and their standing.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum ExportCommand {
    /// 様式2 災害時利用者一覧表（安否確認優先順位）.
    Form2 {
        /// csv (for Excel) or html (prints on A4 landscape).
        #[arg(long, value_enum)]
        format: Form2Format,
        /// CSV encoding: utf8 (with BOM, Excel opens it) or cp932.
        #[arg(long, value_enum, default_value_t = CsvEncodingArg::Utf8)]
        encoding: CsvEncodingArg,
        /// How the paper form is split into pages.
        #[arg(long, value_enum, default_value_t = GroupByArg::CareManager)]
        group_by: GroupByArg,
        /// Write here instead of to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The space's documents as plain saved Automerge files (roster and
    /// each incident), for other tools; their shape is docs/FORMAT.md.
    Automerge {
        /// The folder to write them into (made if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Form2Format {
    Csv,
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CsvEncodingArg {
    Utf8,
    Cp932,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum GroupByArg {
    CareManager,
    Area,
}

#[derive(Subcommand)]
pub(crate) enum StaffCommand {
    /// Import the staff list CSV (UTF-8 or Shift_JIS; columns 職員ID, 氏名,
    /// 所属, 職種, 電話, 距離, 地区); all rows or none. Admins.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Check the file and say what an import would change; import
        /// nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The staff list.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Take a person off the staff list (admins).
    Remove {
        /// 職員ID
        id: String,
    },
    /// Say which staff member carries this device (their 職員ID): their
    /// reports and assignments are then this device's.
    Me {
        /// 職員ID
        id: String,
    },
    /// 職員安否: who reported, who did not, who is hurt; turnout and the
    /// operation level.
    Board {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum IncidentCommand {
    /// Start (or join) the incident of KIND that began today.
    Start {
        /// earthquake, flood, landslide, storm, other (or 地震, 水害, …).
        #[arg(long)]
        kind: String,
        /// A name people recognise.
        #[arg(long)]
        name: Option<String>,
    },
    /// All incidents, newest first.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// End the open incident.
    End,
    /// Set the operation level (運営レベル) by hand: 30, 50, 70, 90, or
    /// auto to follow staff turnout again (admins).
    Level {
        /// 30, 50, 70, 90 or auto.
        level: String,
        /// Why (kept with who and when).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Mark the power as back on (or cut again) where the clients live: an
    /// earthquake, storm or flood is taken to cut it, which gives battery
    /// deadlines (admins).
    Power {
        /// on or off.
        on: String,
        /// Why (kept with who and when).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// One disaster recorded as two incidents (phones started it either
    /// side of midnight): bring FROM's checks into INTO and end FROM.
    /// Safe to repeat.
    Merge {
        /// The incident to merge away (its id, from `incident list`).
        from: String,
        /// The incident to keep.
        #[arg(long)]
        into: String,
    },
}
