//! Multi-process network tests run inside a private network namespace that
//! the test makes itself (`unshare -rn`): a user namespace with its own
//! network stack holding only `lo`. Nothing they send can leave the machine,
//! and mDNS multicast stays on that private `lo`.
//!
//! A test calls [`enter`] first: outside the namespace it runs itself again
//! inside one and reports that run's result; inside, it brings `lo` up and
//! goes on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INSIDE: &str = "ANPI_NETNS_TEST";

/// `true` inside the namespace (go on with the test); `false` outside, after
/// the test ran inside and passed (a failure there panics here).
pub fn enter(test: &str) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "set", "lo", "multicast", "on"][..],
        ] {
            let st = Command::new("ip").args(args).status().expect("run ip");
            assert!(st.success(), "ip {args:?} failed inside the namespace");
        }
        // The namespace must hold nothing but lo: multicast can go nowhere
        // else.
        // (`ip`, not /sys/class/net: sysfs still shows the host's.)
        let out = Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .expect("run ip");
        let ifaces: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
            .collect();
        assert_eq!(ifaces, ["lo"], "not in a private network namespace");
        return true;
    }
    run_inside(test, "-rn")
}

/// As [`enter`], in a user and mount namespace of its own (`unshare -rm`),
/// where the test may mount a small tmpfs: a disk that fills up.
pub fn enter_mounts(test: &str) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        return true;
    }
    run_inside(test, "-rm")
}

/// Run `test` again inside `unshare FLAGS`; panics when it fails there.
fn run_inside(test: &str, flags: &str) -> bool {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("unshare")
        .args([flags])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, test)
        .output()
        .expect("run unshare (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{test} failed inside its namespace (unshare {flags} must work here):\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "{test} did not run inside its namespace:\n{text}"
    );
    false
}

/// The `anpi` binary of this build, built first if it is missing.
pub fn anpi_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join("anpi");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "anpi-cli", "--bin", "anpi"])
            .status()
            .expect("cargo build");
        assert!(
            st.success() && bin.exists(),
            "could not build the anpi binary"
        );
    }
    bin
}

/// The passphrase the tests' data folders are encrypted with.
pub const PASSPHRASE: &str = "試験用のパスフレーズ";

/// The database key of a data folder the tests made (its salt and
/// [`PASSPHRASE`]), for opening the file directly.
pub fn folder_key(data: &Path) -> anpi_core::store::DatabaseKey {
    let salt = std::fs::read(data.join("anpi.salt")).expect("the folder's salt");
    anpi_core::store::DatabaseKey::from_passphrase(PASSPHRASE.as_bytes(), &salt)
        .expect("key derivation")
}

/// Run `anpi --data DATA ARGS…` to completion.
pub fn anpi(data: &Path, args: &[&str]) -> Output {
    Command::new(anpi_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ANPI_DATA")
        .env("ANPI_PASSPHRASE", PASSPHRASE)
        .output()
        .expect("run anpi")
}

/// Run `anpi` and insist that it succeeds; its standard output.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let o = anpi(data, args);
    assert!(
        o.status.success(),
        "anpi {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The device id `anpi device id` prints on its last line.
pub fn device_id(data: &Path) -> String {
    ok(data, &["device", "id"])
        .lines()
        .last()
        .expect("an id line")
        .to_string()
}

/// A long-running `anpi serve`, its output collected line by line.
pub struct Serving {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Where it listens.
    pub addr: String,
}

impl Serving {
    /// Start `anpi --data DATA serve --listen 127.0.0.1:0 EXTRA…` and wait
    /// until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_at(data, "127.0.0.1:0", extra)
    }

    /// As [`Serving::start`], at a given address.
    pub fn start_at(data: &Path, listen: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(anpi_bin())
            .arg("--data")
            .arg(data)
            .args(["--lang", "en", "serve", "--listen", listen])
            .args(extra)
            .env_remove("ANPI_DATA")
            .env("ANPI_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start anpi serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        let mut s = Serving {
            child,
            lines,
            addr: String::new(),
        };
        let line = s.wait_for("listening on ", Duration::from_secs(20));
        s.addr = line
            .trim_start_matches("listening on ")
            .split_whitespace()
            .next()
            .expect("an address")
            .to_string();
        s
    }

    /// Everything it printed so far.
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Wait (bounded) for a line containing `text`; panics with the output
    /// so far when it does not come.
    pub fn wait_for(&self, text: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.output().iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            if start.elapsed() > limit {
                panic!(
                    "no line with {text:?} within {limit:?}; output:\n{}",
                    self.output().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Count lines containing `text`.
    pub fn count(&self, text: &str) -> usize {
        self.output().iter().filter(|l| l.contains(text)).count()
    }

    /// Stop it as an operator would (SIGTERM) and wait.
    pub fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.output()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill it without warning (SIGKILL), as a crash or a dead battery would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
