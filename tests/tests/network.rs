//! Devices as separate `anpi` processes syncing over QUIC, each test in its
//! own network namespace (see `anpi_tests::netns`).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use anpi_tests::netns::{Serving, anpi, device_id, enter, ok};

const ROSTER: &str = "利用者ID,氏名,住所,世帯状況,要介護度,医療機器
R001,山田 ハル,架空市東1-1,独居,要介護4,人工呼吸器
R002,鈴木 茂,架空市西2-2,同居,要支援1,
R003,高橋 キヨ,架空市南3-3,独居,要介護2,在宅酸素
R004,田中 正雄,架空市北4-4,高齢者世帯,要介護3,
";

struct Team {
    office: PathBuf,
    office_id: String,
    phones: Vec<PathBuf>,
}

/// An office with the roster and `phones` phone folders added as members
/// (of two organisations), not yet joined.
fn team(dir: &Path, phones: usize) -> Team {
    let office = dir.join("office");
    ok(
        &office,
        &[
            "init",
            "--space",
            "ひまわり",
            "--org",
            "ひまわり居宅",
            "--staff",
            "事務",
        ],
    );
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    ok(&office, &["import", roster.to_str().unwrap()]);
    let office_id = device_id(&office);
    let mut folders = Vec::new();
    for i in 0..phones {
        let phone = dir.join(format!("phone{i}"));
        let id = device_id(&phone);
        let org = if i % 2 == 0 {
            "ひまわり居宅"
        } else {
            "架空市役所"
        };
        ok(
            &office,
            &[
                "device",
                "add",
                &id,
                "--staff",
                &format!("職員{i}"),
                "--org",
                org,
            ],
        );
        folders.push(phone);
    }
    Team {
        office,
        office_id,
        phones: folders,
    }
}

/// A team whose phones all joined through the running office.
fn joined(dir: &Path, phones: usize) -> (Team, Serving) {
    let t = team(dir, phones);
    let office = Serving::start(&t.office, &[]);
    for p in &t.phones {
        join(&t, p, &office);
    }
    (t, office)
}

fn join(team: &Team, phone: &Path, office: &Serving) {
    ok(
        phone,
        &[
            "join",
            "--office",
            &office.addr,
            "--office-id",
            &team.office_id,
        ],
    );
}

fn check(phone: &Path, id: &str, status: &str, method: &str) {
    ok(
        phone,
        &["check", id, "--status", status, "--method", method],
    );
}

