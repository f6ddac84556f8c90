//! Network benchmarks over loopback QUIC, each beside plain automerge sync
//! of the same documents measured in the same run.
//!
//! `cargo bench -p anpi-tests --bench net`. `ANPI_BENCH_SMALL=1` for a quick
//! run (500 recipients and checks instead of 5,000).
//!
//! - first sync of a roster and an incident to a new device: time, and
//!   bytes on the wire (UDP, QUIC and TLS included) against the documents'
//!   saved size;
//! - incremental sync of 100 new checks between known peers, at 1,000 and
//!   50,000 checks of history: bytes, round trips, time (median of rounds),
//!   and how they grow with history;
//! - plain automerge sync with fresh sync states on the same documents.

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
    let (plain_bytes, plain_messages) = p
        .saved
        .iter()
        .map(|s| plain_first_sync(s))
        .fold((0, 0), |(b, m), (b2, m2)| (b + b2, m + m2));
    println!(
        "| recipients / checks | time | bytes on the wire (UDP) | of which sync messages | documents' saved size | wire / saved | plain automerge sync, fresh states: bytes | plain / saved | plain messages |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} / {n} | {:.0} ms | {wire} | {} | {saved_size} | {:.3} | {plain_bytes} | {:.3} | {plain_messages} |",
        ms(first_time),
        first.stats.bytes_sent + first.stats.bytes_received,
        wire as f64 / saved_size as f64,
        plain_bytes as f64 / saved_size as f64,
    );
    phone_net.close().await;
    office_net.close().await;

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
            "| {history} checks | {} | {} | {} | {:.1} ms | {} | {} | {:.2} |",
            r.bytes,
            r.wire,
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
