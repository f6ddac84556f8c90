//! Core benchmarks: recording a check, opening a store to the priority list,
//! and syncing 100 new checks — each beside the unavoidable parts measured in
//! the same run (plain automerge, bare SQLite), so the figures compare as
//! ratios on a noisy machine.
//!
//! `cargo bench -p anpi-tests --bench core` (all), or name a part:
//! `cargo bench -p anpi-tests --bench core -- record|open|sync|import|crypt|battery|staffing`.
//! Set `ANPI_BENCH_SMALL=1` for a quick run with small histories.

#[allow(dead_code)] // the folder and binary helpers serve the process benchmarks
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
        id: None,
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

/// Recipients kept free of checks in the history, so that the checks a
/// benchmark measures are the same size at every history length (a check
/// lists the earlier checks of its recipient it knew of).
const FRESH: usize = 1_000;

/// How many checks of the history share one automerge change: a device
/// commits its checks as one change when it syncs, so this is checks per
/// sync. Ten is a phone syncing often (the more changes, the more a history
/// weighs on every later sync).
const CHECKS_PER_CHANGE: usize = 10;

/// The `i`th measured check, to the `i`th recipient after the history's:
/// the node must hold at least `i + 1` fresh recipients.
fn fresh_check(i: usize, recipients: usize) -> NewCheck {
    let mut c = new_check(i, recipients);
    c.recipient = RecipientId(format!("R{:06}", recipients + i));
    c
}

/// A node at `path` holding `recipients` recipients, `fresh` more without
/// checks, and an incident with `checks` checks recorded one by one,
/// compacted as a device would be.
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
        "| history | anpi p50 | anpi p99 | p99/p50 | automerge put+commit p50 | bare SQLite insert+commit p50 | bare SQLite p99/p50 | sum of the two p50 | anpi overhead |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
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
            "| {history} | {:.0} µs | {:.0} µs | {:.1}× | {:.0} µs | {:.0} µs | {:.1}× | {:.0} µs | {:+.0}% |",
            us(o.p50),
            us(o.p99),
            us(o.p99) / us(o.p50),
            us(a.p50),
            us(s.p50),
            // The disk's own jitter, beside anpi's p99/p50.
            us(s.p99) / us(s.p50),
            base,
            (us(o.p50) / base - 1.0) * 100.0
        );
    }
}

/// A store at `path`, encrypted or not.
fn open(path: &Path, encrypted: bool) -> SqliteStore {
    anpi_tests::open_store(path, encrypted).expect("store")
}

