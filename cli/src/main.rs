//! `anpi`: the command for the office and for trying anpi out.
//!
//! Each command opens the data folder, does one thing, and leaves everything
//! it changed on disk. Output is Japanese by default (`--lang en`).

/// `println!` for everything the CLI prints: names, notes and messages may
/// come from a file or from another device, and a control character among
/// them (an ESC sequence in a note) is shown as a visible symbol rather
/// than sent to the office's terminal (`text::printable`).
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", anpi_core::text::printable(&format!($($arg)*)))
    };
}

mod demo;
mod key;
mod network;
mod office;
mod sharing;
mod weights;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anpi_core::codes::Lang;
use anpi_core::io::form2 as roster_form2;
use anpi_core::io::roster;
use anpi_core::model::Staff;
use anpi_core::node::Node;
use clap::{Parser, Subcommand, ValueEnum};

/// anpi (安否): offline-first safety checks for home-care teams.
#[derive(Parser)]
#[command(name = "anpi", version, about)]
struct Cli {
    /// Language of the output (ja: 日本語, en: English).
    #[arg(long, value_enum, default_value_t = LangArg::Ja, global = true)]
    lang: LangArg,
    /// The data folder of this device.
    #[arg(long, env = "ANPI_DATA", global = true)]
    data: Option<PathBuf>,
    /// Which space, when this device holds several (its office and a shared
    /// area): a name or an id.
    #[arg(long, global = true, value_name = "NAME|ID")]
    space: Option<String>,
    /// A file whose first line is the passphrase of the data folder's
    /// encryption (or set ANPI_PASSPHRASE).
    #[arg(long, global = true, value_name = "FILE")]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Ja,
    En,
}

