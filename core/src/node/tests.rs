use super::*;
use crate::model::{Household, RecipientId};
use crate::store::{MemoryStore, SqliteStore};

fn recipient(id: &str) -> Recipient {
    Recipient {
        id: RecipientId(id.into()),
        name: format!("利用者{id}"),
        household: Some(Household::Alone),
        ..Default::default()
    }
}

fn office() -> (Node, SpaceId) {
    let mut n = Node::open(MemoryStore::new()).unwrap();
    let space = n.create_space("ひまわり").unwrap().id;
    n.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
        .unwrap();
    (n, space)
}

#[test]
fn a_page_read_and_a_form_2_export_each_leave_an_audit_entry() {
    let (mut n, space) = office();
    let incident = n
        .start_incident(&space, IncidentKind::Earthquake, "地震", Timestamp::now())
        .unwrap();
    n.end_incident(&space, &incident.id, Timestamp::now())
        .unwrap();
    let page = n.recipient_page(&space, &"R1".into()).unwrap();
    // After the end, the page and the form show the last incident.
    assert_eq!(page.incident.unwrap().id, incident.id);
    let form = n
        .export_form2(
            &space,
            form2::Format::Csv(form2::CsvEncoding::Utf8Bom),
            form2::GroupBy::Area,
            "/media/usb/form2.csv",
            Timestamp::now(),
        )
        .unwrap();
    assert!(form.logged && page.logged);
    assert_eq!(form.incident.unwrap().id, incident.id);
    assert!(String::from_utf8_lossy(&form.bytes).contains("R1"));
    let trail = n.audit_trail().unwrap();
    let entry = |action: audit::Action, subject: &str| {
        trail
            .iter()
            .find(|e| e.record.action == action && e.record.subject == subject)
            .map(|e| e.record.detail.clone())
    };
    assert!(entry(audit::Action::Viewed, "R1").is_some(), "{trail:?}");
    assert_eq!(
        entry(audit::Action::Exported, "form 2").as_deref(),
        Some("CSV to /media/usb/form2.csv")
    );
}

/// An office whose R1 consented to sharing, and an area space.
fn office_with_area() -> (Node, SpaceId, SpaceId) {
    use crate::model::{ConsentRecord, Date};
    let (mut n, office) = office();
    let mut r1 = recipient("R1");
    r1.consent = Some(true);
    r1.consent_record = Some(ConsentRecord {
        date: Date::from_ymd(2026, 4, 1).unwrap(),
        scope: "安否確認のため連携先へ".into(),
        obtained_by: "佐藤".into(),
    });
    n.upsert_recipients(&office, vec![r1]).unwrap();
    let area = n.create_space("東地区連携").unwrap().id;
    (n, office, area)
}

#[test]
fn reimporting_the_same_roster_changes_nothing() {
    let (mut n, space) = office();
    let heads = n.heads().unwrap();
    let counts = n
        .upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
        .unwrap();
    assert_eq!(
        counts,
        ImportCounts {
            added: 0,
            updated: 0,
            unchanged: 2
        }
    );
    assert_eq!(n.heads().unwrap(), heads);
    let mut changed = recipient("R2");
    changed.phone = "03-1234-5678".into();
    let counts = n
        .upsert_recipients(&space, vec![changed, recipient("R3")])
        .unwrap();
    assert_eq!(
        counts,
        ImportCounts {
            added: 1,
            updated: 1,
            unchanged: 0
        }
    );
}

#[test]
fn an_import_keeps_a_manual_priority() {
    let (mut n, space) = office();
    let o = PriorityOverride {
        score: 999,
        reason: "退院直後".into(),
        by: "佐藤".into(),
        at: Timestamp::from_millis(0),
    };
    n.set_priority_override(&space, &"R1".into(), Some(o.clone()))
        .unwrap();
    n.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
    let r = n.recipient(&space, &"R1".into()).unwrap().recipient;
    assert_eq!(r.priority_override, Some(o));
}

