use super::*;
use crate::store::conformance::store_conformance;

store_conformance!(
    sqlite_conformance,
    SqliteStore::open_in_memory().expect("in-memory sqlite")
);

#[test]
fn an_encrypted_store_holds_no_plaintext_and_needs_its_key() {
    use crate::model::{Recipient, RecipientId};
    use crate::node::Node;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let key = DatabaseKey::from_bytes([7; 32]);
    let name = "暗号 花子ユニーク";
    {
        let mut node = Node::open(SqliteStore::open_encrypted(&path, &key).unwrap()).unwrap();
        let space = node.create_space("ひまわり").unwrap().id;
        node.upsert_recipients(
            &space,
            vec![Recipient {
                id: RecipientId("R1".into()),
                name: name.into(),
                ..Default::default()
            }],
        )
        .unwrap();
        // Still open: the WAL holds the latest pages.
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                "plaintext name on disk"
            );
        }
    }
    let wrong = DatabaseKey::from_bytes([8; 32]);
    assert!(matches!(
        SqliteStore::open_encrypted(&path, &wrong),
        Err(Error::WrongKey)
    ));
    let node = Node::open(SqliteStore::open_encrypted(&path, &key).unwrap()).unwrap();
    let space = node.only_space().unwrap().id;
    assert_eq!(node.recipients(&space).unwrap()[0].recipient.name, name);
}

/// A connection to `path` with `cipher`, as anyone holding the key
/// would make it with SQLCipher itself.
fn raw(path: &Path, key: &DatabaseKey, cipher: Cipher) -> Option<Connection> {
    unlocked(path, key, cipher, false).unwrap()
}

#[test]
fn stores_made_with_sqlciphers_defaults_still_open_and_stay_as_they_are() {
    use crate::model::{Recipient, RecipientId};
    use crate::node::Node;
    let dir = tempfile::tempdir().unwrap();
    let key = DatabaseKey::from_bytes([5; 32]);
    let made = dir.path().join("made.db");
    let before = dir.path().join("before.db");
    let recipient = |id: &str| Recipient {
        id: RecipientId(id.into()),
        name: format!("利用者 {id}"),
        ..Default::default()
    };
    let space = {
        let mut node = Node::open(SqliteStore::open_encrypted(&made, &key).unwrap()).unwrap();
        let space = node.create_space("ひまわり").unwrap().id;
        node.upsert_recipients(&space, vec![recipient("R1")])
            .unwrap();
        space
    };
    // What this version makes is the current cipher, not the old one.
    assert!(raw(&made, &key, Cipher::Sqlcipher4).is_none());
    // The same store as an earlier version made it (the export leaves
    // out the schema's version).
    let conn = raw(&made, &key, Cipher::Current).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS before KEY \"x'{}'\";
         PRAGMA before.cipher_compatibility = 4;
         SELECT sqlcipher_export('before');
         PRAGMA before.user_version = {version};
         DETACH DATABASE before;",
        before.display(),
        *key.hex()
    ))
    .unwrap();
    drop(conn);
    assert!(raw(&before, &key, Cipher::Current).is_none());

    let wrong = DatabaseKey::from_bytes([6; 32]);
    assert!(matches!(
        SqliteStore::open_encrypted(&before, &wrong),
        Err(Error::WrongKey)
    ));
    let crash = dir.path().join("crash");
    std::fs::create_dir(&crash).unwrap();
    {
        let mut node = Node::open(SqliteStore::open_encrypted(&before, &key).unwrap()).unwrap();
        assert_eq!(node.recipients(&space).unwrap().len(), 1);
        node.upsert_recipients(&space, vec![recipient("R2")])
            .unwrap();
        // The files as a power cut would leave them: the last write in
        // the WAL only, made with the old cipher.
        for name in ["before.db", "before.db-wal"] {
            std::fs::copy(dir.path().join(name), crash.join(name)).unwrap();
        }
        assert!(
            std::fs::metadata(crash.join("before.db-wal"))
                .unwrap()
                .len()
                > 0
        );
    }
    for path in [before.clone(), crash.join("before.db")] {
        let node = Node::open(SqliteStore::open_encrypted(&path, &key).unwrap()).unwrap();
        let names: Vec<_> = node
            .recipients(&space)
            .unwrap()
            .into_iter()
            .map(|r| r.recipient.name)
            .collect();
        assert_eq!(names, ["利用者 R1", "利用者 R2"], "{}", path.display());
        drop(node);
        assert!(raw(&path, &key, Cipher::Current).is_none());
        let conn = raw(&path, &key, Cipher::Sqlcipher4).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
}

#[test]
fn a_damaged_row_in_a_long_list_is_named_and_the_list_refused() {
    use crate::store::{IndexedRecipient, conformance::space};
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut w = DocWrite::new(DocKey::roster(&space()), vec![]);
    w.index = (0..3 * PARALLEL_PARSE_ROWS)
        .map(|i| {
            IndexOp::Recipient(Box::new(IndexedRecipient {
                recipient: Recipient {
                    id: RecipientId(format!("R{i:05}")),
                    ..Default::default()
                },
                conflicts: vec![],
            }))
        })
        .collect();
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    s.conn
        .execute(
            "UPDATE idx_recipients SET data = '{\"recipient\":' WHERE id = 'R05000'",
            [],
        )
        .unwrap();
    let err = s.recipient_list(&space()).unwrap_err().to_string();
    assert!(err.contains("row 5001"), "{err}");
    assert!(s.recipients(&space()).is_err());
}

