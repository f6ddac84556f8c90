//! The office dashboard at 5,000 and 50,000 recipients (one check each),
//! measured on the release `anpi serve --http` as an office runs it:
//! - server time of the board and of the first page of the list: the
//!   process's own request log (`ms=`), median of 10 after a first load;
//! - page ready in Chromium (the list): the navigation's load event, median
//!   of 5;
//! - a phone's sync to the change shown on an open board: from the start of
//!   the phone's `anpi sync` until the open page shows the new count,
//!   20 rounds, with the `anpi sync` process's own time beside it;
//! - the office process's peak memory (VmHWM): started, after the pages,
//!   after a new phone's first sync (the whole roster and every check sent),
//!   after the 20 rounds.
//!
//! `cargo bench -p anpi-tests --bench dashboard`; `ANPI_BENCH_SMALL=1` for
//! 5,000 only; `ANPI_BENCH_KEEP=DIR` keeps (and reuses) the folders. Needs
//! Debian's chromium and chromium-driver (scripts/test installs them).

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;

use anpi_tests::chromedriver::ChromeDriver;
use common::anpi;
use fantoccini::{Client, ClientBuilder};

const PASSPHRASE: &str = "bench passphrase";

fn run(data: &Path, args: &[&str]) -> String {
    let out = Command::new(anpi())
        .arg("--data")
        .arg(data)
        .args(["--lang", "en"])
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `anpi serve --http` on loopback, its output collected.
struct Office {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Office {
    fn start(data: &Path) -> Office {
        let mut child = Command::new(anpi())
            .arg("--data")
            .arg(data)
            .args([
                "--lang",
                "en",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .env("ANPI_PASSPHRASE", PASSPHRASE)
            .env_remove("ANPI_DATA")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Office { child, lines }
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            assert!(Instant::now() < deadline, "serve never said {text:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server times (ms) its log gave for `route`, in order.
    fn server_ms(&self, route: &str) -> Vec<f64> {
        let pattern = format!("route={route} status=200 ms=");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.split(&pattern).nth(1))
            .filter_map(|ms| ms.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// The times of the log's lines saying the open pages' data was made
    /// ready (read again after a sync, off any request).
    fn refresh_ms(&self) -> Vec<f64> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("pages' data made ready"))
            .filter_map(|l| l.split(" ms=").nth(1))
            .filter_map(|ms| ms.split_whitespace().next()?.parse().ok())
            .collect()
    }

    fn peak_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib * 1024.0 / 1e6
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// One HTTP GET, to the end of the answer.
fn get(base: &str, path: &str) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&out[..out.len().min(200)])
    );
}

async fn browser(driver: &ChromeDriver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1280,1000",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// The board's "checks recorded" counter as the open page shows it.
async fn shown_checks(c: &Client) -> Option<u64> {
    let v = c
        .execute(
            "for (const li of document.querySelectorAll('.counter')) {
               const label = li.querySelector('.label').textContent.trim();
               if (label === '記録数' || label === 'checks recorded')
                 return li.querySelector('.value').textContent.trim();
             }
             return null;",
            vec![],
        )
        .await
        .ok()?;
    v.as_str()?.parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.95).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1)]
}

