//! The office dashboard as a person uses it: a real headless Chromium
//! (Debian's, through its ChromeDriver) against `anpi serve --http` on
//! loopback, with a phone as a second `anpi` process. Screenshots go to
//! `target/dashboard-screenshots/` (and to `docs/screenshots/` with
//! `ANPI_UPDATE_SCREENSHOTS=1`), to be looked at.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anpi_tests::netns::{Serving, anpi, device_id, ok};
use fantoccini::{Client, ClientBuilder, Locator};

const ROSTER: &str = "利用者ID,氏名,フリガナ,住所,地区,世帯状況,要介護度,担当ケアマネ,医療機器
R001,山田 ハル,ヤマダ ハル,架空市東1-1,東地区,独居,要介護4,佐藤,人工呼吸器
R002,鈴木 茂,スズキ シゲル,架空市西2-2,西地区,同居,要支援1,佐藤,
R003,高橋 キヨ,タカハシ キヨ,架空市南3-3,南地区,独居,要介護2,伊藤,在宅酸素
R004,田中 正雄,タナカ マサオ,架空市北4-4,北地区,高齢者世帯,要介護3,伊藤,
";

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const SPACE: &str = "\u{E00D}";

/// ChromeDriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000",
                "--lang=ja",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// The main part's text (empty while the page is being replaced: a