#[derive(Subcommand)]
enum Command {
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
struct NetOptions {
    /// A peer to sync with (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    peer: Vec<String>,
    /// The id the peer's key must prove, one per --peer, in order.
    #[arg(long, value_name = "ID")]
    peer_id: Vec<String>,
    /// Find peers of the same space on the local network (mDNS).
    #[arg(long)]
    mdns: bool,
    /// An interface mDNS may use (repeatable; required with --mdns).
    #[arg(long, value_name = "IF")]
    interface: Vec<String>,
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
struct CarrierArgs {
    /// Who carries the device.
    #[arg(long)]
    staff: String,
    /// Their organisation (default: this device's).
    #[arg(long)]
    org: Option<String>,
    /// admin, care_manager or partner.
    #[arg(long, default_value = "care_manager")]
    role: String,
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
enum AreaCommand {
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
enum PriorityCommand {
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
enum AuditCommand {
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
enum DeviceCommand {
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
enum ExportCommand {
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
}

#[derive(Clone, Copy, ValueEnum)]
enum Form2Format {
    Csv,
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum CsvEncodingArg {
    Utf8,
    Cp932,
}

#[derive(Clone, Copy, ValueEnum)]
enum GroupByArg {
    CareManager,
    Area,
}

#[derive(Subcommand)]
enum IncidentCommand {
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

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub(crate) fn t<'a>(lang: Lang, ja: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

static SPACE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The space a command works on: the one named with `--space`, or the only
/// one this device holds.
pub(crate) fn space(node: &Node) -> anpi_core::Result<anpi_core::model::Space> {
    match SPACE.get().and_then(Option::as_ref) {
        None => node.only_space(),
        Some(want) => named_space(node, want),
    }
}

/// A space of this device by name or id.
pub(crate) fn named_space(node: &Node, want: &str) -> anpi_core::Result<anpi_core::model::Space> {
    let spaces = node.spaces()?;
    let names: Vec<String> = spaces
        .iter()
        .map(|s| format!("{} ({})", s.name, s.id))
        .collect();
    spaces
        .into_iter()
        .find(|s| s.name == want || s.id.as_str() == want)
        .ok_or_else(|| {
            anpi_core::Error::NotFound(format!(
                "space {want:?} (this device holds: {})",
                names.join(", ")
            ))
        })
}

fn data_dir(lang: Lang, data: Option<&Path>) -> Result<PathBuf> {
    data.map(Path::to_path_buf).ok_or_else(|| {
        t(
            lang,
            "データフォルダを --data DIR か環境変数 ANPI_DATA で指定してください",
            "name the data folder with --data DIR or the ANPI_DATA environment variable",
        )
        .into()
    })
}

/// Open an existing data folder.
fn open(lang: Lang, data: Option<&Path>) -> Result<Node> {
    let dir = data_dir(lang, data)?;
    key::open_existing(lang, &dir)
}

fn init(
    lang: Lang,
    data: Option<&Path>,
    space: &str,
    org: Option<String>,
    staff: Option<String>,
) -> Result<()> {
    let dir = data_dir(lang, data)?;
    let mut node = key::open_node(lang, &dir)?;
    if let Some(s) = node.spaces()?.first() {
        return Err(match lang {
            Lang::Ja => format!(
                "{} にはすでにスペース「{}」があります",
                dir.display(),
                s.name
            ),
            Lang::En => format!("{} already holds the space \"{}\"", dir.display(), s.name),
        }
        .into());
    }
    node.set_staff(Staff {
        name: staff.unwrap_or_default(),
        organisation: org.unwrap_or_else(|| space.to_string()),
    })?;
    let created = node.create_space(space)?;
    match lang {
        Lang::Ja => say!(
            "スペース「{}」を作成しました（{}）\n端末ID: {}",
            created.name,
            dir.display(),
            node.device()
        ),
        Lang::En => say!(
            "created space \"{}\" in {}\ndevice id: {}",
            created.name,
            dir.display(),
            node.device()
        ),
    }
    Ok(())
}

fn import(lang: Lang, data: Option<&Path>, file: &Path) -> Result<()> {
    let mut node = open(lang, data)?;
    let space = crate::space(&node)?;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let roster = roster::read(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    if !roster.ignored_columns.is_empty() {
        eprintln!(
            "{}: {}",
            t(lang, "読み飛ばした列", "columns ignored"),
            roster.ignored_columns.join(", ")
        );
    }
    let report = if std::io::stderr().is_terminal() {
        // A bar on a terminal only: scripts and logs get the summary line.
        let bar = indicatif::ProgressBar::new(roster.recipients.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
                .expect("the progress template is valid"),
        );
        bar.set_message(t(lang, "取り込み中", "importing").to_string());
        let report = node.import_roster(&space.id, roster.recipients, &mut |done, _| {
            bar.set_position(done as u64)
        })?;
        bar.finish_and_clear();
        report
    } else {
        node.import_roster(&space.id, roster.recipients, &mut |_, _| {})?
    };
    tidy(lang, &mut node);
    let counts = report.counts;
    match lang {
        Lang::Ja => say!(
            "追加 {} 件・更新 {} 件・変更なし {} 件（文字コード: {}）",
            counts.added,
            counts.updated,
            counts.unchanged,
            roster.encoding
        ),
        Lang::En => say!(
            "{} added, {} updated, {} unchanged (encoding: {})",
            counts.added,
            counts.updated,
            counts.unchanged,
            roster.encoding
        ),
    }
    if !report.missing.is_empty() {
        let ids: Vec<&str> = report.missing.iter().map(|id| id.as_str()).collect();
        match lang {
            Lang::Ja => say!(
                "このファイルにない利用者 {} 件（削除していません。不要なら担当者が確認してください）: {}",
                ids.len(),
                ids.join(", ")
            ),
            Lang::En => say!(
                "{} recipients are not in this file (kept, not deleted): {}",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
    Ok(())
}

fn clone(
    lang: Lang,
    data: Option<&Path>,
    src: &Path,
    staff: Option<String>,
    org: Option<String>,
) -> Result<()> {
    let dir = data_dir(lang, data)?;
    let mut source = open(lang, Some(src))?;
    let mut node = key::open_node(lang, &dir)?;
    if !node.spaces()?.is_empty() {
        return Err(format!(
            "{}: {}",
            dir.display(),
            t(lang, "すでにスペースがあります", "already holds a space")
        )
        .into());
    }
    let spaces: Vec<_> = source.spaces()?.into_iter().map(|s| s.id).collect();
    let from = source.staff().clone();
    node.set_staff(Staff {
        name: staff.unwrap_or_default(),
        organisation: org.unwrap_or(from.organisation),
    })?;
    let x = anpi_core::node::sync_local(&mut node, &mut source, &spaces)?;
    tidy(lang, &mut node);
    let names: Vec<String> = node.spaces()?.into_iter().map(|s| s.name).collect();
    match lang {
        Lang::Ja => say!(
            "{} から「{}」を受け取りました（{} バイト）\n端末ID: {}",
            src.display(),
            names.join("」「"),
            x.initiator.bytes_received,
            node.device()
        ),
        Lang::En => say!(
            "received \"{}\" from {} ({} bytes)\ndevice id: {}",
            names.join("\", \""),
            src.display(),
            x.initiator.bytes_received,
            node.device()
        ),
    }
    Ok(())
}

/// Run a command on the data folder and leave it compacted.
fn with_node(
    lang: Lang,
    data: Option<&Path>,
    f: impl FnOnce(&mut Node) -> Result<()>,
) -> Result<()> {
    let mut node = open(lang, data)?;
    f(&mut node)?;
    tidy(lang, &mut node);
    Ok(())
}

/// Compact the folder after a command that succeeded. What the command
/// saved is on disk already, so a failure here (a full disk) is said as a
/// warning, never as the command's failure: people would record a check
/// again that was saved. What is not compacted now is next time.
pub(crate) fn tidy(lang: Lang, node: &mut Node) {
    let tidied = node.maintain();
    for (doc, why) in node.unreadable() {
        eprintln!(
            "anpi: {} {doc}: {why}",
            t(
                lang,
                "⚠ 読めない文書があります（ほかのデータは使えます）:",
                "⚠ a document cannot be read (everything else works):"
            )
        );
    }
    if let Err(e) = tidied {
        eprintln!(
            "anpi: {}: {e}",
            t(
                lang,
                "保存は済んでいます。データフォルダの整理は次回に行います",
                "everything is saved; tidying the data folder is left for next time"
            )
        );
    }
}

/// `anpi list | head` closes the pipe early: end quietly, as other command
/// line tools do, instead of printing a panic. (Rust ignores SIGPIPE, and
/// resetting it needs unsafe code.) Every write is durable before it is
/// reported, so stopping mid-output loses nothing.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let lang = match cli.lang {
        LangArg::Ja => Lang::Ja,
        LangArg::En => Lang::En,
    };
    let data = cli.data.as_deref();
    key::set_key_file(cli.key_file.clone());
    let _ = SPACE.set(cli.space.clone());
    let result = match cli.command {
        Command::Init { space, org, staff } => init(lang, data, &space, org, staff),
        Command::Import { file } => import(lang, data, &file),
        Command::Clone {
            src_dir,
            staff,
            org,
        } => clone(lang, data, &src_dir, staff, org),
        Command::List { json } => with_node(lang, data, |n| office::list(lang, n, json)),
        Command::Show { id, json } => with_node(lang, data, |n| office::show(lang, n, &id, json)),
        Command::Incident { command } => with_node(lang, data, |n| match command {
            IncidentCommand::Start { kind, name } => office::incident_start(lang, n, &kind, name),
            IncidentCommand::List { json } => office::incident_list(lang, n, json),
            IncidentCommand::End => office::incident_end(lang, n),
            IncidentCommand::Merge { from, into } => office::incident_merge(lang, n, &from, &into),
        }),
        Command::Check(args) => with_node(lang, data, |n| office::check(lang, n, args)),
        Command::Claim { id, minutes } => {
            with_node(lang, data, |n| office::claim(lang, n, &id, minutes))
        }
        Command::Release { id } => with_node(lang, data, |n| office::release(lang, n, &id)),
        Command::Duplicates { json } => {
            with_node(lang, data, |n| office::duplicates(lang, n, json))
        }
        Command::Export {
            what:
                ExportCommand::Form2 {
                    format,
                    encoding,
                    group_by,
                    out,
                },
        } => with_node(lang, data, |n| {
            let bytes = office::form2(
                n,
                matches!(format, Form2Format::Html),
                match encoding {
                    CsvEncodingArg::Utf8 => roster_form2::CsvEncoding::Utf8Bom,
                    CsvEncodingArg::Cp932 => roster_form2::CsvEncoding::Cp932,
                },
                match group_by {
                    GroupByArg::CareManager => roster_form2::GroupBy::CareManager,
                    GroupByArg::Area => roster_form2::GroupBy::Area,
                },
            )?;
            office::audit_read(
                lang,
                n,
                anpi_core::audit::Action::Exported,
                "form 2",
                &match (&out, format) {
                    (Some(p), Form2Format::Html) => format!("HTML to {}", p.display()),
                    (Some(p), Form2Format::Csv) => format!("CSV to {}", p.display()),
                    (None, Form2Format::Html) => "HTML to standard output".to_string(),
                    (None, Form2Format::Csv) => "CSV to standard output".to_string(),
                },
            )?;
            match out {
                Some(path) => {
                    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                    say!(
                        "{}: {}",
                        t(lang, "様式2を書き出しました", "form 2 written to"),
                        path.display()
                    );
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(())
        }),
        Command::Merge { other_dir } => {
            with_node(lang, data, |n| office::merge(lang, n, &other_dir))
        }
        Command::Area { command } => with_node(lang, data, |n| match command {
            AreaCommand::Create { name } => sharing::area_create(lang, n, &name),
            AreaCommand::Share {
                to,
                exception_hours,
                reason,
            } => sharing::area_share(lang, n, &to, exception_hours, reason.as_deref()),
            AreaCommand::Collect { from } => sharing::area_collect(lang, n, &from),
            AreaCommand::Exceptions { json } => sharing::area_exceptions(lang, n, json),
        }),
        Command::Consent {
            id,
            date,
            scope,
            by,
            withdraw,
        } => with_node(lang, data, |n| {
            sharing::consent(lang, n, &id, date.as_deref(), scope, by, withdraw)
        }),
        Command::Priority { command } => with_node(lang, data, |n| match command {
            PriorityCommand::Show { json } => weights::show(lang, n, json),
            PriorityCommand::Set { weights, reset } => weights::set(lang, n, &weights, reset),
        }),
        Command::Audit { command } => with_node(lang, data, |n| match command {
            AuditCommand::List { json } => office::audit_list(lang, n, json),
            AuditCommand::Verify => office::audit_verify(lang, n),
        }),
        Command::Device { command } => match command {
            DeviceCommand::Id => data_dir(lang, data).and_then(|d| network::device_id(lang, &d)),
            DeviceCommand::Add { id, carrier } => with_node(lang, data, |n| {
                network::device_add(lang, n, &id, carrier.into())
            }),
            DeviceCommand::Revoke { id } => {
                with_node(lang, data, |n| network::device_revoke(lang, n, &id))
            }
            DeviceCommand::List { json } => {
                with_node(lang, data, |n| network::device_list(lang, n, json))
            }
        },
        Command::Invite {
            carrier,
            addresses,
            valid_hours,
            qr,
        } => with_node(lang, data, |n| {
            network::invite(
                lang,
                n,
                carrier.into(),
                network::InviteArgs {
                    addresses,
                    valid_hours,
                    qr,
                },
            )
        }),
        Command::Join {
            invite,
            office,
            office_id,
        } => data_dir(lang, data).and_then(|d| match (invite, office, office_id) {
            (Some(code), _, _) => network::join_invite(lang, &d, &code),
            (None, Some(office), Some(id)) => network::join(lang, &d, &office, &id),
            _ => Err(t(
                lang,
                "--invite CODE か、--office HOST:PORT と --office-id ID を指定してください",
                "give --invite CODE, or --office HOST:PORT with --office-id ID",
            )
            .into()),
        }),
        Command::Serve { listen, net } => {
            open(lang, data).and_then(|n| network::serve(lang, n, &listen, net.into()))
        }
        Command::Sync { net, timeout } => open(lang, data)
            .and_then(|n| network::sync(lang, n, net.into(), Duration::from_secs(timeout))),
        Command::Backup { out } => {
            data_dir(lang, data).and_then(|d| office::backup(lang, &d, &out))
        }
        Command::Restore { file } => {
            data_dir(lang, data).and_then(|d| office::restore(lang, &d, &file))
        }
        Command::Demo { keep } => demo::run(lang, keep),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<anpi_core::Error>()
                .is_some_and(|e| matches!(e, anpi_core::Error::ReadOnly)) =>
        {
            eprintln!(
                "anpi: {}",
                t(
                    lang,
                    "データフォルダが読み取り専用です（読むことはできますが、保存はできません）。何も保存していません",
                    "the data folder is read-only: it can be read, but nothing can be saved in it; nothing was saved"
                )
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "anpi: {}",
                anpi_core::text::printable(e.to_string().trim_end())
            );
            ExitCode::FAILURE
        }
    }
}
