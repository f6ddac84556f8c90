//! Tests of the node as a whole (opening, the journal, several processes
//! on one folder), and the helpers the feature files' tests share.

use super::*;
use crate::error::ErrorKind;
use crate::model::{Household, RecipientId};
use crate::store::{MemoryStore, SqliteStore};

pub(super) fn recipient(id: &str) -> Recipient {
    Recipient {
        id: RecipientId(id.into()),
        name: format!("利用者{id}"),
        household: Some(Household::Alone),
        ..Default::default()
    }
}

pub(super) fn office() -> (Node, SpaceId) {
    office_on(MemoryStore::new())
}

/// An office on `store`: a space with R1 and R2.
pub(super) fn office_on(store: impl Store + 'static) -> (Node, SpaceId) {
    let mut n = Node::open(store).unwrap();
    let space = n.create_space("ひまわり").unwrap().id;
    n.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
        .unwrap();
    (n, space)
}

/// A new device enrolled by `office` in `space` as `role`, synced once.
pub(super) fn member_of(office: &mut Node, space: &SpaceId, role: Role) -> Node {
    member_on(MemoryStore::new(), office, space, role)
}

/// [`member_of`] on `store` (a SQLite file, for tests of crashes and disks).
pub(super) fn member_on(
    store: impl Store + 'static,
    office: &mut Node,
    space: &SpaceId,
    role: Role,
) -> Node {
    let mut n = Node::open(store).unwrap();
    office
        .add_member(space, &n.device().clone(), Staff::default(), role)
        .unwrap();
    sync_local(&mut n, office, std::slice::from_ref(space)).unwrap();
    n
}

/// The ids of the checks `n` lists in an incident.
pub(super) fn check_ids(n: &Node, space: &SpaceId, incident: &IncidentId) -> BTreeSet<CheckId> {
    n.checks(space, incident)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect()
}

/// [`office_on`] with a flood incident open since now.
pub(super) fn office_in_a_flood(store: impl Store + 'static) -> (Node, SpaceId, Incident) {
    let (mut n, space) = office_on(store);
    let inc = n
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
        .unwrap();
    (n, space, inc)
}

/// [`recipient`] `id`, who consented to sharing, as `by` recorded it.
pub(super) fn consented(id: &str, by: &str) -> Recipient {
    use crate::model::{ConsentRecord, Date};
    let mut r = recipient(id);
    r.consent = Some(true);
    r.consent_record = Some(ConsentRecord {
        date: Date::from_ymd(2026, 4, 1).unwrap(),
        scope: "安否確認のため連携先へ".into(),
        obtained_by: by.into(),
    });
    r
}

/// An office whose R1 consented to sharing, and an area space.
pub(super) fn office_with_area() -> (Node, SpaceId, SpaceId) {
    let (mut n, office) = office();
    n.upsert_recipients(&office, vec![consented("R1", "佐藤")])
        .unwrap();
    let area = n.create_area_space("東地区連携").unwrap().id;
    (n, office, area)
}

/// The node of the folder at `path` opened with its index dropped and
/// marked of another layout: rebuilt from the documents on open.
fn with_index_rebuilt(path: &std::path::Path) -> Node {
    let mut s = SqliteStore::open(path).unwrap();
    s.write(Batch {
        meta: vec![(INDEX_VERSION_KEY.into(), b"0".to_vec())],
        ..Default::default()
    })
    .unwrap();
    s.drop_index_for_test().unwrap();
    Node::open(s).unwrap()
}

