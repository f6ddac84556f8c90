//! `anpi demo`: the story anpi exists for, on one machine, with real data
//! folders (SQLite, durable writes), real QUIC connections between the
//! devices and, inside a private network namespace, real mDNS discovery.
//!
//! The demo runs itself again inside `unshare -rn` (a user and network
//! namespace holding only its own `lo`) when the system allows it, so its
//! multicast can never reach the machine's real network; otherwise it stays
//! on loopback with direct addresses and no mDNS at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anpi_core::codes::Lang;
use anpi_core::codes::{Attendance, AvailableFrom, FamilySafety, HomeDamage, PersonalSafety};
use anpi_core::io::form2;
use anpi_core::model::*;
use anpi_core::net::discovery::{Discovery, FoundPeer, Mdns, Tokens};
use anpi_core::net::serve::{self, Options};
use anpi_core::net::{NetNode, SharedNode, SyncReport};
use anpi_core::node::{NewCheck, NewReport, Node};
use anpi_core::views;

/// Set inside the namespace the demo made for itself.
const IN_NETNS: &str = "ANPI_DEMO_NETNS";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn t<'a>(lang: Lang, ja: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// The bundled roster: 200 fictional recipients in a city that does not
/// exist, in the roster CSV format of DOMAIN.md (UTF-8 with BOM, half the
/// birth dates in 和暦, as care software exports them).
const DEMO_ROSTER: &[u8] = include_bytes!("../data/demo-roster.csv");

/// The office's staff list (職員名簿): six people at their distances from
/// the office, in the staff list CSV format (docs/STAFF.md).
const DEMO_STAFF: &[u8] = include_bytes!("../data/demo-staff.csv");

/// The demo's data folders are encrypted like any other, with this
/// passphrase (printed, so that they can be opened afterwards).
const DEMO_PASSPHRASE: &str = "anpi-demo";

fn open(dir: &Path, name: &str, staff: Staff) -> Result<Node> {
    let mut node = crate::key::open_with(&dir.join(name), DEMO_PASSPHRASE.as_bytes())?;
    node.set_staff(staff)?;
    Ok(node)
}

fn moved(lang: Lang, r: &SyncReport) -> String {
    match lang {
        Lang::Ja => format!(
            "QUIC 送信 {} バイト・受信 {} バイト・往復 {} 回",
            r.stats.bytes_sent, r.stats.bytes_received, r.round_trips
        ),
        Lang::En => format!(
            "QUIC: {} bytes sent, {} received, {} round trips",
            r.stats.bytes_sent, r.stats.bytes_received, r.round_trips
        ),
    }
}

