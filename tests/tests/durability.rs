//! A child process records checks and is killed with SIGKILL at random
//! moments; every check it reported as saved must be there afterwards, and
//! the database must pass `PRAGMA integrity_check`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anpi_core::model::{CheckId, SpaceId};
use anpi_core::node::Node;

/// Kills per test; `ANPI_SOAK_KILLS` asks for more (`scripts/soak`: 1,000).
fn kills() -> usize {
    std::env::var("ANPI_SOAK_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// A small deterministic generator, so a failing run can be repeated.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// The ids of every check the node lists, in every incident.
fn check_ids(node: &Node, space: &SpaceId) -> BTreeSet<CheckId> {
    node.incidents(space)
        .unwrap()
        .iter()
        .flat_map(|i| node.checks(space, &i.id).unwrap())
        .map(|c| c.id)
        .collect()
}

#[test]
fn checks_reported_saved_survive_sigkill() {
    survive_sigkill(false);
}

/// What devices open: SQLCipher's pages and WAL frames, cut by the kill.
#[test]
fn checks_reported_saved_survive_sigkill_encrypted() {
    survive_sigkill(true);
}

/// Kills on one store before a soak starts a new one: the writer opens a
/// store that grows with every round, and past a few hundred rounds it
/// was still opening when most kills came (the first soak: 262 of 1,000
/// landed while checks were written, none lost).
const KILLS_PER_STORE: usize = 100;

fn survive_sigkill(encrypted: bool) {
    let seed = std::env::var("ANPI_DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261121);
    let mut rng = Lcg(seed);
    let (mut reported, mut during_writes, mut left) = (0, 0, kills());
    let total = left;
    while left > 0 {
        let kills = left.min(KILLS_PER_STORE);
        let (r, w) = kill_on_one_store(encrypted, kills, &mut rng);
        reported += r;
        during_writes += w;
        left -= kills;
    }
    println!(
        "{reported} checks reported saved over {total} kills ({during_writes} while writing), none lost"
    );
}

/// `kills` rounds on a new store: how many checks were reported saved, and
/// how many kills landed while they were being written.
fn kill_on_one_store(encrypted: bool, kills: usize, rng: &mut Lcg) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("anpi.db");
    let mut reported: BTreeSet<CheckId> = BTreeSet::new();
    let mut kills_during_writes = 0;
    for round in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anpi-check-writer"))
            .arg(&db)
            .args(encrypted.then_some("--encrypted"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let wait = Duration::from_millis(20 + rng.next(180));
        let started = Instant::now();
        while started.elapsed() < wait {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("writer exited by itself in round {round}: {status} {err}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        // A line cut by the kill was not reported in full: it does not count.
        let complete = match out.rfind('\n') {
            Some(end) => &out[..end],
            None => "",
        };
        let before = reported.len();
        for line in complete.lines() {
            reported.insert(line.parse().unwrap());
        }
        if reported.len() > before {
            kills_during_writes += 1;
        }

        let store = anpi_tests::open_store(&db, encrypted).unwrap();
        store.integrity_check().unwrap();
        let node = Node::open(store).unwrap();
        let space = node.spaces().unwrap().pop();
        let Some(space) = space else {
            assert!(reported.is_empty());
            continue;
        };
        let present: BTreeSet<CheckId> = check_ids(&node, &space.id);
        let lost: Vec<_> = reported.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {round}: lost {} reported checks: {lost:?}",
            lost.len()
        );
    }
    assert!(
        kills_during_writes >= kills / 2,
        "most kills should land while checks are being written ({kills_during_writes})"
    );
    // The index said so; the documents themselves must hold them too.
    let mut store = anpi_tests::open_store(&db, encrypted).unwrap();
    store.drop_index_for_test().unwrap();
    let node = Node::open(store).unwrap();
    let space = node.spaces().unwrap().pop().unwrap();
    let rebuilt: BTreeSet<CheckId> = check_ids(&node, &space.id);
    assert!(
        reported.is_subset(&rebuilt),
        "a check is in the index but not in its document"
    );
    (reported.len(), kills_during_writes)
}