/// One document that cannot be read (damaged bytes) fails alone: the
/// device opens, lists and syncs everything else, and says which.
#[test]
fn an_unreadable_document_fails_alone_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let (office, area, inc) = {
        let (mut n, office, area) = office_with_area();
        let mut n2 = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        sync_local(&mut n2, &mut n, &[office.clone(), area.clone()]).unwrap();
        let inc = n2
            .start_incident(&area, IncidentKind::Flood, "", Timestamp::now())
            .unwrap();
        n2.flush_all().unwrap();
        (office, area, inc)
    };
    let key = DocKey::incident(&area, &inc.id);
    let mut store = SqliteStore::open(&path).unwrap();
    let mut w = DocWrite::new(key.clone(), vec![]);
    w.changes = vec![b"\x85\x6f\x4a\x83 not a change".to_vec()];
    store
        .write(Batch {
            docs: vec![w],
            ..Default::default()
        })
        .unwrap();
    drop(store);

    let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert_eq!(n.recipients(&office).unwrap().len(), 2);
    let mut peer = Node::open(MemoryStore::new()).unwrap();
    let x = sync_local(&mut peer, &mut n, &[office.clone(), area.clone()]).unwrap();
    assert_eq!(
        peer.recipients(&office).unwrap().len(),
        2,
        "the office synced"
    );
    assert_eq!(x.responder.docs_failed, 1, "{x:?}");
    n.maintain().unwrap();
    assert!(
        n.unreadable().iter().any(|(k, _)| k == &key),
        "{:?}",
        n.unreadable()
    );
}

#[test]
fn an_index_of_another_layout_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let space = {
        let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let space = n.create_space("ひまわり").unwrap().id;
        n.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
        space
    };
    let n = with_index_rebuilt(&path);
    assert_eq!(n.store().index_version().unwrap(), Some(INDEX_VERSION));
    assert_eq!(n.recipients(&space).unwrap().len(), 1);
    assert_eq!(n.spaces().unwrap()[0].name, "ひまわり");
}

#[test]
fn journaled_checks_survive_a_crash_and_sync_cleanly_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let mut office = Node::open(MemoryStore::new()).unwrap();
    let space = office.create_space("ひまわり").unwrap().id;
    office
        .upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
        .unwrap();
    let inc = office
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::from_millis(0))
        .unwrap();
    let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    let mut ids = Vec::new();
    for r in ["R1", "R2", "R1"] {
        let c = phone
            .record_check(
                &space,
                &inc.id,
                NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe),
            )
            .unwrap();
        ids.push(c.id);
    }
    assert_eq!(
        phone
            .store()
            .docs()
            .unwrap()
            .iter()
            .map(|d| d.journal_entries)
            .sum::<u64>(),
        3
    );
    // A crash: no flush, no destructor.
    std::mem::forget(phone);

    let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let mut have: Vec<CheckId> = phone
        .checks(&space, &inc.id)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    have.sort();
    ids.sort();
    assert_eq!(have, ids, "the index had them");
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let mut at_office: Vec<CheckId> = office
        .checks(&space, &inc.id)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    at_office.sort();
    assert_eq!(at_office, ids, "replayed from the journal and synced");
    // And the device goes on recording and syncing with the same actor.
    phone
        .record_check(
            &space,
            &inc.id,
            NewCheck::new("R2".into(), CheckMethod::Phone, CheckResult::Safe),
        )
        .unwrap();
    sync_local(&mut office, &mut phone, &[]).unwrap();
    assert_eq!(office.heads().unwrap(), phone.heads().unwrap());
    assert_eq!(office.checks(&space, &inc.id).unwrap().len(), 4);
}

#[test]
fn the_device_id_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let first = Node::open(SqliteStore::open(&path).unwrap())
        .unwrap()
        .device()
        .clone();
    let again = Node::open(SqliteStore::open(&path).unwrap())
        .unwrap()
        .device()
        .clone();
    assert_eq!(first, again);
}

/// Two nodes on one file, as two processes are: each records while the
/// other holds the incident in memory. Before the write lock, each
/// flushed "its" next change of the device and the document never
/// loaded again ("duplicate seq").
#[test]
fn two_nodes_on_one_file_write_in_turn_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let (mut a, space, inc) = office_in_a_flood(SqliteStore::open(&path).unwrap());
    let mut b = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let mut ids = Vec::new();
    for round in 0..5 {
        for (n, r) in [(&mut a, "R1"), (&mut b, "R2")] {
            let c = n
                .record_check(
                    &space,
                    &inc.id,
                    NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe),
                )
                .unwrap();
            ids.push(c.id);
            if round % 2 == 1 {
                n.flush_all().unwrap();
            }
        }
    }
    drop(a);
    drop(b);
    let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let key = DocKey::incident(&space, &inc.id);
    let mut in_doc: Vec<CheckId> = doc::checks(n.doc(&key).unwrap())
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    in_doc.sort();
    ids.sort();
    assert_eq!(in_doc, ids);
    let mut other = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut other, &mut n, std::slice::from_ref(&space)).unwrap();
    assert_eq!(other.checks(&space, &inc.id).unwrap().len(), 10);
}