#[test]
fn checks_need_an_open_incident_a_known_recipient_and_a_real_correction() {
    let (mut n, space) = office();
    let inc = n
        .start_incident(
            &space,
            IncidentKind::Flood,
            "大雨",
            Timestamp::from_millis(0),
        )
        .unwrap();
    let unknown = n.record_check(
        &space,
        &inc.id,
        NewCheck::new("R9".into(), CheckMethod::Phone, CheckResult::Safe),
    );
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
    let mut bad_fix = NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe);
    bad_fix.supersedes = Some(CheckId::new());
    assert!(n.record_check(&space, &inc.id, bad_fix).is_err());
    let first = n
        .record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Unreachable),
        )
        .unwrap();
    let mut fix = NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe);
    fix.supersedes = Some(first.id);
    let second = n.record_check(&space, &inc.id, fix).unwrap();
    assert_eq!(
        second.known,
        vec![first.id],
        "the device knew the first check"
    );
    n.end_incident(&space, &inc.id, Timestamp::from_millis(10))
        .unwrap();
    let closed = n.record_check(
        &space,
        &inc.id,
        NewCheck::new("R2".into(), CheckMethod::Phone, CheckResult::Safe),
    );
    assert!(matches!(closed, Err(Error::Invalid(_))), "{closed:?}");
    assert_eq!(n.checks(&space, &inc.id).unwrap().len(), 2);
}

#[test]
fn claims_expire_and_are_released() {
    let (mut n, space) = office();
    let t0 = Timestamp::from_millis(0);
    let inc = n
        .start_incident(&space, IncidentKind::Earthquake, "", t0)
        .unwrap();
    let c = n.claim(&space, &inc.id, &"R1".into(), 30, t0).unwrap();
    assert!(c.is_live(t0.plus_minutes(29)));
    assert!(!c.is_live(t0.plus_minutes(30)));
    assert!(n.release(&space, &inc.id, &"R1".into()).unwrap());
    assert!(!n.release(&space, &inc.id, &"R1".into()).unwrap());
    assert!(
        n.incident_data(&space, Some(&inc.id))
            .unwrap()
            .claims
            .is_empty()
    );
}

#[test]
fn a_claim_is_bounded_and_no_input_panics() {
    let (mut n, space) = office();
    let t0 = Timestamp::now();
    let inc = n
        .start_incident(&space, IncidentKind::Earthquake, "", t0)
        .unwrap();
    for minutes in [
        0,
        -5,
        721,
        99_999_999_999,
        5_000_000_000_000,
        i64::MAX,
        i64::MIN,
    ] {
        let r = n.claim(&space, &inc.id, &"R1".into(), minutes, t0);
        assert!(matches!(r, Err(Error::Invalid(_))), "{minutes}: {r:?}");
    }
    let c = n
        .claim(
            &space,
            &inc.id,
            &"R1".into(),
            crate::model::MAX_CLAIM_MINUTES,
            t0,
        )
        .unwrap();
    assert_eq!(c.expires, t0.plus_minutes(720));
    // The ends of time saturate rather than panic.
    assert!(t0.plus_minutes(i64::MAX) > t0);
    assert!(t0.plus_minutes(i64::MIN) < t0);
}

#[test]
fn a_check_by_the_claiming_device_ends_its_claim_everywhere() {
    let (mut office, space) = office();
    let t0 = Timestamp::now();
    let inc = office
        .start_incident(&space, IncidentKind::Earthquake, "", t0)
        .unwrap();
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    phone.claim(&space, &inc.id, &"R1".into(), 60, t0).unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let live = |n: &Node| {
        let d = n.incident_data(&space, Some(&inc.id)).unwrap();
        d.priority_list(t0.plus_minutes(1))
            .iter()
            .find(|e| e.recipient.id.as_str() == "R1")
            .unwrap()
            .live_claims
            .len()
    };
    assert_eq!(live(&office), 1);
    phone
        .record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
        )
        .unwrap();
    assert_eq!(live(&phone), 0);
    sync_local(&mut phone, &mut office, &[]).unwrap();
    assert_eq!(live(&office), 0, "the claim ended with the visit");
    assert!(
        office
            .incident_data(&space, Some(&inc.id))
            .unwrap()
            .claims
            .is_empty()
    );
}

