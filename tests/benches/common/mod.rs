//! What the benchmarks share: the synthetic recipients and plain automerge
//! sync, the baseline every anpi figure is measured beside; the populated
//! data folder and the release `anpi` the process benchmarks run.

#![allow(clippy::unwrap_used)] // benchmarks: a failed unwrap is a failed run

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anpi_core::folder::{DataFolder, Secret};
use anpi_core::model::*;
use anpi_core::node::NewCheck;
use automerge::AutoCommit;
use automerge::sync::SyncDoc;

/// Recipient `i` of the synthetic roster.
pub fn recipient(i: usize) -> Recipient {
    let mut r = Recipient {
        id: RecipientId(format!("R{i:06}")),
        name: format!("試験 利用者{i}"),
        kana: format!("シケン リヨウシャ{i}"),
        address: format!("東京都架空区一丁目{i}番"),
        area: format!("第{}地区", i % 12),
        phone: "03-0000-0000".into(),
        household: Some(match i % 4 {
            0 => Household::Alone,
            1 => Household::ElderlyOnly,
            2 => Household::WithFamily,
            _ => Household::AloneDaytime,
        }),
        care_level: Some(CareLevel::ALL[i % CareLevel::ALL.len()]),
        care_manager: format!("ケアマネ{}", i % 30),
        check_method: "電話→訪問".into(),
        ..Default::default()
    };
    r.plan.shelter = format!("第{}小学校", i % 9);
    r.plan.supporter = if i.is_multiple_of(3) {
        String::new()
    } else {
        "長女".into()
    };
    if i.is_multiple_of(10) {
        r.plan.medical_devices = vec![MedicalDevice::HomeOxygen];
    }
    r.hazards.flood_depth = Some(FloodDepth::ALL[i % FloodDepth::ALL.len()]);
    r
}

/// Plain automerge sync of two documents until neither has anything to say.
pub fn plain_sync(
    a: &mut AutoCommit,
    sa: &mut automerge::sync::State,
    b: &mut AutoCommit,
    sb: &mut automerge::sync::State,
) -> (usize, usize) {
    let (mut bytes, mut messages) = (0, 0);
    loop {
        let mut quiet = true;
        if let Some(m) = a.sync().generate_sync_message(sa) {
            let enc = m.encode();
            bytes += enc.len();
            messages += 1;
            b.sync()
                .receive_sync_message(sb, automerge::sync::Message::decode(&enc).expect("msg"))
                .expect("recv");
            quiet = false;
        }
        if let Some(m) = b.sync().generate_sync_message(sb) {
            let enc = m.encode();
            bytes += enc.len();
            messages += 1;
            a.sync()
                .receive_sync_message(sa, automerge::sync::Message::decode(&enc).expect("msg"))
                .expect("recv");
            quiet = false;
        }
        if quiet {
            return (bytes, messages);
        }
    }
}

/// The release build of `anpi` beside the benchmarks (built when needed).
pub fn anpi() -> PathBuf {
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
pub fn office_folder(dir: &Path, n: usize, passphrase: &str) -> (PathBuf, String) {
    let path = dir.join(format!("office-{n}"));
    let mid = format!("R{:06}", n / 2);
    if path.join("anpi.db").exists() {
        return (path, mid);
    }
    let mut node = DataFolder::new(&path)
        .open_or_create(&Secret::Passphrase(passphrase.as_bytes().to_vec()))
        .unwrap();
    let space = node.create_space("ひまわり").unwrap().id;
    node.upsert_recipients(&space, (0..n).map(recipient).collect())
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
