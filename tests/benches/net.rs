//! Network benchmarks over loopback QUIC, each beside plain automerge sync
//! of the same documents measured in the same run.
//!
//! `cargo bench -p anpi-tests --bench net`. `ANPI_BENCH_SMALL=1` for a quick
//! run (500 recipients and checks instead of 5,000); `ANPI_BENCH_FIRST=N,M`
//! for the first-sync sizes (default 5,000 and 50,000);
//! `ANPI_BENCH_ONLY=first` for the first sync alone.
//!
//! - first sync of a roster and an incident to a new device: time, and
//!   bytes on the wire (UDP, QUIC and TLS included) against the documents'
//!   saved size;
//! - incremental sync of 100 new checks between known peers, at 1,000 and
//!   50,000 checks of history: bytes, round trips, time (median of rounds),
//!   and how they grow with history;
//! - plain automerge sync with fresh sync states on the same documents.

#[allow(dead_code)] // the folder and binary helpers serve the process benchmarks
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anpi_core::model::*;
use anpi_core::net::{NetNode, SharedNode};
use anpi_core::node::{NewCheck, Node};
use anpi_core::store::SqliteStore;
use automerge::AutoCommit;
use common::{plain_sync, recipient};

type State = automerge::sync::State;

/// Plain automerge sync of a saved document to an empty one, fresh states.
fn plain_first_sync(from: &[u8]) -> (usize, usize) {
    let mut a = AutoCommit::load(from).expect("load");
    let mut b = AutoCommit::new();
    plain_sync(&mut a, &mut State::new(), &mut b, &mut State::new())
}

/// Plain automerge sync of what `after` has beyond `before`, between two
/// peers whose sync states are already warm.
fn plain_incremental(before: &[u8], after: &[u8]) -> (usize, usize) {
    let mut a = AutoCommit::load(before).expect("load");
    let mut b = a.fork();
    let (mut sa, mut sb) = (State::new(), State::new());
    plain_sync(&mut a, &mut sa, &mut b, &mut sb);
    let mut newer = AutoCommit::load(after).expect("load");
    let changes = newer.get_changes(&a.get_heads());
    a.apply_changes(changes).expect("apply");
    plain_sync(&mut a, &mut sa, &mut b, &mut sb)
}

fn open(dir: &std::path::Path, name: &str) -> Node {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("folder");
    Node::open(SqliteStore::open(&folder.join("anpi.db")).expect("store")).expect("node")
}

