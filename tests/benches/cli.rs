//! The `anpi` command as people run it, whole process from the outside:
//! `list --json`'s peak memory and `show`'s time at 5,000 and 50,000
//! recipients with one check each, in an encrypted data folder like any
//! other. Peak memory is the kernel's own accounting of the finished process
//! (GNU time's `%M`, maximum resident set size).
//!
//! `cargo bench -p anpi-tests --bench cli`; `ANPI_BENCH_SMALL=1` for 5,000
//! only; `ANPI_BENCH_KEEP=DIR` keeps (and reuses) the populated folders.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[allow(dead_code)] // the plain-automerge baseline is not used here
mod common;

use anpi_core::folder::{DataFolder, Secret};
use anpi_core::model::*;
use anpi_core::node::NewCheck;

const PASSPHRASE: &str = "bench passphrase";

/// The release build of `anpi` beside this benchmark (built when needed).
fn anpi() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let st = Command::new(cargo)
                .args(["build", "--release", "-p", "anpi-cli", "--bin", "anpi"])
                .status()
                .unwrap();
            assert!(st.success(), "could not build anpi");
            let exe = std::env::current_exe().unwrap();
            exe.parent().and_then(Path::parent).unwrap().join("anpi")
        })
        .clone()
}

/// A data folder with `n` recipients and an incident with one check each,
/// made through the library (the CLI opens it with the passphrase).
fn folder(dir: &Path, n: usize) -> (PathBuf, String) {
    let path = dir.join(format!("office-{n}"));
    let mid = format!("R{:06}", n / 2);
    if path.join("anpi.db").exists() {
        return (path, mid);
    }
    let mut node = DataFolder::new(&path)
        .open_or_create(&Secret::Passphrase(PASSPHRASE.as_bytes().to_vec()))
        .unwrap();
    let space = node.create_space("ひまわり").unwrap().id;
    node.upsert_recipients(&space, (0..n).map(common::recipient).collect())
        .unwrap();
    let onset = Timestamp::from_millis(1_795_000_000_000);
    let incident = node
        .start_incident(&space, IncidentKind::Earthquake, "地震", onset)
        .unwrap()
        .id;
    let t = Instant::now();
    for i in 0..n {
        let mut c = NewCheck::new(
            RecipientId(format!("R{i:06}")),
            CheckMethod::Visit,
            CheckResult::ALL[i % CheckResult::ALL.len()],
        );
        c.note = "玄関先で本人と会話。停電中だが体調は安定、水の備蓄あり。".into();
        c.at = onset.plus_minutes(i as i64 % 10_000);
        node.record_check(&space, &incident, c).unwrap();
        if i % 10 == 9 {
            node.flush_all().unwrap();
        }
        if i % 5_000 == 4_999 {
            node.maintain().unwrap();
            eprintln!(
                "setup: {} checks in {:.0} s",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    node.maintain().unwrap();
    (path, mid)
}

/// Run `anpi --data DIR ARGS` under GNU time: (peak KiB, wall seconds,
/// bytes of standard output).
fn measured(data: &Path, args: &[&str]) -> (u64, f64, usize) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(report.path())
        .args(["-f", "%M %e"])
        .arg(anpi())
        .arg("--data")
        .arg(data)
        .args(args)
        .env("ANPI_PASSPHRASE", PASSPHRASE)
        .env_remove("ANPI_DATA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(report.path()).unwrap();
    let mut parts = text.split_whitespace();
    let kib = parts.next().unwrap().parse().unwrap();
    let secs = parts.next().unwrap().parse().unwrap();
    (kib, secs, out.stdout.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("GNU time (/usr/bin/time, Debian package `time`) is needed to read peak memory");
        std::process::exit(1);
    }
    let small = std::env::var("ANPI_BENCH_SMALL").is_ok();
    let sizes: &[usize] = if small { &[5_000] } else { &[5_000, 50_000] };
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var("ANPI_BENCH_KEEP").map(PathBuf::from);
    let dir = keep.as_deref().unwrap_or(tmp.path());
    println!(
        "anpi command benchmarks (whole process, encrypted data folder, one check per recipient)\n"
    );
    println!("| recipients | command | peak memory (median of 5) | wall (median of 5) | output |");
    println!("|---|---|---|---|---|");
    for &n in sizes {
        let (data, mid) = folder(dir, n);
        for args in [
            vec!["device", "id"],
            vec!["list", "--json"],
            vec!["list"],
            vec!["show", mid.as_str()],
            vec!["show", mid.as_str(), "--json"],
        ] {
            let runs: Vec<(u64, f64, usize)> = (0..5).map(|_| measured(&data, &args)).collect();
            let peak = median(runs.iter().map(|r| r.0 as f64).collect());
            let wall = median(runs.iter().map(|r| r.1).collect());
            println!(
                "| {n} | `anpi {}` | {:.0} MB | {:.2} s | {} bytes |",
                args.join(" "),
                peak * 1024.0 / 1e6,
                wall,
                runs[0].2
            );
        }
    }
    println!(
        "\n`anpi device id` opens the folder and prints one line: its peak is the passphrase's derivation (Argon2id, 64 MiB) and the library, the floor under every other command."
    );
}