/// navigation or a live refresh between finding it and reading it).
async fn main_text(c: &Client) -> String {
    match c.find(Locator::Id("main")).await {
        Ok(main) => main.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Wait (bounded) until the main part's text satisfies `pred`.
async fn wait_text(c: &Client, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = main_text(c).await;
        if pred(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not shown in 15 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    if std::env::var_os("ANPI_UPDATE_SCREENSHOTS").is_some() {
        let docs = root.join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
    }
}

/// Click what `css` finds, again if the page's live refresh replaced it
/// between finding and clicking (bounded).
async fn click(c: &Client, css: &str) {
    for attempt in 0.. {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.click().await {
                Ok(()) => return,
                Err(err) if attempt < 20 => {
                    let _ = err;
                }
                Err(err) => panic!("{css}: {err}"),
            },
            Err(err) if attempt >= 20 => panic!("{css}: {err}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Type `text` into what `css` finds (its old value cleared), again if the
/// live refresh replaced it first (bounded). Once something is typed, the
/// page does not refresh under it.
async fn type_into(c: &Client, css: &str, text: &str) {
    for attempt in 0..20 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            let cleared = e.prop("type").await.ok().flatten().as_deref() == Some("file")
                || e.clear().await.is_ok();
            if cleared && e.send_keys(text).await.is_ok() {
                return;
            }
        }
        assert!(attempt < 19, "{css}: could not type into it");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Go to `url`; a slow navigation is said (it would mean a held connection).
async fn visit(c: &Client, url: &str) {
    let t = Instant::now();
    c.goto(url).await.unwrap();
    if t.elapsed() > Duration::from_secs(2) {
        eprintln!("slow navigation to {url}: {:?}", t.elapsed());
    }
}

async fn press(c: &Client, keys: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

struct Office {
    folder: PathBuf,
    phone: PathBuf,
}

/// An office with the roster and an open incident, and one phone joined.
fn office(dir: &Path) -> (Office, Serving, String) {
    let folder = dir.join("office");
    ok(
        &folder,
        &[
            "init",
            "--space",
            "ひまわり",
            "--org",
            "ひまわり居宅",
            "--staff",
            "事務 花子",
        ],
    );
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    ok(&folder, &["import", roster.to_str().unwrap()]);
    ok(&folder, &["incident", "start", "--kind", "earthquake"]);
    let phone = dir.join("phone");
    let phone_id = device_id(&phone);
    ok(
        &folder,
        &[
            "device",
            "add",
            &phone_id,
            "--staff",
            "訪問 太郎",
            "--org",
            "架空訪問看護",
        ],
    );
    let serving = Serving::start(&folder, &["--http", "127.0.0.1:0"]);
    let line = serving.wait_for("dashboard: http://", Duration::from_secs(20));
    let url = line
        .split("dashboard: ")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('/')
        .to_string();
    let office_id = device_id(&folder);
    ok(
        &phone,
        &["join", "--office", &serving.addr, "--office-id", &office_id],
    );
    (Office { folder, phone }, serving, url)
}

#[test]
fn the_office_works_through_the_dashboard_and_sees_a_phone_sync_live() {
    let dir = tempfile::tempdir().unwrap();
    let (team, serving, url) = office(dir.path());
    let driver = Driver::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver, &dir.path().join("profile")).await;

        // The board: the incident, its phase, the counters.
        visit(&c, &format!("{url}/board")).await;
        let board = main_text(&c).await;
        assert!(board.contains("状況ボード"), "{board}");
        assert!(board.contains("発災〜6時間"), "{board}");
        assert!(board.contains("高優先で未確認"), "{board}");
        assert!(board.contains("訪問 太郎"), "the phone is listed: {board}");

        // The list: a search in hiragana finds the katakana フリガナ; the
        // search is kept by the server, not put in the URL.
        visit(&c, &format!("{url}/list")).await;
        let query = c.find(Locator::Id("query")).await.unwrap();
        query.send_keys("すずき").await.unwrap();
        query.send_keys(ENTER).await.unwrap();
        let found = wait_text(&c, "the search", |t| t.contains("1 / 4")).await;
        assert!(found.contains("鈴木 茂") && !found.contains("山田 ハル"), "{found}");
        let address = c.current_url().await.unwrap();
        assert!(!address.as_str().contains("すずき") && !address.as_str().contains("%E3"), "{address}");
        c.find(Locator::Css("button[name=clear]")).await.unwrap().click().await.unwrap();
        wait_text(&c, "the cleared filter", |t| t.contains("4 / 4")).await;
        screenshot(&c, "list").await;

        // A recipient's page, and a check recorded from the office by
        // keyboard alone: the first result, then Tab to the method (電話
        // preselected), the note, the button.
        c.find(Locator::LinkText("山田 ハル")).await.unwrap().click().await.unwrap();
        let page = wait_text(&c, "the recipient page", |t| t.contains("様式1")).await;
        assert!(page.contains("人工呼吸器"), "{page}");
        assert!(!c.current_url().await.unwrap().as_str().contains("R001"), "no 利用者ID in the URL");
        c.execute(
            "document.querySelector('input[name=result]').focus()",
            vec![],
        )
        .await
        .unwrap();
        press(&c, SPACE).await; // 無事
        press(&c, TAB).await; // 方法: 電話
        press(&c, TAB).await; // メモ
        press(&c, "電話で無事を確認").await;
        press(&c, TAB).await; // 記録する
        press(&c, ENTER).await;
        let recorded = wait_text(&c, "the office's check", |t| t.contains("電話で無事を確認")).await;
        assert!(recorded.contains("無事") && recorded.contains("電話"), "{recorded}");
        screenshot(&c, "recipient").await;

        // A POST without the session's token is refused.
        let status = c
            .execute_async(
                "const done = arguments[0];
                 fetch('/list/filter', {method: 'POST', body: new URLSearchParams({csrf: 'x', query: 'a'})})
                   .then(r => done(r.status));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(status, serde_json::json!(403));

        // The phone, unaware of the office's call, visits 山田 ハル too,
        // and 田中 正雄, then syncs: the open list shows it without a
        // reload, and the board counts the duplicate.
        visit(&c, &format!("{url}/list")).await;
        c.execute("window.__notReloaded = true", vec![]).await.unwrap();
        ok(&team.phone, &["check", "R001", "--status", "safe", "--method", "visit"]);
        ok(
            &team.phone,
            &["check", "R004", "--status", "needs_evacuation", "--method", "visit"],
        );
        ok(&team.phone, &["sync"]);
        let live = wait_text(&c, "the phone's checks", |t| t.contains("要避難支援") && t.contains("重複")).await;
        assert!(live.contains("訪問 太郎"), "{live}");
        let same_page = c.execute("return window.__notReloaded === true", vec![]).await.unwrap();
        assert_eq!(same_page, serde_json::json!(true), "the page was reloaded");

        visit(&c, &format!("{url}/board")).await;
        let board = main_text(&c).await;
        assert!(board.contains("重複\n1") || board.contains("1\n重複"), "{board}");
        assert!(board.contains("最終同期"), "the phone's last sync is shown: {board}");
        screenshot(&c, "board").await;
        visit(&c, &format!("{url}/duplicates")).await;
        let dups = main_text(&c).await;
        assert!(dups.contains("山田 ハル") && dups.contains("事務 花子") && dups.contains("訪問 太郎"), "{dups}");
        screenshot(&c, "duplicates").await;

        // 端末: an invite made on screen, its QR code shown, and its code
        // redeemed by a new phone; then that phone revoked, after the
        // confirmation the page asks for.
        visit(&c, &format!("{url}/devices")).await;
        type_into(&c, "form[action='/devices/invite'] input[name=staff]", "新人 三郎").await;
        type_into(&c, "form[action='/devices/invite'] input[name=address]", &serving.addr).await;
        click(&c, "form[action='/devices/invite'] button").await;
        wait_text(&c, "the invite", |t| t.contains("QR")).await;
        assert!(c.find(Locator::Css(".qr svg")).await.is_ok(), "the QR code is drawn");
        let code = c.find(Locator::Id("invite-code")).await.unwrap().text().await.unwrap();
        assert!(code.starts_with("ANPI"), "{code}");
        screenshot(&c, "invite").await;
        let newcomer = dir.path().join("newcomer");
        ok(&newcomer, &["join", "--invite", &code]);
        visit(&c, &format!("{url}/devices")).await;
        let devices = wait_text(&c, "the new phone", |t| t.contains("新人 三郎")).await;
        assert!(devices.contains("訪問 太郎"), "{devices}");
        screenshot(&c, "devices").await;
        let newcomer_id = device_id(&newcomer);
        let revoke = format!("form.revoke:has(input[value='{newcomer_id}'])");
        // Without the confirmation ticked, the browser does not send it.
        click(&c, &format!("{revoke} button")).await;
        assert!(main_text(&c).await.contains("新人 三郎"));
        click(&c, &format!("{revoke} input[name=confirm]")).await;
        click(&c, &format!("{revoke} button")).await;
        // The row itself says 失効 (the button of a current member says
        // it too, on a line of its own).
        wait_text(&c, "the revocation", |t| {
            t.lines().any(|l| l.contains("新人 三郎") && l.contains("失効"))
        })
        .await;
        let refused = anpi_tests::netns::anpi(&newcomer, &["sync"]);
        assert!(!refused.status.success(), "a revoked phone is refused");

        // 名簿: a file with a problem shows it with its line and column and
        // imports nothing; a good one is previewed, then imported.
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, format!("{ROSTER}R005,小林 トメ,コバヤシ トメ,架空市中5-5,中地区,独居,要介護9,佐藤,\n")).unwrap();
        let good = dir.path().join("good.csv");
        std::fs::write(&good, format!("{ROSTER}R005,小林 トメ,コバヤシ トメ,架空市中5-5,中地区,独居,要介護5,佐藤,\n")).unwrap();
        for (file, expect) in [(&bad, "要介護9"), (&good, "この内容で取り込む")] {
            visit(&c, &format!("{url}/roster")).await;
            type_into(&c, "#roster-file", file.to_str().unwrap()).await;
            click(&c, "form[action='/roster/preview'] button").await;
            let shown = wait_text(&c, "the roster check", |t| t.contains(expect)).await;
            if file == &bad {
                assert!(shown.contains("取り込めません") && shown.contains("6") && shown.contains("要介護度"), "{shown}");
                let list = ok(&team.folder, &["list", "--json"]);
                assert!(!list.contains("R005"), "nothing of a bad file is imported");
                screenshot(&c, "roster-problems").await;
            } else {
                assert!(shown.contains("追加\n") || shown.contains("1\n追加"), "{shown}");
                c.find(Locator::Id("confirm-import")).await.unwrap().click().await.unwrap();
                wait_text(&c, "the import", |t| t.contains("取り込みました")).await;

            }
        }
        visit(&c, &format!("{url}/list")).await;
        wait_text(&c, "the imported recipient", |t| t.contains("小林 トメ") && t.contains("5 / 5")).await;

        // English, by the switch in the header.
        c.find(Locator::Css("form.lang button")).await.unwrap().click().await.unwrap();
        wait_text(&c, "English", |t| t.contains("Search (ID, name, kana)")).await;

        c.close().await.unwrap();
    });
    serving.stop();
    let _ = team.folder;
}

#[test]
fn the_dashboard_listens_on_this_pc_only() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    ok(&office, &["init", "--space", "ひまわり", "--staff", "事務"]);
    let o = anpi(
        &office,
        &["serve", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("このPCの中からだけ"), "{err}");
}
