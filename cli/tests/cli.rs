//! The `anpi` command end to end: a real binary, real data folders.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

/// The passphrase the tests' data folders are encrypted with.
const PASSPHRASE: &str = "試験用のパスフレーズ";

fn anpi(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anpi"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ANPI_DATA")
        .env("ANPI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ROSTER: &str = "利用者ID,氏名,住所,世帯状況,要介護度,医療機器,浸水想定,生年月日
R001,山田 ハル,架空市東1-1,独居,要介護4,人工呼吸器,0.5-3m,昭和15年3月2日
R002,鈴木 茂,架空市西2-2,同居,要支援1,,無,S10.12.1
";

fn office(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("office");
    let o = anpi(
        &data,
        &["init", "--space", "ひまわり居宅", "--staff", "事務 花子"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("スペース「ひまわり居宅」を作成しました"),
        "{}",
        stdout(&o)
    );
    data
}

#[test]
fn import_utf8_with_bom_then_reimport_then_update() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster.csv");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(ROSTER.as_bytes());
    std::fs::write(&file, &bytes).unwrap();

    let o = anpi(&data, &["import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("追加 2 件・更新 0 件・変更なし 0 件（文字コード: UTF-8 (BOM)）"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).is_empty(),
        "no progress bar when not on a terminal: {}",
        stderr(&o)
    );

    let o = anpi(&data, &["import", file.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("追加 0 件・更新 0 件・変更なし 2 件"),
        "{}",
        stdout(&o)
    );

    let changed = ROSTER.replace("架空市西2-2", "架空市西2-3");
    std::fs::write(&file, changed).unwrap();
    // A dry run says what would change, and changes nothing: the real
    // import after it still finds the row to update.
    let o = anpi(&data, &["import", "--dry-run", file.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("確認のみ")
            && stdout(&o).contains("追加 0 件・更新 1 件・変更なし 1 件"),
        "{}",
        stdout(&o)
    );
    let o = anpi(&data, &["--lang", "en", "import", file.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("0 added, 1 updated, 1 unchanged (encoding: UTF-8)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn import_shift_jis() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster-sjis.csv");
    let (sjis, _, bad) = encoding_rs::SHIFT_JIS.encode(ROSTER);
    assert!(!bad);
    std::fs::write(&file, &sjis).unwrap();
    let o = anpi(&data, &["import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("追加 2 件"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Shift_JIS (CP932)"), "{}", stdout(&o));
}

#[test]
fn a_bad_row_imports_nothing_and_names_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("bad.csv");
    let bad =
        format!("{ROSTER}R003,,架空市南3-3,一人暮らし,,,,平成2年2月30日\nR001,重複,架空市,,,,,\n");
    std::fs::write(&file, bad).unwrap();
    let o = anpi(&data, &["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.csv"), "{err}");
    assert!(err.contains("4行目 「氏名」: 必須項目が空です"), "{err}");
    assert!(err.contains("4行目 「世帯状況」"), "{err}");
    assert!(err.contains("\"一人暮らし\""), "{err}");
    assert!(err.contains("4行目 「生年月日」"), "{err}");
    assert!(
        err.contains("5行目 「利用者ID」: 利用者IDが2行目と重複しています"),
        "{err}"
    );
    assert!(err.contains("1件も登録していません"), "{err}");

    // An unknown yes/no value, and a file in neither UTF-8 nor Shift_JIS.
    let yes_no = dir.path().join("yesno.csv");
    std::fs::write(
        &yes_no,
        "利用者ID,氏名,住所,認知症\nR009,山田,架空市,たぶん\n",
    )
    .unwrap();
    let o = anpi(&data, &["import", yes_no.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("2行目 「認知症」"), "{}", stderr(&o));
    let mut garbled = "利用者ID,氏名,住所\n".as_bytes().to_vec();
    garbled.extend_from_slice(b"R1,\x82,\xff\xfe\n");
    let enc = dir.path().join("garbled.csv");
    std::fs::write(&enc, garbled).unwrap();
    let o = anpi(&data, &["import", enc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("2行目: 文字コードが読めません"),
        "{}",
        stderr(&o)
    );

    // Nothing of the good rows went in: a valid import adds them all.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, ROSTER).unwrap();
    let o = anpi(&data, &["import", good.to_str().unwrap()]);
    assert!(stdout(&o).contains("追加 2 件"), "{}", stdout(&o));
}

#[test]
fn commands_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let o = anpi(&dir.path().join("nowhere"), &["import", "x.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("anpi のデータフォルダではありません"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args(["import", "x.csv"])
        .env_remove("ANPI_DATA")
        .output()
        .unwrap();
    assert!(stderr(&o).contains("--data DIR"), "{}", stderr(&o));
    let data = office(dir.path());
    let o = anpi(&data, &["init", "--space", "もう一つ"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("すでにスペース「ひまわり居宅」があります"),
        "{}",
        stderr(&o)
    );
    let o = anpi(
        &data,
        &["import", dir.path().join("missing.csv").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.csv"), "{}", stderr(&o));
}

#[test]
fn the_demo_shows_a_merged_duplicate_visit() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args(["demo", "--keep"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Three phones joined over QUIC, two met (over mDNS in the demo's own
    // namespace, or by address where none can be made), one carried the
    // other's checks to the office.
    assert_eq!(
        out.matches("名簿を受け取りました — QUIC").count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("端末B が mDNS で端末A を発見") || out.contains("名前空間を作れないため"),
        "{out}"
    );
    assert!(out.contains("A ⇄ B: QUIC"), "{out}");
    assert!(out.contains("B ⇄ 事務所: QUIC"), "{out}");
    assert!(out.contains("事務所の安否確認優先順位リスト"), "{out}");
    assert!(out.contains("⚠重複"), "{out}");
    assert!(out.contains("重複訪問 (3)"), "{out}");
    // Staff reports made on the phones reach the office: the staff board,
    // turnout by day and the operation level it sets, and the list marks
    // the rest 後回し.
    for want in [
        "職員安否報告 高木 健: S05",
        "事務所の職員安否: 職員 6 名・報告済み 3・未報告 3・負傷 1",
        "[負傷] S03 高木 健",
        "[未報告（災害後の同期なし）] S04 山本 由美",
        "参集見込み: 0日目 25% / 1日目 52%",
        "運営レベル30%: 安否確認のみ",
        "「後回し（運営レベル）」として一覧に残ります",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    assert!(dir.path().join("form2.html").exists());
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn two_phones_of_two_organisations_check_offline_and_the_office_sees_the_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let office = office(dir.path());
    let roster = dir.path().join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    ok(anpi(&office, &["import", roster.to_str().unwrap()]));
    let empty = ok(anpi(&office, &["duplicates", "--json"]));
    assert_eq!(empty.trim(), "[]");

    let a = dir.path().join("phone-a");
    let b = dir.path().join("phone-b");
    let out = ok(anpi(
        &a,
        &[
            "clone",
            office.to_str().unwrap(),
            "--staff",
            "佐藤",
            "--org",
            "ひまわり居宅",
        ],
    ));
    assert!(out.contains("「ひまわり居宅」を受け取りました"), "{out}");
    ok(anpi(
        &b,
        &[
            "clone",
            office.to_str().unwrap(),
            "--staff",
            "田中",
            "--org",
            "架空市役所",
        ],
    ));

    // Offline: each phone starts the same earthquake and checks R001.
    ok(anpi(
        &a,
        &[
            "incident",
            "start",
            "--kind",
            "earthquake",
            "--name",
            "地震",
        ],
    ));
    ok(anpi(&b, &["incident", "start", "--kind", "地震"]));
    let out = ok(anpi(
        &a,
        &[
            "check",
            "R001",
            "--status",
            "safe",
            "--method",
            "visit",
            "--note",
            "本人と会話",
        ],
    ));
    assert!(
        out.contains("記録しました: R001 山田 ハル — 訪問 — 無事"),
        "{out}"
    );
    ok(anpi(
        &b,
        &["check", "R001", "--status", "safe", "--method", "phone"],
    ));
    let out = ok(anpi(&b, &["claim", "R002", "--minutes", "30"]));
    assert!(out.contains("R002 に向かっています"), "{out}");

    // Back at the office.
    let out = ok(anpi(&office, &["merge", a.to_str().unwrap()]));
    assert!(out.contains("統合しました"), "{out}");
    ok(anpi(&office, &["merge", b.to_str().unwrap()]));

    let dups: serde_json::Value =
        serde_json::from_str(&ok(anpi(&office, &["duplicates", "--json"]))).unwrap();
    assert_eq!(dups.as_array().unwrap().len(), 1, "{dups}");
    assert_eq!(dups[0]["recipient_id"], "R001");
    let orgs: Vec<&str> = dups[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["org"].as_str().unwrap())
        .collect();
    assert!(
        orgs.contains(&"ひまわり居宅") && orgs.contains(&"架空市役所"),
        "{orgs:?}"
    );
    assert!(dups[0]["checks"][0]["method"].is_string());
    assert!(dups[0]["checks"][0]["status"] == "safe");

    let list: serde_json::Value =
        serde_json::from_str(&ok(anpi(&office, &["list", "--json"]))).unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // R002 is not reached yet, so it comes first; R001 is settled.
    assert_eq!(rows[0]["id"], "R002");
    assert_eq!(rows[0]["status"], "unchecked");
    assert_eq!(rows[0]["claims"][0]["staff"], "田中");
    assert_eq!(rows[1]["id"], "R001");
    assert_eq!(rows[1]["status"], "safe");
    assert_eq!(rows[1]["duplicate"], true);
    assert_eq!(rows[1]["rank"], 2);
    assert!(rows[1]["checked_by"]["org"].is_string());
    assert!(
        rows[1]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "人工呼吸器使用")
    );

    let text = ok(anpi(&office, &["list"]));
    assert!(text.contains("⚠重複"), "{text}");
    let shown = ok(anpi(&office, &["show", "R001"]));
    assert!(shown.contains("様式1 利用者避難情報"), "{shown}");
    assert!(shown.contains("「本人と会話」"), "{shown}");
    assert!(shown.contains("⚠重複"), "{shown}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(anpi(&office, &["show", "R001", "--json"]))).unwrap();
    assert_eq!(shown["history"].as_array().unwrap().len(), 2);

    let csv = dir.path().join("form2.csv");
    let out = ok(anpi(
        &office,
        &[
            "export",
            "form2",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("様式2を書き出しました"), "{out}");
    let bytes = std::fs::read(&csv).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "Excel needs the BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(
        text.starts_with("順位,担当ケアマネ,利用者ID,氏名"),
        "{text}"
    );
    assert!(text.contains("無事"), "{text}");
    let o = anpi(
        &office,
        &["export", "form2", "--format", "csv", "--encoding", "cp932"],
    );
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&o.stdout);
    assert!(!bad && decoded.contains("山田 ハル"), "{decoded}");
    let html = ok(anpi(
        &office,
        &["export", "form2", "--format", "html", "--group-by", "area"],
    ));
    assert!(html.contains("地区: <strong>"), "{html}");

    let out = ok(anpi(&b, &["release", "R002"]));
    assert!(out.contains("取り消しました"), "{out}");
    let incidents: serde_json::Value =
        serde_json::from_str(&ok(anpi(&office, &["incident", "list", "--json"]))).unwrap();
    assert_eq!(
        incidents.as_array().unwrap().len(),
        1,
        "one incident, started on two phones"
    );
    assert_eq!(incidents[0]["name"], "地震");
    ok(anpi(&office, &["incident", "end"]));
    let o = anpi(
        &office,
        &["check", "R002", "--status", "safe", "--method", "visit"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("開始中の災害がありません"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_codes_list_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let office = office(dir.path());
    let roster = dir.path().join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    ok(anpi(&office, &["import", roster.to_str().unwrap()]));
    let o = anpi(&office, &["incident", "start", "--kind", "tsunami"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("earthquake, flood, landslide, storm, other"),
        "{}",
        stderr(&o)
    );
    ok(anpi(&office, &["incident", "start", "--kind", "flood"]));
    let o = anpi(
        &office,
        &["check", "R001", "--status", "fine", "--method", "visit"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("unknown check result 'fine'"), "{err}");
    assert!(err.contains("safe, safe_needs_support, injured"), "{err}");
    let o = anpi(
        &office,
        &["check", "R404", "--status", "safe", "--method", "visit"],
    );
    assert!(stderr(&o).contains("R404"), "{}", stderr(&o));
}

#[test]
fn an_empty_store_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let office = office(dir.path());
    assert_eq!(ok(anpi(&office, &["list", "--json"])).trim(), "[]");
}

#[test]
fn a_terminal_gets_a_progress_bar() {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    let Ok(probe) = Command::new("script").arg("--version").output() else {
        panic!("`script` (util-linux) is needed to give the import a terminal");
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("big.csv");
    let mut csv = String::from("利用者ID,氏名,住所\n");
    for i in 0..500 {
        csv.push_str(&format!("P{i:04},試験 {i},架空市{i}\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let cmd = format!(
        "{} --data {} import {}",
        env!("CARGO_BIN_EXE_anpi"),
        data.display(),
        file.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("ANPI_DATA")
        .env("ANPI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(seen.contains("取り込み中"), "{seen}");
    assert!(seen.contains("/500"), "{seen}");
    assert!(seen.contains("追加 500 件"), "{seen}");
}

#[test]
fn data_folders_are_encrypted_and_need_their_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster.csv");
    std::fs::write(&file, ROSTER).unwrap();
    ok(anpi(&data, &["import", file.to_str().unwrap()]));
    ok(anpi(&data, &["show", "R001"]));
    // No recipient's name anywhere in the folder's files (database, WAL,
    // shared memory, salt).
    for f in std::fs::read_dir(&data).unwrap() {
        let path = f.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for name in ["山田 ハル", "鈴木 茂", "架空市東1-1"] {
            assert!(
                !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                "{name} in plaintext in {}",
                path.display()
            );
        }
    }
    // Without a passphrase: how to give one.
    let o = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args(["--data", data.to_str().unwrap(), "list"])
        .env_remove("ANPI_DATA")
        .env_remove("ANPI_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--key-file"), "{}", stderr(&o));
    assert!(stderr(&o).contains("ANPI_PASSPHRASE"), "{}", stderr(&o));
    // A wrong one: a clear refusal, nothing changed.
    let o = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args(["--lang", "en", "--data", data.to_str().unwrap(), "list"])
        .env("ANPI_PASSPHRASE", "まちがい")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not open this data folder"),
        "{}",
        stderr(&o)
    );
    // In Japanese by default, and without SQLCipher's own log lines.
    let o = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args(["--data", data.to_str().unwrap(), "list"])
        .env("ANPI_PASSPHRASE", "まちがい")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("パスフレーズが違います"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hmac"), "{}", stderr(&o));
    // The passphrase from a key file (its first line) works the same.
    let key = dir.path().join("key.txt");
    std::fs::write(&key, format!("{PASSPHRASE}\n")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_anpi"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
            "list",
            "--json",
        ])
        .env_remove("ANPI_PASSPHRASE")
        .output()
        .unwrap();
    assert!(ok(o).contains("R001"));
    // Neither given: typed at the terminal, without echo (`script` gives
    // the command a terminal and passes what it is fed to it).
    let typed = |passphrase: &str| {
        let cmd = format!(
            "{} --data {} list --json",
            env!("CARGO_BIN_EXE_anpi"),
            data.display()
        );
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("ANPI_DATA")
            .env_remove("ANPI_PASSPHRASE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{passphrase}").unwrap();
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    let (right, seen) = typed(PASSPHRASE);
    assert!(
        right && seen.contains("パスフレーズ: ") && seen.contains("R001"),
        "{seen}"
    );
    let (wrong, seen) = typed("まちがい");
    assert!(!wrong && !seen.contains("R001"), "{seen}");
}

/// An office with ROSTER imported, and a phone cloned from it.
fn office_and_phone(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let office = office(dir);
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    ok(anpi(&office, &["import", roster.to_str().unwrap()]));
    let phone = dir.join("phone");
    ok(anpi(
        &phone,
        &["clone", office.to_str().unwrap(), "--staff", "佐藤"],
    ));
    (office, phone)
}

#[test]
fn the_offices_priority_weights_reach_its_phones_and_reorder_their_lists() {
    let dir = tempfile::tempdir().unwrap();
    let (office, phone) = office_and_phone(dir.path());
    let order = |d: &Path| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&ok(anpi(d, &["list", "--json"]))).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(order(&phone), ["R001", "R002"]);

    // This office puts people living with family first (an example only a
    // weight change can produce: R002 lives with family, R001 alone).
    let bad = anpi(
        &office,
        &["priority", "set", "lives_alone=-500", "nonsense=3"],
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("nonsense"), "{}", stderr(&bad));
    ok(anpi(
        &office,
        &[
            "priority",
            "set",
            "lives_alone=-500",
            "life_sustaining_device=0",
        ],
    ));
    let shown = ok(anpi(&office, &["priority", "show"]));
    assert!(shown.contains("lives_alone=-500  独居（変更）"), "{shown}");
    assert_eq!(order(&office), ["R002", "R001"]);
    // Not yet on the phone; after one merge, the same order there.
    assert_eq!(order(&phone), ["R001", "R002"]);
    ok(anpi(&office, &["merge", phone.to_str().unwrap()]));
    assert_eq!(order(&phone), ["R002", "R001"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(anpi(&phone, &["priority", "show", "--json"]))).unwrap();
    assert_eq!(json["lives_alone"], -500);
    // A phone that is not an admin cannot change them.
    let refused = anpi(&phone, &["priority", "set", "dementia=99"]);
    assert!(!refused.status.success());
    // Back to the defaults.
    ok(anpi(&office, &["priority", "set", "--reset"]));
    assert_eq!(order(&office), ["R001", "R002"]);
}

#[test]
fn two_incidents_of_one_disaster_merge_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let (office, phone) = office_and_phone(dir.path());
    // Offline, the office and the phone open the same disaster differently.
    ok(anpi(&office, &["incident", "start", "--kind", "flood"]));
    ok(anpi(&phone, &["incident", "start", "--kind", "storm"]));
    ok(anpi(
        &office,
        &["check", "R001", "--status", "safe", "--method", "phone"],
    ));
    ok(anpi(
        &phone,
        &[
            "check",
            "R001",
            "--status",
            "evacuated",
            "--method",
            "visit",
        ],
    ));
    ok(anpi(&office, &["merge", phone.to_str().unwrap()]));
    let list: serde_json::Value =
        serde_json::from_str(&ok(anpi(&office, &["incident", "list", "--json"]))).unwrap();
    let id = |kind: &str| -> String {
        list.as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == kind)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (flood, storm) = (id("flood"), id("storm"));
    let out = ok(anpi(
        &office,
        &[
            "--lang", "en", "incident", "merge", &storm, "--into", &flood,
        ],
    ));
    assert!(out.contains("merged 1 checks"), "{out}");
    // One open incident, both visits in it: a duplicate now shows.
    let dups: serde_json::Value =
        serde_json::from_str(&ok(anpi(&office, &["duplicates", "--json"]))).unwrap();
    assert_eq!(dups[0]["checks"].as_array().unwrap().len(), 2, "{dups}");
    ok(anpi(&office, &["merge", phone.to_str().unwrap()]));
    let out = ok(anpi(
        &phone,
        &["check", "R002", "--status", "safe", "--method", "phone"],
    ));
    assert!(out.contains("R002"), "{out}");
    let phone_list: serde_json::Value =
        serde_json::from_str(&ok(anpi(&phone, &["incident", "list", "--json"]))).unwrap();
    let open: Vec<&serde_json::Value> = phone_list
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["open"] == true)
        .collect();
    assert_eq!(open.len(), 1, "{phone_list}");
    assert_eq!(open[0]["id"], flood.as_str());
}

/// `anpi` on a device whose clock is `offset` off (libfaketime, as
/// `faketime -f +365d`): a phone whose battery died and came back wrong.
fn anpi_clock(data: &Path, offset: &str, args: &[&str]) -> Output {
    Command::new("faketime")
        .args(["-f", offset])
        .arg(env!("CARGO_BIN_EXE_anpi"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ANPI_DATA")
        .env("ANPI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

/// An office with the roster and an open earthquake.
fn office_in_an_earthquake(dir: &Path) -> std::path::PathBuf {
    let data = office(dir);
    let file = dir.join("roster.csv");
    std::fs::write(&file, ROSTER).unwrap();
    run(&data, &["import", file.to_str().unwrap()]);
    run(&data, &["incident", "start", "--kind", "earthquake"]);
    data
}

fn run(data: &Path, args: &[&str]) -> String {
    let o = anpi(data, args);
    assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// A phone a year ahead records "safe"; the office, unaware of it, records
/// "deceased". After the merge the clock decides nothing: the status is
/// the one needing attention, and the disagreement shows everywhere.
#[test]
fn disagreeing_results_show_as_a_conflict_whatever_the_clocks_say() {
    let dir = tempfile::tempdir().unwrap();
    let data = office_in_an_earthquake(dir.path());
    let phone = dir.path().join("phone");
    run(
        &phone,
        &[
            "clone",
            data.to_str().unwrap(),
            "--staff",
            "佐藤",
            "--org",
            "訪問看護",
        ],
    );
    let o = anpi_clock(
        &phone,
        "+365d",
        &["check", "R001", "--status", "safe", "--method", "visit"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    run(
        &data,
        &["check", "R001", "--status", "deceased", "--method", "visit"],
    );
    run(&data, &["merge", phone.to_str().unwrap()]);
    for folder in [&data, &phone] {
        let list: serde_json::Value =
            serde_json::from_str(&run(folder, &["list", "--json"])).unwrap();
        let r = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "R001")
            .unwrap();
        assert_eq!(r["status"], "deceased", "{r}");
        assert_eq!(r["conflict"], true, "{r}");
        assert_eq!(r["conflicting"].as_array().unwrap().len(), 2, "{r}");
        let text = run(folder, &["list"]);
        assert!(text.contains("結果が食い違っています: 死亡"), "{text}");
        let show: serde_json::Value =
            serde_json::from_str(&run(folder, &["show", "R001", "--json"])).unwrap();
        assert_eq!(show["latest"]["result"], "deceased", "{show}");
        assert_eq!(show["conflict"].as_array().unwrap().len(), 2, "{show}");
        let text = run(folder, &["show", "R001"]);
        assert!(text.contains("⚠ 結果が食い違っています"), "{text}");
        let csv = run(folder, &["export", "form2", "--format", "csv"]);
        assert!(csv.contains("結果が食い違っています"), "{csv}");
    }
}

/// Claims have bounds, and no number anyone types makes `anpi` panic.
#[test]
fn a_claim_out_of_bounds_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = office_in_an_earthquake(dir.path());
    for minutes in [
        "0",
        "-1",
        "721",
        "99999999999",
        "5000000000000",
        "9223372036854775807",
    ] {
        let arg = format!("--minutes={minutes}");
        let o = anpi(&data, &["--lang", "en", "claim", "R001", &arg]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{minutes}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("a claim lasts from 1 to 720 minutes"),
            "{}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let o = anpi(
        &data,
        &["claim", "R001", "--minutes", "99999999999999999999999"],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "clap refuses what is not a number"
    );
    assert!(run(&data, &["claim", "R001", "--minutes", "720"]).contains("向かっています"));
    // The check this device records ends its claim.
    run(
        &data,
        &["check", "R001", "--status", "safe", "--method", "visit"],
    );
    let list: serde_json::Value = serde_json::from_str(&run(&data, &["list", "--json"])).unwrap();
    let r = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "R001")
        .unwrap();
    assert_eq!(r["claims"].as_array().unwrap().len(), 0, "{r}");
}

/// Control characters are refused where people and files bring them in,
/// and shown as visible symbols wherever data from elsewhere (a peer, an
/// older version) still holds them: a note must not drive the terminal.
#[test]
fn control_characters_are_refused_on_the_way_in_and_escaped_on_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster.csv");
    std::fs::write(&file, format!("{ROSTER}R003,山田\u{0}花子,架空市,,,,,\n")).unwrap();
    let o = anpi(&data, &["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("4行目 「氏名」: 制御文字（U+0000）は使えません"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&file, ROSTER).unwrap();
    run(&data, &["import", file.to_str().unwrap()]);
    run(&data, &["incident", "start", "--kind", "earthquake"]);
    let o = anpi(
        &data,
        &[
            "check",
            "R001",
            "--status",
            "safe",
            "--method",
            "visit",
            "--note",
            "\u{1b}[2J消去",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("制御文字"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("記録しました"));
    run(
        &data,
        &[
            "check",
            "Ｒ００１ ",
            "--status",
            "safe",
            "--method",
            "visit",
            "--note",
            " 一行目\n二行目 ",
        ],
    );
    let show: serde_json::Value =
        serde_json::from_str(&run(&data, &["show", "R001", "--json"])).unwrap();
    assert_eq!(
        show["history"][0]["check"]["note"], "一行目\n二行目",
        "trimmed, line break kept"
    );

    // A recipient that reached the folder with control characters in it
    // (written through the library, as a sync from elsewhere would).
    {
        let salt = std::fs::read(data.join("anpi.salt")).unwrap();
        let key =
            anpi_core::store::DatabaseKey::from_passphrase(PASSPHRASE.as_bytes(), &salt).unwrap();
        let store =
            anpi_core::store::SqliteStore::open_encrypted(&data.join("anpi.db"), &key).unwrap();
        let mut node = anpi_core::node::Node::open(store).unwrap();
        let space = node.only_space().unwrap().id;
        let mut r = node
            .recipient(&space, &anpi_core::model::RecipientId("R002".into()))
            .unwrap()
            .recipient;
        r.name = "鈴木\u{1b}]0;乗っ取り\u{7}茂".into();
        r.notes = "\u{0}NUL".into();
        node.upsert_recipients(&space, vec![r]).unwrap();
    }
    for args in [
        &["list"][..],
        &["show", "R002"],
        &["export", "form2", "--format", "csv"],
        &["export", "form2", "--format", "html"],
    ] {
        let out = run(&data, args);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{0}') && !out.contains('\u{7}'),
            "{args:?}: {out:?}"
        );
        assert!(out.contains("鈴木␛]0;乗っ取り␇茂"), "{args:?}: {out}");
    }
}

#[test]
fn a_reimport_names_who_is_missing_and_a_merge_across_spaces_says_nothing_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster.csv");
    std::fs::write(&file, ROSTER).unwrap();
    run(&data, &["import", file.to_str().unwrap()]);
    let shorter: String = ROSTER.lines().take(2).map(|l| format!("{l}\r\n")).collect();
    std::fs::write(&file, shorter).unwrap();
    let out = run(&data, &["import", file.to_str().unwrap()]);
    assert!(
        out.contains("このファイルにない利用者 1 件（削除していません"),
        "{out}"
    );
    assert!(out.contains("R002"), "{out}");
    let list: serde_json::Value = serde_json::from_str(&run(&data, &["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "nothing deleted");

    let other = dir.path().join("other");
    run(&other, &["init", "--space", "別の事業所"]);
    let o = anpi(&data, &["merge", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("共通のスペースがないため"),
        "{}",
        stderr(&o)
    );
}

/// `incident start` after `incident end` the same day opens it again and
/// says so; the name given is used; checks can be recorded.
#[test]
fn an_incident_ended_by_mistake_is_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster.csv");
    std::fs::write(&file, ROSTER).unwrap();
    run(&data, &["import", file.to_str().unwrap()]);
    assert!(run(&data, &["incident", "start", "--kind", "earthquake"]).contains("を開始しました"));
    assert!(
        run(&data, &["incident", "start", "--kind", "earthquake"])
            .contains("すでに開始されています")
    );
    run(&data, &["incident", "end"]);
    let out = run(
        &data,
        &[
            "incident",
            "start",
            "--kind",
            "earthquake",
            "--name",
            "余震",
        ],
    );
    assert!(out.contains("災害「余震」(地震) を再開しました"), "{out}");
    assert!(
        run(
            &data,
            &["check", "R001", "--status", "injured", "--method", "visit"]
        )
        .contains("記録しました")
    );
    let list: serde_json::Value =
        serde_json::from_str(&run(&data, &["incident", "list", "--json"])).unwrap();
    assert_eq!(list[0]["open"], true, "{list}");
    assert_eq!(list[0]["name"], "余震", "{list}");
}

/// A folder whose database was truncated to nothing is not made again as a
/// new device (a new identity would strand the old one's checks): every
/// command says what is wrong and how to recover, and writes nothing.
#[test]
fn a_damaged_folder_is_never_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let id_before = run(&data, &["device", "id"]);
    std::fs::write(data.join("anpi.db"), b"").unwrap();
    for args in [&["list"][..], &["device", "id"], &["init", "--space", "x"]] {
        let o = anpi(&data, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("データフォルダが壊れています"),
            "{args:?}: {err}"
        );
        assert!(err.contains("0 bytes"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::metadata(data.join("anpi.db")).unwrap().len(), 0);
    // The salt gone: the key cannot be made; said as such.
    std::fs::write(data.join("anpi.db"), b"x").unwrap();
    std::fs::remove_file(data.join("anpi.salt")).unwrap();
    let o = anpi(&data, &["list"]);
    assert!(stderr(&o).contains("anpi.salt"), "{}", stderr(&o));
    assert!(!id_before.is_empty());
}

/// The office's PC is lost after a backup; a phone holds what the office
/// recorded since. Restored, the office keeps its id, records again and
/// merges with the phone: nothing lost, nothing clashing.
#[test]
fn a_backup_restores_the_office_and_it_syncs_with_phones_that_hold_later_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = office_in_an_earthquake(dir.path());
    let phone = dir.path().join("phone");
    run(
        &phone,
        &["clone", data.to_str().unwrap(), "--staff", "佐藤"],
    );
    let id = run(&data, &["device", "id"]);
    let backup = dir.path().join("office.anpi-backup");
    let out = run(&data, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.contains("バックアップを書き出しました"), "{out}");
    // After the backup: a check only the phone will keep.
    run(
        &data,
        &["check", "R001", "--status", "injured", "--method", "phone"],
    );
    run(&phone, &["merge", data.to_str().unwrap()]);
    std::fs::remove_dir_all(&data).unwrap();

    let restored = dir.path().join("office2");
    let o = anpi(&restored, &["restore", "/nonexistent.anpi-backup"]);
    assert_eq!(o.status.code(), Some(1));
    let out = run(&restored, &["restore", backup.to_str().unwrap()]);
    assert!(out.contains("を復元しました"), "{out}");
    assert_eq!(
        run(&restored, &["device", "id"]),
        id,
        "the office keeps its id"
    );
    run(
        &restored,
        &["check", "R002", "--status", "safe", "--method", "visit"],
    );
    run(&restored, &["merge", phone.to_str().unwrap()]);
    for folder in [&restored, &phone] {
        let list: serde_json::Value =
            serde_json::from_str(&run(folder, &["list", "--json"])).unwrap();
        let status = |id: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .unwrap()["status"]
                .clone()
        };
        assert_eq!(status("R001"), "injured", "{list}");
        assert_eq!(status("R002"), "safe", "{list}");
    }
    // A folder in use is not overwritten.
    let o = anpi(&restored, &["restore", backup.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("すでにデータフォルダがあります"),
        "{}",
        stderr(&o)
    );
}

/// Issue 21: a ventilator user whose battery lasts 6 hours ranks first in
/// an earthquake, above a client with more points, with the time left on
/// the list, in text and JSON; the battery's time comes from its column or
/// from 医療必要度's words; a time that cannot be read imports nothing and
/// names its line and column.
#[test]
fn a_ventilator_user_on_battery_ranks_first_in_an_earthquake_with_the_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let data = office(dir.path());
    let file = dir.path().join("roster.csv");
    let roster =
        "利用者ID,氏名,住所,世帯状況,要介護度,医療機器,医療必要度,バッテリー時間,寝たきり,認知症
R001,山田 ハル,架空市東1-1,独居,要介護5,人工呼吸器,,,有,有
R002,電池 花子,架空市西2-2,同居,要支援1,人工呼吸器,24時間人工呼吸器、バッテリー6時間,,無,無
R003,予備 一郎,架空市南3-3,同居,要支援1,吸引,,十時間,無,無
";
    std::fs::write(&file, roster).unwrap();
    let o = anpi(&data, &["import", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("4行目 「バッテリー時間」"),
        "{}",
        stderr(&o)
    );
    assert!(run(&data, &["list"]).trim().is_empty(), "nothing imported");

    std::fs::write(&file, roster.replace("十時間", "10時間")).unwrap();
    run(&data, &["import", file.to_str().unwrap()]);
    run(&data, &["incident", "start", "--kind", "earthquake"]);
    let list = run(&data, &["list"]);
    let rows: Vec<&str> = list.lines().filter(|l| l.contains(". R00")).collect();
    assert!(
        rows[0].contains("R002") && rows[0].contains("⚠バッテリー残り"),
        "{list}"
    );
    assert!(
        rows[1].contains("R003") && rows[1].contains("⚠バッテリー残り"),
        "{list}"
    );
    assert!(
        rows[2].contains("R001") && !rows[2].contains("バッテリー残り"),
        "{list}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&data, &["list", "--json"])).unwrap();
    assert_eq!(json[0]["id"], "R002");
    assert!(
        json[0]["score"].as_i64() < json[2]["score"].as_i64(),
        "{json}"
    );
    let left = json[0]["time_left"].as_str().unwrap();
    assert!(
        left.starts_with("バッテリー残り5時間") || left == "バッテリー残り6時間",
        "{left}"
    );
    assert!(json[0]["battery_deadline"].is_string(), "{json}");
    assert!(json[2]["time_left"].is_null());
    // The page of one says how long the battery lasts.
    assert!(run(&data, &["show", "R003"]).contains("バッテリー時間: 10時間"));
    // A landslide does not cut the power: no deadline.
    run(&data, &["incident", "end"]);
    run(&data, &["incident", "start", "--kind", "landslide"]);
    let list = run(&data, &["list"]);
    assert!(!list.contains("バッテリー残り"), "{list}");
}

/// Issue 21 from the command line: a staff list (a bad file refused whole,
/// naming the line and column), safety reports from a phone for its
/// carrier and for a colleague who phoned in, the board at the office,
/// the level by hand with 後回し, an assignment that reaches the phone.
#[test]
fn staff_reports_turnout_the_level_and_assignments_reach_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let (office, phone) = office_and_phone(dir.path());
    let file = dir.path().join("staff.csv");
    let staff = "職員ID,氏名,所属,職種,電話,距離
S01,事務 花子,ひまわり居宅,事務,,0.5
S02,佐藤,ひまわり居宅,ケアマネジャー,090-0000-0002,3km
S03,遠方 三郎,ひまわり居宅,訪問介護員,,遠い
";
    std::fs::write(&file, staff).unwrap();
    let o = anpi(&office, &["staff", "import", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("4行目 「距離」"), "{}", stderr(&o));
    assert!(run(&office, &["staff", "list"]).contains("名簿がありません"));
    std::fs::write(&file, staff.replace("遠い", "20")).unwrap();
    let out = run(&office, &["staff", "import", file.to_str().unwrap()]);
    assert!(out.contains("職員 追加 3 人"), "{out}");
    run(&office, &["incident", "start", "--kind", "地震"]);
    run(&phone, &["merge", office.to_str().unwrap()]);
    let out = run(&phone, &["staff", "me", "S02"]);
    assert!(out.contains("S02 佐藤"), "{out}");
    assert!(run(&phone, &["list"]).contains("あなたの安否報告がまだです"));

    // The phone reports for its carrier, and for S03 who phoned in.
    let own = [
        "report",
        "--person",
        "無事",
        "--family",
        "無事",
        "--home",
        "被害なし",
        "--attendance",
        "可能",
        "--from",
        "すぐ",
    ];
    assert!(run(&phone, &own).contains("S02 本人 無事"));
    assert!(!run(&phone, &["list"]).contains("あなたの安否報告がまだです"));
    let o = anpi(
        &phone,
        &[
            "report",
            "--staff",
            "S03",
            "--person",
            "重傷",
            "--family",
            "不明",
            "--home",
            "全半壊",
            "--attendance",
            "可能",
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("いつから"),
        "{}",
        stderr(&o)
    );
    run(
        &phone,
        &[
            "report",
            "--staff",
            "S03",
            "--person",
            "重傷",
            "--family",
            "不明",
            "--home",
            "全半壊",
            "--attendance",
            "不可",
            "--location",
            "市民病院",
        ],
    );
    // A phone does not set the level.
    let o = anpi(&phone, &["incident", "level", "90"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    run(&phone, &["merge", office.to_str().unwrap()]);

    // The office's board: S03 hurt, S02 reported, S01 (the office PC's
    // carrier, by name) has not answered.
    let board = run(&office, &["staff", "board"]);
    for want in [
        "[負傷] S03 遠方 三郎  本人 重傷",
        "現在地 市民病院（佐藤",
        "[報告済み] S02 佐藤",
        "[未報告（同期済み・応答なし）] S01 事務 花子",
        "報告済み 2 人・未報告 1 人・負傷 1 人",
        // S02 at once, half of S01 (within 2 km): 1.5 of 3.
        "運営レベル50%（参集状況から）",
    ] {
        assert!(board.contains(want), "{want:?} in {board}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&run(&office, &["staff", "board", "--json"])).unwrap();
    assert_eq!(json["today"]["expected"], 1.5, "{json}");
    assert_eq!(json["level"], "50");

    // By hand to 30%: the list says why it is short, and postpones the rest.
    run(
        &office,
        &["incident", "level", "30", "--reason", "道路寸断"],
    );
    let list = run(&office, &["list"]);
    assert!(list.contains("運営レベル30%: 安否確認のみ"), "{list}");
    let rows: Vec<&str> = list.lines().filter(|l| l.contains(". R00")).collect();
    assert!(
        rows[0].contains("R001") && !rows[0].contains("後回し"),
        "{list}"
    );
    assert!(
        rows[1].contains("R002") && rows[1].contains("後回し（運営レベル）"),
        "{list}"
    );
    // R002 assigned to S02: the phone marks it as its own.
    let out = run(&office, &["assign", "--to", "S02", "R002"]);
    assert!(out.contains("1 人を S02 に割り当てました"), "{out}");
    let o = anpi(&phone, &["assign", "--to", "S02", "R001"]);
    assert!(!o.status.success());
    run(&phone, &["merge", office.to_str().unwrap()]);
    let list = run(&phone, &["list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("R002") && l.contains("★わたしの担当")),
        "{list}"
    );
    assert!(run(&phone, &["assignments"]).contains("R002\tS02（わたしの担当）"));
    // The office (not S02) checks R002 despite the assignment: shown so.
    run(
        &office,
        &["check", "R002", "--status", "safe", "--method", "phone"],
    );
    let list = run(&office, &["list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("R002") && l.contains("担当外の確認")),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&phone, &["staff", "board", "--json"])).unwrap();
    assert_eq!(json["level"], "30");
    assert_eq!(json["level_by_hand"]["reason"], "道路寸断");
    let out = run(&office, &["incident", "level", "auto"]);
    assert!(out.contains("参集状況に連動"), "{out}");
    assert!(run(&office, &["incident", "power", "on"]).contains("通電あり"));
}