/// A folder as two processes of earlier versions left it: the incident
/// stored with two different changes under one (actor, sequence
/// number). The next open repairs it, losing no check, and it syncs.
#[test]
fn a_folder_with_clashing_changes_is_repaired_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let (space, inc, key, device) = {
        let (mut n, space, inc) = office_in_a_flood(SqliteStore::open(&path).unwrap());
        n.flush_all().unwrap();
        let key = DocKey::incident(&space, &inc.id);
        (space, inc, key, n.device().clone())
    };
    // Two processes, each with the document as stored, each recording
    // one check and writing it as the device's next change.
    let mut store = SqliteStore::open(&path).unwrap();
    let bytes = store.load(&key).unwrap().unwrap().bytes();
    let actor = doc::actor_for(&device);
    let mut checks = Vec::new();
    for r in ["R1", "R2"] {
        let mut d = doc::load(&bytes, &actor).unwrap();
        let before = d.get_heads();
        let mut c = Check::sample(r, device.as_str());
        c.incident = inc.id.clone();
        doc::put_check(&mut d, &c).unwrap();
        let change = d.get_changes(&before)[0].raw_bytes().to_vec();
        let mut w = DocWrite::new(key.clone(), d.get_heads());
        w.changes = vec![change];
        w.index = vec![IndexOp::Check(c.clone())];
        store
            .write(Batch {
                docs: vec![w],
                ..Default::default()
            })
            .unwrap();
        checks.push(c);
    }
    drop(store);
    assert!(
        AutoCommit::load(
            &SqliteStore::open(&path)
                .unwrap()
                .load(&key)
                .unwrap()
                .unwrap()
                .bytes()
        )
        .is_err(),
        "the folder is broken as reported"
    );

    let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    // A new device met before anything here loaded the document is sent
    // it repaired, not the clashing stored form.
    let mut first = Node::open(MemoryStore::new()).unwrap();
    let x = sync_local(&mut first, &mut n, std::slice::from_ref(&space)).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    assert_eq!(first.checks(&space, &inc.id).unwrap().len(), 2);
    let c3 = n
        .record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
        )
        .unwrap();
    let mut other = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut other, &mut n, std::slice::from_ref(&space)).unwrap();
    let mut got: Vec<CheckId> = other
        .checks(&space, &inc.id)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    got.sort();
    let mut want: Vec<CheckId> = checks.iter().map(|c| c.id).chain([c3.id]).collect();
    want.sort();
    assert_eq!(got, want, "every check of both processes, and the new one");
    assert!(n.store().quarantined().unwrap().is_empty());
    assert!(
        n.audit_trail()
            .unwrap()
            .iter()
            .any(|e| e.record.detail.contains("repaired on open"))
    );
    drop(n);
    // It stays repaired: the stored form loads as it is.
    let store = SqliteStore::open(&path).unwrap();
    AutoCommit::load(&store.load(&key).unwrap().unwrap().bytes()).unwrap();
}

#[test]
fn only_documents_changed_by_another_process_are_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let mut a = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let space = a.create_space("ひまわり").unwrap().id;
    a.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
    let incident = a
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
        .unwrap();
    a.record_check(
        &space,
        &incident.id,
        NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
    )
    .unwrap();
    let cached = a.docs.len();
    // Nothing changed underneath: everything stays cached.
    a.reload_changed().unwrap();
    assert_eq!(a.docs.len(), cached);
    // Another process (another node on the same file) adds a recipient.
    let mut b = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    b.upsert_recipients(&space, vec![recipient("R2")]).unwrap();
    drop(b);
    a.reload_changed().unwrap();
    assert_eq!(a.docs.len(), cached - 1, "only the roster is dropped");
    let roster = doc::recipient_ids(a.doc(&DocKey::roster(&space)).unwrap()).unwrap();
    assert_eq!(roster.len(), 2);
}