fn serve(net: Arc<NetNode>) {
    tokio::spawn(async move {
        while let Some(incoming) = net.accept().await {
            if let Ok(conn) = incoming {
                let n = net.clone();
                tokio::spawn(async move { n.respond(conn).await });
            }
        }
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// An office with a roster of `recipients` and an incident of `checks`
/// checks, and a new phone it added as a member, both as shared nodes.
struct Pair {
    office: SharedNode,
    office_id: DeviceId,
    phone: SharedNode,
    space: SpaceId,
    incident: IncidentId,
    saved: Vec<Vec<u8>>,
}

fn pair(dir: &std::path::Path, recipients: usize, checks: usize) -> Pair {
    let mut office = open(dir, "office");
    let space = office.create_space("ひまわり").expect("space").id;
    office
        .upsert_recipients(&space, (0..recipients).map(recipient).collect())
        .expect("roster");
    let incident = office
        .start_incident(&space, IncidentKind::Earthquake, "地震", Timestamp::now())
        .expect("incident");
    for i in 0..checks {
        office
            .record_check(
                &space,
                &incident.id,
                NewCheck::new(
                    recipient(i % recipients).id,
                    CheckMethod::Phone,
                    CheckResult::Safe,
                ),
            )
            .expect("check");
    }
    office.maintain().expect("compact");
    let phone = open(dir, "phone");
    office
        .add_member(
            &space,
            phone.device(),
            Staff {
                name: "佐藤".into(),
                organisation: "ひまわり".into(),
                id: None,
            },
            Role::CareManager,
        )
        .expect("member");
    let saved = office
        .documents()
        .expect("docs")
        .iter()
        .map(|k| office.saved_document(k).expect("save"))
        .collect();
    Pair {
        office_id: office.device().clone(),
        office: Arc::new(Mutex::new(office)),
        phone: Arc::new(Mutex::new(phone)),
        space,
        incident: incident.id,
        saved,
    }
}

/// One row of the incremental table: 100 new checks on the phone, synced
/// to the office, `rounds` times.
struct Incremental {
    bytes: usize,
    wire: u64,
    trips: usize,
    time: Duration,
    plain: (usize, usize),
}

async fn incremental(
    p: &Pair,
    phone_net: &NetNode,
    addr: SocketAddr,
    first_fresh: usize,
    rounds: usize,
) -> Incremental {
    let (mut times, mut bytes, mut wires, mut trips, mut plain) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let key = anpi_core::doc::DocKey::incident(&p.space, &p.incident);
    for round in 0..rounds {
        let before = p
            .phone
            .lock()
            .expect("phone")
            .saved_document(&key)
            .expect("save");
        {
            let mut phone = p.phone.lock().expect("phone");
            for i in 0..100 {
                let who = recipient(first_fresh + round * 100 + i).id;
                phone
                    .record_check(
                        &p.space,
                        &p.incident,
                        NewCheck::new(who, CheckMethod::Visit, CheckResult::Safe),
                    )
                    .expect("check");
            }
        }
        let t = Instant::now();
        let r = phone_net
            .sync_with(addr, Some(&p.office_id))
            .await
            .expect("sync");
        times.push(t.elapsed());
        bytes.push(r.stats.bytes_sent + r.stats.bytes_received);
        wires.push(r.wire_sent + r.wire_received);
        trips.push(r.round_trips);
        let after = p
            .phone
            .lock()
            .expect("phone")
            .saved_document(&key)
            .expect("save");
        plain.push(plain_incremental(&before, &after));
    }
    // Every check arrived: the figures are of a sync that did its work.
    let at_office = p
        .office
        .lock()
        .expect("office")
        .checks(&p.space, &p.incident)
        .expect("checks")
        .len();
    assert_eq!(
        at_office,
        first_fresh + rounds * 100,
        "checks missing at the office"
    );
    plain.sort();
    times.sort();
    bytes.sort();
    wires.sort();
    trips.sort();
    let mid = rounds / 2;
    Incremental {
        bytes: bytes[mid],
        wire: wires[mid],
        trips: trips[mid],
        time: times[mid],
        plain: plain[mid],
    }
}

/// Two phones of one office that never synced with each other, each with
/// 50 new checks, meet: round trips and bytes over QUIC, beside plain
/// automerge sync of the same documents with fresh states.
async fn first_meeting(recipients: usize, loopback: SocketAddr) {
    println!("\n## Two phones meeting for the first time, 50 new checks each\n");
    let dir = tempfile::tempdir().expect("tmp");
    let p = pair(dir.path(), recipients, recipients / 2);
    let office_net = Arc::new(NetNode::bind(p.office.clone(), loopback).expect("bind"));
    let addr = office_net.local_addr().expect("addr");
    serve(office_net.clone());
    // A joined first; the office recorded more; then B joined.
    let a = p.phone.clone();
    let a_net = Arc::new(NetNode::bind(a.clone(), loopback).expect("bind"));
    a_net.join(addr, &p.office_id).await.expect("join");
    let b = Arc::new(Mutex::new(open(dir.path(), "phone-b")));
    {
        let mut office = p.office.lock().expect("office");
        let b_id = b.lock().expect("b").device().clone();
        office
            .add_member(&p.space, &b_id, Staff::default(), Role::CareManager)
            .expect("member");
        office
            .record_check(
                &p.space,
                &p.incident,
                NewCheck::new(recipient(0).id, CheckMethod::Phone, CheckResult::Injured),
            )
            .expect("check");
    }
    let b_net = Arc::new(NetNode::bind(b.clone(), loopback).expect("bind"));
    b_net.join(addr, &p.office_id).await.expect("join");
    office_net.close().await;
    let key = anpi_core::doc::DocKey::incident(&p.space, &p.incident);
    for (node, offset) in [(&a, 1), (&b, 2)] {
        let mut n = node.lock().expect("phone");
        for i in 0..50 {
            n.record_check(
                &p.space,
                &p.incident,
                NewCheck::new(
                    recipient((offset * 50 + i) % recipients).id,
                    CheckMethod::Visit,
                    CheckResult::Safe,
                ),
            )
            .expect("check");
        }
        n.flush_all().expect("flush");
    }
    let saved = |n: &SharedNode| n.lock().expect("node").saved_document(&key).expect("save");
    let (before_a, before_b) = (saved(&a), saved(&b));
    serve(b_net.clone());
    let t = Instant::now();
    let r = a_net
        .sync_with(b_net.local_addr().expect("addr"), None)
        .await
        .expect("sync");
    let time = t.elapsed();
    assert!(r.failures.is_empty(), "{r:?}");
    for n in [&a, &b] {
        let count = n
            .lock()
            .expect("node")
            .checks(&p.space, &p.incident)
            .expect("checks")
            .len();
        assert_eq!(count, recipients / 2 + 1 + 100, "both hold every check");
    }
    // Plain automerge: the same two documents, fresh sync states.
    let mut pa = AutoCommit::load(&before_a).expect("load");
    let mut pb = AutoCommit::load(&before_b).expect("load");
    let (plain_bytes, plain_messages) =
        plain_sync(&mut pa, &mut State::new(), &mut pb, &mut State::new());
    assert_eq!(pa.get_heads().len(), pb.get_heads().len());
    println!(
        "| | round trips | sync message bytes | bytes on the wire (UDP) | time |\n|---|---|---|---|---|"
    );
    println!(
        "| anpi | {} | {} | {} | {:.1} ms |",
        r.round_trips,
        r.stats.bytes_sent + r.stats.bytes_received,
        r.wire_sent + r.wire_received,
        ms(time)
    );
    println!(
        "| plain automerge, fresh states (incident document only) | {} messages ({} round trips) | {plain_bytes} | — | — |",
        plain_messages,
        plain_messages.div_ceil(2)
    );
    a_net.close().await;
    b_net.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let small = std::env::var("ANPI_BENCH_SMALL").is_ok();
    let n = if small { 500 } else { 5_000 };
    let histories: Vec<usize> = if small {
        vec![1_000]
    } else {
        vec![1_000, 50_000]
    };
    let rounds = 9;
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");

    println!(
        "anpi network benchmarks (loopback QUIC){}",
        if small { " (small)" } else { "" }
    );
    println!("\n## First sync to a new device\n");
    println!(
        "| recipients / checks | time | bytes on the wire (UDP) | of which sync messages | documents' saved size | wire / saved | plain automerge sync, fresh states: time | bytes | plain / saved | plain messages |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let firsts: Vec<usize> = match std::env::var("ANPI_BENCH_FIRST") {
        Ok(sizes) => sizes
            .split(',')
            .map(|n| n.parse().expect("ANPI_BENCH_FIRST is numbers"))
            .collect(),
        Err(_) if small => vec![n],
        Err(_) => vec![n, 50_000],
    };
    for n in firsts {
        let dir = tempfile::tempdir().expect("tmp");
        let p = pair(dir.path(), n, n);
        let saved_size: usize = p.saved.iter().map(Vec::len).sum();
        let office_net = Arc::new(NetNode::bind(p.office.clone(), loopback).expect("bind"));
        let addr = office_net.local_addr().expect("addr");
        serve(office_net.clone());
        let phone_net = NetNode::bind(p.phone.clone(), loopback).expect("bind");
        let t = Instant::now();
        let first = phone_net.join(addr, &p.office_id).await.expect("join");
        let first_time = t.elapsed();
        let wire = first.wire_sent + first.wire_received;
        assert_eq!(
            p.phone
                .lock()
                .expect("phone")
                .checks(&p.space, &p.incident)
                .expect("checks")
                .len(),
            n,
            "every check arrived"
        );
        let t = Instant::now();
        let (plain_bytes, plain_messages) = p
            .saved
            .iter()
            .map(|s| plain_first_sync(s))
            .fold((0, 0), |(b, m), (b2, m2)| (b + b2, m + m2));
        let plain_time = t.elapsed();
        println!(
            "| {n} / {n} | {:.0} ms | {wire} | {} | {saved_size} | {:.3} | {:.0} ms | {plain_bytes} | {:.3} | {plain_messages} |",
            ms(first_time),
            first.stats.bytes_sent + first.stats.bytes_received,
            wire as f64 / saved_size as f64,
            ms(plain_time),
            plain_bytes as f64 / saved_size as f64,
        );
        phone_net.close().await;
        office_net.close().await;
    }

    if std::env::var("ANPI_BENCH_ONLY").as_deref() == Ok("first") {
        return;
    }
    first_meeting(if small { 200 } else { n }, loopback).await;

    println!("\n## 100 new checks between known peers (median of {rounds} rounds)\n");
    println!(
        "| history | sync message bytes | bytes on the wire (UDP) | round trips | time p50 | plain automerge, states kept: bytes | messages | wire / plain |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for history in histories {
        let dir = tempfile::tempdir().expect("tmp");
        // As in the core benchmark: the history's checks go one to each of
        // the first `history` recipients, and the measured checks to
        // recipients without earlier checks, so that they are the same size
        // at every history length (a check names the earlier checks of its
        // recipient).
        let recipients = history + rounds * 100;
        let p = pair(dir.path(), recipients, history);
        let office_net = Arc::new(NetNode::bind(p.office.clone(), loopback).expect("bind"));
        let addr = office_net.local_addr().expect("addr");
        serve(office_net.clone());
        let phone_net = NetNode::bind(p.phone.clone(), loopback).expect("bind");
        phone_net.join(addr, &p.office_id).await.expect("join");
        let r = incremental(&p, &phone_net, addr, history, rounds).await;
        println!(
            "| {history} checks | {} | {} (handshake and QUIC: {}) | {} | {:.1} ms | {} | {} | {:.2} |",
            r.bytes,
            r.wire,
            r.wire.saturating_sub(r.bytes as u64),
            r.trips,
            ms(r.time),
            r.plain.0,
            r.plain.1,
            r.wire as f64 / r.plain.0 as f64
        );
        rows.push((history, r));
        phone_net.close().await;
        office_net.close().await;
    }
    if let [(h1, a), .., (h2, b)] = rows.as_slice() {
        println!(
            "\nFrom {h1} to {h2} checks of history: time ×{:.2}, bytes on the wire ×{:.2}",
            b.time.as_secs_f64() / a.time.as_secs_f64(),
            b.wire as f64 / a.wire as f64
        );
    }
}
