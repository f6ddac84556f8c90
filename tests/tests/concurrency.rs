//! Many `anpi` processes writing one data folder at once, as an office does
//! when someone records a phone call while `anpi serve` runs and a script
//! imports: every write that was acknowledged is kept, the folder stays
//! usable, and everything syncs afterwards.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anpi_tests::netns::{PASSPHRASE, Serving, anpi_bin, device_id, enter, ok};

/// A roster of `n` recipients.
fn roster(dir: &Path, n: usize) -> PathBuf {
    let mut csv = String::from("利用者ID,氏名,住所,世帯状況,要介護度\n");
    for i in 0..n {
        csv.push_str(&format!("R{i:03},利用者 {i},架空市{i}丁目,独居,要介護3\n"));
    }
    let path = dir.join("roster.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn office(dir: &Path, recipients: usize) -> PathBuf {
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
    ok(
        &office,
        &["import", roster(dir, recipients).to_str().unwrap()],
    );
    ok(&office, &["incident", "start", "--kind", "earthquake"]);
    office
}

/// Start `anpi --data DATA ARGS` without waiting.
fn spawn(data: &Path, args: &[String]) -> Child {
    Command::new(anpi_bin())
        .arg("--data")
        .arg(data)
        .args(["--lang", "en"])
        .args(args)
        .env_remove("ANPI_DATA")
        .env("ANPI_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for every child; each must succeed. Their outputs, in order.
fn all_succeed(children: Vec<(String, Child)>) -> Vec<String> {
    let mut outs = Vec::new();
    for (what, child) in children {
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{what} failed:\n{text}");
        outs.push(text);
    }
    outs
}

/// `check R… --status S --method visit` for each recipient, all at once.
fn checks_at_once(data: &Path, recipients: &[String], status: &str) -> Vec<(String, Child)> {
    recipients
        .iter()
        .map(|r| {
            let args: Vec<String> = ["check", r, "--status", status, "--method", "visit"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            (format!("check {r}"), spawn(data, &args))
        })
        .collect()
}

/// The ids of every check in the folder's open incident.
fn check_ids(data: &Path, recipients: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..recipients {
        let v: serde_json::Value =
            serde_json::from_str(&ok(data, &["show", &format!("R{i:03}"), "--json"])).unwrap();
        for h in v["history"].as_array().unwrap() {
            ids.push(h["check"]["id"].as_str().unwrap().to_string());
        }
    }
    ids.sort();
    ids
}

/// The check id an `anpi --lang en check` printed ("recorded: … (ID)").
fn printed_id(out: &str) -> String {
    let line = out.lines().find(|l| l.starts_with("recorded:")).unwrap();
    line.rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string()
}

#[test]
fn many_processes_write_one_folder_at_once_and_keep_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let n = 10;
    let office = office(dir.path(), n);
    let mut recorded = Vec::new();
    for round in 0..3 {
        let ids: Vec<String> = (0..n).map(|i| format!("R{i:03}")).collect();
        let mut children = checks_at_once(&office, &ids, "safe");
        // Claims and a release among them, and readers.
        for i in 0..3 {
            children.push((
                format!("claim R{i:03}"),
                spawn(&office, &["claim".into(), format!("R{i:03}")]),
            ));
        }
        children.push((
            "list".into(),
            spawn(&office, &["list".into(), "--json".into()]),
        ));
        let outs = all_succeed(children);
        recorded.extend(outs.iter().take(n).map(|o| printed_id(o)));
        assert_eq!(recorded.len(), n * (round + 1));
    }
    recorded.sort();
    assert_eq!(check_ids(&office, n), recorded, "every acknowledged check");
    // The folder stays usable: end the incident, start one again, merge,
    // clone, and a new device gets every check.
    let phone = dir.path().join("phone");
    ok(
        &phone,
        &["clone", office.to_str().unwrap(), "--staff", "佐藤"],
    );
    assert_eq!(check_ids(&phone, n), recorded);
    ok(
        &phone,
        &["check", "R000", "--status", "injured", "--method", "phone"],
    );
    ok(&office, &["merge", phone.to_str().unwrap()]);
    assert_eq!(check_ids(&office, n).len(), recorded.len() + 1);
    ok(&office, &["incident", "end"]);
}

#[test]
fn many_processes_write_while_serve_runs_and_everything_syncs() {
    if !enter("many_processes_write_while_serve_runs_and_everything_syncs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 8;
    let office = office(dir.path(), n);
    let office_id = device_id(&office);
    let phone = dir.path().join("phone");
    let phone_id = device_id(&phone);
    ok(&office, &["device", "add", &phone_id, "--staff", "佐藤"]);
    let serving = Serving::start(&office, &[]);
    ok(
        &phone,
        &["join", "--office", &serving.addr, "--office-id", &office_id],
    );
    let ids: Vec<String> = (0..n).map(|i| format!("R{i:03}")).collect();
    // Checks on the office's folder while serve runs there, and on the
    // phone's folder while the phone syncs with the office, all at once.
    let mut children = checks_at_once(&office, &ids, "safe");
    children.extend(checks_at_once(&phone, &ids[..4], "injured"));
    for _ in 0..2 {
        children.push(("sync".into(), spawn(&phone, &["sync".into()])));
    }
    // A backup of the office's folder, taken while all that goes on.
    let backup = dir.path().join("office.anpi-backup");
    children.push((
        "backup".into(),
        spawn(
            &office,
            &[
                "backup".into(),
                "--out".into(),
                backup.display().to_string(),
            ],
        ),
    ));
    all_succeed(children);
    // It is whole: it restores, and opens.
    let restored = dir.path().join("restored");
    ok(&restored, &["restore", backup.to_str().unwrap()]);
    assert!(check_ids(&restored, n).len() <= n + 4);
    // Once more, now that every process ended: the phone holds it all.
    ok(&phone, &["sync"]);
    ok(&phone, &["sync"]);
    let at_office = check_ids(&office, n);
    assert_eq!(at_office.len(), n + 4);
    assert_eq!(check_ids(&phone, n), at_office);
    let out = serving.stop();
    assert!(
        !out.iter().any(|l| l.contains("duplicate seq")),
        "{}",
        out.join("\n")
    );
}
