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

#[allow(dead_code)] // the plain-automerge baseline is not used here
mod common;

const PASSPHRASE: &str = "bench passphrase";

use common::anpi;

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
        let (data, mid) = common::office_folder(dir, n, PASSPHRASE);
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