/// Membership is read from the index (so that a handshake does not load a
/// roster of 50,000 recipients); it must say what the roster says after
/// every way the roster changes: founding, adding, revoking, a peer's
/// changes merged, and a rebuilt index.
#[test]
fn membership_from_the_index_is_what_the_roster_says() {
    fn from_roster(n: &mut Node, space: &SpaceId) -> Vec<(Member, MemberStanding)> {
        let d = n.doc(&DocKey::roster(space)).unwrap();
        membership::standing(space, &doc::ledger(d, space).unwrap())
    }
    let (mut office, space) = office();
    assert_eq!(
        office.members(&space).unwrap(),
        from_roster(&mut office, &space)
    );
    assert!(
        office
            .store()
            .meta(&crate::store::members_key(&space))
            .unwrap()
            .is_some(),
        "a new space's membership is indexed"
    );
    let mut phone = Node::open(SqliteStore::open_in_memory().unwrap()).unwrap();
    let lost = Node::open(MemoryStore::new()).unwrap();
    for d in [phone.device().clone(), lost.device().clone()] {
        office
            .add_member(&space, &d, Staff::default(), Role::CareManager)
            .unwrap();
    }
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    office.revoke_member(&space, lost.device()).unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    for n in [&mut office, &mut phone] {
        let indexed = n.members(&space).unwrap();
        assert_eq!(indexed, from_roster(n, &space));
        assert!(
            indexed
                .iter()
                .any(|(m, s)| &m.device == lost.device() && *s == MemberStanding::Revoked),
            "the revocation reached the index"
        );
    }
    // A stale index layout is rebuilt with the membership in it.
    let key = crate::store::members_key(&space);
    phone
        .locked(|n| {
            n.write(Batch {
                meta: vec![(INDEX_VERSION_KEY.into(), b"3".to_vec())],
                ..Default::default()
            })
        })
        .unwrap();
    phone.rebuild_stale_index().unwrap();
    assert!(phone.store().meta(&key).unwrap().is_some());
    assert_eq!(
        phone.members(&space).unwrap(),
        from_roster(&mut phone, &space)
    );
}

/// An office serving 50,000 recipients must not hold them as automerge
/// documents to tell a peer what it already knows (BENCHMARKS.md, issue
/// 18): a new device gets the stored documents as they are, a peer with
/// everything loads nothing, a phone's new check loads the incident only.
#[test]
fn sessions_load_only_the_documents_that_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("office.db");
    let (space, inc) = {
        let (mut n, space, inc) = office_in_a_flood(SqliteStore::open(&path).unwrap());
        n.record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
        )
        .unwrap();
        (space, inc.id)
    };
    let roster = DocKey::roster(&space);
    let incident = DocKey::incident(&space, &inc);
    let mut office = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    let x = sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    assert!(
        office.docs.is_empty(),
        "a new device's first sync loaded {:?}",
        office.docs.keys().collect::<Vec<_>>()
    );
    assert_eq!(phone.recipients(&space).unwrap().len(), 2);
    assert_eq!(phone.checks(&space, &inc).unwrap().len(), 1);
    assert_eq!(phone.heads().unwrap(), office.heads().unwrap());

    // Nothing new on either side: the office loads nothing.
    let x = sync_local(&mut phone, &mut office, &[]).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    assert!(office.docs.is_empty());
    // Nor when it opens the session.
    let x = sync_local(&mut office, &mut phone, &[]).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    assert!(office.docs.is_empty());

    // A check on the phone: the office loads the incident, not the roster.
    phone
        .record_check(
            &space,
            &inc,
            NewCheck::new("R2".into(), CheckMethod::Visit, CheckResult::Safe),
        )
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    assert_eq!(office.checks(&space, &inc).unwrap().len(), 2);
    assert!(office.docs.contains_key(&incident));
    assert!(!office.docs.contains_key(&roster));
    assert_eq!(phone.heads().unwrap(), office.heads().unwrap());

    // A second phone met for the first time, after the office moved on.
    let mut late = Node::open(MemoryStore::new()).unwrap();
    office.docs.clear();
    sync_local(&mut late, &mut office, std::slice::from_ref(&space)).unwrap();
    assert_eq!(late.checks(&space, &inc).unwrap().len(), 2);
    assert_eq!(late.heads().unwrap(), office.heads().unwrap());
}

