use super::*;
use crate::doc::DocKey;
use crate::model::*;

pub fn space() -> SpaceId {
    SpaceId("s1".into())
}

fn roster() -> DocKey {
    DocKey::roster(&space())
}

fn incident() -> DocKey {
    DocKey::incident(&space(), &IncidentId("flood-2026-11-21".into()))
}

fn h(n: u8) -> ChangeHash {
    ChangeHash([n; 32])
}

pub fn check(recipient: &str) -> Check {
    Check::sample(recipient, "d1")
}

fn rec(id: &str, name: &str) -> IndexedRecipient {
    IndexedRecipient {
        recipient: Recipient {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        },
        conflicts: vec![],
    }
}

pub fn empty_store_has_nothing(s: &mut dyn Store) {
    assert!(s.docs().unwrap().is_empty());
    assert!(s.load(&roster()).unwrap().is_none());
    assert!(s.recipients(&space()).unwrap().is_empty());
    assert!(s.meta("x").unwrap().is_none());
    assert!(s.spaces().unwrap().is_empty());
}

pub fn changes_append_and_snapshot_replaces(s: &mut dyn Store) {
    let mut w = DocWrite::new(roster(), vec![h(1)]);
    w.changes = vec![b"a".to_vec(), b"b".to_vec()];
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    let mut w = DocWrite::new(roster(), vec![h(2)]);
    w.changes = vec![b"c".to_vec()];
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    let d = s.load(&roster()).unwrap().unwrap();
    assert_eq!(d.bytes(), b"abc");
    let info = s.docs().unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].heads, vec![h(2)]);
    assert_eq!(info[0].pending_changes, 3);
    assert!(!info[0].index_is_stale());

    let mut w = DocWrite::new(roster(), vec![h(2)]);
    w.snapshot = Some(b"ABC".to_vec());
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    let d = s.load(&roster()).unwrap().unwrap();
    assert_eq!(d.snapshot.as_deref(), Some(&b"ABC"[..]));
    assert!(d.changes.is_empty());
    assert_eq!(s.docs().unwrap()[0].pending_changes, 0);
}

pub fn the_journal_appends_and_flushes(s: &mut dyn Store) {
    let mut w = DocWrite::new(roster(), vec![h(1)]);
    w.snapshot = Some(b"S".to_vec());
    w.journal = vec![b"op1".to_vec()];
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    let mut w = DocWrite::new(roster(), vec![h(1)]);
    w.journal = vec![b"op2".to_vec(), b"op3".to_vec()];
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    let d = s.load(&roster()).unwrap().unwrap();
    assert_eq!(
        d.journal,
        vec![b"op1".to_vec(), b"op2".to_vec(), b"op3".to_vec()]
    );
    assert_eq!(d.bytes(), b"S", "journal entries are not automerge bytes");
    let info = &s.docs().unwrap()[0];
    assert_eq!(info.journal_entries, 3);
    assert_eq!(info.heads, vec![h(1)], "a journal write keeps the heads");

    // A flush replaces the journal with the changes it became.
    flush_as(s, roster(), b"c");
    let d = s.load(&roster()).unwrap().unwrap();
    assert!(d.journal.is_empty());
    assert_eq!(d.bytes(), b"Sc");
    let info = &s.docs().unwrap()[0];
    assert_eq!(info.journal_entries, 0);
    assert_eq!(info.heads, vec![h(2)]);
}

/// A flush of `key`'s journal as the one change `change` (heads h(2)).
fn flush_as(s: &mut dyn Store, key: DocKey, change: &[u8]) {
    let mut w = DocWrite::new(key, vec![h(2)]);
    w.flush_journal = true;
    w.changes = vec![change.to_vec()];
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
}

pub fn a_flush_keeps_other_documents_journals(s: &mut dyn Store) {
    for (key, op) in [(roster(), b"r1"), (incident(), b"i1")] {
        let mut w = DocWrite::new(key, vec![h(1)]);
        w.snapshot = Some(b"S".to_vec());
        w.journal = vec![op.to_vec()];
        s.write(Batch {
            docs: vec![w],
            ..Default::default()
        })
        .unwrap();
    }
    // The roster's flush while the incident has a journal of its own,
    // then the incident's, when it is the only one left.
    for (key, other) in [(roster(), Some((incident(), b"i1"))), (incident(), None)] {
        flush_as(s, key.clone(), b"c");
        assert!(s.load(&key).unwrap().unwrap().journal.is_empty());
        if let Some((other, op)) = other {
            assert_eq!(s.load(&other).unwrap().unwrap().journal, vec![op.to_vec()]);
        }
    }
}

