//! The network commands: this device's id and the member list, joining
//! through the office, a long-running node (`serve`) and a one-shot sync.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anpi_core::codes::Lang;
use anpi_core::invite::Code;
use anpi_core::model::{DeviceId, MemberStanding, Role, Staff, Timestamp};
use anpi_core::net::discovery::{Discovery, FoundPeer, Mdns, Tokens};
use anpi_core::net::serve::{self, Event, Options};
use anpi_core::net::{JoinBy, NetNode, SyncReport, join_office};
use anpi_core::node::Node;
use serde_json::json;

use crate::context::Ctx;
use crate::{Result, t};

/// One tokio runtime for the command; two workers match this machine and a
/// phone's efficiency cores.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Resolve HOST:PORT to one address.
pub fn resolve(lang: Lang, text: &str) -> Result<SocketAddr> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            match lang {
                Lang::Ja => format!(
                    "アドレス {text:?} を解決できません（HOST:PORT の形で指定してください）"
                ),
                Lang::En => format!("cannot resolve {text:?} (give HOST:PORT)"),
            }
            .into()
        })
}

/// `device id`: make the identity in a new folder if needed; print the id
/// alone on the last line, for scripts.
pub fn device_id(cx: &Ctx, dir: &Path) -> Result<()> {
    let lang = cx.lang;
    let node = cx.open_or_create(dir)?;
    let id = node.device();
    say!(
        "{}: {}",
        t(lang, "端末ID（読み上げ用）", "device id (to read aloud)"),
        id.readable()
    );
    say!("{id}");
    Ok(())
}

fn role_label(lang: Lang, role: Role) -> &'static str {
    match lang {
        Lang::Ja => role.label_ja(),
        Lang::En => role.label_en(),
    }
}

/// Who carries a device, and what they may do.
pub struct Carrier {
    pub staff: String,
    pub org: Option<String>,
    pub role: String,
}

impl Carrier {
    /// The staff member (of this device's organisation unless named) and
    /// the role.
    fn resolve(self, node: &Node) -> Result<(Staff, Role)> {
        let role: Role = self.role.parse()?;
        let organisation = self
            .org
            .unwrap_or_else(|| node.staff().organisation.clone());
        Ok((
            Staff {
                name: self.staff,
                organisation,
                id: None,
            },
            role,
        ))
    }
}

/// `device add`.
pub fn device_add(cx: &Ctx, node: &mut Node, id: &str, carrier: Carrier) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let device = DeviceId::parse(id)?;
    let (staff, role) = carrier.resolve(node)?;
    let m = node.add_member(&space.id, &device, staff, role)?;
    match lang {
        Lang::Ja => say!(
            "「{}」に端末 {} を追加しました: {}（{}）{}",
            space.name,
            m.device.readable(),
            m.staff.name,
            m.staff.organisation,
            role_label(lang, m.role)
        ),
        Lang::En => say!(
            "added device {} to \"{}\": {} ({}), {}",
            m.device.readable(),
            space.name,
            m.staff.name,
            m.staff.organisation,
            role_label(lang, m.role)
        ),
    }
    Ok(())
}

/// `device revoke`.
pub fn device_revoke(cx: &Ctx, node: &mut Node, id: &str) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let device = DeviceId::parse(id)?;
    let m = node.revoke_member(&space.id, &device)?;
    match lang {
        Lang::Ja => say!(
            "端末 {}（{}）を「{}」から失効させました。同期のたびに各端末へ伝わり、以後の接続は拒否されます",
            m.device.readable(),
            m.staff.name,
            space.name
        ),
        Lang::En => say!(
            "revoked device {} ({}) from \"{}\"; every device refuses it once this reaches it",
            m.device.readable(),
            m.staff.name,
            space.name
        ),
    }
    Ok(())
}