/// A bulk edit whose changes would be far larger than the saved document
/// (a roster import) is stored as a snapshot: the stored form a new device
/// is sent stays near the saved size.
#[test]
fn a_large_import_is_stored_as_one_snapshot() {
    let mut n = Node::open(MemoryStore::new()).unwrap();
    let space = n.create_space("ひまわり").unwrap().id;
    let many: Vec<Recipient> = (0..6000)
        .map(|i| {
            let mut r = recipient(&format!("R{i:05}"));
            r.address = format!("東京都架空区一丁目{i}番地 ひまわり荘{i}号室");
            r.kana = format!("シケン リヨウシャ{i} ミナミマチ ヒマワリソウ");
            r
        })
        .collect();
    n.upsert_recipients(&space, many).unwrap();
    let info = n
        .store()
        .doc_info(&DocKey::roster(&space))
        .unwrap()
        .unwrap();
    assert_eq!(info.pending_changes, 0, "{info:?}");
    let stored = n.store().load(&DocKey::roster(&space)).unwrap().unwrap();
    assert!(stored.bytes().len() < COMPACT_AFTER_BYTES as usize);
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut phone, &mut n, std::slice::from_ref(&space)).unwrap();
    assert_eq!(phone.recipients(&space).unwrap().len(), 6000);
}

/// Each side says what it runs at every session; the other keeps it for
/// its device lists.
#[test]
fn devices_tell_each_other_what_they_run() {
    let (mut office, space) = office();
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    assert!(office.peer_versions().unwrap().is_empty());
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    assert_eq!(
        office.peer_versions().unwrap()[phone.device()],
        this_build()
    );
    assert_eq!(
        phone.peer_versions().unwrap()[office.device()],
        this_build()
    );
    let versions = office.device_versions().unwrap();
    assert_eq!(versions[office.device()], this_build());
    let label = version_label(versions.get(phone.device()), crate::codes::Lang::Ja);
    assert_eq!(
        label,
        format!(
            "anpi {}・データ形式 {}",
            env!("CARGO_PKG_VERSION"),
            doc::FORMAT_VERSION
        )
    );
    // An older phone is asked to update; one that never said shows nothing.
    let mut older = this_build();
    older.format = 1;
    let meta = office.version_noted(phone.device(), &older).unwrap();
    office
        .store
        .write(Batch {
            meta,
            ..Default::default()
        })
        .unwrap();
    let versions = office.device_versions().unwrap();
    assert!(
        version_label(versions.get(phone.device()), crate::codes::Lang::Ja)
            .contains("更新してください")
    );
    let stranger = DeviceId("ab".repeat(16));
    assert_eq!(
        version_label(versions.get(&stranger), crate::codes::Lang::Ja),
        ""
    );
}

/// A session is a provision of data to another device (the audit trail is
/// the record the law asks for): it is written before the first message
/// carrying data leaves, so a session that breaks off after sending still
/// shows what went to whom. Both sides: the one that opens with its
/// changes, and the one that answers with a whole roster.
#[test]
fn a_session_that_breaks_off_after_sending_leaves_its_provision_in_the_trail() {
    let (mut office, space) = office();
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    let provisions = |n: &Node, to: &Node| {
        n.audit_trail()
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.record.action == audit::Action::Shared
                    && e.record.subject.contains(&to.device().readable())
            })
            .map(|e| e.record.detail)
            .collect::<Vec<_>>()
    };
    // The phone asks for the space; the office answers with the roster,
    // and the answer never arrives.
    let (_, hello) = phone
        .sync_start(Some(office.device()), std::slice::from_ref(&space))
        .unwrap();
    let mut answering = office.sync_accept();
    let answer = office.sync_receive(&mut answering, hello).unwrap().unwrap();
    drop(answer);
    let sent = provisions(&office, &phone);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("sync: sending ") && sent[0].contains("/roster"),
        "{sent:?}"
    );
    // Once joined, the phone opens a session with a check of its own; it
    // breaks off as the hello leaves.
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    office
        .add_member(&space, phone.device(), Staff::default(), Role::CareManager)
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let inc = phone
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    phone
        .record_check(
            &space,
            &inc.id,
            crate::node::NewCheck::new(
                RecipientId("R1".into()),
                CheckMethod::Visit,
                CheckResult::Safe,
            ),
        )
        .unwrap();
    // The phone opens a session with the office; how many of its hello's
    // documents carry data. The hello is never delivered.
    let carried = |phone: &mut Node, office: &Node| {
        let (_, hello) = phone
            .sync_start_network(office.device(), BTreeSet::from([space.clone()]), false)
            .unwrap();
        hello
            .docs
            .iter()
            .filter(|d| !matches!(d.data, sync::Data::None))
            .count()
    };
    let before = provisions(&phone, &office).len();
    assert!(carried(&mut phone, &office) > 0);
    let sent = provisions(&phone, &office);
    assert_eq!(sent.len(), before + 1, "{sent:?}");
    assert!(sent.last().unwrap().contains("/incident/"), "{sent:?}");
    // A session with nothing to send records no provision at its start.
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let settled = provisions(&phone, &office).len();
    assert_eq!(carried(&mut phone, &office), 0);
    assert_eq!(provisions(&phone, &office).len(), settled);
}