/// A phone whose clock runs a year ahead claims R1 for an hour. On the
/// office the claim holds for that hour from when it arrived, not for
/// a year, and does not mark later visits as made despite a claim.
#[test]
fn a_claim_from_a_clock_a_year_ahead_is_judged_by_the_receiving_clock() {
    let (mut office, space) = office();
    let now = Timestamp::now();
    let inc = office
        .start_incident(&space, IncidentKind::Earthquake, "", now)
        .unwrap();
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    let ahead = now.plus_minutes(365 * 24 * 60);
    phone
        .claim(&space, &inc.id, &"R1".into(), 60, ahead)
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let claims = office.incident_data(&space, Some(&inc.id)).unwrap().claims;
    assert_eq!(claims.len(), 1);
    assert!(claims[0].expires <= Timestamp::now().plus_minutes(60));
    let data = office.incident_data(&space, Some(&inc.id)).unwrap();
    let later = now.plus_minutes(120);
    let list = data.priority_list(later);
    assert!(list.iter().all(|e| e.live_claims.is_empty()));
    let mut visit = NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe);
    visit.at = later;
    let c = office.record_check(&space, &inc.id, visit).unwrap();
    assert!(c.known_claims.is_empty(), "{:?}", c.known_claims);
}

#[test]
fn a_revoked_devices_claims_count_for_nothing() {
    let (mut office, space) = office();
    let now = Timestamp::now();
    let inc = office
        .start_incident(&space, IncidentKind::Earthquake, "", now)
        .unwrap();
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    office
        .add_member(&space, phone.device(), Staff::default(), Role::CareManager)
        .unwrap();
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    phone
        .claim(&space, &inc.id, &"R1".into(), 600, now)
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    assert_eq!(
        office
            .incident_data(&space, Some(&inc.id))
            .unwrap()
            .claims
            .len(),
        1
    );
    let lost = phone.device().clone();
    office.revoke_member(&space, &lost).unwrap();
    assert!(
        office
            .incident_data(&space, Some(&inc.id))
            .unwrap()
            .claims
            .is_empty()
    );
    let c = office
        .record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
        )
        .unwrap();
    assert!(c.known_claims.is_empty());
    // Also on a device that learns of the revocation by syncing.
    let mut other = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut other, &mut office, std::slice::from_ref(&space)).unwrap();
    assert!(
        other
            .incident_data(&space, Some(&inc.id))
            .unwrap()
            .claims
            .is_empty()
    );
}

