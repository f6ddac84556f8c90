//! Network benchmarks over loopback QUIC, each beside plain automerge sync
//! of the same documents measured in the same run.
//!
//! `cargo bench -p anpi-tests --bench net`. `ANPI_BENCH_SMALL=1` for a quick
//! run (500 recipients and checks instead of 5,000).
//!
//! - first sync of a roster and an incident to a new device: time, and
//!   bytes on the wire (UDP, QUIC and TLS included) against the documents'
//!   saved size;
//! - incremental sync of 100 new checks between known peers: bytes, round
//!   trips, time (median of rounds);
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let small = std::env::var("ANPI_BENCH_SMALL").is_ok();
    let n = if small { 500 } else { 5_000 };
    let rounds = 9;
    let dir = tempfile::tempdir().expect("tmp");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");

    // The office: a roster of n recipients and an incident of n checks.
    let mut office = open(dir.path(), "office");
    let space = office.create_space("ひまわり").expect("space").id;
    office
        .upsert_recipients(&space, (0..n).map(recipient).collect())
        .expect("roster");
    let incident = office
        .start_incident(&space, IncidentKind::Earthquake, "地震", Timestamp::now())
        .expect("incident");
    for i in 0..n {
        office
            .record_check(
                &space,
                &incident.id,
                NewCheck::new(recipient(i).id, CheckMethod::Phone, CheckResult::Safe),
            )
            .expect("check");
    }
    office.maintain().expect("compact");
    let phone = open(dir.path(), "phone");
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
    let saved: Vec<Vec<u8>> = office
        .documents()
        .expect("docs")
        .iter()
        .map(|k| office.saved_document(k).expect("save"))
        .collect();
    let saved_size: usize = saved.iter().map(Vec::len).sum();
    let office_id = office.device().clone();
    let office: SharedNode = Arc::new(Mutex::new(office));
    let office_net = Arc::new(NetNode::bind(office.clone(), loopback).expect("bind"));
    let addr = office_net.local_addr().expect("addr");
    serve(office_net.clone());
    let phone: SharedNode = Arc::new(Mutex::new(phone));
    let phone_net = NetNode::bind(phone.clone(), loopback).expect("bind");

    println!(
        "anpi network benchmarks (loopback QUIC){}",
        if small { " (small)" } else { "" }
    );
    println!("\n## First sync to a new device\n");
    let t = Instant::now();
    let first = phone_net.join(addr, &office_id).await.expect("join");
    let first_time = t.elapsed();
    let wire = first.wire_sent + first.wire_received;
    let (plain_bytes, plain_messages) = saved
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

    println!("\n## 100 new checks between known peers (median of {rounds} rounds)\n");
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    let mut wires = Vec::new();
    let mut trips = Vec::new();
    let mut plain = Vec::new();
    let incident_key = anpi_core::doc::DocKey::incident(&space, &incident.id);
    for round in 0..rounds {
        let before = phone
            .lock()
            .expect("phone")
            .saved_document(&incident_key)
            .expect("save");
        {
            let mut p = phone.lock().expect("phone");
            for i in 0..100 {
                let who = recipient((round * 100 + i) % n).id;
                p.record_check(
                    &space,
                    &incident.id,
                    NewCheck::new(who, CheckMethod::Visit, CheckResult::Safe),
                )
                .expect("check");
            }
        }
        let t = Instant::now();
        let r = phone_net
            .sync_with(addr, Some(&office_id))
            .await
            .expect("sync");
        times.push(t.elapsed());
        bytes.push(r.stats.bytes_sent + r.stats.bytes_received);
        wires.push(r.wire_sent + r.wire_received);
        trips.push(r.round_trips);
        let after = phone
            .lock()
            .expect("phone")
            .saved_document(&incident_key)
            .expect("save");
        plain.push(plain_incremental(&before, &after));
    }
    plain.sort();
    times.sort();
    bytes.sort();
    wires.sort();
    trips.sort();
    let mid = rounds / 2;
    println!(
        "| history | sync message bytes | bytes on the wire (UDP) | round trips | time p50 | plain automerge, states kept: bytes | messages | wire / plain |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} checks | {} | {} | {} | {:.1} ms | {} | {} | {:.2} |",
        bytes[mid],
        wires[mid],
        trips[mid],
        ms(times[mid]),
        plain[mid].0,
        plain[mid].1,
        wires[mid] as f64 / plain[mid].0 as f64
    );
    phone_net.close().await;
    office_net.close().await;
}