/// A new phone on SQLite takes a roster and an incident whole, as the
/// office stores them (a snapshot, and changes after it): the rows read
/// from their saved forms and written while the roster loads are what the
/// office shows, and what the phone's index rebuilt from its documents
/// holds.
#[test]
fn a_new_phone_indexes_whole_documents_as_the_office_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut office, space, inc) =
        office_in_a_flood(SqliteStore::open(&dir.path().join("office.db")).unwrap());
    office
        .upsert_recipients(
            &space,
            (3..60).map(|i| recipient(&format!("R{i}"))).collect(),
        )
        .unwrap();
    let check = |r: String| NewCheck::new(RecipientId(r), CheckMethod::Phone, CheckResult::Safe);
    for i in 1..41 {
        office
            .record_check(&space, &inc.id, check(format!("R{i}")))
            .unwrap();
    }
    let roster = DocKey::roster(&space);
    let incident = DocKey::incident(&space, &inc.id);
    office.compact(&roster).unwrap();
    office.compact(&incident).unwrap();
    // After the snapshots: an edit and a check, stored as changes.
    let mut r1 = recipient("R1");
    r1.phone = "090-1111-1111".into();
    office.upsert_recipients(&space, vec![r1]).unwrap();
    office
        .record_check(&space, &inc.id, check("R50".into()))
        .unwrap();
    office.flush_all().unwrap();
    for key in [&roster, &incident] {
        let stored = office.store().load(key).unwrap().unwrap();
        assert!(stored.snapshot.is_some() && !stored.changes.is_empty());
    }

    let shown = |n: &Node| {
        let mut checks = n.checks(&space, &inc.id).unwrap();
        checks.sort_by_key(|c| c.id);
        (n.recipients(&space).unwrap(), checks)
    };
    let path = dir.path().join("phone.db");
    let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let before = whole::STAGED.with(std::cell::Cell::get);
    let x = sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    assert_eq!(whole::STAGED.with(std::cell::Cell::get), before + 2);
    let office_shows = shown(&office);
    assert_eq!(office_shows.0.len(), 59);
    assert_eq!(office_shows.1.len(), 41);
    assert_eq!(shown(&phone), office_shows);
    assert_eq!(phone.heads().unwrap(), office.heads().unwrap());
    drop(phone);

    assert_eq!(shown(&with_index_rebuilt(&path)), office_shows);
}