/// `device list`.
pub fn device_list(cx: &Ctx, node: &mut Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let me = node.device().clone();
    let members = node.members(&space.id)?;
    let versions = node.device_versions()?;
    let clocks = node.peer_clocks()?;
    let clocks_off = node.peer_clocks_off()?;
    if as_json {
        let rows: Vec<_> = members
            .iter()
            .map(|(m, s)| {
                json!({
                    "device": m.device,
                    "staff": m.staff.name,
                    "org": m.staff.organisation,
                    "role": m.role.code(),
                    "added_by": m.added_by,
                    "added_at": m.added_at.millis(),
                    "standing": s,
                    "this_device": m.device == me,
                    "software": versions.get(&m.device).map(|a| &a.software),
                    "format": versions.get(&m.device).map(|a| a.format),
                    // Its clock minus this device's at their latest session.
                    "clock_ahead_secs": clocks.get(&m.device).map(|c| c.ahead_ms / 1000),
                    "clock_off": clocks.get(&m.device).map(anpi_core::clock::PeerClock::is_off),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for (m, s) in &members {
        let standing = match (lang, s) {
            (Lang::Ja, MemberStanding::Active) => "有効",
            (Lang::Ja, MemberStanding::Revoked) => "失効",
            (Lang::Ja, MemberStanding::Unauthorised) => "無効（管理者以外が追加）",
            (Lang::Ja, MemberStanding::BadSignature) => "無効（署名が不正）",
            (Lang::En, MemberStanding::BadSignature) => "ignored (bad signature)",
            (Lang::En, MemberStanding::Active) => "active",
            (Lang::En, MemberStanding::Revoked) => "revoked",
            (Lang::En, MemberStanding::Unauthorised) => "ignored (not added by an admin)",
        };
        let version = anpi_core::node::version_label(versions.get(&m.device), lang);
        let clock = clocks_off.get(&m.device).map_or(String::new(), |c| {
            format!(
                "  ⚠ {}{}",
                t(lang, "時計: ", "clock: "),
                anpi_core::clock::peer_label(c, lang)
            )
        });
        say!(
            "{}{}  {}（{}）  {}  {}{}{clock}",
            if m.device == me { "* " } else { "  " },
            m.device.readable(),
            m.staff.name,
            m.staff.organisation,
            role_label(lang, m.role),
            standing,
            if version.is_empty() {
                String::new()
            } else {
                format!("  {version}")
            }
        );
    }
    Ok(())
}

fn print_report(lang: Lang, r: &SyncReport) {
    let who = r.peer.readable();
    match lang {
        Lang::Ja => say!(
            "  {} ({}) と同期: 送信 {} バイト・受信 {} バイト・往復 {} 回・更新された文書 {}",
            who,
            r.addr,
            r.stats.bytes_sent,
            r.stats.bytes_received,
            r.round_trips,
            r.stats.docs_changed
        ),
        Lang::En => say!(
            "  synced with {} ({}): {} bytes sent, {} received, {} round trips, {} documents updated",
            who,
            r.addr,
            r.stats.bytes_sent,
            r.stats.bytes_received,
            r.round_trips,
            r.stats.docs_changed
        ),
    }
    for (doc, why) in &r.failures {
        say!(
            "  ⚠ {} {doc}: {why}",
            t(
                lang,
                "この文書は同期できませんでした（ほかの文書は同期しました）:",
                "this document could not be synced (the others were):"
            )
        );
    }
}

/// `join`: fetch the spaces this device was added to from the office.
pub fn join(cx: &Ctx, dir: &Path, office: &str, office_id: &str) -> Result<()> {
    resolve(cx.lang, office)?;
    let by = JoinBy::Office {
        address: office.to_string(),
        office: DeviceId::parse(office_id)?,
    };
    joined(cx, dir, office, by)
}

/// `join --invite`: redeem an invite at its office.
pub fn join_invite(cx: &Ctx, dir: &Path, code: &str) -> Result<()> {
    let invite = Code::decode(code)?;
    let office = invite.addresses.first().cloned().unwrap_or_default();
    joined(cx, dir, &office, JoinBy::Invite(invite))
}

/// Open (or make) the data folder and join (the core's `join_office`:
/// the spaces arrive, the office link and the carrier are kept).
fn joined(cx: &Ctx, dir: &Path, office: &str, by: JoinBy) -> Result<()> {
    let lang = cx.lang;
    let node = cx.open_or_create(dir)?;
    let shared = Arc::new(Mutex::new(node));
    let rt = runtime()?;
    let (report, spaces) = match rt.block_on(join_office(shared.clone(), by)) {
        Err(anpi_core::Error::NotFound(_)) => {
            return Err(t(
                lang,
                "事務所はこの端末をどのスペースにも追加していません（事務所で `anpi device add この端末のID --staff 名前` を実行してください）",
                "the office has not added this device to any space (run `anpi device add THIS_DEVICE_ID --staff NAME` at the office)",
            )
            .into());
        }
        r => r?,
    };
    let mut node = shared.lock().unwrap_or_else(|e| e.into_inner());
    let me = node.device().clone();
    crate::tidy(lang, &mut node);
    let names: Vec<String> = spaces.iter().map(|s| s.name.clone()).collect();
    match lang {
        Lang::Ja => say!(
            "事務所 {} から「{}」に参加しました（受信 {} バイト）\n端末ID: {}",
            office,
            names.join("」「"),
            report.stats.bytes_received,
            me.readable()
        ),
        Lang::En => say!(
            "joined \"{}\" through the office at {} ({} bytes received)\ndevice id: {}",
            names.join("\", \""),
            office,
            report.stats.bytes_received,
            me.readable()
        ),
    }
    Ok(())
}

/// What `anpi invite` takes besides the carrier.
pub struct InviteArgs {
    pub addresses: Vec<String>,
    pub valid_hours: i64,
    pub qr: Option<PathBuf>,
}

/// `invite`: make an invite, print its code, write its QR code.
pub fn invite(cx: &Ctx, node: &mut Node, carrier: Carrier, args: InviteArgs) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let (staff, role) = carrier.resolve(node)?;
    if args.valid_hours <= 0 {
        return Err(t(
            lang,
            "--valid-hours は 1 以上にしてください",
            "--valid-hours must be at least 1",
        )
        .into());
    }
    for a in &args.addresses {
        resolve(lang, a)?;
    }
    let expires = Timestamp::now().plus_minutes(args.valid_hours * 60);
    let invite = node.create_invite(&space.id, staff.clone(), role, args.addresses, expires)?;
    let code = invite.encode();
    if let Some(path) = &args.qr {
        write_qr(&code, path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    say!(
        "{}",
        match lang {
            Lang::Ja => format!(
                "「{}」への招待: {}（{}）{}・有効期限 {}・1回限り",
                space.name,
                staff.name,
                staff.organisation,
                role_label(lang, role),
                expires
            ),
            Lang::En => format!(
                "invite to \"{}\": {} ({}), {}, expires {}, works once",
                space.name,
                staff.name,
                staff.organisation,
                role_label(lang, role),
                expires
            ),
        }
    );
    if let Some(path) = &args.qr {
        say!("{}: {}", t(lang, "QRコード", "QR code"), path.display());
    }
    say!(
        "{}",
        t(
            lang,
            "端末で: anpi --data DIR join --invite <コード>",
            "on the phone: anpi --data DIR join --invite <code>"
        )
    );
    say!("{code}");
    Ok(())
}

/// Draw `text` as a QR code into a PNG (8 pixels a module, the standard
/// quiet zone of 4 modules), black on white, for printing or a screen.
fn write_qr(text: &str, path: &Path) -> Result<()> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(text.as_bytes())?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % width + QUIET, i / width + QUIET);
            for dy in 0..SCALE {
                let row = (y * SCALE + dy) * side;
                pixels[row + x * SCALE..row + (x + 1) * SCALE].fill(0);
            }
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let side = u32::try_from(side)?;
    let mut encoder = png::Encoder::new(file, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(())
}

/// Pair `--peer` addresses with `--peer-id` ids (ids may be left out).
pub fn peers(
    lang: Lang,
    addrs: &[String],
    ids: &[String],
) -> Result<Vec<(SocketAddr, Option<DeviceId>)>> {
    if !ids.is_empty() && ids.len() != addrs.len() {
        return Err(t(
            lang,
            "--peer-id は --peer と同じ数だけ、同じ順に指定してください",
            "give one --peer-id per --peer, in the same order",
        )
        .into());
    }
    addrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = ids.get(i).map(|s| DeviceId::parse(s)).transpose()?;
            Ok((resolve(lang, a)?, id))
        })
        .collect()
}

fn office_of(lang: Lang, node: &Node) -> Result<Option<(SocketAddr, DeviceId)>> {
    match node.office()? {
        None => Ok(None),
        Some(o) => Ok(Some((resolve(lang, &o.address)?, o.device))),
    }
}

/// The network options shared by `serve` and `sync`.
pub struct NetArgs {
    pub peers: Vec<String>,
    pub peer_ids: Vec<String>,
    pub mdns: bool,
    pub interfaces: Vec<String>,
}

fn discovery(lang: Lang, args: &NetArgs) -> Result<Option<Arc<dyn Discovery>>> {
    if !args.mdns {
        return Ok(None);
    }
    if args.interfaces.is_empty() {
        return Err(t(
            lang,
            "--mdns には --interface IF が必要です（anpi はすべてのインターフェースにマルチキャストを送りません）",
            "--mdns needs --interface IF (anpi never multicasts on every interface)",
        )
        .into());
    }
    Ok(Some(Arc::new(Mdns::new(&args.interfaces)?)))
}

/// `serve`: a long-running node until interrupted.
pub fn serve(
    cx: &Ctx,
    mut node: Node,
    listen: &str,
    http: Option<&str>,
    args: NetArgs,
) -> Result<()> {
    let lang = cx.lang;
    let listen = resolve(lang, listen)?;
    let office = office_of(lang, &node)?;
    let peers = peers(lang, &args.peers, &args.peer_ids)?;
    let discovery = discovery(lang, &args)?;
    let http = match http {
        None => None,
        Some(text) => {
            let addr = resolve(lang, text)?;
            let reach = anpi_web::reach_of(addr);
            let space = cx.space(&node)?.id;
            let tls = match reach {
                anpi_web::Reach::ThisPc => None,
                anpi_web::Reach::Network => {
                    Some(crate::logins::dashboard_tls(lang, &mut node, text)?)
                }
            };
            Some((addr, space, reach, tls))
        }
    };
    crate::init_log();
    let shared = Arc::new(Mutex::new(node));
    let rt = runtime()?;
    rt.block_on(async move {
        let net = Arc::new(NetNode::bind(shared.clone(), listen)?);
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let options = Options {
            discovery: discovery.into_iter().collect(),
            office,
            peers,
            // `anpi invite`, `device add` and `device revoke` run beside it.
            watch_store: Some(std::time::Duration::from_secs(1)),
            ..Default::default()
        };
        if let Some((addr, space, reach, tls)) = http {
            let dashboard = anpi_web::Dashboard::new(
                shared.clone(),
                space,
                options.local_changes.clone(),
                net.local_addr()?,
                reach,
            );
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let at = listener.local_addr()?;
            match tls {
                None => {
                    match lang {
                        Lang::Ja => say!("ダッシュボード: http://{at}/"),
                        Lang::En => say!("dashboard: http://{at}/"),
                    }
                    tokio::spawn(anpi_web::serve(listener, dashboard, stop_rx.clone()));
                }
                Some(identity) => {
                    let fingerprint = identity.fingerprint();
                    match lang {
                        Lang::Ja => {
                            say!("ダッシュボード: https://{at}/（ログインが必要です）");
                            say!("  証明書の指紋 (SHA-256): {fingerprint}");
                            say!("  初めて開くPCでは、ブラウザーに出る証明書の指紋がこれと同じか確かめてください。");
                        }
                        Lang::En => {
                            say!("dashboard: https://{at}/ (logins required)");
                            say!("  certificate fingerprint (SHA-256): {fingerprint}");
                            say!("  On a PC opening it the first time, check the browser shows this fingerprint.");
                        }
                    }
                    let stop = stop_rx.clone();
                    tokio::spawn(async move {
                        anpi_web::serve_tls(listener, &identity, dashboard, stop).await
                    });
                }
            }
        }
        let device = net.device().clone();
        let runner = tokio::spawn(serve::run(net, options, events_tx, stop_rx));
        let printer = tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                print_event(lang, &device, &e);
            }
        });
        wait_for_signal().await;
        let _ = stop_tx.send(true);
        let result = runner.await;
        let _ = printer.await;
        let mut node = shared.lock().unwrap_or_else(|e| e.into_inner());
        crate::tidy(lang, &mut node);
        match result {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(format!("node stopped: {e}").into()),
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until the process is killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The operator's log line of a serve event (stderr, filtered by
/// `ANPI_LOG`): devices and addresses, never a recipient's data.
fn log_event(e: &Event) {
    match e {
        Event::Listening(a) => tracing::info!(addr = %a, "listening"),
        Event::PeerFound(a) => tracing::debug!(addr = %a, "peer found"),
        Event::Syncing(a) => tracing::debug!(addr = %a, "session started"),
        Event::Synced(r) => tracing::info!(
            peer = %r.peer.readable(),
            addr = %r.addr,
            initiator = r.initiator,
            docs_changed = r.stats.docs_changed,
            bytes_sent = r.stats.bytes_sent,
            bytes_received = r.stats.bytes_received,
            round_trips = r.round_trips,
            "synced"
        ),
        Event::Failed { addr, error } => tracing::warn!(addr = %addr, %error, "session failed"),
        Event::PeerLost(a) => tracing::warn!(addr = %a, "peer lost"),
        Event::Refused { addr, error } => tracing::warn!(addr = %addr, %error, "peer refused"),
        Event::OfficeRetry(d) => tracing::info!(retry_in_s = d.as_secs(), "office unreachable"),
    }
}

fn print_event(lang: Lang, me: &DeviceId, e: &Event) {
    use std::io::Write;
    log_event(e);
    match (lang, e) {
        (Lang::Ja, Event::Listening(a)) => {
            say!("待ち受け中: {a}（端末ID {}）", me.readable())
        }
        (Lang::En, Event::Listening(a)) => {
            say!("listening on {a} (device id {})", me.readable())
        }
        (Lang::Ja, Event::PeerFound(a)) => say!("近くの端末を発見: {a}"),
        (Lang::En, Event::PeerFound(a)) => say!("found a nearby device: {a}"),
        // The report at the end says what a session did.
        (_, Event::Syncing(_)) => {}
        (_, Event::Synced(r)) => print_report(lang, r),
        (Lang::Ja, Event::Failed { addr, error }) => say!("  {addr} との同期に失敗: {error}"),
        (Lang::En, Event::Failed { addr, error }) => say!("  sync with {addr} failed: {error}"),
        (Lang::Ja, Event::PeerLost(a)) => {
            say!("  {a} と同期できなくなりました（圏外か電源が切れた可能性があります）")
        }
        (Lang::En, Event::PeerLost(a)) => {
            say!("  lost {a} (out of range or switched off?)")
        }
        (Lang::Ja, Event::Refused { addr, error }) => {
            say!("  {addr} からの接続を拒否: {error}")
        }
        (Lang::En, Event::Refused { addr, error }) => {
            say!("  refused a connection from {addr}: {error}")
        }
        (Lang::Ja, Event::OfficeRetry(d)) => {
            say!(
                "  事務所に接続できません。{} 秒後に再試行します",
                d.as_secs()
            )
        }
        (Lang::En, Event::OfficeRetry(d)) => {
            say!("  the office is unreachable; retrying in {} s", d.as_secs())
        }
    }
    let _ = std::io::stdout().flush();
}

/// `sync`: one-shot, until quiet; an error when no peer could be synced.
pub fn sync(cx: &Ctx, node: Node, args: NetArgs, timeout: Duration) -> Result<()> {
    let lang = cx.lang;
    let mut targets = peers(lang, &args.peers, &args.peer_ids)?;
    if let Some((addr, id)) = office_of(lang, &node)? {
        targets.push((addr, Some(id)));
    }
    let discovery = discovery(lang, &args)?;
    if targets.is_empty() && discovery.is_none() {
        return Err(t(
            lang,
            "同期する相手がいません（--peer HOST:PORT か --mdns --interface IF を指定するか、先に join してください）",
            "no one to sync with (give --peer HOST:PORT or --mdns --interface IF, or join an office first)",
        )
        .into());
    }
    let shared = Arc::new(Mutex::new(node));
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let net = NetNode::bind(shared.clone(), "0.0.0.0:0".parse()?)?;
        if let Some(d) = &discovery {
            // Listen for a moment: every peer that answers within it.
            let spaces: Vec<_> = {
                let n = shared.lock().unwrap_or_else(|e| e.into_inner());
                n.spaces()?.into_iter().map(|s| s.id).collect()
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<FoundPeer>();
            d.start(net.local_addr()?.port(), Tokens::for_spaces(&spaces), tx)?;
            let listen_for = timeout.min(Duration::from_secs(3));
            let deadline = tokio::time::Instant::now() + listen_for;
            while let Ok(Some(found)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                for addr in found.addrs {
                    if !targets.iter().any(|(a, _)| *a == addr) {
                        say!(
                            "{}: {addr}",
                            t(lang, "近くの端末を発見", "found a nearby device")
                        );
                        targets.push((addr, None));
                    }
                }
            }
            d.stop();
        }
        let r = tokio::time::timeout(timeout, sync_until_quiet(lang, &net, &targets)).await;
        net.close().await;
        match r {
            Ok(r) => Ok::<_, Box<dyn std::error::Error>>(r),
            Err(_) => Err(t(
                lang,
                "時間内に同期が終わりませんでした",
                "sync did not finish in time",
            )
            .into()),
        }
    })?;
    {
        let mut node = shared.lock().unwrap_or_else(|e| e.into_inner());
        crate::tidy(lang, &mut node);
        print_peer_statuses(lang, &node)?;
    }
    let (reports, failures) = outcome;
    // A session in which a document was refused or dropped (by either
    // side) did not sync that peer: never counted as synced.
    let partial: std::collections::BTreeSet<_> = reports
        .iter()
        .filter(|r| !r.is_complete())
        .map(|r| r.peer.clone())
        .collect();
    let peers: std::collections::BTreeSet<_> = reports
        .iter()
        .map(|r| r.peer.clone())
        .filter(|p| !partial.contains(p))
        .collect();
    let sent: usize = reports.iter().map(|r| r.stats.bytes_sent).sum();
    let received: usize = reports.iter().map(|r| r.stats.bytes_received).sum();
    let trips: usize = reports.iter().map(|r| r.round_trips).sum();
    let docs: usize = reports.iter().map(|r| r.stats.docs_changed).sum();
    match lang {
        Lang::Ja => say!(
            "同期した相手 {} 台・更新された文書 {}・送信 {} バイト・受信 {} バイト・往復 {} 回",
            peers.len(),
            docs,
            sent,
            received,
            trips
        ),
        Lang::En => say!(
            "{} peers synced, {} documents updated, {} bytes sent, {} received, {} round trips",
            peers.len(),
            docs,
            sent,
            received,
            trips
        ),
    }
    if !partial.is_empty() {
        let who: Vec<String> = partial.iter().map(|p| p.readable()).collect();
        return Err(match lang {
            Lang::Ja => format!(
                "一部の文書を同期できなかった相手があります（上の ⚠ を見てください）: {}",
                who.join(", ")
            ),
            Lang::En => format!(
                "some documents could not be synced with (see the ⚠ above): {}",
                who.join(", ")
            ),
        }
        .into());
    }
    if peers.is_empty() {
        let why: Vec<String> = failures.iter().map(|(a, e)| format!("{a}: {e}")).collect();
        return Err(match lang {
            Lang::Ja => format!("どの相手とも同期できませんでした\n{}", why.join("\n")),
            Lang::En => format!("no peer could be synced\n{}", why.join("\n")),
        }
        .into());
    }
    Ok(())
}

/// Each peer as the core's book of peers has it after the sessions.
fn print_peer_statuses(lang: Lang, node: &Node) -> Result<()> {
    let statuses = node.peer_statuses()?;
    if statuses.is_empty() {
        return Ok(());
    }
    // A peer whose clock is off is named with it (none while this
    // device's own is what is off: the warning after the command says so).
    let clocks_off = node.peer_clocks_off()?;
    say!("{}", t(lang, "相手ごとの状態:", "each peer:"));
    for p in statuses {
        let clock = p
            .device
            .as_ref()
            .and_then(|d| clocks_off.get(d))
            .map_or(String::new(), |c| {
                format!(
                    " ⚠ {}{}",
                    t(lang, "時計が", "its clock is "),
                    anpi_core::clock::peer_label(c, lang)
                )
            });
        let who = match (&p.device, p.office) {
            (Some(d), true) => format!("{} {}", t(lang, "事務所", "office"), d.readable()),
            (Some(d), false) => d.readable(),
            (None, true) => t(lang, "事務所", "office").to_string(),
            (None, false) => "?".into(),
        };
        let state = match (&p.last_error, p.last_sync) {
            (Some(e), _) => format!("{}: {e}", t(lang, "失敗", "failed")),
            (None, Some(at)) => format!(
                "{} {}",
                t(lang, "同期済み", "synced at"),
                at.jst().format("%H:%M:%S")
            ),
            (None, None) => t(lang, "未同期", "not synced yet").to_string(),
        };
        match lang {
            Lang::Ja => say!(
                "  {} {who}: {state}（未送信の変更 {} 件）{clock}",
                p.address,
                p.pending_changes
            ),
            Lang::En => say!(
                "  {} {who}: {state} ({} changes not sent){clock}",
                p.address,
                p.pending_changes
            ),
        }
    }
    Ok(())
}

type Outcome = (Vec<SyncReport>, Vec<(SocketAddr, String)>);

/// Sync with every target; while something arrived here that the others
/// may lack, go round again (at most three rounds).
async fn sync_until_quiet(
    lang: Lang,
    net: &NetNode,
    targets: &[(SocketAddr, Option<DeviceId>)],
) -> Outcome {
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    let mut unreachable = std::collections::BTreeSet::new();
    for _round in 0..3 {
        let mut arrived = false;
        for (addr, id) in targets {
            if unreachable.contains(addr) {
                continue;
            }
            match net.sync_with(*addr, id.as_ref()).await {
                Ok(r) => {
                    print_report(lang, &r);
                    arrived |= r.stats.docs_changed > 0;
                    reports.push(r);
                }
                Err(e) => {
                    match lang {
                        Lang::Ja => say!("  {addr} との同期に失敗: {e}"),
                        Lang::En => say!("  sync with {addr} failed: {e}"),
                    }
                    failures.push((*addr, e.to_string()));
                    unreachable.insert(*addr);
                }
            }
        }
        if !arrived || targets.len() < 2 {
            break;
        }
    }
    (reports, failures)
}
