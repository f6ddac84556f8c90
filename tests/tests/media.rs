//! Disks as they are in the field. A disk that fills up: every `anpi check`
//! gives one answer, saved (exit 0) or not saved (exit ≠ 0, nothing saved),
//! never "recorded" and then an error. A folder on read-only media answers
//! reads and says "read-only" when asked to write. Each test runs in a user
//! and mount namespace of its own, on a small tmpfs.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use anpi_tests::netns::{anpi, enter_mounts, ok};

/// Bytes free on the file system holding `path`.
fn free(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Mount a tmpfs of `size` at `dir` (inside the test's namespace).
fn tmpfs(dir: &Path, size: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "mount a tmpfs inside the namespace");
}

fn checks_of(data: &Path, id: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(&ok(data, &["show", id, "--json"])).unwrap();
    v["history"].as_array().unwrap().len()
}

#[test]
fn on_a_full_disk_a_check_is_saved_and_said_so_or_not_saved_at_all() {
    if !enter_mounts("on_a_full_disk_a_check_is_saved_and_said_so_or_not_saved_at_all") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    tmpfs(&disk, "6m");
    let office = disk.join("office");
    ok(&office, &["init", "--space", "ひまわり", "--staff", "事務"]);
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "利用者ID,氏名,住所\nR001,山田 ハル,架空市1\nR002,鈴木 茂,架空市2\n",
    )
    .unwrap();
    ok(&office, &["import", roster.to_str().unwrap()]);
    ok(&office, &["incident", "start", "--kind", "earthquake"]);

    let filler = disk.join("filler");
    let mut saved = checks_of(&office, "R001");
    let (mut said_saved, mut said_not) = (0, 0);
    for room in [
        200_000u64, 120_000, 80_000, 60_000, 48_000, 40_000, 32_000, 24_000, 16_000, 12_000, 8_000,
        4_000, 2_000, 0,
    ] {
        let fill = free(&disk).saturating_sub(room);
        let _ = std::fs::write(&filler, vec![0u8; fill as usize]);
        let out = anpi(
            &office,
            &[
                "--lang", "en", "check", "R001", "--status", "safe", "--method", "phone",
            ],
        );
        std::fs::remove_file(&filler).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let now = checks_of(&office, "R001");
        if out.status.success() {
            assert!(stdout.contains("recorded:"), "{stdout}{stderr}");
            assert_eq!(
                now,
                saved + 1,
                "said saved with {room} bytes free: {stdout}{stderr}"
            );
            said_saved += 1;
        } else {
            assert!(
                !stdout.contains("recorded:"),
                "said recorded, then failed, with {room} bytes free: {stdout}{stderr}"
            );
            assert_eq!(
                now, saved,
                "said not saved but saved, with {room} bytes free"
            );
            said_not += 1;
        }
        saved = now;
    }
    assert!(
        said_saved > 0 && said_not > 0,
        "both answers came up ({said_saved} / {said_not})"
    );
    // With room again, the folder works as before.
    ok(
        &office,
        &["check", "R002", "--status", "safe", "--method", "visit"],
    );
    assert_eq!(checks_of(&office, "R002"), 1);
    assert_eq!(checks_of(&office, "R001"), saved);
}

#[test]
fn a_folder_on_read_only_media_answers_reads_and_refuses_writes() {
    if !enter_mounts("a_folder_on_read_only_media_answers_reads_and_refuses_writes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("stick");
    tmpfs(&disk, "16m");
    let office = disk.join("office");
    ok(&office, &["init", "--space", "ひまわり", "--staff", "事務"]);
    let roster = dir.path().join("roster.csv");
    std::fs::write(&roster, "利用者ID,氏名,住所\nR001,山田 ハル,架空市1\n").unwrap();
    ok(&office, &["import", roster.to_str().unwrap()]);
    ok(&office, &["incident", "start", "--kind", "earthquake"]);
    ok(
        &office,
        &["check", "R001", "--status", "safe", "--method", "visit"],
    );
    let st = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(ok(&office, &["list"]).contains("R001"));
    assert_eq!(checks_of(&office, "R001"), 1);
    assert!(ok(&office, &["export", "form2", "--format", "csv"]).contains("山田 ハル"));
    let o = anpi(
        &office,
        &["check", "R001", "--status", "injured", "--method", "phone"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("読み取り専用"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("記録しました"));
}
