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

mod args;
mod context;
mod demo;
mod key;
mod logins;
mod network;
mod office;
mod setup;
mod sharing;
mod staffing;
mod weights;

use std::process::ExitCode;
use std::time::Duration;

use anpi_core::codes::Lang;
use anpi_core::io::form2 as roster_form2;
use anpi_core::node::Node;
use clap::Parser;

use args::*;
use context::Ctx;

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The long-running process's log on standard error: `info` and above,
/// or what `ANPI_LOG` says (`debug`, `anpi_web=debug,info`, …).
pub(crate) fn init_log() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("ANPI_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .try_init();
}

pub(crate) fn t<'a>(lang: Lang, ja: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
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
    if let Ok(newer) = node.newer_documents()
        && !newer.is_empty()
    {
        eprintln!(
            "anpi: ⚠ {}",
            anpi_core::doc::format::update_notice(lang, newer.len())
        );
    }
    // Said after every command until the clock is set: what it records
    // meanwhile carries the error and is shown corrected.
    if let Ok(Some(status)) = node.clock_status()
        && let Some(warning) = status.warning(lang)
    {
        eprintln!("anpi: ⚠ {warning}");
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
    #[cfg(unix)]
    if std::env::var_os(key::PASSPHRASE_ENV).is_some() {
        // Returns only when the new start failed: then the passphrase is
        // read from the environment as it is, and the user told.
        let why = key::out_of_the_environment();
        eprintln!("anpi: {}: {why}", key::PASSPHRASE_ENV);
    }
    let cli = Cli::parse();
    let lang = match cli.lang {
        LangArg::Ja => Lang::Ja,
        LangArg::En => Lang::En,
    };
    let cx = Ctx {
        lang,
        data: cli.data,
        space: cli.space,
        key_file: cli.key_file,
    };
    let cx = &cx;
    let result = match cli.command {
        Command::Init { space, org, staff } => setup::init(cx, &space, org, staff),
        Command::Import { file, dry_run } => setup::import(cx, &file, dry_run),
        Command::Clone {
            src_dir,
            staff,
            org,
        } => setup::clone(cx, &src_dir, staff, org),
        Command::List { json } => cx.with_node(|n| office::list(cx, n, json)),
        Command::Show { id, json } => cx.with_node(|n| office::show(cx, n, &id, json)),
        Command::Incident { command } => cx.with_node(|n| match command {
            IncidentCommand::Start { kind, name } => office::incident_start(cx, n, &kind, name),
            IncidentCommand::List { json } => office::incident_list(cx, n, json),
            IncidentCommand::End => office::incident_end(cx, n),
            IncidentCommand::Merge { from, into } => office::incident_merge(cx, n, &from, &into),
            IncidentCommand::Level { level, reason } => staffing::level(cx, n, &level, &reason),
            IncidentCommand::Power { on, reason } => staffing::power(cx, n, &on, &reason),
        }),
        Command::Check(args) => cx.with_node(|n| office::check(cx, n, args)),
        Command::Staff {
            command: StaffCommand::Import { file, dry_run },
        } => staffing::import(cx, &file, dry_run),
        Command::Staff { command } => cx.with_node(|n| match command {
            StaffCommand::Import { .. } => unreachable!("handled above"),
            StaffCommand::List { json } => staffing::list(cx, n, json),
            StaffCommand::Remove { id } => staffing::remove(cx, n, &id),
            StaffCommand::Me { id } => staffing::me(cx, n, &id),
            StaffCommand::Board { json } => staffing::board(cx, n, json),
        }),
        Command::Report(args) => cx.with_node(|n| staffing::report(cx, n, args)),
        Command::Assign(args) => cx.with_node(|n| staffing::assign(cx, n, args)),
        Command::Assignments { json } => cx.with_node(|n| staffing::assignments(cx, n, json)),
        Command::Claim { id, minutes } => cx.with_node(|n| office::claim(cx, n, &id, minutes)),
        Command::Release { id } => cx.with_node(|n| office::release(cx, n, &id)),
        Command::Duplicates { json } => cx.with_node(|n| office::duplicates(cx, n, json)),
        Command::Export {
            what: ExportCommand::Automerge { out },
        } => cx.with_node(|n| office::export_automerge(cx, n, &out)),
        Command::Export {
            what:
                ExportCommand::Form2 {
                    format,
                    encoding,
                    group_by,
                    out,
                },
        } => cx.with_node(|n| {
            let format = match format {
                Form2Format::Html => roster_form2::Format::Html,
                Form2Format::Csv => roster_form2::Format::Csv(match encoding {
                    CsvEncodingArg::Utf8 => roster_form2::CsvEncoding::Utf8Bom,
                    CsvEncodingArg::Cp932 => roster_form2::CsvEncoding::Cp932,
                }),
            };
            let group_by = match group_by {
                GroupByArg::CareManager => roster_form2::GroupBy::CareManager,
                GroupByArg::Area => roster_form2::GroupBy::Area,
            };
            let bytes = office::form2(cx, n, format, group_by, out.as_deref())?;
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
        Command::Merge { other_dir } => cx.with_node(|n| office::merge(cx, n, &other_dir)),
        Command::Area { command } => cx.with_node(|n| match command {
            AreaCommand::Create { name } => sharing::area_create(cx, n, &name),
            AreaCommand::Share {
                to,
                exception_hours,
                reason,
            } => sharing::area_share(cx, n, &to, exception_hours, reason.as_deref()),
            AreaCommand::Collect { from } => sharing::area_collect(cx, n, &from),
            AreaCommand::Exceptions { json } => sharing::area_exceptions(cx, n, json),
        }),
        Command::Consent {
            id,
            date,
            scope,
            by,
            withdraw,
        } => cx.with_node(|n| sharing::consent(cx, n, &id, date.as_deref(), scope, by, withdraw)),
        Command::Priority { command } => cx.with_node(|n| match command {
            PriorityCommand::Show { json } => weights::show(cx, n, json),
            PriorityCommand::Set { weights, reset } => weights::set(cx, n, &weights, reset),
        }),
        Command::Audit { command } => cx.with_node(|n| match command {
            AuditCommand::List { json } => office::audit_list(cx, n, json),
            AuditCommand::Verify => office::audit_verify(cx, n),
        }),
        Command::Login { command } => cx.with_node(|n| match command {
            LoginCommand::Add {
                login,
                name,
                org,
                role,
            } => logins::add(cx, n, login, name, org, &role),
            LoginCommand::List => logins::list(cx, n),
            LoginCommand::Remove { login } => logins::remove(cx, n, &login),
            LoginCommand::Password { login } => logins::password(cx, n, &login),
        }),
        Command::Device { command } => match command {
            DeviceCommand::Id => cx.data_dir().and_then(|d| network::device_id(cx, &d)),
            DeviceCommand::Add { id, carrier } => {
                cx.with_node(|n| network::device_add(cx, n, &id, carrier.into()))
            }
            DeviceCommand::Revoke { id } => cx.with_node(|n| network::device_revoke(cx, n, &id)),
            DeviceCommand::List { json } => cx.with_node(|n| network::device_list(cx, n, json)),
        },
        Command::Invite {
            carrier,
            addresses,
            valid_hours,
            qr,
        } => cx.with_node(|n| {
            network::invite(
                cx,
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
        } => cx
            .data_dir()
            .and_then(|d| match (invite, office, office_id) {
                (Some(code), _, _) => network::join_invite(cx, &d, &code),
                (None, Some(office), Some(id)) => network::join(cx, &d, &office, &id),
                _ => Err(t(
                    lang,
                    "--invite CODE か、--office HOST:PORT と --office-id ID を指定してください",
                    "give --invite CODE, or --office HOST:PORT with --office-id ID",
                )
                .into()),
            }),
        Command::Serve { listen, http, net } => cx
            .open()
            .and_then(|n| network::serve(cx, n, &listen, http.as_deref(), net.into())),
        Command::Sync { net, timeout } => cx
            .open()
            .and_then(|n| network::sync(cx, n, net.into(), Duration::from_secs(timeout))),
        Command::Backup { out } => cx.data_dir().and_then(|d| office::backup(cx, &d, &out)),
        Command::Restore { file } => cx.data_dir().and_then(|d| office::restore(cx, &d, &file)),
        Command::Demo { keep } => demo::run(lang, keep),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = match e.downcast_ref::<anpi_core::Error>() {
                Some(core) => core_message(lang, core),
                None => e.to_string(),
            };
            eprintln!("anpi: {}", anpi_core::text::printable(text.trim_end()));
            ExitCode::FAILURE
        }
    }
}

/// A core error in the person's words: by its kind where the CLI has
/// advice of its own, else the core's text.
fn core_message(lang: Lang, e: &anpi_core::Error) -> String {
    match e {
        anpi_core::Error::ReadOnly => t(
            lang,
            "データフォルダが読み取り専用です（読むことはできますが、保存はできません）。何も保存していません",
            "the data folder is read-only: it can be read, but nothing can be saved in it; nothing was saved",
        )
        .to_string(),
        anpi_core::Error::Full => t(
            lang,
            "端末の空き容量がありません。今回の内容は保存していません（これまでに保存したものは残っています）。空き容量を作ってからもう一度実行してください",
            "the device's storage is full: nothing of this was saved (what was saved before is kept); free some space and try again",
        )
        .to_string(),
        anpi_core::Error::NewerFormat { .. } => format!(
            "{} ({e})",
            anpi_core::doc::format::update_notice(lang, 1)
        ),
        anpi_core::Error::NoOpenIncident => t(
            lang,
            "開始中の災害がありません（`anpi incident start --kind 種類` で開始してください）",
            "no open incident (start one with `anpi incident start --kind KIND`)",
        )
        .to_string(),
        e => e.to_string(),
    }
}
