//! The audit trail end to end: what the `anpi` command records, and a trail
//! tampered with in the database file failing `anpi audit verify`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use anpi_tests::netns::{anpi, ok};

/// An office of 事務 花子 holding R001.
fn office_with_r001(dir: &std::path::Path) -> std::path::PathBuf {
    let office = dir.join("office");
    ok(
        &office,
        &["init", "--space", "ひまわり", "--staff", "事務 花子"],
    );
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, "利用者ID,氏名,住所\nR001,山田 ハル,架空市東1-1\n").unwrap();
    ok(&office, &["import", roster.to_str().unwrap()]);
    office
}

/// The folder's database opened with SQLite itself, as someone holding
/// the passphrase could.
fn opened_with_sqlite(folder: &std::path::Path) -> rusqlite::Connection {
    let key = anpi_tests::netns::folder_key(folder);
    let conn = rusqlite::Connection::open(folder.join("anpi.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";
         PRAGMA cipher_page_size = 8192;
         PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
        *key.hex()
    ))
    .unwrap();
    conn
}

#[test]
fn the_trail_records_who_did_what_and_tampering_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let office = office_with_r001(dir.path());
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
    let conn = opened_with_sqlite(&office);
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

/// Entries cut from a trail's end leave a chain that checks out; the
/// peers it synced with remember where it ended. The office's trail is cut
/// back with SQLite by someone holding the passphrase: its own `audit
/// verify` fails, and at the next sync both the office and the phone write
/// a warning into their trails.
#[test]
fn entries_cut_from_the_trails_end_are_noticed_by_the_peers_that_saw_them() {
    let dir = tempfile::tempdir().unwrap();
    let office = office_with_r001(dir.path());
    let phone = dir.path().join("phone");
    ok(
        &phone,
        &["clone", office.to_str().unwrap(), "--staff", "佐藤"],
    );
    ok(&office, &["incident", "start", "--kind", "flood"]);
    // Two sessions: each side then holds where the other's trail ended,
    // and has been told where its own ended.
    for _ in 0..2 {
        ok(&office, &["show", "R001"]);
        ok(&phone, &["merge", office.to_str().unwrap()]);
    }
    assert!(ok(&office, &["audit", "verify"]).contains("改ざんはありません"));
    let len = |d: &std::path::Path| {
        let t: serde_json::Value =
            serde_json::from_str(&ok(d, &["audit", "list", "--json"])).unwrap();
        t.as_array().unwrap().len()
    };
    assert!(len(&office) > 3);

    // The office's trail is cut back to its first two entries.
    let conn = opened_with_sqlite(&office);
    conn.execute_batch(
        "DROP TRIGGER audit_no_delete;
         DELETE FROM audit WHERE seq > 2;",
    )
    .unwrap();
    drop(conn);
    // The chain that is left checks out; what the phone saw does not.
    let o = anpi(&office, &["audit", "verify"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut from the trail's end"), "{err}");

    // The next sync: each side writes what it found into its own trail.
    ok(&phone, &["merge", office.to_str().unwrap()]);
    let warned = |d: &std::path::Path| -> Vec<String> {
        let t: serde_json::Value =
            serde_json::from_str(&ok(d, &["audit", "list", "--json"])).unwrap();
        t.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "warned")
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect()
    };
    let at_phone = warned(&phone);
    assert!(
        at_phone
            .iter()
            .any(|d| d.contains("entries were cut from it")),
        "{at_phone:?}"
    );
    let at_office = warned(&office);
    assert!(
        at_office.iter().any(|d| d.contains("no longer holds it")),
        "{at_office:?}"
    );
}