pub fn index_rows_follow_ops(s: &mut dyn Store) {
    let mut w = DocWrite::new(roster(), vec![h(1)]);
    w.index = vec![
        IndexOp::Space(Space {
            id: space(),
            name: "ひまわり居宅".into(),
        }),
        IndexOp::Recipient(Box::new(rec("R1", "一"))),
        IndexOp::Recipient(Box::new(rec("R2", "二"))),
        IndexOp::Recipient(Box::new(rec("R1", "壱"))),
        IndexOp::RemoveRecipient("R2".into()),
    ];
    let c1 = check("R1");
    let c2 = check("R2");
    let claim = Claim {
        recipient: "R1".into(),
        staff: Staff::default(),
        device: "d1".into(),
        since: Timestamp::from_millis(0),
        expires: Timestamp::from_millis(10),
    };
    let mut wi = DocWrite::new(incident(), vec![h(3)]);
    wi.index = vec![
        IndexOp::Incident(Incident {
            id: "flood-2026-11-21".into(),
            space: space(),
            kind: IncidentKind::Flood,
            name: "大雨".into(),
            started_at: Timestamp::from_millis(0),
            ended_at: None,
            round: 0,
        }),
        IndexOp::Check(c1.clone()),
        IndexOp::Check(c2.clone()),
        IndexOp::Claim("d1/R1".into(), claim.clone()),
        IndexOp::Claim("d1/R2".into(), claim.clone()),
        IndexOp::RemoveClaim("d1/R2".into()),
    ];
    s.write(Batch {
        docs: vec![w, wi],
        ..Default::default()
    })
    .unwrap();

    let rs = s.recipients(&space()).unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].recipient.name, "壱");
    assert_eq!(
        s.recipient(&space(), &"R1".into())
            .unwrap()
            .unwrap()
            .recipient
            .name,
        "壱"
    );
    assert!(s.recipient(&space(), &"R2".into()).unwrap().is_none());
    assert_eq!(s.spaces().unwrap()[0].name, "ひまわり居宅");
    assert_eq!(s.incidents(&space()).unwrap()[0].name, "大雨");
    let mut all = s.checks(&incident()).unwrap();
    all.sort_by_key(|c| c.id);
    assert_eq!(all, vec![c1.clone(), c2]);
    assert_eq!(
        s.checks_of(&incident(), &"R1".into()).unwrap(),
        vec![c1.clone()]
    );
    assert_eq!(
        s.check_ids_of(&incident(), &"R1".into()).unwrap(),
        vec![c1.id]
    );
    assert_eq!(s.claims(&incident()).unwrap(), vec![claim.clone()]);
    assert_eq!(s.claims_of(&incident(), &"R1".into()).unwrap(), vec![claim]);
    assert!(s.claims_of(&incident(), &"R2".into()).unwrap().is_empty());
    // Other spaces see nothing.
    assert!(s.recipients(&SpaceId("other".into())).unwrap().is_empty());

    // Clear removes only that document's rows.
    let mut w = DocWrite::new(incident(), vec![h(3)]);
    w.index = vec![IndexOp::Clear];
    s.write(Batch {
        docs: vec![w],
        ..Default::default()
    })
    .unwrap();
    assert!(s.checks(&incident()).unwrap().is_empty());
    assert!(s.claims(&incident()).unwrap().is_empty());
    assert!(s.incidents(&space()).unwrap().is_empty());
    assert_eq!(s.recipients(&space()).unwrap().len(), 1);
}

/// Enough rows that a store reading them in parts (the SQLite one
/// parses long lists on several threads) must join every part, in order.
pub fn long_lists_come_whole_and_in_order(s: &mut dyn Store) {
    const N: usize = 5_003;
    let ids: Vec<String> = (0..N).map(|i| format!("R{:05}", (i * 7_919) % N)).collect();
    let mut w = DocWrite::new(roster(), vec![h(1)]);
    w.index = ids
        .iter()
        .map(|id| IndexOp::Recipient(Box::new(rec(id, &format!("利用者{id}")))))
        .collect();
    let mut wi = DocWrite::new(incident(), vec![h(2)]);
    let checks: Vec<Check> = ids.iter().map(|id| check(id)).collect();
    wi.index = checks.iter().cloned().map(IndexOp::Check).collect();
    s.write(Batch {
        docs: vec![w, wi],
        ..Default::default()
    })
    .unwrap();

    let mut sorted = ids.clone();
    sorted.sort();
    let list = s.recipient_list(&space()).unwrap();
    let listed: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(listed, sorted);
    assert!(list.iter().all(|r| r.name == format!("利用者{}", r.id)));
    let full: Vec<Recipient> = s
        .recipients(&space())
        .unwrap()
        .into_iter()
        .map(|r| r.recipient)
        .collect();
    assert_eq!(full, list);
    let mut read = s.checks(&incident()).unwrap();
    read.sort_by_key(|c| c.id);
    let mut made = checks;
    made.sort_by_key(|c| c.id);
    assert_eq!(read, made);
    let mut inputs = s.list_inputs(&space(), &incident()).unwrap();
    assert_eq!(inputs.recipients, list);
    inputs.checks.sort_by_key(|c| c.id);
    assert_eq!(inputs.checks, made);
    assert_eq!(inputs.claims, s.claims(&incident()).unwrap());
}