/// Issue 22, faults: the phone's storage fills up mid-shift. A check that
/// cannot be saved is an error that says so (`Error::Full`), and is not
/// there afterwards — not in the list, not coming back with a later write
/// or sync; every check saved before is; a session that brings changes
/// fails whole and brings them again once there is room; the database
/// passes `PRAGMA integrity_check` throughout.
#[test]
fn a_full_disk_refuses_a_write_whole_and_loses_nothing_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let (mut office, space, inc) = office_in_a_flood(MemoryStore::new());
    let check = |r: &str| NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe);
    let ids = |n: &Node| check_ids(n, &space, &inc.id);
    let mut saved = BTreeSet::new();
    {
        let mut phone = member_on(
            SqliteStore::open(&path).unwrap(),
            &mut office,
            &space,
            Role::CareManager,
        );
        for _ in 0..3 {
            saved.insert(phone.record_check(&space, &inc.id, check("R1")).unwrap().id);
        }
    }

    // Reopened on a disk with room for a few pages more.
    let store = SqliteStore::open(&path).unwrap();
    store.limit_growth_for_test(Some(4)).unwrap();
    let mut phone = Node::open(store).unwrap();
    // Record until the disk is full: the error.
    let fill = |phone: &mut Node, saved: &mut BTreeSet<CheckId>| -> Error {
        for n in 0..5_000 {
            let r = if n % 2 == 0 { "R1" } else { "R2" };
            match phone.record_check(&space, &inc.id, check(r)) {
                Ok(c) => {
                    saved.insert(c.id);
                }
                Err(e) => return e,
            }
        }
        panic!("the disk never filled up");
    };
    // What the document itself holds, not only the list (its index).
    let in_document = |phone: &mut Node| -> BTreeSet<CheckId> {
        let key = DocKey::incident(&space, &inc.id);
        let d = crate::sync::load_document(&phone.saved_document(&key).unwrap()).unwrap();
        doc::checks(&d).unwrap().iter().map(|c| c.id).collect()
    };
    let e = fill(&mut phone, &mut saved);
    assert!(matches!(e, Error::Full), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(e.to_string().contains("nothing of this was saved"), "{e}");
    assert_eq!(ids(&phone), saved, "the refused check is not there");
    // Room for one more write: the refused check does not come back with it.
    phone.store().limit_growth_for_test(Some(64)).unwrap();
    saved.insert(phone.record_check(&space, &inc.id, check("R1")).unwrap().id);
    phone.flush_all().unwrap();
    assert_eq!(ids(&phone), saved, "the refused check stays out");
    assert_eq!(in_document(&mut phone), saved, "of the document too");
    let mut phone = {
        drop(phone);
        let store = SqliteStore::open(&path).unwrap();
        store.limit_growth_for_test(Some(0)).unwrap();
        Node::open(store).unwrap()
    };
    assert_eq!(ids(&phone), saved, "and out after a restart");
    // Full again (a restart frees a few pages): a session that brings the
    // office's checks fails too.
    assert!(matches!(fill(&mut phone, &mut saved), Error::Full));
    let mut from_office = BTreeSet::new();
    for _ in 0..30 {
        from_office.insert(
            office
                .record_check(&space, &inc.id, check("R2"))
                .unwrap()
                .id,
        );
    }
    let session = sync_local(&mut phone, &mut office, &[]);
    assert!(
        session.is_err(),
        "a session whose changes cannot be saved fails"
    );
    assert_eq!(ids(&phone), saved, "nothing of the session is half there");
    assert!(
        ids(&office).is_superset(&saved),
        "what the phone had saved reached the office (it went out before)"
    );
    drop(phone);

    // Room again: everything saved is there, the refused check is not, the
    // session brings what failed, and recording goes on.
    let store = SqliteStore::open(&path).unwrap();
    store.integrity_check().unwrap();
    let mut phone = Node::open(store).unwrap();
    assert_eq!(ids(&phone), saved);
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let all: BTreeSet<CheckId> = saved.union(&from_office).copied().collect();
    assert_eq!(ids(&phone), all);
    assert_eq!(ids(&office), all);
    phone.record_check(&space, &inc.id, check("R1")).unwrap();
    drop(phone);
    SqliteStore::open(&path).unwrap().integrity_check().unwrap();
}