fn bench_open(small: bool) {
    println!("\n## Open a store and produce the priority list (one check per recipient)\n");
    println!(
        "| recipients | store | open + list p50 | of which open | of which reading the index | plain `AutoCommit::load` of the incident document p50 | open + list / plain load |"
    );
    println!("|---|---|---|---|---|---|---|");
    let sizes: Vec<usize> = match std::env::var("ANPI_BENCH_OPEN_SIZE") {
        Ok(n) => vec![n.parse().expect("ANPI_BENCH_OPEN_SIZE is a number")],
        Err(_) if small => vec![5_000],
        Err(_) => vec![5_000, 50_000],
    };
    let rounds: usize = std::env::var("ANPI_BENCH_OPEN_ROUNDS").map_or(7, |n| {
        n.parse().expect("ANPI_BENCH_OPEN_ROUNDS is a number")
    });
    // One recipient's page (`anpi show`, the SDK's `recipient`) beyond
    // opening the store, on the same stores: (size, store, open p50, page
    // p50, whole list p50 beyond open).
    let mut pages: Vec<(usize, &str, Duration, Duration, Duration)> = Vec::new();
    for n in sizes {
        let dir = tempfile::tempdir().expect("tmp");
        // The CLI and the phones always open an encrypted store (SQLCipher);
        // the unencrypted one shows what the encryption adds.
        for encrypted in [false, true] {
            let name = format!("open-{n}{}.db", if encrypted { "-encrypted" } else { "" });
            // ANPI_BENCH_KEEP=DIR keeps the populated stores there and reuses them.
            let path = match std::env::var("ANPI_BENCH_KEEP") {
                Ok(keep) => Path::new(&keep).join(name),
                Err(_) => dir.path().join(name),
            };
            let (node, space, incident) = if path.exists() {
                let node = Node::open(open(&path, encrypted)).expect("node");
                let space = node.spaces().expect("spaces")[0].id.clone();
                let incident = node.incidents(&space).expect("incidents")[0].id.clone();
                (node, space, incident)
            } else {
                populated_in(open(&path, encrypted), n, 0, n)
            };
            let doc = DocKey::incident(&space, &incident);
            let bytes = node.store().load(&doc).expect("load").expect("doc").bytes();
            drop(node);
            let (mut total, mut opened, mut load, mut reads) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let t = Instant::now();
                let node = Node::open(open(&path, encrypted)).expect("node");
                let o = t.elapsed();
                let data = node.incident_data(&space, Some(&incident)).expect("data");
                let read = t.elapsed();
                let list = data.priority_list(onset().plus_minutes(60));
                assert_eq!(list.len(), n);
                total.push(t.elapsed());
                opened.push(o);
                reads.push(read - o);
                drop(node);

                let t = Instant::now();
                let doc = AutoCommit::load(&bytes).expect("load");
                load.push(t.elapsed());
                drop(doc);
            }
            // The page of a recipient in the middle of the roster.
            let id = RecipientId(format!("R{:06}", n / 2));
            let (mut page_open, mut page) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                let t = Instant::now();
                let mut node = Node::open(open(&path, encrypted)).expect("node");
                let o = t.elapsed();
                let shown = node.recipient_page(&space, &id).expect("page");
                assert_eq!(shown.record.recipient.id, id);
                assert_eq!(shown.checks.len(), 1);
                page.push(t.elapsed() - o);
                page_open.push(o);
            }
            pages.push((
                n,
                if encrypted {
                    "encrypted"
                } else {
                    "unencrypted"
                },
                stats(page_open).p50,
                stats(page).p50,
                stats(reads.clone()).p50,
            ));
            let (total, load) = (stats(total), stats(load));
            println!(
                "| {n} | {} | {:.0} ms | {:.1} ms | {:.0} ms | {:.0} ms | {:.1}× |",
                if encrypted {
                    "encrypted"
                } else {
                    "unencrypted"
                },
                ms(total.p50),
                ms(stats(opened).p50),
                ms(stats(reads).p50),
                ms(load.p50),
                ms(total.p50) / ms(load.p50)
            );
        }
    }
    println!("\n## One recipient's page beyond opening the store (`anpi show`)\n");
    println!(
        "| recipients | store | open p50 | page p50 (beyond open, audit entry included) | the list's index reads p50 (beyond open) | page / list reads |"
    );
    println!("|---|---|---|---|---|---|");
    for (n, store, o, page, list) in pages {
        println!(
            "| {n} | {store} | {:.1} ms | {:.2} ms | {:.0} ms | {:.3} |",
            ms(o),
            ms(page),
            ms(list),
            ms(page) / ms(list)
        );
    }
}

fn bench_crypt(small: bool) {
    println!("\n## Encryption at rest (SQLCipher) against the unencrypted store\n");
    let n = if small { 1_000 } else { 5_000 };
    let dir = tempfile::tempdir().expect("tmp");
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

/// One history length of the sync benchmark, anpi's side: A and B, two
/// devices in sync. Plain automerge runs the same checks in a process of
/// its own ([`PlainPair`]), and each history length has its own pair of
/// processes: no side runs on another's heap or in another's caches.
struct SyncPair {
    _dir: tempfile::TempDir,
    a: Node,
    b: Node,
    space: SpaceId,
    incident: IncidentId,
}

/// Plain automerge's side: two copies of A's incident document, their sync
/// states kept.
struct PlainPair {
    pa: AutoCommit,
    pb: AutoCommit,
    psa: automerge::sync::State,
    psb: automerge::sync::State,
}

/// What one round measured, as the children report it.
#[derive(Clone, Copy, Default)]
struct SyncRound {
    ours: Duration,
    phases: [Duration; 4],
    ours_bytes: usize,
    ours_rt: usize,
    plain: Duration,
    plain_bytes: usize,
    plain_msgs: usize,
    fresh_bytes: usize,
}

fn figures_line(durations: &[Duration], counts: &[usize]) -> String {
    let d = durations.iter().map(|d| d.as_nanos().to_string());
    let c = counts.iter().map(|c| c.to_string());
    d.chain(c).collect::<Vec<_>>().join(" ")
}

fn figures(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .map(|x| x.parse().expect("a child's figure"))
        .collect()
}

impl SyncPair {
    /// Built at `dir`; A's incident document is left in `saved` for the
    /// plain side to start from.
    fn new(history: usize, fresh: usize, saved: &Path) -> SyncPair {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut a, space, incident) =
            populated(&dir.path().join("a.db"), SYNC_RECIPIENTS, fresh, history);
        let mut b =
            Node::open(SqliteStore::open(&dir.path().join("b.db")).expect("store")).expect("node");
        // B joins A's space, then one more session so both know each other.
        anpi_core::node::sync_local(&mut b, &mut a, std::slice::from_ref(&space)).expect("join");
        anpi_tests::sync(&mut a, &mut b).expect("sync");
        let key = DocKey::incident(&space, &incident);
        let bytes = a.store().load(&key).expect("load").expect("doc").bytes();
        std::fs::write(saved, bytes).expect("saved incident");
        SyncPair {
            _dir: dir,
            a,
            b,
            space,
            incident,
        }
    }

    /// A records 100 checks (not timed), then one session A → B, timed.
    /// Returns the figures and the checks.
    fn round(&mut self, round: usize) -> (String, Vec<Check>) {
        let checks: Vec<Check> = (0..100)
            .map(|i| {
                self.a
                    .record_check(
                        &self.space,
                        &self.incident,
                        fresh_check(round * 100 + i, SYNC_RECIPIENTS),
                    )
                    .expect("record")
            })
            .collect();
        let t = Instant::now();
        let ((bytes, rt), phases) = timed_session(&mut self.a, &mut self.b);
        let took = t.elapsed();
        let mut durations = vec![took];
        durations.extend(phases);
        (figures_line(&durations, &[bytes, rt]), checks)
    }
}