fn main() {
    let small = std::env::var("ANPI_BENCH_SMALL").is_ok();
    let sizes: &[usize] = if small { &[5_000] } else { &[5_000, 50_000] };
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var("ANPI_BENCH_KEEP").map(PathBuf::from);
    let dir = keep.as_deref().unwrap_or(tmp.path());
    let driver = ChromeDriver::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    for &n in sizes {
        let (data, _) = common::office_folder(dir, n, PASSPHRASE);
        let office = Office::start(&data);
        let line = office.wait_for("dashboard: http://");
        let url = line
            .split("dashboard: ")
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches('/')
            .to_string();
        let listening = office.wait_for("listening on ");
        let sync_addr = listening
            .trim_start_matches("listening on ")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();

        let idle_mb = office.peak_mb();
        // Server time: a first (cold) load, then 10 more of each.
        for _ in 0..11 {
            get(&url, "/board");
            get(&url, "/list");
        }
        std::thread::sleep(Duration::from_millis(300));
        let board = office.server_ms("/board");
        let list = office.server_ms("/list");
        let (board_cold, list_cold) = (board[0], list[0]);
        let board_ms = median(board[1..].to_vec());
        let list_ms = median(list[1..].to_vec());
        let pages_mb = office.peak_mb();

        // A phone, enrolled and joined once.
        let phone = dir.join(format!("phone-{n}"));
        let _ = std::fs::remove_dir_all(&phone);
        let phone_id = run(&phone, &["device", "id"])
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string();
        run(&data, &["device", "add", &phone_id, "--staff", "訪問 太郎"]);
        let office_id = run(&data, &["device", "id"])
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string();
        run(
            &phone,
            &["join", "--office", &sync_addr, "--office-id", &office_id],
        );
        let joined_mb = office.peak_mb();

        let boards_before = office.server_ms("/board").len();
        let refreshes_before = office.refresh_ms().len();
        let (ready, shown, syncs) = rt.block_on(async {
            let c = browser(&driver, &dir.join(format!("profile-{n}"))).await;
            let mut ready = Vec::new();
            for _ in 0..5 {
                c.goto(&format!("{url}/list")).await.unwrap();
                let ms = c
                    .execute(
                        "const e = performance.getEntriesByType('navigation')[0]; return e.loadEventEnd;",
                        vec![],
                    )
                    .await
                    .unwrap();
                ready.push(ms.as_f64().unwrap());
            }
            c.goto(&format!("{url}/board")).await.unwrap();
            let (mut shown, mut syncs) = (Vec::new(), Vec::new());
            for round in 0..20 {
                let waiting = Instant::now();
                let before = loop {
                    if let Some(v) = shown_checks(&c).await {
                        break v;
                    }
                    assert!(waiting.elapsed() < Duration::from_secs(30), "the board shows no count");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                let id = format!("R{:06}", (round * 97) % n);
                run(&phone, &["check", &id, "--status", "safe", "--method", "visit"]);
                let t0 = Instant::now();
                let sync = {
                    let phone = phone.clone();
                    tokio::task::spawn_blocking(move || {
                        let t = Instant::now();
                        run(&phone, &["sync", "--timeout", "30"]);
                        t.elapsed().as_secs_f64()
                    })
                };
                loop {
                    if shown_checks(&c).await.is_some_and(|v| v > before) {
                        break;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(60), "the check never showed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                shown.push(t0.elapsed().as_secs_f64());
                syncs.push(sync.await.unwrap());
            }
            c.close().await.unwrap();
            (ready, shown, syncs)
        });
        // The board's loads by the open page after each sync (its first
        // load left out), and the work done for them before the page was
        // told.
        let after_sync = office.server_ms("/board")[boards_before + 1..].to_vec();
        let refresh = office.refresh_ms()[refreshes_before..].to_vec();
        rows.push(format!(
            "| {n} | {board_ms:.1} ms (first {board_cold:.0}) | {:.1} ms (max {:.1}) | {:.0} ms (max {:.0}) | {list_ms:.1} ms (first {list_cold:.0}) | {:.0} ms | {:.2} s (median {:.2}) | {:.2} s | {idle_mb:.0} / {pages_mb:.0} / {joined_mb:.0} / {:.0} MB |",
            median(after_sync.clone()),
            after_sync.iter().cloned().fold(0.0, f64::max),
            median(refresh.clone()),
            refresh.iter().cloned().fold(0.0, f64::max),
            median(ready),
            p95(shown.clone()),
            median(shown),
            median(syncs),
            office.peak_mb()
        ));
    }
    println!(
        "office dashboard benchmarks (release anpi serve --http, encrypted folder, one check per recipient)\n"
    );
    println!(
        "| recipients | board, server | board after a sync, open page, server (median of the 20 rounds) | pages' data made ready after a sync, off the request (median) | first list page, server | list ready in Chromium | phone sync → shown on the open board (p95 of 20) | the phone's `anpi sync` (median) | office peak memory: started / after the pages / after a new phone's first sync / after 20 syncs |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