/// An aftershock after a mistaken end, the same day: starting again
/// opens the incident (the next round), and checks can be recorded.
/// Two devices that reopen it offline converge on one round; an end
/// made unaware of a reopening does not close it again.
#[test]
fn an_ended_incident_started_again_the_same_day_is_open_again() {
    let (mut office, space) = office();
    let t = Timestamp::now();
    let (inc, how) = office
        .open_incident_for(&space, IncidentKind::Earthquake, "地震", t)
        .unwrap();
    assert_eq!(how, Started::New);
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    assert_eq!(
        phone
            .open_incident_for(&space, IncidentKind::Earthquake, "", t)
            .unwrap()
            .1,
        Started::Joined
    );
    // A third device that will hear of nothing until the end.
    let mut late = Node::open(MemoryStore::new()).unwrap();
    sync_local(&mut late, &mut office, std::slice::from_ref(&space)).unwrap();
    office.end_incident(&space, &inc.id, t).unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    assert!(phone.open_incident(&space).unwrap().is_none());
    // Both reopen, offline.
    let (again, how) = office
        .open_incident_for(&space, IncidentKind::Earthquake, "余震", t.plus_minutes(30))
        .unwrap();
    assert_eq!(
        (how, again.round, again.id.clone()),
        (Started::Reopened, 1, inc.id.clone())
    );
    assert!(again.is_open());
    assert_eq!(again.name, "余震");
    let (p, how) = phone
        .open_incident_for(&space, IncidentKind::Earthquake, "", t.plus_minutes(31))
        .unwrap();
    assert_eq!((how, p.round), (Started::Reopened, 1));
    office
        .record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Injured),
        )
        .unwrap();
    // The third device, which saw neither the end nor the reopening,
    // ends the incident as it knows it (round 0).
    sync_local(&mut phone, &mut office, &[]).unwrap();
    late.end_incident(&space, &inc.id, t.plus_minutes(40))
        .unwrap();
    sync_local(&mut late, &mut office, &[]).unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    for n in [&office, &phone, &late] {
        let i = n.open_incident(&space).unwrap().expect("open everywhere");
        assert_eq!((i.round, i.name.as_str()), (1, "余震"));
    }
    // Ending it now ends round 1 everywhere.
    phone
        .end_incident(&space, &inc.id, t.plus_minutes(50))
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    assert!(office.open_incident(&space).unwrap().is_none());
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
    let mut s = SqliteStore::open(&path).unwrap();
    s.write(Batch {
        meta: vec![(INDEX_VERSION_KEY.into(), b"0".to_vec())],
        ..Default::default()
    })
    .unwrap();
    s.drop_index_for_test().unwrap();
    let n = Node::open(s).unwrap();
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

#[test]
fn only_consented_recipients_reach_an_area_space_outside_an_exception() {
    let (mut n, office, area) = office_with_area();
    let mut r2 = recipient("R2");
    r2.name = "同意なし 太郎".into();
    r2.consent = Some(false);
    n.upsert_recipients(&office, vec![r2]).unwrap();

    let report = n.share_to_area(&office, &area).unwrap();
    assert_eq!((report.with_consent, report.withheld), (1, 1));
    let shared: Vec<String> = n
        .recipients(&area)
        .unwrap()
        .into_iter()
        .map(|r| r.recipient.name)
        .collect();
    assert_eq!(shared, ["利用者R1"]);
    // Not a byte of the withheld recipient in the area's documents.
    for key in n
        .documents()
        .unwrap()
        .into_iter()
        .filter(|k| k.space == area)
    {
        let bytes = n.saved_document(&key).unwrap();
        let name = "同意なし 太郎".as_bytes();
        assert!(!bytes.windows(name.len()).any(|w| w == name));
    }
    // A declared exception lets the others through, visibly.
    n.declare_exception(&office, &area, 72, "震度6強、安否不明者多数")
        .unwrap();
    let report = n.share_to_area(&office, &area).unwrap();
    assert_eq!(report.under_exception, 1);
    assert_eq!(n.recipients(&area).unwrap().len(), 2);
    assert_eq!(n.exceptions(&area).unwrap().len(), 1);
    let trail = n.audit_trail().unwrap();
    assert!(trail.iter().any(
        |e| e.record.action == audit::Action::Shared && e.record.detail.contains("1 withheld")
    ));
    assert!(
        trail
            .iter()
            .any(|e| e.record.subject.starts_with("disaster exception"))
    );
}

#[test]
fn a_withdrawn_consent_takes_the_record_out_of_the_area_at_the_next_share() {
    let (mut n, office, area) = office_with_area();
    let before = n.share_to_area(&office, &area).unwrap();
    assert_eq!(n.recipients(&area).unwrap().len(), 1);

    n.record_consent(&office, &RecipientId("R1".into()), None)
        .unwrap();
    let report = n.share_to_area(&office, &area).unwrap();
    assert_eq!((report.withheld, report.removed), (before.withheld + 1, 1));
    assert!(n.recipients(&area).unwrap().is_empty());
    // Also after reopening (the index and the document agree).
    let key = DocKey::roster(&area);
    let doc = AutoCommit::load(&n.saved_document(&key).unwrap()).unwrap();
    assert!(doc::recipient_ids(&doc).unwrap().is_empty());
    assert!(
        n.audit_trail()
            .unwrap()
            .iter()
            .any(|e| e.record.detail.contains("1 removed (consent withdrawn)"))
    );
}