impl PlainPair {
    fn new(saved: &Path) -> PlainPair {
        let bytes = std::fs::read(saved).expect("saved incident");
        let mut pa = AutoCommit::load(&bytes).expect("plain a");
        pa.set_actor(automerge::ActorId::random());
        let mut pb = pa.fork();
        let (mut psa, mut psb) = (automerge::sync::State::new(), automerge::sync::State::new());
        plain_sync(&mut pa, &mut psa, &mut pb, &mut psb);
        PlainPair { pa, pb, psa, psb }
    }

    /// The same checks in the same shape (`doc::put_check`), one change
    /// each as plain automerge makes them, then one plain sync, timed.
    fn round(&mut self, checks: &[Check], last: bool) -> String {
        let before_round = self.pa.get_heads();
        for check in checks {
            anpi_core::doc::put_check(&mut self.pa, check).expect("put");
            self.pa.commit();
        }
        let t = Instant::now();
        let (bytes, msgs) = plain_sync(&mut self.pa, &mut self.psa, &mut self.pb, &mut self.psb);
        let took = t.elapsed();
        let mut fresh = 0;
        if last {
            // The same last 100 checks with sync states forgotten: the
            // Bloom filter has to describe the whole history.
            let mut ahead = self.pa.fork();
            let mut behind = self.pa.fork_at(&before_round).expect("fork at");
            let (mut s1, mut s2) = (automerge::sync::State::new(), automerge::sync::State::new());
            fresh = plain_sync(&mut ahead, &mut s1, &mut behind, &mut s2).0;
        }
        figures_line(&[took], &[bytes, msgs, fresh])
    }
}

/// Recipients holding the history's checks in the sync benchmark.
const SYNC_RECIPIENTS: usize = 1_000;