/// The checks a folder holds, as (recipient, staff, status), sorted.
fn checks(data: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for id in ["R001", "R002", "R003", "R004"] {
        let v: serde_json::Value =
            serde_json::from_str(&ok(data, &["show", id, "--json"])).unwrap();
        for h in v["history"].as_array().unwrap() {
            let c = &h["check"];
            out.push((
                id.to_string(),
                c["staff"]["name"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn two_phones_discover_each_other_over_mdns_and_converge() {
    if !enter("two_phones_discover_each_other_over_mdns_and_converge") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (t, office) = joined(dir.path(), 2);
    office.stop();
    // The office is gone (an outage); both phones start the incident and
    // record offline.
    for p in &t.phones {
        ok(p, &["incident", "start", "--kind", "earthquake"]);
    }
    check(&t.phones[0], "R001", "safe", "visit");
    check(&t.phones[1], "R001", "safe", "phone");
    check(&t.phones[1], "R003", "unreachable", "phone");

    let a = Serving::start(&t.phones[0], &["--mdns", "--interface", "lo"]);
    let o = ok(
        &t.phones[1],
        &[
            "--lang",
            "en",
            "sync",
            "--mdns",
            "--interface",
            "lo",
            "--timeout",
            "20",
        ],
    );
    assert!(o.contains("found a nearby device"), "{o}");
    assert!(o.contains("1 peers synced"), "{o}");
    a.wait_for("synced with", Duration::from_secs(10));
    a.stop();
    let (ca, cb) = (checks(&t.phones[0]), checks(&t.phones[1]));
    assert_eq!(ca.len(), 3, "{ca:?}");
    assert_eq!(ca, cb);
    // The duplicate visit is visible on both.
    for p in &t.phones {
        let d: serde_json::Value = serde_json::from_str(&ok(p, &["duplicates", "--json"])).unwrap();
        assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
        assert_eq!(d[0]["recipient_id"], "R001");
    }
}

#[test]
fn three_phones_and_an_office_converge() {
    if !enter("three_phones_and_an_office_converge") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (t, office) = joined(dir.path(), 3);
    for p in &t.phones {
        ok(p, &["incident", "start", "--kind", "flood"]);
    }
    check(&t.phones[0], "R001", "safe", "visit");
    check(&t.phones[1], "R002", "injured", "visit");
    check(&t.phones[2], "R003", "evacuated", "family");
    check(&t.phones[2], "R001", "safe", "phone");
    // Each phone syncs with the office (the address it joined); a second
    // round brings everyone what the later ones carried.
    for _ in 0..2 {
        for p in &t.phones {
            ok(p, &["sync"]);
        }
    }
    let out = office.stop();
    assert!(
        out.iter().filter(|l| l.contains("synced with")).count() >= 6,
        "{out:?}"
    );
    let want = checks(&t.office);
    assert_eq!(want.len(), 4, "{want:?}");
    for p in &t.phones {
        assert_eq!(checks(p), want);
    }
    let list = |d: &Path| {
        let v: serde_json::Value = serde_json::from_str(&ok(d, &["list", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].clone(), r["status"].clone(), r["duplicate"].clone()))
            .collect::<Vec<_>>()
    };
    let office_list = list(&t.office);
    for p in &t.phones {
        assert_eq!(list(p), office_list);
    }
}

#[test]
fn a_phone_carries_another_phones_checks_to_the_office() {
    if !enter("a_phone_carries_another_phones_checks_to_the_office") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (t, office) = joined(dir.path(), 2);
    let office_addr = office.addr.clone();
    office.stop();
    ok(&t.phones[0], &["incident", "start", "--kind", "earthquake"]);
    check(&t.phones[0], "R004", "needs_evacuation", "visit");
    // A meets B at a shelter: B reaches A directly.
    let a = Serving::start(&t.phones[0], &[]);
    let a_id = device_id(&t.phones[0]);
    let out = ok(
        &t.phones[1],
        &["sync", "--peer", &a.addr, "--peer-id", &a_id],
    );
    // The core's book of peers, as the CLI shows it: A synced, the office
    // (down) failed — told apart.
    assert!(
        out.lines()
            .any(|l| l.contains(a.addr.as_str()) && l.contains("同期済み")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains(office_addr.as_str())
            && l.contains("事務所")
            && l.contains("失敗")),
        "{out}"
    );
    a.stop();
    // Later B reaches the office (A never does).
    let office = Serving::start_at(&t.office, &office_addr, &[]);
    ok(&t.phones[1], &["sync"]);
    office.stop();
    let at_office = checks(&t.office);
    assert_eq!(
        at_office,
        [("R004".into(), "職員0".into(), "needs_evacuation".into())]
    );
}

#[test]
fn a_node_killed_mid_sync_converges_after_restart() {
    if !enter("a_node_killed_mid_sync_converges_after_restart") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = team(dir.path(), 1);
    // A roster large enough that the first sync takes a while.
    let mut big = String::from("利用者ID,氏名,住所,特記事項\n");
    for i in 0..20_000 {
        big.push_str(&format!(
            "X{i:05},試験 利用者{i},架空市{i}番地,{}\n",
            "記録".repeat(20)
        ));
    }
    let roster = dir.path().join("big.csv");
    std::fs::write(&roster, big).unwrap();
    ok(&t.office, &["import", roster.to_str().unwrap()]);
    let phone = &t.phones[0];
    let mut killed_mid_sync = 0;
    for delay_ms in [30u64, 80, 150] {
        let office = Serving::start(&t.office, &[]);
        let addr = office.addr.clone();
        let join = std::process::Command::new(anpi_tests::netns::anpi_bin())
            .arg("--data")
            .arg(phone)
            .args(["join", "--office", &addr, "--office-id", &t.office_id])
            .env("ANPI_PASSPHRASE", anpi_tests::netns::PASSPHRASE)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        office.kill();
        let status = join.wait_with_output().unwrap().status;
        if !status.success() {
            killed_mid_sync += 1;
        }
    }
    // The office restarts; the phone joins again and has everything.
    let office = Serving::start(&t.office, &[]);
    join(&t, phone, &office);
    office.stop();
    let list: serde_json::Value = serde_json::from_str(&ok(phone, &["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 20_004);
    assert!(killed_mid_sync > 0, "no kill landed mid-sync");
    // Both stores are sound.
    for d in [&t.office, phone] {
        let key = anpi_tests::netns::folder_key(d);
        anpi_core::store::SqliteStore::open_encrypted(&d.join("anpi.db"), &key)
            .unwrap()
            .integrity_check()
            .unwrap();
    }
}

#[test]
fn a_passphrase_given_in_the_environment_does_not_stay_there() {
    if !enter("a_passphrase_given_in_the_environment_does_not_stay_there") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = team(dir.path(), 1);
    // `serve` runs for days: what it was started with in its environment
    // is readable in /proc for as long, by any process of the same user.
    let office = Serving::start(&t.office, &[]);
    let environ = std::fs::read(format!("/proc/{}/environ", office.pid())).unwrap();
    let secret = anpi_tests::netns::PASSPHRASE.as_bytes();
    assert!(!environ.windows(secret.len()).any(|w| w == secret));
    assert!(!environ.windows(16).any(|w| w == b"ANPI_PASSPHRASE="));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", office.pid())).unwrap();
    assert!(!cmdline.windows(secret.len()).any(|w| w == secret));
    // It opened the folder all the same, and a phone syncs with it.
    let phone = &t.phones[0];
    join(&t, phone, &office);
    ok(phone, &["sync", "--peer", &office.addr]);
    office.stop();
}

#[test]
fn strangers_revoked_devices_and_other_spaces_are_refused_at_the_handshake() {
    if !enter("strangers_revoked_devices_and_other_spaces_are_refused_at_the_handshake") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = team(dir.path(), 1);
    // Another office with its own space and its own member.
    let other = dir.path().join("other-office");
    ok(&other, &["init", "--space", "あおば"]);
    let outsider = dir.path().join("outsider");
    let outsider_id = device_id(&outsider);
    ok(&other, &["device", "add", &outsider_id, "--staff", "他所"]);
    let other_srv = Serving::start(&other, &[]);
    ok(
        &outsider,
        &[
            "join",
            "--office",
            &other_srv.addr,
            "--office-id",
            &device_id(&other),
        ],
    );
    other_srv.stop();

    // A phone that joined, then was lost and revoked.
    let lost = dir.path().join("lost");
    let lost_id = device_id(&lost);
    ok(&t.office, &["device", "add", &lost_id, "--staff", "紛失"]);
    let office = Serving::start(&t.office, &[]);
    ok(
        &lost,
        &[
            "join",
            "--office",
            &office.addr,
            "--office-id",
            &t.office_id,
        ],
    );
    let office_addr = office.addr.clone();
    office.stop();
    ok(&t.office, &["device", "revoke", &lost_id]);
    let office = Serving::start_at(&t.office, &office_addr, &[]);
    let o = anpi(&lost, &["--lang", "en", "sync"]);
    assert!(!o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("refused at the handshake"), "{text}");
    // Never added anywhere.
    let stranger = dir.path().join("stranger");
    let o = anpi(
        &stranger,
        &[
            "--lang",
            "en",
            "join",
            "--office",
            &office.addr,
            "--office-id",
            &t.office_id,
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused at the handshake"), "{err}");
    // A member of another space.
    let o = anpi(
        &outsider,
        &[
            "--lang",
            "en",
            "sync",
            "--peer",
            &office.addr,
            "--peer-id",
            &t.office_id,
        ],
    );
    assert!(!o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("refused at the handshake"), "{text}");
    office.wait_for("refused a connection", Duration::from_secs(5));
    let out = office.stop();
    // Refused three times, and no session ever started: no application
    // stream was accepted from any of them.
    assert_eq!(
        out.iter()
            .filter(|l| l.contains("refused a connection"))
            .count(),
        3,
        "{out:?}"
    );
    assert!(!out.iter().any(|l| l.contains("synced with")), "{out:?}");
    // The outsider learned nothing of this space.
    assert!(!ok(&outsider, &["list", "--json"]).contains("山田"));
}

#[test]
fn an_invite_enrolls_a_phone_once_while_the_office_runs() {
    if !enter("an_invite_enrolls_a_phone_once_while_the_office_runs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = team(dir.path(), 0);
    let office = Serving::start(&t.office, &[]);
    // Made while the office node runs: it honours it at once.
    let qr = dir.path().join("invite.png");
    let out = ok(
        &t.office,
        &[
            "invite",
            "--staff",
            "佐藤 美咲",
            "--address",
            &office.addr,
            "--qr",
            qr.to_str().unwrap(),
        ],
    );
    let code = out.lines().last().unwrap().to_string();
    assert!(code.starts_with("ANPI2-"), "{out}");
    assert!(std::fs::read(&qr).unwrap().starts_with(b"\x89PNG"));
    let phone = dir.path().join("phone");
    let joined = ok(&phone, &["join", "--invite", &code]);
    assert!(joined.contains("「ひまわり」に参加しました"), "{joined}");
    // The phone knows its carrier and the office, and syncs as a member.
    ok(&phone, &["incident", "start", "--kind", "earthquake"]);
    check(&phone, "R002", "safe", "phone");
    ok(&phone, &["sync"]);
    let members: serde_json::Value =
        serde_json::from_str(&ok(&t.office, &["device", "list", "--json"])).unwrap();
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["staff"] == "佐藤 美咲" && m["standing"] == "active"),
        "{members}"
    );
    // What the phone runs, as it said over QUIC at that session.
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["staff"] == "佐藤 美咲"
                && m["software"] == env!("CARGO_PKG_VERSION")
                && m["format"] == anpi_core::doc::FORMAT_VERSION),
        "{members}"
    );
    // The same code on another device: refused, and nothing moves.
    let copy = dir.path().join("copy");
    let o = anpi(&copy, &["--lang", "en", "join", "--invite", &code]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused this invite"), "{err}");
    office.stop();
    assert_eq!(
        checks(&t.office),
        [("R002".into(), "佐藤 美咲".into(), "safe".into())]
    );
}

#[test]
fn only_consented_recipients_reach_a_partner_agency_until_an_exception_is_declared() {
    if !enter("only_consented_recipients_reach_a_partner_agency_until_an_exception_is_declared") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    ok(
        &office,
        &[
            "init",
            "--space",
            "ひまわり",
            "--org",
            "ひまわり居宅",
            "--staff",
            "事務",
        ],
    );
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "利用者ID,氏名,住所,医療機器,情報提供同意,同意日,同意範囲,同意取得者\n\
         R001,山田 ハル,架空市東1-1,人工呼吸器,有,令和8年4月1日,安否確認のため連携機関へ,佐藤\n\
         R002,鈴木 茂,架空市西2-2,,無,,,\n",
    )
    .unwrap();
    ok(&office, &["import", roster.to_str().unwrap()]);
    ok(&office, &["area", "create", "東地区連携"]);
    let out = ok(
        &office,
        &["--lang", "en", "area", "share", "--to", "東地区連携"],
    );
    assert!(
        out.contains("1 with consent, 0 under the disaster exception, 1 withheld"),
        "{out}"
    );

    // A partner agency's phone joins the area space only, by invite.
    let srv = Serving::start(&office, &[]);
    let out = ok(
        &office,
        &[
            "--space",
            "東地区連携",
            "invite",
            "--staff",
            "見守り 一郎",
            "--org",
            "あおば訪問看護",
            "--address",
            &srv.addr,
        ],
    );
    let code = out.lines().last().unwrap().to_string();
    let partner = dir.path().join("partner");
    ok(&partner, &["join", "--invite", &code]);
    let listed = |d: &Path| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&ok(d, &["list", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    // One space, one recipient, and none of the care record.
    assert_eq!(listed(&partner), ["山田 ハル"]);
    let shown = ok(&partner, &["show", listed_id(&partner).as_str(), "--json"]);
    assert!(
        !shown.contains("ventilator") && !shown.contains("care_level"),
        "{shown}"
    );
    // The priority travels; its health reasons do not, as the consent's
    // scope does not name them (issue 20, 7).
    assert!(
        shown.contains("優先度高") && !shown.contains("人工呼吸器"),
        "a neutral reason travels with the priority: {shown}"
    );
    let office_addr = srv.addr.clone();
    srv.stop();

    // A disaster exception, declared by the office's admin: the other
    // recipient is shared too, and every member sees the declaration.
    let out = ok(
        &office,
        &[
            "--lang",
            "en",
            "area",
            "share",
            "--to",
            "東地区連携",
            "--exception-hours",
            "72",
            "--reason",
            "震度6強、安否不明者多数",
        ],
    );
    assert!(out.contains("1 under the disaster exception"), "{out}");
    let srv = Serving::start_at(&office, &office_addr, &[]);
    ok(&partner, &["sync"]);
    srv.stop();
    let mut names = listed(&partner);
    names.sort();
    assert_eq!(names, ["山田 ハル", "鈴木 茂"]);
    let ex: serde_json::Value =
        serde_json::from_str(&ok(&partner, &["area", "exceptions", "--json"])).unwrap();
    assert_eq!(ex[0]["reason"], "震度6強、安否不明者多数");
    assert_eq!(ex[0]["active"], true);
    // The office's audit trail names each provision and its items.
    let trail = ok(&office, &["--lang", "en", "audit", "list"]);
    assert_eq!(trail.matches("area space 東地区連携").count(), 2, "{trail}");
    assert!(trail.contains("disaster exception"), "{trail}");
    // …and the organisations it went to.
    assert!(
        trail.contains("area space 東地区連携 (あおば訪問看護)"),
        "{trail}"
    );

    // 支援代行: the partner visits the office's client during an incident in
    // the area; the office brings that check into its own list.
    let rows: serde_json::Value = serde_json::from_str(&ok(&partner, &["list", "--json"])).unwrap();
    let yamada = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "山田 ハル")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&partner, &["incident", "start", "--kind", "earthquake"]);
    ok(
        &partner,
        &["check", &yamada, "--status", "safe", "--method", "visit"],
    );
    let srv = Serving::start_at(&office, &office_addr, &[]);
    ok(&partner, &["sync"]);
    srv.stop();
    ok(
        &office,
        &[
            "--space",
            "ひまわり",
            "incident",
            "start",
            "--kind",
            "earthquake",
        ],
    );
    let out = ok(
        &office,
        &["--lang", "en", "area", "collect", "--from", "東地区連携"],
    );
    assert!(out.contains("collected 1 checks"), "{out}");
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&office, &["--space", "ひまわり", "list", "--json"])).unwrap();
    let r001 = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "R001")
        .unwrap();
    assert_eq!(r001["status"], "safe", "{r001}");
    assert_eq!(r001["checked_by"]["org"], "あおば訪問看護", "{r001}");
    let out = ok(
        &office,
        &["--lang", "en", "area", "collect", "--from", "東地区連携"],
    );
    assert!(
        out.contains("collected 0 checks") && out.contains("(1 collected before)"),
        "{out}"
    );
}

/// The id of the only recipient a folder lists.
fn listed_id(d: &Path) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(d, &["list", "--json"])).unwrap();
    v[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn what_an_admin_does_while_the_office_node_runs_takes_effect_at_once() {
    if !enter("what_an_admin_does_while_the_office_node_runs_takes_effect_at_once") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = team(dir.path(), 0);
    let office = Serving::start(&t.office, &[]);
    // Added by another process while `serve` runs: accepted on the first try.
    let phone = dir.path().join("phone");
    let id = device_id(&phone);
    ok(&t.office, &["device", "add", &id, "--staff", "佐藤"]);
    join(&t, &phone, &office);
    // A roster imported meanwhile reaches the phone on its next sync.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "利用者ID,氏名,住所\nR005,伊藤 トミ,架空市中央5-5\n").unwrap();
    ok(&t.office, &["import", more.to_str().unwrap()]);
    ok(&phone, &["sync"]);
    office.stop();
    let list: serde_json::Value = serde_json::from_str(&ok(&phone, &["list", "--json"])).unwrap();
    assert!(
        list.as_array().unwrap().iter().any(|r| r["id"] == "R005"),
        "{list}"
    );
}

/// Two phones of one space, the second enrolled after the first last
/// synced, meet at a shelter while the office is dark: each proves its
/// membership in its certificate, over mDNS and directly, whichever dials.
#[test]
fn phones_enrolled_on_different_days_sync_with_each_other_while_the_office_is_down() {
    if !enter("phones_enrolled_on_different_days_sync_with_each_other_while_the_office_is_down") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = team(dir.path(), 0);
    let office = Serving::start(&t.office, &[]);
    // Week 1: phone A.
    let a = dir.path().join("a");
    ok(
        &t.office,
        &["device", "add", &device_id(&a), "--staff", "佐藤"],
    );
    join(&t, &a, &office);
    // Week 3: phone B; A does not reach the office again.
    let b = dir.path().join("b");
    let b_id = device_id(&b);
    ok(
        &t.office,
        &[
            "device",
            "add",
            &b_id,
            "--staff",
            "鈴木",
            "--org",
            "架空市役所",
        ],
    );
    join(&t, &b, &office);
    office.stop();
    for p in [&a, &b] {
        ok(p, &["incident", "start", "--kind", "earthquake"]);
    }
    check(&a, "R001", "safe", "visit");
    check(&b, "R002", "injured", "visit");
    // Over mDNS: A answers, B finds it and dials.
    let a_srv = Serving::start(&a, &["--mdns", "--interface", "lo"]);
    let o = ok(
        &b,
        &[
            "--lang",
            "en",
            "sync",
            "--mdns",
            "--interface",
            "lo",
            "--timeout",
            "20",
        ],
    );
    assert!(o.contains("1 peers synced"), "{o}");
    a_srv.wait_for("synced with", Duration::from_secs(10));
    a_srv.stop();
    assert_eq!(checks(&a), checks(&b));
    assert_eq!(checks(&a).len(), 2);
    // Directly, the other way: B answers, A dials it by address and id.
    check(&a, "R003", "safe", "phone");
    let b_srv = Serving::start(&b, &[]);
    let o = ok(
        &a,
        &[
            "--lang",
            "en",
            "sync",
            "--peer",
            &b_srv.addr,
            "--peer-id",
            &b_id,
        ],
    );
    assert!(o.contains("1 peers synced"), "{o}");
    b_srv.stop();
    assert_eq!(checks(&a), checks(&b));
    assert_eq!(checks(&b).len(), 3);
}

/// A phone revoked by `anpi device revoke` (another process) while the
/// office's `serve` runs is refused at its next sync, and told so: never
/// "synced".
#[test]
fn a_phone_revoked_while_the_office_serves_is_refused_and_not_told_it_synced() {
    if !enter("a_phone_revoked_while_the_office_serves_is_refused_and_not_told_it_synced") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (t, office) = joined(dir.path(), 1);
    let phone = &t.phones[0];
    ok(phone, &["incident", "start", "--kind", "flood"]);
    check(phone, "R001", "safe", "visit");
    ok(phone, &["sync"]);
    let phone_id = device_id(phone);
    ok(&t.office, &["device", "revoke", &phone_id]);
    check(phone, "R002", "safe", "visit");
    let o = anpi(phone, &["--lang", "en", "sync"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "{text}");
    assert!(!text.contains("1 peers synced"), "{text}");
    assert!(text.contains("refused"), "{text}");
    // The office says it refused it: in the handshake, or — when its node
    // was busy as the phone dialled and the handshake went by the members
    // as last read — right after, before anything moved.
    let out = office.stop();
    assert!(
        out.iter().any(|l| l.contains("refused a connection")
            || l.contains("failed: refused at the handshake")),
        "{out:?}"
    );
    // The office holds the first check only.
    assert_eq!(checks(&t.office).len(), 1);
}

/// Issue 20, 11: mDNS tokens rotate. A device advertising for three
/// "hours" (two seconds each here) is still found by one that starts
/// then, which accepts only the tokens of the hour at hand and the hours
/// beside it; and it finds that newcomer. Before, the advertisement kept
/// its first hour's token for good.
#[test]
fn an_advertisement_rotates_its_tokens_every_hour_and_stays_found() {
    if !enter("an_advertisement_rotates_its_tokens_every_hour_and_stays_found") {
        return;
    }
    use anpi_core::model::SpaceId;
    use anpi_core::net::discovery::{Discovery, Mdns, Tokens};
    let hour = Duration::from_secs(2);
    let space = SpaceId("ab".repeat(16));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let lo = ["lo".to_string()];
        let old = Mdns::new(&lo).unwrap();
        let (old_tx, mut old_rx) = tokio::sync::mpsc::unbounded_channel();
        old.start(7001, Tokens::for_spaces([&space]).with_hour(hour), old_tx)
            .unwrap();
        tokio::time::sleep(hour * 3).await;
        let new = Mdns::new(&lo).unwrap();
        let (new_tx, mut new_rx) = tokio::sync::mpsc::unbounded_channel();
        new.start(7002, Tokens::for_spaces([&space]).with_hour(hour), new_tx)
            .unwrap();
        assert!(
            heard(&mut new_rx, 7001).await,
            "the newcomer never found the device that rotated"
        );
        assert!(
            heard(&mut old_rx, 7002).await,
            "the device that rotated never found the newcomer"
        );
        old.stop();
        new.stop();
    });
}

/// Whether a peer on `port` is reported within 15 seconds.
async fn heard(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<anpi_core::net::discovery::FoundPeer>,
    port: u16,
) -> bool {
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(p) = rx.recv().await {
            if p.addrs.iter().any(|a| a.port() == port) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}
