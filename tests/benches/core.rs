//! Core benchmarks: recording a check, opening a store to the priority list,
//! and syncing 100 new checks — each beside the unavoidable parts measured in
//! the same run (plain automerge, bare SQLite), so the figures compare as
//! ratios on a noisy machine.
//!
//! `cargo bench -p anpi-tests --bench core` (all), or name a part:
//! `cargo bench -p anpi-tests --bench core -- record|open|sync|import|crypt`.
//! Set `ANPI_BENCH_SMALL=1` for a quick run with small histories.

mod common;

use std::path::Path;

use common::{plain_sync, recipient};
use std::time::{Duration, Instant};

use anpi_core::doc::DocKey;
use anpi_core::model::*;
use anpi_core::node::{NewCheck, Node};
use anpi_core::store::SqliteStore;
use automerge::AutoCommit;
use rusqlite::Connection;

const ONSET_MS: i64 = 1_795_000_000_000;

fn onset() -> Timestamp {
    Timestamp::from_millis(ONSET_MS)
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn staff() -> Staff {
    Staff {
        name: "佐藤 美咲".into(),
        organisation: "ひまわり居宅介護支援事業所".into(),
    }
}

fn new_check(i: usize, recipients: usize) -> NewCheck {
    let mut c = NewCheck::new(
        RecipientId(format!("R{:06}", i % recipients)),
        CheckMethod::Visit,
        CheckResult::ALL[i % CheckResult::ALL.len()],
    );
    c.note = "玄関先で本人と会話。停電中だが体調は安定、水の備蓄あり。".into();
    c.at = onset().plus_minutes(i as i64 % 10_000);
    c
}

/// A node at `path` holding `recipients` recipients and an incident with
/// `checks` checks recorded one by one, compacted as a device would be.
/// Recipients kept free of checks in the history, so that the checks a
/// benchmark measures are the same size at every history length (a check
/// lists the earlier checks of its recipient it knew of).
const FRESH: usize = 1_000;

/// How many checks of the history share one automerge change: a device
/// commits its checks as one change when it syncs, so this is checks per
/// sync. Ten is a phone syncing often (the more changes, the more a history
/// weighs on every later sync).
const CHECKS_PER_CHANGE: usize = 10;

fn fresh_check(i: usize, recipients: usize) -> NewCheck {
    let mut c = new_check(i, recipients);
    c.recipient = RecipientId(format!("R{:06}", recipients + i % FRESH));
    c
}

fn populated(
    path: &Path,
    recipients: usize,
    fresh: usize,
    checks: usize,
) -> (Node, SpaceId, IncidentId) {
    populated_in(
        SqliteStore::open(path).expect("store"),
        recipients,
        fresh,
        checks,
    )
}

fn populated_in(
    store: SqliteStore,
    recipients: usize,
    fresh: usize,
    checks: usize,
) -> (Node, SpaceId, IncidentId) {
    let mut node = Node::open(store).expect("node");
    node.set_staff(staff()).expect("staff");
    let space = node.create_space("ひまわり").expect("space").id;
    let t = Instant::now();
    node.upsert_recipients(&space, (0..recipients + fresh).map(recipient).collect())
        .expect("roster");
    eprintln!(
        "setup: {recipients} recipients in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let incident = node
        .start_incident(&space, IncidentKind::Flood, "大雨", onset())
        .expect("incident")
        .id;
    for i in 0..checks {
        node.record_check(&space, &incident, new_check(i, recipients))
            .expect("check");
        if i % CHECKS_PER_CHANGE == CHECKS_PER_CHANGE - 1 {
            // As if the device synced: its checks since become one change.
            node.flush_all().expect("flush");
        }
        if i % 5_000 == 4_999 {
            node.maintain().expect("compact");
            eprintln!(
                "setup: {} checks in {:.1} s",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    node.maintain().expect("compact");
    eprintln!(
        "setup: {checks} checks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    (node, space, incident)
}

fn bare_sqlite(path: &Path) -> Connection {
    let c = Connection::open(path).expect("sqlite");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL").expect("full");
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL)",
    )
    .expect("table");
    c
}

fn bench_record(small: bool) {
    println!("\n## Recording one check (durable)\n");
    println!(
        "| history | anpi p50 | anpi p99 | p99/p50 | automerge put+commit p50 | bare SQLite insert+commit p50 | sum of the two | anpi overhead |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let histories: &[usize] = if small { &[1_000] } else { &[1_000, 50_000] };
    for &history in histories {
        let dir = tempfile::tempdir().expect("tmp");
        let recipients = 1_000;
        let (mut node, space, incident) =
            populated(&dir.path().join("anpi.db"), recipients, FRESH, history);
        let key = DocKey::incident(&space, &incident);
        let mut plain =
            AutoCommit::load(&node.store().load(&key).expect("load").expect("doc").bytes())
                .expect("plain doc");
        plain.set_actor(automerge::ActorId::random());
        let conn = bare_sqlite(&dir.path().join("bare.db"));
        let rounds = if small { 300 } else { 1_000 };
        let (mut ours, mut am, mut sql) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..rounds {
            let c = fresh_check(i, recipients);

            let t = Instant::now();
            let check = node.record_check(&space, &incident, c).expect("record");
            ours.push(t.elapsed());

            // The same check, as the same JSON value in the same document
            // shape, into plain automerge.
            let mut same = check.clone();
            same.id = CheckId::new();
            let t = Instant::now();
            anpi_core::doc::put_check(&mut plain, &same).expect("put");
            plain.commit();
            am.push(t.elapsed());
            let bytes = plain
                .get_last_local_change()
                .expect("change")
                .raw_bytes()
                .to_vec();

            let t = Instant::now();
            let tx = conn.unchecked_transaction().expect("tx");
            tx.execute("INSERT INTO changes (bytes) VALUES (?1)", [&bytes])
                .expect("insert");
            tx.commit().expect("commit");
            sql.push(t.elapsed());
        }
        let (o, a, s) = (stats(ours), stats(am), stats(sql));
        let base = us(a.p50) + us(s.p50);
        println!(
            "| {history} | {:.0} µs | {:.0} µs | {:.1}× | {:.0} µs | {:.0} µs | {:.0} µs | {:+.0}% |",
            us(o.p50),
            us(o.p99),
            us(o.p99) / us(o.p50),
            us(a.p50),
            us(s.p50),
            base,
            (us(o.p50) / base - 1.0) * 100.0
        );
    }
}

fn bench_open(small: bool) {
    println!("\n## Open a store and produce the priority list (one check per recipient)\n");
    println!(
        "| recipients | open + list p50 | of which open | of which reading the index | plain `AutoCommit::load` of the incident document p50 |"
    );
    println!("|---|---|---|---|---|");
    let sizes: Vec<usize> = match std::env::var("ANPI_BENCH_OPEN_SIZE") {
        Ok(n) => vec![n.parse().expect("ANPI_BENCH_OPEN_SIZE is a number")],
        Err(_) if small => vec![5_000],
        Err(_) => vec![5_000, 50_000],
    };
    for n in sizes {
        let dir = tempfile::tempdir().expect("tmp");
        // ANPI_BENCH_KEEP=DIR keeps the populated store there and reuses it.
        let path = match std::env::var("ANPI_BENCH_KEEP") {
            Ok(keep) => Path::new(&keep).join(format!("open-{n}.db")),
            Err(_) => dir.path().join("anpi.db"),
        };
        let (node, space, incident) = if path.exists() {
            let node = Node::open(SqliteStore::open(&path).expect("store")).expect("node");
            let space = node.spaces().expect("spaces")[0].id.clone();
            let incident = node.incidents(&space).expect("incidents")[0].id.clone();
            (node, space, incident)
        } else {
            populated(&path, n, 0, n)
        };
        let key = DocKey::incident(&space, &incident);
        let bytes = node.store().load(&key).expect("load").expect("doc").bytes();
        drop(node);
        let (mut total, mut open, mut load, mut reads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..7 {
            let t = Instant::now();
            let node = Node::open(SqliteStore::open(&path).expect("store")).expect("node");
            let opened = t.elapsed();
            let data = node.incident_data(&space, Some(&incident)).expect("data");
            let read = t.elapsed();
            let list = data.priority_list(onset().plus_minutes(60));
            assert_eq!(list.len(), n);
            total.push(t.elapsed());
            open.push(opened);
            reads.push(read - opened);
            drop(node);

            let t = Instant::now();
            let doc = AutoCommit::load(&bytes).expect("load");
            load.push(t.elapsed());
            drop(doc);
        }
        println!(
            "| {n} | {:.0} ms | {:.1} ms | {:.0} ms | {:.0} ms |",
            ms(stats(total).p50),
            ms(stats(open).p50),
            ms(stats(reads).p50),
            ms(stats(load).p50)
        );
    }
}

fn bench_crypt(small: bool) {
    use anpi_core::store::DatabaseKey;
    println!("\n## Encryption at rest (SQLCipher) against the unencrypted store\n");
    let n = if small { 1_000 } else { 5_000 };
    let key = DatabaseKey::from_bytes([42; 32]);
    let dir = tempfile::tempdir().expect("tmp");
    let open = |path: &Path, encrypted: bool| {
        if encrypted {
            SqliteStore::open_encrypted(path, &key).expect("store")
        } else {
            SqliteStore::open(path).expect("store")
        }
    };
    let mut rows = Vec::new();
    for encrypted in [false, true] {
        let path = dir.path().join(format!("crypt-{encrypted}.db"));
        let (mut node, space, incident) = populated_in(open(&path, encrypted), n, 200, n);
        let mut record = Vec::new();
        for i in 0..200 {
            let c = new_check(n + i, n);
            let t = Instant::now();
            node.record_check(&space, &incident, c).expect("check");
            record.push(t.elapsed());
        }
        node.maintain().expect("flush");
        drop(node);
        let mut opened = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let node = Node::open(open(&path, encrypted)).expect("node");
            let data = node.incident_data(&space, Some(&incident)).expect("data");
            let list = data.priority_list(onset().plus_minutes(60));
            assert_eq!(list.len(), n + 200);
            opened.push(t.elapsed());
        }
        rows.push((encrypted, stats(record), stats(opened)));
    }
    println!("| store ({n} recipients, {n} checks) | record a check p50 | p99 | open + list p50 |");
    println!("|---|---|---|---|");
    for (encrypted, r, o) in &rows {
        println!(
            "| {} | {:.0} µs | {:.0} µs | {:.0} ms |",
            if *encrypted {
                "encrypted"
            } else {
                "unencrypted"
            },
            us(r.p50),
            us(r.p99),
            ms(o.p50)
        );
    }
    let (_, r0, o0) = &rows[0];
    let (_, r1, o1) = &rows[1];
    println!(
        "| ratio | {:.2} | {:.2} | {:.2} |",
        us(r1.p50) / us(r0.p50),
        us(r1.p99) / us(r0.p99),
        ms(o1.p50) / ms(o0.p50)
    );
}

fn bench_sync(small: bool) {
    println!("\n## Sync 100 new checks between two stores that were in sync\n");
    println!(
        "| history | anpi bytes | anpi round trips | anpi time p50 | plain automerge bytes | plain messages | plain time p50 | bytes ratio | plain, fresh states: bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let histories: Vec<usize> = match std::env::var("ANPI_BENCH_SYNC_HISTORY") {
        Ok(h) => vec![h.parse().expect("ANPI_BENCH_SYNC_HISTORY is a number")],
        Err(_) if small => vec![1_000],
        Err(_) => vec![1_000, 50_000],
    };
    for history in histories {
        let dir = tempfile::tempdir().expect("tmp");
        let recipients = 1_000;
        let (mut a, space, incident) =
            populated(&dir.path().join("a.db"), recipients, FRESH, history);
        let mut b =
            Node::open(SqliteStore::open(&dir.path().join("b.db")).expect("store")).expect("node");
        // B joins A's space, then one more session so both know each other.
        anpi_core::node::sync_local(&mut b, &mut a, std::slice::from_ref(&space)).expect("join");
        anpi_tests::sync(&mut a, &mut b).expect("sync");
        let key = DocKey::incident(&space, &incident);
        let bytes = a.store().load(&key).expect("load").expect("doc").bytes();
        let mut pa = AutoCommit::load(&bytes).expect("plain a");
        pa.set_actor(automerge::ActorId::random());
        let mut pb = pa.fork();
        let (mut psa, mut psb) = (automerge::sync::State::new(), automerge::sync::State::new());
        plain_sync(&mut pa, &mut psa, &mut pb, &mut psb);

        let rounds: usize = std::env::var("ANPI_BENCH_SYNC_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(15);
        let (mut ours_t, mut plain_t) = (Vec::new(), Vec::new());
        let (mut ours_bytes, mut ours_rt, mut plain_bytes, mut plain_msgs, mut fresh_bytes) =
            (0, 0, 0, 0, 0);
        for round in 0..rounds {
            let before_round = pa.get_heads();
            for i in 0..100 {
                let check = a
                    .record_check(&space, &incident, fresh_check(round * 100 + i, recipients))
                    .expect("record");
                // The same check in the same shape, synced by plain automerge.
                anpi_core::doc::put_check(&mut pa, &check).expect("put");
                pa.commit();
            }
            let t = Instant::now();
            let x = anpi_tests::sync(&mut a, &mut b).expect("sync");
            ours_t.push(t.elapsed());
            ours_bytes = x.bytes();
            ours_rt = x.round_trips;

            let t = Instant::now();
            let (pbytes, pmsgs) = plain_sync(&mut pa, &mut psa, &mut pb, &mut psb);
            plain_t.push(t.elapsed());
            plain_bytes = pbytes;
            plain_msgs = pmsgs;

            if round == rounds - 1 {
                // The same last 100 checks with sync states forgotten: the
                // Bloom filter has to describe the whole history.
                let mut ahead = pa.fork();
                let mut behind = pa.fork_at(&before_round).expect("fork at");
                let (mut s1, mut s2) =
                    (automerge::sync::State::new(), automerge::sync::State::new());
                fresh_bytes = plain_sync(&mut ahead, &mut s1, &mut behind, &mut s2).0;
            }
        }
        assert_eq!(a.heads().expect("heads"), b.heads().expect("heads"));
        let (o, p) = (stats(ours_t), stats(plain_t));
        println!(
            "| {history} | {ours_bytes} | {ours_rt} | {:.1} ms | {plain_bytes} | {plain_msgs} | {:.1} ms | {:.2} | {fresh_bytes} |",
            ms(o.p50),
            ms(p.p50),
            ours_bytes as f64 / plain_bytes as f64
        );
    }
}

/// The roster of `n` recipients as the CSV a care system exports.
fn roster_csv(n: usize) -> Vec<u8> {
    let mut out = String::from(
        "利用者ID,氏名,フリガナ,住所,地区,電話,世帯状況,要介護度,担当ケアマネ,想定避難所,避難支援者,医療機器,浸水想定,安否確認方法\n",
    );
    for i in 0..n {
        let r = recipient(i);
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.id,
            r.name,
            r.kana,
            r.address,
            r.area,
            r.phone,
            r.household.map_or("", |h| h.label_ja()),
            r.care_level.map_or("", |c| c.label_ja()),
            r.care_manager,
            r.plan.shelter,
            r.plan.supporter,
            r.plan
                .medical_devices
                .iter()
                .map(|d| d.label_ja())
                .collect::<Vec<_>>()
                .join("・"),
            r.hazards.flood_depth.map_or("", |d| d.label_ja()),
            r.check_method,
        ));
    }
    out.into_bytes()
}

/// The same values written the straightforward way: a map per recipient and
/// one register per non-empty field (nested plan and hazards flattened to
/// dotted keys), as raw automerge puts in one transaction.
fn per_field_puts(recipients: &[Recipient]) -> Duration {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT};
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let fields: Vec<Vec<(String, String)>> = recipients
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            flatten("", &serde_json::to_value(r).expect("json"), &mut out);
            out
        })
        .collect();
    let mut doc = AutoCommit::new();
    let t = Instant::now();
    let all = doc
        .put_object(ROOT, "recipients", ObjType::Map)
        .expect("map");
    for (r, fields) in recipients.iter().zip(&fields) {
        let m = doc
            .put_object(&all, r.id.as_str(), ObjType::Map)
            .expect("map");
        for (k, v) in fields {
            doc.put(&m, k.as_str(), v.as_str()).expect("put");
        }
    }
    doc.commit();
    t.elapsed()
}

fn bench_import(small: bool) {
    println!("\n## Importing the roster CSV\n");
    println!(
        "| rows | anpi import (parse + durable write) | of which parsing the CSV | plain automerge, anpi's shape: the same recipients reconciled into a new roster in one transaction | ratio | plain automerge, one register per field: the same values as raw puts in one transaction | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    let sizes: &[usize] = if small { &[5_000] } else { &[5_000, 50_000] };
    for &n in sizes {
        let bytes = roster_csv(n);
        let dir = tempfile::tempdir().expect("tmp");
        let mut node = Node::open(SqliteStore::open(&dir.path().join("anpi.db")).expect("store"))
            .expect("node");
        let space = node.create_space("ひまわり").expect("space").id;

        let t = Instant::now();
        let roster = anpi_core::io::roster::read(&bytes).expect("roster");
        let parsed = t.elapsed();
        let counts = node
            .upsert_recipients(&space, roster.recipients.clone())
            .expect("import");
        node.maintain().expect("flush");
        let ours = t.elapsed();
        assert_eq!(counts.added, n);

        let device = DeviceId::random();
        let mut plain = anpi_core::doc::create(&anpi_core::doc::DocKind::Roster, &device);
        let t = Instant::now();
        for r in &roster.recipients {
            anpi_core::doc::put_recipient(&mut plain, r).expect("put");
        }
        plain.commit();
        let am = t.elapsed();

        let per_field = per_field_puts(&roster.recipients);
        println!(
            "| {n} | {:.1} s | {:.2} s | {:.1} s | {:.2} | {:.1} s | {:.2} |",
            ours.as_secs_f64(),
            parsed.as_secs_f64(),
            am.as_secs_f64(),
            ours.as_secs_f64() / am.as_secs_f64(),
            per_field.as_secs_f64(),
            ours.as_secs_f64() / per_field.as_secs_f64()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let small = std::env::var("ANPI_BENCH_SMALL").is_ok();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    println!(
        "anpi core benchmarks{}",
        if small { " (small)" } else { "" }
    );
    if want("record") {
        bench_record(small);
    }
    if want("open") {
        bench_open(small);
    }
    if want("sync") {
        bench_sync(small);
    }
    if want("import") {
        bench_import(small);
    }
    if want("crypt") {
        bench_crypt(small);
    }
}