fn sync_rounds() -> usize {
    std::env::var("ANPI_BENCH_SYNC_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30)
}

/// A child of [`bench_sync`] (`ANPI_BENCH_SYNC_CHILD=anpi:HISTORY:FILE` or
/// `plain:FILE`): build its side, say `ready`, then answer each round.
/// anpi reads `ROUND` and answers with its figures and, on a second line,
/// the checks as JSON; plain reads `ROUND LAST` and the checks' line, and
/// answers with its figures. On `check`, anpi compares A's and B's heads.
fn sync_child(role: &str) {
    use std::io::BufRead;
    let mut lines = std::io::stdin().lock().lines().map(|l| l.expect("stdin"));
    match role.split(':').collect::<Vec<_>>().as_slice() {
        ["anpi", history, saved] => {
            // Every measured check goes to a recipient with no earlier
            // check, so a round's 100 checks are the same size in every
            // round and history.
            let fresh = FRESH.max(sync_rounds() * 100);
            let history = history.parse().expect("history");
            let mut pair = SyncPair::new(history, fresh, Path::new(saved));
            println!("ready");
            for line in lines.by_ref() {
                if line == "check" {
                    let (a, b) = (pair.a.heads().expect("a"), pair.b.heads().expect("b"));
                    assert_eq!(a, b, "A and B differ after the rounds");
                    println!("ok");
                    continue;
                }
                let (figures, checks) = pair.round(line.parse().expect("round"));
                println!("{figures}");
                println!("{}", serde_json::to_string(&checks).expect("checks"));
            }
        }
        ["plain", saved] => {
            let mut pair = PlainPair::new(Path::new(saved));
            println!("ready");
            while let Some(line) = lines.next() {
                let checks: Vec<Check> =
                    serde_json::from_str(&lines.next().expect("checks")).expect("checks");
                println!("{}", pair.round(&checks, line.ends_with(" 1")));
            }
        }
        _ => panic!("ANPI_BENCH_SYNC_CHILD={role}: not a role"),
    }
}

/// A child process of the sync benchmark and its pipes.
struct Child {
    process: std::process::Child,
    to: std::process::ChildStdin,
    from: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Child {
    fn spawn(role: &str) -> Child {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("this benchmark's path");
        let mut process = Command::new(exe)
            .env("ANPI_BENCH_SYNC_CHILD", role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("child");
        let to = process.stdin.take().expect("stdin");
        let from = BufReader::new(process.stdout.take().expect("stdout")).lines();
        let mut child = Child { process, to, from };
        assert_eq!(child.line(), "ready");
        child
    }

    fn say(&mut self, what: &str) {
        use std::io::Write;
        writeln!(self.to, "{what}").expect("to child");
    }

    fn line(&mut self) -> String {
        self.from
            .next()
            .expect("child answered")
            .expect("child's line")
    }

    fn end(self) {
        let Child {
            mut process, to, ..
        } = self;
        drop(to);
        assert!(process.wait().expect("child").success());
    }
}

fn bench_sync(small: bool) {
    let histories: Vec<usize> = match std::env::var("ANPI_BENCH_SYNC_HISTORY") {
        Ok(h) => h
            .split(',')
            .map(|h| h.parse().expect("ANPI_BENCH_SYNC_HISTORY is numbers"))
            .collect(),
        Err(_) if small => vec![1_000],
        Err(_) => vec![1_000, 50_000],
    };
    let rounds = sync_rounds();
    let dir = tempfile::tempdir().expect("tmp");
    let mut children: Vec<(Child, Child)> = histories
        .iter()
        .map(|h| {
            let saved = dir.path().join(format!("incident-{h}.automerge"));
            let saved = saved.to_str().expect("a UTF-8 temporary path");
            let anpi = Child::spawn(&format!("anpi:{h}:{saved}"));
            (anpi, Child::spawn(&format!("plain:{saved}")))
        })
        .collect();
    // Rounds alternate between the history lengths, so the machine's drift
    // (disk, other load) falls on all of them alike.
    let mut all: Vec<Vec<SyncRound>> = vec![Vec::new(); histories.len()];
    for round in 0..rounds {
        for ((anpi, plain), f) in children.iter_mut().zip(&mut all) {
            anpi.say(&round.to_string());
            let ours = figures(&anpi.line());
            let checks = anpi.line();
            plain.say(&format!("{round} {}", u8::from(round == rounds - 1)));
            plain.say(&checks);
            let theirs = figures(&plain.line());
            let d = Duration::from_nanos;
            f.push(SyncRound {
                ours: d(ours[0]),
                phases: [d(ours[1]), d(ours[2]), d(ours[3]), d(ours[4])],
                ours_bytes: ours[5] as usize,
                ours_rt: ours[6] as usize,
                plain: d(theirs[0]),
                plain_bytes: theirs[1] as usize,
                plain_msgs: theirs[2] as usize,
                fresh_bytes: theirs[3] as usize,
            });
        }
    }
    for (mut anpi, plain) in children {
        anpi.say("check");
        assert_eq!(anpi.line(), "ok");
        anpi.end();
        plain.end();
    }

    println!("\n## Sync 100 new checks between two stores that were in sync\n");
    println!("{rounds} rounds, alternating between the history lengths.\n");
    println!(
        "| history | anpi bytes | anpi round trips | anpi time p50 | plain automerge bytes | plain messages | plain time p50 | bytes ratio | plain, fresh states: bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let p50 = |f: &[SyncRound], pick: &dyn Fn(&SyncRound) -> Duration| {
        stats(f.iter().map(pick).collect()).p50
    };
    for (h, f) in histories.iter().zip(&all) {
        let last = f.last().expect("a round");
        println!(
            "| {h} | {} | {} | {:.1} ms | {} | {} | {:.1} ms | {:.2} | {} |",
            last.ours_bytes,
            last.ours_rt,
            ms(p50(f, &|r| r.ours)),
            last.plain_bytes,
            last.plain_msgs,
            ms(p50(f, &|r| r.plain)),
            last.ours_bytes as f64 / last.plain_bytes as f64,
            last.fresh_bytes
        );
    }
    println!("\nWhere a session's time goes (p50 of each step):\n");
    println!(
        "| history | A flushes its journal | A opens | B merges and answers | A takes the answer |"
    );
    println!("|---|---|---|---|---|");
    for (h, f) in histories.iter().zip(&all) {
        let step = |i: usize| ms(p50(f, &|r| r.phases[i]));
        println!(
            "| {h} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            step(0),
            step(1),
            step(2),
            step(3)
        );
    }
    if let [first, .., last] = all.as_slice() {
        let ratio = |pick: &dyn Fn(&SyncRound) -> Duration| {
            p50(last, pick).as_secs_f64() / p50(first, pick).as_secs_f64()
        };
        println!(
            "\nanpi time {} → {}: ×{:.2} (target ±20%); plain automerge ×{:.2}",
            histories[0],
            histories[histories.len() - 1],
            ratio(&|r| r.ours),
            ratio(&|r| r.plain)
        );
    }
}

/// One session from `a` to `b`, as `node::sync_local` runs it, timed step
/// by step: A's flush of its journal, A's opening message, B's merge and
/// answer, A taking the answer. Returns (bytes, round trips) and the times.
/// Messages are timed encoded and decoded, as a transport carries them.
fn timed_session(a: &mut Node, b: &mut Node) -> ((usize, usize), [Duration; 4]) {
    let t = Instant::now();
    a.flush_all().expect("flush");
    let flush = t.elapsed();
    let t = Instant::now();
    let peer = b.device().clone();
    let (mut sa, hello) = a.sync_start(Some(&peer), &[]).expect("start");
    let hello = anpi_core::sync::encode(&hello);
    let opening = t.elapsed();
    let mut sb = b.sync_accept();
    let (mut merge, mut close) = (Duration::ZERO, Duration::ZERO);
    let mut round_trips = 0;
    let mut to_b = Some(hello);
    let mut to_a = None;
    for _ in 0..64 {
        if let Some(m) = to_b.take() {
            let t = Instant::now();
            to_a = b.sync_receive_bytes(&mut sb, &m).expect("merge");
            merge += t.elapsed();
            round_trips += usize::from(to_a.is_some());
        } else if let Some(m) = to_a.take() {
            let t = Instant::now();
            to_b = a.sync_receive_bytes(&mut sa, &m).expect("answer");
            close += t.elapsed();
        } else {
            let bytes = sa.stats.bytes_sent + sb.stats.bytes_sent;
            return ((bytes, round_trips), [flush, opening, merge, close]);
        }
    }
    panic!("session did not settle");
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
        let mut plain = anpi_core::doc::create(
            &anpi_core::doc::DocKind::Roster,
            &anpi_core::doc::actor_for(&device),
        );
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

/// The priority list with battery deadlines: one recipient in ten on a
/// battery (in 医療必要度's words, as rosters write it), in an earthquake
/// (power cut: every row's needs read, a deadline for each on a battery)
/// beside a landslide (power on: no deadline), in the same run.
fn bench_battery(small: bool) {
    let n = if small { 5_000 } else { 50_000 };
    println!("\n## The priority list with battery deadlines ({n} recipients, median of 9)\n");
    println!("| incident | list p50 | min |");
    println!("|---|---|---|");
    let recipients: Vec<Recipient> = (0..n)
        .map(|i| {
            let mut r = recipient(i);
            if i % 10 == 0 {
                r.plan.medical_needs = "在宅酸素（濃縮器）バッテリー8時間、予備ボンベあり".into();
            } else if i % 3 == 0 {
                r.plan.medical_needs = "インスリン注射 朝夕".into();
            }
            r
        })
        .collect();
    let config = anpi_core::priority::PriorityConfig::default();
    let incident = |kind| Incident {
        id: IncidentId("bench".into()),
        space: SpaceId("bench".into()),
        kind,
        name: String::new(),
        started_at: onset(),
        ended_at: None,
        round: 0,
    };
    for kind in [IncidentKind::Earthquake, IncidentKind::Landslide] {
        let inc = incident(kind);
        let mut times: Vec<Duration> = (0..9)
            .map(|_| {
                let t = Instant::now();
                let list = anpi_core::views::priority_list(
                    &recipients,
                    Some(&inc),
                    &[],
                    &[],
                    &config,
                    onset().plus_minutes(60),
                );
                assert_eq!(list.len(), n);
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "| {} | {:.1} ms | {:.1} ms |",
            kind.label_en(),
            ms(times[4]),
            ms(times[0])
        );
    }
}

/// The office's list (read from the store and ranked) without and then
/// with the staff side: 50 staff, 50 safety reports, every recipient
/// assigned (by care manager, the office's usual way), level 30% by hand.
/// The list reads the staff list, reports, decisions and assignments each
/// time (its operation), so this is their whole cost.
fn bench_staffing(small: bool) {
    use anpi_core::codes::{Attendance, AvailableFrom, FamilySafety, HomeDamage, PersonalSafety};
    let n = if small { 5_000 } else { 50_000 };
    println!("\n## The office's list with the staff side ({n} recipients, median of 9)\n");
    println!("| staff side | data + list p50 | min |");
    println!("|---|---|---|");
    let dir = tempfile::tempdir().expect("tmp");
    let (mut node, space, incident) = populated(&dir.path().join("anpi.db"), n, 0, 0);
    let time = |node: &Node| {
        let mut times: Vec<Duration> = (0..9)
            .map(|_| {
                let t = Instant::now();
                let data = node.incident_data(&space, Some(&incident)).expect("data");
                let list = data.priority_list(onset().plus_minutes(60));
                assert_eq!(list.len(), n);
                t.elapsed()
            })
            .collect();
        times.sort();
        (times[4], times[0])
    };
    let (p50, min) = time(&node);
    println!("| none | {:.1} ms | {:.1} ms |", ms(p50), ms(min));
    let staff: Vec<StaffMember> = (0..50)
        .map(|i| StaffMember {
            id: StaffId(format!("S{i:03}")),
            name: format!("職員{i}"),
            distance_km: Some(0.5 + i as f64 / 3.0),
            ..Default::default()
        })
        .collect();
    node.import_staff(&space, staff.clone()).expect("staff");
    for m in &staff {
        node.record_report(
            &space,
            &incident,
            anpi_core::node::NewReport {
                staff: Some(m.id.clone()),
                person: PersonalSafety::Unharmed,
                family: FamilySafety::Safe,
                home: HomeDamage::None,
                attendance: Attendance::Able,
                from: Some(AvailableFrom::Within1Day),
                location: String::new(),
                contact: String::new(),
                at: onset().plus_minutes(30),
            },
        )
        .expect("report");
    }
    node.decide(
        &space,
        &incident,
        Decided::Level {
            level: Some(anpi_core::codes::OperationLevel::Level30),
        },
        "bench",
    )
    .expect("level");
    node.maintain().expect("compact");
    let (p50, min) = time(&node);
    println!(
        "| 50 staff, 50 reports, level 30% | {:.1} ms | {:.1} ms |",
        ms(p50),
        ms(min)
    );
    // Assigned by care manager: a tenth of the recipients, then all.
    let ids: Vec<RecipientId> = (0..n).map(|i| recipient(i).id).collect();
    for share in [10, 1] {
        let some = &ids[..n / share];
        for (k, chunk) in some.chunks(some.len().div_ceil(staff.len())).enumerate() {
            node.assign(&space, &incident, chunk, Some(&staff[k].id))
                .expect("assign");
        }
        node.maintain().expect("compact");
        let (p50, min) = time(&node);
        println!(
            "| the same, and {} assignments | {:.1} ms | {:.1} ms |",
            n / share,
            ms(p50),
            ms(min)
        );
    }
}

fn main() {
    if let Ok(role) = std::env::var("ANPI_BENCH_SYNC_CHILD") {
        sync_child(&role);
        return;
    }
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
    if want("battery") {
        bench_battery(small);
    }
    if want("staffing") {
        bench_staffing(small);
    }
}