/// `list_inputs` reads the checks on a second connection: it must see
/// every commit made on the first, encrypted or not.
#[test]
fn list_inputs_on_two_connections_see_the_latest_commit() {
    use crate::store::conformance::{check, space};
    use crate::store::{IndexedRecipient, ListInputs};
    let dir = tempfile::tempdir().unwrap();
    let key = DatabaseKey::from_bytes([9; 32]);
    for encrypted in [false, true] {
        let path = dir.path().join(format!("anpi-{encrypted}.db"));
        let mut s = if encrypted {
            SqliteStore::open_encrypted(&path, &key).unwrap()
        } else {
            SqliteStore::open(&path).unwrap()
        };
        let incident = DocKey::incident(&space(), &"flood-2026-11-21".into());
        let mut made = Vec::new();
        for round in 0..3 {
            let mut w = DocWrite::new(DocKey::roster(&space()), vec![]);
            w.index = vec![IndexOp::Recipient(Box::new(IndexedRecipient {
                recipient: Recipient {
                    id: RecipientId(format!("R{round}")),
                    ..Default::default()
                },
                conflicts: vec![],
            }))];
            let c = check(&format!("R{round}"));
            made.push(c.clone());
            let mut wi = DocWrite::new(incident.clone(), vec![]);
            wi.index = vec![IndexOp::Check(c)];
            s.write(Batch {
                docs: vec![w, wi],
                ..Default::default()
            })
            .unwrap();
            let mut inputs = s.list_inputs(&space(), &incident).unwrap();
            inputs.checks.sort_by_key(|c| c.id);
            let mut want = ListInputs {
                recipients: s.recipient_list(&space()).unwrap(),
                checks: made.clone(),
                claims: vec![],
            };
            want.checks.sort_by_key(|c| c.id);
            assert_eq!(inputs, want, "round {round}, encrypted {encrypted}");
            assert_eq!(inputs.recipients.len(), round + 1);
        }
    }
}

#[test]
fn a_passphrase_derives_the_same_key_for_the_same_salt_only() {
    let a = DatabaseKey::from_passphrase(b"correct horse", b"salt-of-folder-1").unwrap();
    let b = DatabaseKey::from_passphrase(b"correct horse", b"salt-of-folder-1").unwrap();
    let c = DatabaseKey::from_passphrase(b"correct horse", b"salt-of-folder-2").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn a_file_store_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let key = DocKey::roster(&SpaceId("s".into()));
    {
        let mut s = SqliteStore::open(&path).unwrap();
        let mut w = DocWrite::new(key.clone(), vec![]);
        w.changes = vec![b"x".to_vec()];
        s.write(Batch {
            docs: vec![w],
            ..Default::default()
        })
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.load(&key).unwrap().unwrap().bytes(), b"x");
    s.integrity_check().unwrap();
    let mode: String = s
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    drop(SqliteStore::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    match SqliteStore::open(&path) {
        Err(Error::TooNew { found: 99, .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a newer store"),
    }
}

/// Rows staged for a new device's first sync live and die with the write
/// lock's transaction, `ClearRows` takes them back, and the WAL checkpoint
/// they put off is made by `settle`, after which SQLite checkpoints on its
/// own again.
#[test]
fn staged_rows_go_with_the_transaction_and_settle_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("anpi.db")).unwrap();
    let space = SpaceId("s".into());
    let key = DocKey::roster(&space);
    let rows: Vec<IndexOp> = (0..50)
        .map(|i| {
            IndexOp::recipient(
                Recipient {
                    id: RecipientId(format!("R{i}")),
                    ..Default::default()
                },
                Vec::new(),
            )
        })
        .collect();
    assert!(
        s.stage_index(&key, &rows).is_err(),
        "outside the write lock"
    );
    let autocheckpoint = |s: &SqliteStore| -> i64 {
        s.conn
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap()
    };

    // Rolled back with the lock.
    s.begin_write().unwrap();
    s.stage_index(&key, &rows).unwrap();
    assert_eq!(s.recipients(&space).unwrap().len(), 50);
    s.end_write(false).unwrap();
    assert!(s.recipients(&space).unwrap().is_empty());

    // Taken back inside it.
    s.begin_write().unwrap();
    s.stage_index(&key, &rows).unwrap();
    s.stage_index(&key, &[IndexOp::ClearRows]).unwrap();
    s.end_write(true).unwrap();
    assert!(s.recipients(&space).unwrap().is_empty());

    // Kept with the commit; the checkpoint waits for `settle`.
    s.begin_write().unwrap();
    s.stage_index(&key, &rows).unwrap();
    assert!(
        s.stage_index(&key, &[IndexOp::RemoveClaim("x".into())])
            .is_err()
    );
    s.end_write(true).unwrap();
    assert_eq!(s.recipients(&space).unwrap().len(), 50);
    assert_eq!(autocheckpoint(&s), 0);
    let file = dir.path().join("anpi.db");
    let before = std::fs::metadata(&file).unwrap().len();
    s.settle().unwrap();
    assert_eq!(autocheckpoint(&s), WAL_AUTOCHECKPOINT_PAGES);
    let after = std::fs::metadata(&file).unwrap().len();
    assert!(
        after > before,
        "the WAL copied into the database: {before} → {after}"
    );
    s.integrity_check().unwrap();
}