/// Issue 22, faults: a device killed after it saved a peer's message and
/// before its answer left — at each message of a session, the office's
/// side and the phone's, both on SQLite files. What the victim saved is
/// there when it opens again, its store is sound, and the next session
/// brings the rest: nothing recorded on either side is lost.
#[test]
fn a_device_killed_between_saving_a_message_and_answering_it_loses_nothing() {
    let check = |r: &str| NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe);
    let mut kills = 0;
    for office_dies in [false, true] {
        for kill_at in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let (office_path, phone_path) = (dir.path().join("o.db"), dir.path().join("p.db"));
            let (mut office, space, inc) =
                office_in_a_flood(SqliteStore::open(&office_path).unwrap());
            let mut phone = member_on(
                SqliteStore::open(&phone_path).unwrap(),
                &mut office,
                &space,
                Role::CareManager,
            );
            let mut recorded = BTreeSet::new();
            for n in 0..15 {
                let r = if n % 2 == 0 { "R1" } else { "R2" };
                recorded.insert(office.record_check(&space, &inc.id, check(r)).unwrap().id);
            }
            for _ in 0..10 {
                recorded.insert(phone.record_check(&space, &inc.id, check("R1")).unwrap().id);
            }
            let ids = |n: &Node| check_ids(n, &space, &inc.id);

            // A session until the victim has saved its `kill_at`-th message.
            let (mut at_phone, hello) = phone.sync_start(Some(office.device()), &[]).unwrap();
            let mut at_office = office.sync_accept();
            let (mut to_office, mut to_phone) = (Some(hello), None);
            let mut seen = 0;
            let mut killed = false;
            for _ in 0..64 {
                let (victim, reply) = if let Some(m) = to_office.take() {
                    let r = office.sync_receive(&mut at_office, m).unwrap();
                    (office_dies, r)
                } else if let Some(m) = to_phone.take() {
                    let r = phone.sync_receive(&mut at_phone, m).unwrap();
                    (!office_dies, r)
                } else {
                    break;
                };
                if victim {
                    if seen == kill_at {
                        // Killed: the answer never leaves.
                        killed = true;
                        break;
                    }
                    seen += 1;
                }
                if office_dies == victim {
                    to_phone = reply;
                } else {
                    to_office = reply;
                }
            }
            if !killed {
                continue;
            }
            kills += 1;
            let (victim, path) = if office_dies {
                (&mut office, &office_path)
            } else {
                (&mut phone, &phone_path)
            };
            let saved = ids(victim);
            if kill_at == 0 {
                // The first message carried everything the victim lacked.
                assert_eq!(saved, recorded, "{office_dies}: saved before it answered");
            }
            // No flush, no destructor: what it had not saved is gone.
            let dead = std::mem::replace(
                victim,
                Node::open(SqliteStore::open(path).unwrap()).unwrap(),
            );
            std::mem::forget(dead);
            SqliteStore::open(path).unwrap().integrity_check().unwrap();
            assert_eq!(ids(victim), saved, "{office_dies} {kill_at}: what it saved");
            sync_local(&mut phone, &mut office, &[]).unwrap();
            assert_eq!(
                ids(&office),
                recorded,
                "{office_dies} {kill_at}: at the office"
            );
            assert_eq!(
                ids(&phone),
                recorded,
                "{office_dies} {kill_at}: at the phone"
            );
            assert_eq!(office.heads().unwrap(), phone.heads().unwrap());
        }
    }
    assert!(kills >= 2, "a kill on each side: {kills}");
}

/// A change made of the journal a crash left is sealed as any flush is:
/// the device keeps its seal over it, so that what it sends (automerge's
/// protocol sends the seals kept) and what others pass on of it is
/// covered. Before, the seal kept was the one before it, and a device
/// passing the change on had none for it (the simulator, devices killed
/// mid-session, small world seed 11).
#[test]
fn a_change_made_of_a_journal_after_a_crash_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let (mut office, space, inc) = office_in_a_flood(MemoryStore::new());
    let mut phone = member_on(
        SqliteStore::open(&path).unwrap(),
        &mut office,
        &space,
        Role::CareManager,
    );
    let check = NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe);
    phone.record_check(&space, &inc.id, check.clone()).unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    phone.record_check(&space, &inc.id, check).unwrap();
    // A crash: no flush, no destructor; the journal holds the check.
    std::mem::forget(phone);
    let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    // The office comes to it: the document is first loaded under the
    // lock as its message is taken, and the journal written then.
    sync_local(&mut office, &mut phone, &[]).unwrap();
    let key = DocKey::incident(&space, &inc.id);
    let me = phone.device().clone();
    let latest = phone
        .doc(&key)
        .unwrap()
        .get_changes(&[])
        .into_iter()
        .filter(|c| crate::seal::author_of(c.actor_id()).as_ref() == Some(&me))
        .max_by_key(|c| c.seq())
        .unwrap()
        .hash();
    let kept: Vec<_> = phone
        .stored_seals(&key)
        .unwrap()
        .into_iter()
        .filter(|s| s.signer() == me)
        .map(|s| s.hashes)
        .collect();
    assert_eq!(
        kept,
        vec![vec![latest.0]],
        "its seal is over the change the journal made"
    );
}