/// Whether this process may make a private network namespace.
fn netns_possible() -> bool {
    Command::new("unshare")
        .args(["-rn", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Run the demo again inside a private network namespace with `lo` up and
/// multicast on; its exit status is the demo's.
fn rerun_in_netns() -> Result<Option<i32>> {
    let exe = std::env::current_exe()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = Command::new("unshare")
        .args(["-rn", "sh", "-c"])
        .arg(r#"ip link set lo up && ip link set lo multicast on && exec "$0" "$@""#)
        .arg(exe)
        .args(args)
        .env(IN_NETNS, "1")
        .status();
    match status {
        Ok(s) => Ok(s.code()),
        Err(_) => Ok(None),
    }
}

fn lock(node: &SharedNode) -> std::sync::MutexGuard<'_, Node> {
    node.lock().unwrap_or_else(|e| e.into_inner())
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Run the demo in `keep` (or a temporary folder).
pub fn run(lang: Lang, keep: Option<PathBuf>) -> Result<()> {
    let in_netns = std::env::var(IN_NETNS).is_ok_and(|v| v == "1");
    if !in_netns
        && netns_possible()
        && let Some(code) = rerun_in_netns()?
    {
        return if code == 0 {
            Ok(())
        } else {
            Err(format!("the demo failed (exit status {code})").into())
        };
    }
    // The folder stays after the demo: it holds the printable form 2 and
    // the data folders people may want to look into.
    let dir: PathBuf = match keep {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("anpi-demo-")
            .tempdir()?
            .keep(),
    };
    crate::network::runtime()?.block_on(story(lang, &dir, in_netns))
}

async fn story(lang: Lang, dir: &Path, in_netns: bool) -> Result<()> {
    say!("== anpi {} ==", t(lang, "デモ", "demo"));
    say!(
        "{}: {}（{}: ANPI_PASSPHRASE={DEMO_PASSPHRASE}）",
        t(lang, "作業フォルダ", "working folder"),
        dir.display(),
        t(lang, "暗号化済み。開くには", "encrypted; to open")
    );
    say!(
        "{}",
        if in_netns {
            t(
                lang,
                "ネットワーク: このデモ専用の名前空間（lo のみ）。端末は QUIC で接続し、mDNS で互いを見つけます",
                "Network: a namespace of the demo's own (only lo). Devices connect over QUIC and find each other with mDNS",
            )
        } else {
            t(
                lang,
                "ネットワーク: 名前空間を作れないため loopback で直接アドレスを使います（mDNS なし）",
                "Network: no private namespace could be made, so loopback with direct addresses (no mDNS)",
            )
        }
    );

    let office_org = "ひまわり居宅介護支援事業所";
    let city_org = "架空市役所 防災課";
    let mut office = open(
        dir,
        "office",
        Staff {
            name: "事務 花子".into(),
            organisation: office_org.into(),
            id: None,
        },
    )?;
    let space = office.create_space(office_org)?.id;
    // The office imports the roster file the way `anpi import` does.
    let roster_file = dir.join("roster.csv");
    std::fs::write(&roster_file, DEMO_ROSTER)?;
    let roster = anpi_core::io::roster::read(&std::fs::read(&roster_file)?)
        .map_err(|e| format!("{}: {e}", roster_file.display()))?;
    let counts = office.upsert_recipients(&space, roster.recipients)?;
    let staff_file = dir.join("staff.csv");
    std::fs::write(&staff_file, DEMO_STAFF)?;
    let staff = anpi_core::io::staff::read(&std::fs::read(&staff_file)?)
        .map_err(|e| format!("{}: {e}", staff_file.display()))?;
    let staff_counts = office.import_staff(&space, staff.staff)?;
    say!(
        "\n1. {}",
        match lang {
            Lang::Ja => format!(
                "事務所: スペース「{office_org}」を作成し、名簿 {} から利用者 {} 名、職員名簿 {} から職員 {} 名を取り込みました",
                roster_file.display(),
                counts.added,
                staff_file.display(),
                staff_counts.added
            ),
            Lang::En => format!(
                "Office: created space \"{office_org}\" and imported {} recipients from {} and {} staff from {}",
                counts.added,
                roster_file.display(),
                staff_counts.added,
                staff_file.display()
            ),
        }
    );

    // Three phones of two organisations; the office adds each by its id.
    let people = [
        ("phone-a", "佐藤 美咲", office_org, "A", Some("S02")),
        ("phone-b", "田中 一郎", city_org, "B", None),
        ("phone-c", "高木 健", office_org, "C", Some("S03")),
    ];
    let mut phones: Vec<SharedNode> = Vec::new();
    for (folder, name, org, _, id) in people {
        let staff = Staff {
            name: name.into(),
            organisation: org.into(),
            id: id.map(StaffId::from),
        };
        let phone = open(dir, folder, staff.clone())?;
        office.add_member(&space, phone.device(), staff, Role::CareManager)?;
        phones.push(Arc::new(Mutex::new(phone)));
    }
    let office_id = office.device().clone();
    let office: SharedNode = Arc::new(Mutex::new(office));

    // The office node runs; each phone joins it over QUIC.
    let (office_addr, office_stop, office_task) = start_node(&office, loopback(), None).await?;
    say!(
        "\n2. {}",
        match lang {
            Lang::Ja => format!(
                "事務所ノードが {office_addr} で待ち受けます（端末ID {}）。各端末を登録し、参加させます",
                office_id.readable()
            ),
            Lang::En => format!(
                "The office node listens on {office_addr} (device id {}). Each phone is added and joins",
                office_id.readable()
            ),
        }
    );
    let mut nets = Vec::new();
    for (phone, (_, name, org, label, _)) in phones.iter().zip(people) {
        let net = NetNode::bind(phone.clone(), loopback())?;
        let r = net.join(office_addr, &office_id).await?;
        say!(
            "   {} {label} {name}（{org}）: {} — {}",
            t(lang, "端末", "Phone"),
            match lang {
                Lang::Ja => "名簿を受け取りました",
                Lang::En => "received the roster",
            },
            moved(lang, &r)
        );
        net.close().await;
        nets.push(net);
    }
    drop(nets);
    let _ = office_stop.send(true);
    let _ = office_task.await;

    // The phones start the incident up to six minutes apart. An incident's
    // id is its kind and its day in Japan, so a start either side of
    // midnight makes two incidents (an office merges them with `incident
    // merge`); this demo is about one, so its earthquake is a little
    // earlier when midnight is that close.
    let mut quake = Timestamp::now();
    let day = |t| IncidentId::derive(IncidentKind::Earthquake, t);
    if day(quake) != day(quake.plus_minutes(6)) {
        quake = quake.plus_minutes(-10);
    }
    say!(
        "\n3. {}",
        t(
            lang,
            "地震発生。事務所のネットワークは停止。各端末がそれぞれ災害を開始し、オフラインで安否確認を記録します",
            "An earthquake. The office's network is down. Each phone starts the incident on its own and records checks offline",
        )
    );
    let (a, b, c) = (&phones[0], &phones[1], &phones[2]);
    let inc = lock(a).start_incident(&space, IncidentKind::Earthquake, "地震", quake)?;
    // Each phone records into the incident it started: minutes later may
    // be another day in Japan (another incident id), merged into one when
    // the phones meet.
    let inc_b =
        lock(b).start_incident(&space, IncidentKind::Earthquake, "", quake.plus_minutes(4))?;
    let inc_c =
        lock(c).start_incident(&space, IncidentKind::Earthquake, "", quake.plus_minutes(6))?;
    let top: Vec<RecipientId> = {
        let data = lock(a).incident_data(&space, Some(&inc.id))?;
        data.priority_list(quake)
            .iter()
            .map(|e| e.recipient.id.clone())
            .collect()
    };
    let record = |node: &SharedNode,
                  incident: &IncidentId,
                  id: &RecipientId,
                  method,
                  result,
                  at: Timestamp|
     -> Result<()> {
        let mut n = lock(node);
        let mut check = NewCheck::new(id.clone(), method, result);
        check.at = at;
        let c = n.record_check(&space, incident, check)?;
        print_check(lang, &n, &space, &c)
    };
    let results = [
        CheckResult::Safe,
        CheckResult::NeedsEvacuation,
        CheckResult::Unreachable,
        CheckResult::Safe,
        CheckResult::SafeNeedsSupport,
    ];
    let mut at = quake.plus_minutes(15);
    for (i, id) in top.iter().take(5).enumerate() {
        record(a, &inc.id, id, CheckMethod::Visit, results[i], at)?;
        at = at.plus_minutes(12);
    }
    // Phone B works from the same list by phone calls, unaware of A's visits.
    for (i, id) in top.iter().take(3).enumerate() {
        let result = if i == 1 {
            CheckResult::NeedsEvacuation
        } else {
            CheckResult::Safe
        };
        record(
            b,
            &inc_b.id,
            id,
            CheckMethod::Phone,
            result,
            quake.plus_minutes(20 + 5 * i as i64),
        )?;
    }
    // Phone C takes the next ones on the list.
    for (i, id) in top.iter().skip(5).take(2).enumerate() {
        record(
            c,
            &inc_c.id,
            id,
            CheckMethod::Visit,
            CheckResult::Safe,
            quake.plus_minutes(30 + 10 * i as i64),
        )?;
    }

    // Staff safety reports (職員安否): A's and C's carriers report
    // themselves; C records a colleague who phoned in.
    let reports = [
        (
            a,
            &inc.id,
            None,
            PersonalSafety::Unharmed,
            HomeDamage::None,
            Attendance::Able,
            Some(AvailableFrom::Now),
        ),
        (
            c,
            &inc_c.id,
            None,
            PersonalSafety::MinorInjury,
            HomeDamage::Partial,
            Attendance::Difficult,
            Some(AvailableFrom::Within1Day),
        ),
        (
            c,
            &inc_c.id,
            Some("S05"),
            PersonalSafety::Unharmed,
            HomeDamage::Severe,
            Attendance::Unable,
            None,
        ),
    ];
    for (phone, incident, whose, person, home, attendance, from) in reports {
        let mut n = lock(phone);
        let r = n.record_report(
            &space,
            incident,
            NewReport {
                staff: whose.map(StaffId::from),
                person,
                family: FamilySafety::Safe,
                home,
                attendance,
                from,
                location: String::new(),
                contact: String::new(),
                at: quake.plus_minutes(10),
            },
        )?;
        say!(
            "   {} {}: {} {}",
            t(lang, "職員安否報告", "staff report"),
            r.recorded_by.name,
            r.staff,
            r.summary(lang)
        );
    }

    say!(
        "\n4. {}",
        t(
            lang,
            "避難所で端末Aと端末Bが出会います（事務所にはまだつながりません）",
            "Phones A and B meet at a shelter (the office is still out of reach)",
        )
    );
    let (a_addr, a_stop, a_task) = start_node(a, loopback(), in_netns.then_some("lo")).await?;
    let b_net = NetNode::bind(b.clone(), loopback())?;
    let a_found = if in_netns {
        let found = discover(b, &b_net).await?;
        say!(
            "   {}: {found}",
            t(
                lang,
                "端末B が mDNS で端末A を発見",
                "phone B found phone A over mDNS"
            )
        );
        found
    } else {
        a_addr
    };
    let r = b_net.sync_with(a_found, None).await?;
    say!("   A ⇄ B: {}", moved(lang, &r));
    b_net.close().await;
    let _ = a_stop.send(true);
    let _ = a_task.await;

    say!(
        "\n5. {}",
        t(
            lang,
            "端末Bが事務所に戻ります（端末Aの記録も運びます）。端末Cもあとから事務所につながります",
            "Phone B reaches the office, carrying A's checks too. Later phone C reaches it as well",
        )
    );
    let (office_addr, office_stop, office_task) = start_node(&office, office_addr, None).await?;
    for (phone, label) in [(b, "B"), (c, "C")] {
        let net = NetNode::bind(phone.clone(), loopback())?;
        let r = net.sync_with(office_addr, Some(&office_id)).await?;
        say!(
            "   {label} ⇄ {}: {}",
            t(lang, "事務所", "office"),
            moved(lang, &r)
        );
        net.close().await;
    }
    let _ = office_stop.send(true);
    let _ = office_task.await;

    let mut office = lock(&office);
    let incident = office
        .open_incident(&space)?
        .ok_or("the incident did not reach the office")?;
    let now = at;
    staff_board(lang, &mut office, &space, &incident.id, now)?;
    let data = office.incident_data(&space, Some(&incident.id))?;
    let list = data.priority_list(now);
    say!(
        "\n7. {} — {} ({}: {})",
        t(
            lang,
            "事務所の安否確認優先順位リスト（上位15名）",
            "The office's priority list (top 15)"
        ),
        incident.name,
        t(lang, "フェーズ", "phase"),
        incident.phase(now).label_ja()
    );
    for e in list.iter().take(15) {
        let status = match e.latest {
            Some(c) => format!("{}（{}）", c.result.label(lang), c.staff.name),
            None => views::standing_label(e.standing, lang).to_string(),
        };
        say!(
            "  {:>3}. {} {:<8} {:<14} {}{}{}",
            e.rank,
            e.recipient.id,
            e.recipient.name,
            status,
            e.reasons_line(),
            e.time_left(now, lang)
                .map(|left| format!("  ⚠{left}"))
                .unwrap_or_default(),
            if e.duplicate {
                t(lang, "  ⚠重複", "  ⚠duplicate")
            } else {
                ""
            }
        );
    }
    let postponed = list.iter().filter(|e| e.postponed).count();
    if postponed > 0 {
        say!(
            "  {}",
            match lang {
                Lang::Ja => format!(
                    "（運営レベル30%: 優先度の高い利用者を先に。ほか {postponed} 名は「後回し（運営レベル）」として一覧に残ります）"
                ),
                Lang::En => format!(
                    "(operation level 30%: high priority first; the other {postponed} stay listed as \"later (operation level)\")"
                ),
            }
        );
    }

    let dups = views::duplicates(&data.checks);
    say!(
        "\n8. {} ({})",
        t(lang, "重複訪問", "Duplicate visits"),
        dups.len()
    );
    for d in &dups {
        say!("  {}", crate::office::duplicate_line(lang, d));
    }
    let s = views::incident_summary(&incident, &list, data.checks.len(), &data.weights, now);
    say!(
        "\n9. {}: {} {} / {} {} / {} {} / {} {} / {} {} / {} {}",
        t(lang, "集計", "Summary"),
        t(lang, "利用者", "recipients"),
        s.recipients,
        t(lang, "未確認", "unchecked"),
        s.unchecked,
        t(lang, "高優先で未確認", "high priority not reached"),
        s.high_priority_not_reached,
        t(
            lang,
            "バッテリー期限が近く未確認",
            "battery running out, not reached"
        ),
        s.battery_deadline_not_reached,
        t(lang, "重複", "duplicates"),
        s.duplicates,
        t(lang, "結果食い違い", "results disagree"),
        s.conflicts
    );
    let form_path = dir.join("form2.html");
    let form = office.export_form2(
        &space,
        form2::Format::Html,
        form2::GroupBy::CareManager,
        &form_path.display().to_string(),
        now,
    )?;
    std::fs::write(&form_path, form.bytes)?;
    say!(
        "\n10. {}: {}",
        t(
            lang,
            "印刷用の様式2（A4横・担当ケアマネごと）",
            "printable form 2 (A4 landscape, by care manager)"
        ),
        form_path.display()
    );
    say!(
        "   {}: {}",
        t(lang, "データフォルダ", "data folders"),
        dir.display()
    );
    Ok(())
}

/// Step 6: the office's staff board — who reported, who did not, turnout
/// today and by day, and the operation level it sets.
fn staff_board(
    lang: Lang,
    office: &mut Node,
    space: &SpaceId,
    incident: &IncidentId,
    now: Timestamp,
) -> Result<()> {
    let b = office.staff_board(space, incident, now)?;
    say!(
        "\n6. {}",
        match lang {
            Lang::Ja => format!(
                "事務所の職員安否: 職員 {} 名・報告済み {}・未報告 {}・負傷 {}",
                b.total, b.reported, b.not_reported, b.injured
            ),
            Lang::En => format!(
                "The office's staff safety: {} staff, {} reported, {} not reported, {} injured",
                b.total, b.reported, b.not_reported, b.injured
            ),
        }
    );
    for r in &b.rows {
        say!(
            "   [{}] {} {}{}",
            r.state.label(lang),
            r.member.id,
            r.member.name,
            r.report
                .as_ref()
                .map(|x| format!("  {}（{}）", x.summary(lang), x.recorded_by.name))
                .unwrap_or_default()
        );
    }
    let days: Vec<String> = b
        .forecast
        .iter()
        .filter(|d| d.day <= 7)
        .map(|d| d.label(lang))
        .collect();
    say!(
        "   {}: {}",
        t(lang, "参集見込み", "turnout expected"),
        days.join(" / ")
    );
    say!("   {}", b.level.level.with_meaning(lang));
    Ok(())
}

type Running = (
    SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<anpi_core::Result<()>>,
);

/// A long-running node (as `anpi serve`), with mDNS on `mdns` if given.
async fn start_node(node: &SharedNode, at: SocketAddr, mdns: Option<&str>) -> Result<Running> {
    let net = Arc::new(NetNode::bind(node.clone(), at)?);
    let addr = net.local_addr()?;
    let discovery: Option<Arc<dyn Discovery>> = match mdns {
        Some(interface) => Some(Arc::new(Mdns::new(&[interface.to_string()])?)),
        None => None,
    };
    let options = Options {
        discovery: discovery.into_iter().collect(),
        ..Default::default()
    };
    let (events, mut quiet) = tokio::sync::mpsc::unbounded_channel();
    // The demo prints its own story; the node's events are not needed.
    tokio::spawn(async move { while quiet.recv().await.is_some() {} });
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(serve::run(net, options, events, stop_rx));
    Ok((addr, stop, task))
}

/// Find a peer of the same space over mDNS on `lo` (bounded wait).
async fn discover(node: &SharedNode, net: &NetNode) -> Result<SocketAddr> {
    let mdns = Mdns::new(&["lo".to_string()])?;
    let spaces: Vec<SpaceId> = lock(node).spaces()?.into_iter().map(|s| s.id).collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<FoundPeer>();
    mdns.start(net.local_addr()?.port(), Tokens::for_spaces(&spaces), tx)?;
    let found = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    mdns.stop();
    match found {
        Ok(Some(p)) => p
            .addrs
            .first()
            .copied()
            .ok_or_else(|| "a peer without an address".into()),
        _ => Err("no peer answered over mDNS within 10 s".into()),
    }
}

fn print_check(lang: Lang, node: &Node, space: &SpaceId, c: &Check) -> Result<()> {
    let r = node.recipient(space, &c.recipient)?.recipient;
    say!(
        "   {} {}: {} {} — {} — {}",
        t(lang, "端末", "phone"),
        c.staff.name,
        c.recipient,
        r.name,
        c.method.label(lang),
        c.result.label(lang)
    );
    Ok(())
}
