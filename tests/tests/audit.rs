//! The audit trail end to end: what the `anpi` command records, and a trail
//! tampered with in the database file failing `anpi audit verify`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use anpi_tests::netns::{anpi, ok};

#[test]
fn the_trail_records_who_did_what_and_tampering_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    ok(
        &office,
        &["init", "--space", "ひまわり", "--staff", "事務 花子"],
    );
    let roster = dir.path().join("roster.csv");
    std::fs::write(&roster, "利用者ID,氏名,住所\nR001,山田 ハル,架空市東1-1\n").unwrap();
    ok(&office, &["import", roster.to_str().unwrap()]);
    ok(&office, &["incident", "start", "--kind", "flood"]);
    ok(
        &office,
        &["check", "R001", "--status", "safe", "--method", "phone"],
    );
    ok(&office, &["show", "R001"]);
    let form = dir.path().join("form2.csv");
    ok(
        &office,
        &[
            "export",
            "form2",
            "--format",
            "csv",
            "--out",
            form.to_str().unwrap(),
        ],
    );

    let trail: serde_json::Value =
        serde_json::from_str(&ok(&office, &["audit", "list", "--json"])).unwrap();
    let actions: Vec<(&str, &str)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("changed", "roster"),
        ("recorded", "R001"),
        ("viewed", "R001"),
        ("exported", "form 2"),
    ] {
        assert!(actions.contains(&want), "{want:?} missing from {actions:?}");
    }
    assert!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["staff"]["name"] == "事務 花子")
    );
    assert!(ok(&office, &["audit", "verify"]).contains("改ざんはありません"));

    // Someone who holds the passphrase opens the file with SQLite itself.
    let key = anpi_tests::netns::folder_key(&office);
    let conn = rusqlite::Connection::open(office.join("anpi.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";
         PRAGMA cipher_page_size = 8192;
         PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
        key.hex()
    ))
    .unwrap();
    // The table refuses changes through SQLite…
    assert!(conn.execute("DELETE FROM audit WHERE seq = 2", []).is_err());
    // …and whoever edits the file anyway is found out.
    conn.execute_batch(
        "DROP TRIGGER audit_no_update;
         UPDATE audit SET entry = replace(entry, 'R001', 'R002') WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let o = anpi(&office, &["audit", "verify"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("監査ログが改ざんされています（3 件目"),
        "{err}"
    );
}