#[test]
fn checks_partners_made_in_the_area_come_into_the_office_list_once() {
    let (mut n, office, area) = office_with_area();
    n.share_to_area(&office, &area).unwrap();
    let at = Timestamp::now();
    let own = n
        .start_incident(&office, IncidentKind::Earthquake, "地震", at)
        .unwrap();
    let shared = n
        .start_incident(&area, IncidentKind::Earthquake, "地震", at)
        .unwrap();
    // A partner's visit to the shared record (its staff and organisation).
    let copy = sharing::shared_id(&office, &RecipientId("R1".into()));
    let mut visit = NewCheck::new(copy, CheckMethod::Visit, CheckResult::Safe);
    visit.staff = Some(Staff {
        name: "見守り 一郎".into(),
        organisation: "あおば訪問看護".into(),
    });
    let partner = n.record_check(&area, &shared.id, visit).unwrap();

    let report = n.collect_area_checks(&office, &area).unwrap();
    assert_eq!((report.collected, report.already), (1, 0));
    let checks = n.checks(&office, &own.id).unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].id, partner.id);
    assert_eq!(checks[0].recipient.as_str(), "R1");
    assert_eq!(checks[0].staff.organisation, "あおば訪問看護");
    let again = n.collect_area_checks(&office, &area).unwrap();
    assert_eq!((again.collected, again.already), (0, 1));
    assert_eq!(n.checks(&office, &own.id).unwrap().len(), 1);
}

#[test]
fn an_incident_started_either_side_of_midnight_merges_into_one() {
    let (mut n, space) = office();
    let before = Timestamp::from_millis(1_763_736_600_000); // 2025-11-21 23:50 JST
    let after = before.plus_minutes(20); // 00:10 the next day
    let late = n
        .start_incident(&space, IncidentKind::Earthquake, "地震", before)
        .unwrap();
    let early = n
        .start_incident(&space, IncidentKind::Earthquake, "地震", after)
        .unwrap();
    assert_ne!(late.id, early.id);
    let a = n
        .record_check(
            &space,
            &late.id,
            NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
        )
        .unwrap();
    n.record_check(
        &space,
        &early.id,
        NewCheck::new("R2".into(), CheckMethod::Phone, CheckResult::Absent),
    )
    .unwrap();

    let report = n.merge_incidents(&space, &late.id, &early.id).unwrap();
    assert_eq!((report.collected, report.already), (1, 0));
    let merged = n.checks(&space, &early.id).unwrap();
    assert_eq!(merged.len(), 2);
    assert!(
        merged
            .iter()
            .any(|c| c.id == a.id && c.incident == early.id)
    );
    assert!(!n.incident(&space, &late.id).unwrap().is_open());
    assert_eq!(n.open_incident(&space).unwrap().unwrap().id, early.id);
    let again = n.merge_incidents(&space, &late.id, &early.id).unwrap();
    assert_eq!((again.collected, again.already), (0, 1));
    assert!(n.merge_incidents(&space, &early.id, &late.id).is_err());
}

/// Two nodes on one file, as two processes are: each records while the
/// other holds the incident in memory. Before the write lock, each
/// flushed "its" next change of the device and the document never
/// loaded again ("duplicate seq").
#[test]
fn two_nodes_on_one_file_write_in_turn_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anpi.db");
    let mut a = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let space = a.create_space("ひまわり").unwrap().id;
    a.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
        .unwrap();
    let inc = a
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
        .unwrap();
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
        let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let space = n.create_space("ひまわり").unwrap().id;
        n.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
            .unwrap();
        let inc = n
            .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
            .unwrap();
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