pub fn peer_states_and_meta_persist(s: &mut dyn Store) {
    let peer = DeviceId("p1".into());
    s.write(Batch {
        peer_states: vec![(peer.clone(), roster(), b"state1".to_vec())],
        meta: vec![("device".into(), b"d1".to_vec())],
        ..Default::default()
    })
    .unwrap();
    s.write(Batch {
        peer_states: vec![(peer.clone(), roster(), b"state2".to_vec())],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.peer_state(&peer, &roster()).unwrap().as_deref(),
        Some(&b"state2"[..])
    );
    assert!(s.peer_state(&peer, &incident()).unwrap().is_none());
    assert_eq!(s.meta("device").unwrap().as_deref(), Some(&b"d1"[..]));
    assert_eq!(s.index_version().unwrap(), Some(INDEX_VERSION));
}

pub fn the_audit_trail_appends_in_order_and_verifies(s: &mut dyn Store) {
    use crate::audit::{Action, Record, verify};
    let record = |subject: &str| Record {
        at: crate::model::Timestamp::from_millis(7),
        device: DeviceId("ab".repeat(16)),
        staff: crate::model::Staff::default(),
        action: Action::Recorded,
        subject: subject.into(),
        detail: String::new(),
    };
    s.write(Batch {
        audit: vec![record("R1"), record("R2")],
        ..Default::default()
    })
    .unwrap();
    s.write(Batch {
        meta: vec![("k".into(), b"v".to_vec())],
        audit: vec![record("R3")],
        ..Default::default()
    })
    .unwrap();
    let trail = s.audit().unwrap();
    let subjects: Vec<&str> = trail.iter().map(|e| e.record.subject.as_str()).collect();
    assert_eq!(subjects, ["R1", "R2", "R3"]);
    assert_eq!(verify(&trail), Ok(()));
    // A failed batch appends nothing.
    assert!(
        s.write(Batch {
            docs: vec![DocWrite::default()],
            audit: vec![record("R4")],
            ..Default::default()
        })
        .is_err()
    );
    assert_eq!(s.audit().unwrap().len(), 3);
}

pub fn a_failed_batch_writes_nothing(s: &mut dyn Store) {
    let mut good = DocWrite::new(roster(), vec![h(1)]);
    good.changes = vec![b"a".to_vec()];
    good.index = vec![IndexOp::Recipient(Box::new(rec("R1", "一")))];
    // A write without a document is refused; the good one must not land.
    let bad = DocWrite::default();
    assert!(
        s.write(Batch {
            docs: vec![good, bad],
            ..Default::default()
        })
        .is_err()
    );
    assert!(s.load(&roster()).unwrap().is_none());
    assert!(s.recipients(&space()).unwrap().is_empty());
}

/// A transaction rolled back (`end_write(false)`) leaves everything as it
/// was: documents, their rows, the space's rows, meta, peer states and the
/// audit trail — whatever its writes replaced, appended or cleared.
pub fn a_transaction_rolled_back_leaves_everything_as_it_was(s: &mut dyn Store) {
    use crate::audit::{Action, Record};
    let record = |subject: &str| Record {
        at: Timestamp::from_millis(7),
        device: DeviceId("ab".repeat(16)),
        staff: Staff::default(),
        action: Action::Recorded,
        subject: subject.into(),
        detail: String::new(),
    };
    let claim = |r: &str| Claim {
        recipient: r.into(),
        staff: Staff::default(),
        device: "d1".into(),
        since: Timestamp::from_millis(0),
        expires: Timestamp::from_millis(10),
    };
    let peer = DeviceId("p1".into());
    let mut w = DocWrite::new(roster(), vec![h(1)]);
    w.changes = vec![b"a".to_vec()];
    w.journal = vec![b"j".to_vec()];
    w.index = vec![
        IndexOp::Recipient(Box::new(rec("R1", "一"))),
        IndexOp::Recipient(Box::new(rec("R2", "二"))),
    ];
    let mut wi = DocWrite::new(incident(), vec![h(2)]);
    wi.changes = vec![b"c".to_vec()];
    wi.index = vec![
        IndexOp::Check(check("R1")),
        IndexOp::Claim("d1/R1".into(), claim("R1")),
    ];
    s.write(Batch {
        docs: vec![w, wi],
        peer_states: vec![(peer.clone(), roster(), b"state1".to_vec())],
        meta: vec![("k".into(), b"v".to_vec())],
        audit: vec![record("R1")],
        ..Default::default()
    })
    .unwrap();
    let other = DocKey::incident(&space(), &IncidentId("quake-2026-11-22".into()));
    let seen = |s: &mut dyn Store| {
        format!(
            "{:?}",
            (
                (s.load(&roster()).unwrap(), s.load(&incident()).unwrap()),
                (
                    s.doc_info(&roster()).unwrap(),
                    s.doc_info(&incident()).unwrap()
                ),
                (s.load(&other).unwrap(), s.recipients(&space()).unwrap()),
                (
                    s.checks(&incident()).unwrap(),
                    s.claims(&incident()).unwrap()
                ),
                (
                    s.meta("k").unwrap(),
                    s.peer_state(&peer, &roster()).unwrap()
                ),
                s.audit().unwrap().len(),
            )
        )
    };
    let before = seen(s);
    s.begin_write().unwrap();
    // Appended to, replaced, cleared and made new, over two writes.
    let mut w = DocWrite::new(roster(), vec![h(3)]);
    w.snapshot = Some(b"whole".to_vec());
    w.index = vec![
        IndexOp::Recipient(Box::new(rec("R1", "壱"))),
        IndexOp::RemoveRecipient("R2".into()),
        IndexOp::Recipient(Box::new(rec("R3", "三"))),
    ];
    let mut wi = DocWrite::new(incident(), vec![h(4)]);
    wi.changes = vec![b"d".to_vec()];
    wi.index = vec![IndexOp::Clear];
    s.write(Batch {
        docs: vec![w, wi],
        peer_states: vec![(peer.clone(), roster(), b"state2".to_vec())],
        meta: vec![("k".into(), b"w".to_vec())],
        audit: vec![record("R2")],
        ..Default::default()
    })
    .unwrap();
    let mut wo = DocWrite::new(other.clone(), vec![h(5)]);
    wo.changes = vec![b"e".to_vec()];
    wo.index = vec![IndexOp::Check(check("R3"))];
    let mut wi = DocWrite::new(incident(), vec![h(6)]);
    wi.index = vec![
        IndexOp::Check(check("R1")),
        IndexOp::RemoveClaim("d1/R1".into()),
    ];
    s.write(Batch {
        docs: vec![wo, wi],
        audit: vec![record("R3")],
        ..Default::default()
    })
    .unwrap();
    assert_ne!(seen(s), before, "the writes show inside the transaction");
    s.end_write(false).unwrap();
    assert_eq!(seen(s), before);
}

macro_rules! store_conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::store::conformance as c;

            #[test]
            fn empty_store_has_nothing() {
                let mut s = $make;
                c::empty_store_has_nothing(&mut s);
            }
            #[test]
            fn changes_append_and_snapshot_replaces() {
                let mut s = $make;
                c::changes_append_and_snapshot_replaces(&mut s);
            }
            #[test]
            fn the_journal_appends_and_flushes() {
                let mut s = $make;
                c::the_journal_appends_and_flushes(&mut s);
            }
            #[test]
            fn a_flush_keeps_other_documents_journals() {
                let mut s = $make;
                c::a_flush_keeps_other_documents_journals(&mut s);
            }
            #[test]
            fn index_rows_follow_ops() {
                let mut s = $make;
                c::index_rows_follow_ops(&mut s);
            }
            #[test]
            fn long_lists_come_whole_and_in_order() {
                let mut s = $make;
                c::long_lists_come_whole_and_in_order(&mut s);
            }
            #[test]
            fn peer_states_and_meta_persist() {
                let mut s = $make;
                c::peer_states_and_meta_persist(&mut s);
            }
            #[test]
            fn the_audit_trail_appends_in_order_and_verifies() {
                let mut s = $make;
                c::the_audit_trail_appends_in_order_and_verifies(&mut s);
            }
            #[test]
            fn a_failed_batch_writes_nothing() {
                let mut s = $make;
                c::a_failed_batch_writes_nothing(&mut s);
            }
            #[test]
            fn a_transaction_rolled_back_leaves_everything_as_it_was() {
                let mut s = $make;
                c::a_transaction_rolled_back_leaves_everything_as_it_was(&mut s);
            }
        }
    };
}
pub(crate) use store_conformance;
