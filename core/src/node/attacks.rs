//! Issue 20: a member gone bad, as a process running modified code that
//! writes into the documents whatever automerge accepts, then syncs with
//! honest devices. Each test names the promise of docs/SECURITY.md it
//! holds.

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};

use super::tests::{member_of, office, recipient};
use super::*;
use crate::model::StaffId;
use crate::seal::Seal;
use crate::store::MemoryStore;

fn standing_of(n: &mut Node, space: &SpaceId, d: &DeviceId) -> Option<MemberStanding> {
    n.members(space)
        .unwrap()
        .into_iter()
        .find(|(m, s)| &m.device == d && *s != MemberStanding::BadSignature)
        .map(|(_, s)| s)
}

/// Issue 20, 3: a member writes a number where the members map is and a
/// founding of its own. The office refuses those changes (and says so in
/// its audit trail), keeps syncing with everyone, and even a device that
/// took them — an older build passing them on — still reads who belongs.
#[test]
fn a_member_rewriting_the_roster_root_or_founding_stops_nothing() {
    let (mut office, space) = office();
    let mut rogue = member_of(&mut office, &space, Role::CareManager);
    let mut carer = member_of(&mut office, &space, Role::CareManager);
    let key = DocKey::roster(&space);
    let (_, other_founding) = Founding::new(&Identity::generate().unwrap()).unwrap();
    rogue
        .tamper(&key, |d| {
            d.put(ROOT, "members", 7).unwrap();
            let space_map = match d.get(ROOT, "space").unwrap() {
                Some((_, id)) => id,
                None => panic!("a space map"),
            };
            d.put(
                &space_map,
                "founding",
                serde_json::to_string(&other_founding).unwrap(),
            )
            .unwrap();
        })
        .unwrap();
    let got = sync_local(&mut office, &mut rogue, std::slice::from_ref(&space)).unwrap();
    assert!(got.initiator.changes_refused > 0, "{got:?}");
    assert!(
        office
            .audit_trail()
            .unwrap()
            .iter()
            .any(|e| e.record.action == audit::Action::Refused)
    );
    // Everyone still belongs, and the office syncs with the others.
    for d in [office.device().clone(), carer.device().clone()] {
        assert_eq!(
            standing_of(&mut office, &space, &d),
            Some(MemberStanding::Active)
        );
    }
    office
        .upsert_recipients(&space, vec![recipient("R9")])
        .unwrap();
    sync_local(&mut carer, &mut office, std::slice::from_ref(&space)).unwrap();
    assert!(carer.recipient(&space, &RecipientId("R9".into())).is_ok());
    // The rogue's own copy holds the damage and still reads.
    let rogue_id = rogue.device().clone();
    assert_eq!(
        standing_of(&mut rogue, &space, &rogue_id),
        Some(MemberStanding::Active)
    );
    let d = rogue.doc(&key).unwrap();
    let ledger = doc::ledger(d, &space).unwrap();
    assert_eq!(
        ledger.founding.and_then(|f| f.space_id()),
        Some(space.clone())
    );
}

/// Issue 20, 1: a revoked phone's old signed entry written again into the
/// members register, and the revocation deleted from the statements, by a
/// member who held them. Neither reaches anyone, and a new device that
/// takes the whole roster from the attacker still sees the revocation.
#[test]
fn a_revoked_phone_cannot_be_written_back() {
    let (mut office, space) = office();
    let mut insider = member_of(&mut office, &space, Role::CareManager);
    let lost = member_of(&mut office, &space, Role::CareManager);
    let key = DocKey::roster(&space);
    // The lost phone's entry as it was before the revocation.
    let old_entry = {
        let d = office.doc(&key).unwrap();
        let members = d.get(ROOT, "members").unwrap().unwrap().1;
        match d.get(&members, lost.device().as_str()).unwrap() {
            Some((automerge::Value::Scalar(s), _)) => s.as_str().unwrap().to_string(),
            _ => panic!("an entry"),
        }
    };
    office.revoke_member(&space, lost.device()).unwrap();
    sync_local(&mut insider, &mut office, std::slice::from_ref(&space)).unwrap();
    let lost_id = lost.device().clone();
    insider
        .tamper(&key, |d| {
            let members = d.get(ROOT, "members").unwrap().unwrap().1;
            d.put(&members, lost_id.as_str(), old_entry.as_str())
                .unwrap();
            let statements = d.get(ROOT, "statements").unwrap().unwrap().1;
            let keys: Vec<String> = d.keys(&statements).collect();
            for k in keys {
                d.delete(&statements, k.as_str()).unwrap();
            }
        })
        .unwrap();
    assert_eq!(
        standing_of(&mut office, &space, &lost_id),
        Some(MemberStanding::Revoked)
    );
    let got = sync_local(&mut office, &mut insider, std::slice::from_ref(&space)).unwrap();
    assert!(got.initiator.changes_refused > 0);
    assert_eq!(
        standing_of(&mut office, &space, &lost_id),
        Some(MemberStanding::Revoked)
    );
    // A device enrolled by the office that meets the attacker first.
    let mut fresh = Node::open(MemoryStore::new()).unwrap();
    office
        .add_member(
            &space,
            &fresh.device().clone(),
            Staff::default(),
            Role::CareManager,
        )
        .unwrap();
    sync_local(&mut insider, &mut office, std::slice::from_ref(&space)).unwrap();
    let got = sync_local(&mut fresh, &mut insider, std::slice::from_ref(&space)).unwrap();
    assert!(got.initiator.changes_refused > 0, "{got:?}");
    assert_eq!(
        standing_of(&mut fresh, &space, &lost_id),
        Some(MemberStanding::Revoked)
    );
}

/// Issue 20, 1 (no attacker): admin B revoked a lost phone and enrolled a
/// care manager; B's device is retired later. Everywhere, the phone stays
/// revoked and the care manager stays a member.
#[test]
fn retiring_an_admin_device_keeps_its_revocations_and_enrollments() {
    let (mut office, space) = office();
    let mut b = member_of(&mut office, &space, Role::Admin);
    let lost = member_of(&mut b, &space, Role::CareManager);
    let carer = member_of(&mut b, &space, Role::CareManager);
    b.revoke_member(&space, lost.device()).unwrap();
    sync_local(&mut office, &mut b, std::slice::from_ref(&space)).unwrap();
    office.revoke_member(&space, b.device()).unwrap();
    let mut phone = member_of(&mut office, &space, Role::CareManager);
    for n in [&mut office, &mut phone] {
        assert_eq!(
            standing_of(n, &space, lost.device()),
            Some(MemberStanding::Revoked)
        );
        assert_eq!(
            standing_of(n, &space, carer.device()),
            Some(MemberStanding::Active)
        );
        assert_eq!(
            standing_of(n, &space, b.device()),
            Some(MemberStanding::Revoked)
        );
    }
}

/// Issue 20, 2: a stolen admin phone, revoked by the office, keeps
/// enrolling devices from its copy made before it heard of the
/// revocation. None of them gets in, whatever their ids.
#[test]
fn a_revoked_admin_phone_enrolls_nobody() {
    let (mut office, space) = office();
    let mut stolen = member_of(&mut office, &space, Role::Admin);
    office.revoke_member(&space, stolen.device()).unwrap();
    let mut accomplices = Vec::new();
    for _ in 0..3 {
        let a = Node::open(MemoryStore::new()).unwrap();
        stolen
            .add_member(&space, &a.device().clone(), Staff::default(), Role::Admin)
            .unwrap();
        accomplices.push(a.device().clone());
    }
    sync_local(&mut office, &mut stolen, std::slice::from_ref(&space)).unwrap();
    for a in &accomplices {
        assert_eq!(
            standing_of(&mut office, &space, a),
            Some(MemberStanding::Unauthorised)
        );
    }
    assert!(!office.trusted_peers().unwrap().contains(stolen.device()));
}

/// Issue 20, 3: the device that wrote the damage still works on its own
/// copy: a damaged root hides nothing from its own reads either.
#[test]
fn a_device_keeps_working_on_a_roster_whose_root_it_damaged() {
    let (mut office, space) = office();
    office
        .tamper(&DocKey::roster(&space), |d| {
            d.put(ROOT, "members", 7).unwrap();
            d.put(ROOT, "space", "x").unwrap();
            d.put(ROOT, "recipients", 1.5).unwrap();
        })
        .unwrap();
    office
        .start_incident(&space, IncidentKind::Flood, "大雨", Timestamp::now())
        .unwrap();
    assert_eq!(office.recipients(&space).unwrap().len(), 2);
    assert_eq!(office.members(&space).unwrap().len(), 1);
    // And an entry that is not anpi's in the incident's maps.
    let inc = office.open_incident(&space).unwrap().unwrap();
    office
        .tamper(&DocKey::incident(&space, &inc.id), |d| {
            let opened = d.get(ROOT, "opened").unwrap().unwrap().1;
            d.put(&opened, "x", 42).unwrap();
            d.put(ROOT, "checks", "none").unwrap();
        })
        .unwrap();
    office
        .record_check(
            &space,
            &inc.id,
            NewCheck::new(
                RecipientId("R1".into()),
                crate::codes::CheckMethod::Phone,
                crate::codes::CheckResult::Safe,
            ),
        )
        .unwrap();
    assert_eq!(office.checks(&space, &inc.id).unwrap().len(), 1);
    assert!(office.open_incident(&space).unwrap().is_some());
}

/// A session with a peer whose changes are refused ends, in both
/// directions, whoever started the incident first.
#[test]
fn a_session_with_refused_changes_ends() {
    let (mut office, space) = office();
    let mut bad = member_of(&mut office, &space, Role::CareManager);
    let inc = bad
        .start_incident(&space, IncidentKind::Flood, "大雨", Timestamp::now())
        .unwrap();
    bad.tamper(&DocKey::incident(&space, &inc.id), |d| {
        let opened = d.get(ROOT, "opened").unwrap().unwrap().1;
        d.put(&opened, "x", 42).unwrap();
    })
    .unwrap();
    office
        .start_incident(&space, IncidentKind::Flood, "大雨", Timestamp::now())
        .unwrap();
    for _ in 0..2 {
        let got = sync_local(&mut office, &mut bad, std::slice::from_ref(&space)).unwrap();
        assert!(got.initiator.changes_refused > 0, "{got:?}");
        let got = sync_local(&mut bad, &mut office, std::slice::from_ref(&space)).unwrap();
        assert!(got.responder.changes_refused > 0, "{got:?}");
    }
}

/// Issue 20, 6: an area member forges a disaster exception in the office's
/// name and writes over the office's real one to extend it. The office's
/// next `area share` shares only the consented recipients, and the real
/// exception still stands.
#[test]
fn a_forged_or_extended_exception_shares_nobody_without_consent() {
    use super::tests::office_with_area;
    let (mut office, origin, area) = office_with_area();
    let mut partner = member_of(&mut office, &area, Role::Partner);
    let real = office
        .declare_exception(&origin, &area, 1, "土砂災害の危険")
        .unwrap();
    sync_local(&mut partner, &mut office, std::slice::from_ref(&area)).unwrap();
    let key = DocKey::roster(&area);
    let office_device = office.device().clone();
    let origin_id = origin.clone();
    let real_id = real.id.clone();
    partner
        .tamper(&key, |d| {
            let space = d.get(ROOT, "space").unwrap().unwrap().1;
            let forged = Exception {
                id: "forged".into(),
                origin: origin_id.clone(),
                by: office_device.clone(),
                staff: Staff::default(),
                from: Timestamp::from_millis(0),
                until: Timestamp::now().plus_minutes(60 * 24 * 365),
                reason: "偽".into(),
            };
            d.put(
                &space,
                "exception/forged",
                serde_json::to_string(&forged).unwrap(),
            )
            .unwrap();
            let text = match d
                .get(&space, format!("exception/{real_id}").as_str())
                .unwrap()
            {
                Some((automerge::Value::Scalar(s), _)) => s.as_str().unwrap().to_string(),
                _ => panic!("the real exception"),
            };
            let mut longer: serde_json::Value = serde_json::from_str(&text).unwrap();
            longer["until"] = serde_json::json!("2099-01-01T00:00:00Z");
            d.put(
                &space,
                format!("exception/{real_id}").as_str(),
                longer.to_string(),
            )
            .unwrap();
        })
        .unwrap();
    // Its own copy: neither the forgery nor the extension counts.
    assert!(
        partner
            .exceptions(&area)
            .unwrap()
            .iter()
            .all(|e| e.id != "forged" && e.until.millis() < 4_000_000_000_000)
    );
    let got = sync_local(&mut office, &mut partner, std::slice::from_ref(&area)).unwrap();
    assert!(got.initiator.changes_refused > 0, "{got:?}");
    let held = office.exceptions(&area).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0], real);
    // Under the real one, in force for an hour, the office shares R2 too;
    // the forged one (a year) never counts.
    let shared = office.share_to_area(&origin, &area).unwrap();
    assert_eq!(shared.exception.map(|e| e.id), Some(real.id));
}

/// The document `key` of `n`, saved, with its structure judged both ways:
/// whole (`doc::whole_fits`) and change by change (`doc::vet`).
fn judged_whole(n: &mut Node, key: &DocKey) -> (bool, Vec<String>) {
    let mut out = (false, Vec::new());
    n.tamper(key, |d| {
        let bytes = d.save();
        let mut loaded = AutoCommit::load(&bytes).unwrap();
        let whole = doc::whole_fits(&loaded, &key.kind, &bytes);
        let changes = loaded.get_changes(&[]);
        let refused = doc::vet(&loaded, &key.kind, &changes, &doc::Anyone)
            .into_iter()
            .flatten()
            .collect();
        out = (whole, refused);
    })
    .unwrap();
    out
}

/// The map at the root under `name`.
fn root_map(d: &AutoCommit, name: &str) -> automerge::ObjId {
    match d.get(ROOT, name).unwrap() {
        Some((_, id)) => id,
        None => panic!("no {name} at the root"),
    }
}

/// A new device takes a document whole (its first sync) without
/// rebuilding every change of it, and must still keep exactly what a
/// device taking the changes one by one keeps: a document of every kind
/// of honest write is taken whole, and one with any write that does not
/// fit is not (then each change is judged, the path the other tests
/// cover).
#[test]
fn a_whole_document_is_judged_as_its_changes_are() {
    let (mut office, space) = office();
    let mut carer = member_of(&mut office, &space, Role::CareManager);
    let leaver = member_of(&mut office, &space, Role::CareManager);
    office.revoke_member(&space, leaver.device()).unwrap();
    let mut r1 = recipient("R1");
    r1.phone = "090-1111-2222".into();
    office
        .upsert_recipients(&space, vec![r1, recipient("R3")])
        .unwrap();
    let (_, area) = {
        let area = office.create_area_space("東地区連携").unwrap().id;
        (space.clone(), area)
    };
    office.declare_exception(&space, &area, 24, "豪雨").unwrap();
    let inc = office
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
        .unwrap();
    sync_local(&mut carer, &mut office, std::slice::from_ref(&space)).unwrap();
    for (n, r) in [(&mut office, "R1"), (&mut carer, "R2")] {
        n.record_check(
            &space,
            &inc.id,
            NewCheck::new(r.into(), CheckMethod::Phone, CheckResult::Safe),
        )
        .unwrap();
        n.claim(
            &space,
            &inc.id,
            &RecipientId("R3".into()),
            30,
            Timestamp::now(),
        )
        .unwrap();
    }
    carer
        .release(&space, &inc.id, &RecipientId("R3".into()))
        .unwrap();
    sync_local(&mut carer, &mut office, std::slice::from_ref(&space)).unwrap();
    office
        .end_incident(&space, &inc.id, Timestamp::now())
        .unwrap();
    let roster = DocKey::roster(&space);
    let incident = DocKey::incident(&space, &inc.id);
    for key in [&roster, &incident] {
        assert_eq!(
            judged_whole(&mut office, key),
            (true, Vec::new()),
            "{key:?}"
        );
    }

    // Each write a member's modified code might make, on a copy.
    type Write = fn(&mut AutoCommit);
    let bad: [(&str, bool, Write); 8] = [
        ("a number at the root", false, |d| {
            d.put(ROOT, "members", 7).unwrap()
        }),
        ("a root key removed", false, |d| {
            d.delete(ROOT, "recipients").unwrap()
        }),
        ("a founding overwritten", false, |d| {
            let space = root_map(d, "space");
            d.put(&space, "founding", "{}").unwrap()
        }),
        ("a statement removed", false, |d| {
            let s = root_map(d, "statements");
            let k = d.keys(&s).next().unwrap();
            d.delete(&s, k.as_str()).unwrap()
        }),
        ("a statement under another key", false, |d| {
            let s = root_map(d, "statements");
            d.put(&s, "0011", "{}").unwrap()
        }),
        ("a check overwritten", true, |d| {
            let checks = root_map(d, "checks");
            let b = d.keys(&checks).next().unwrap();
            let bucket = d.get(&checks, b.as_str()).unwrap().unwrap().1;
            let c = d.keys(&bucket).next().unwrap();
            d.put(&bucket, c.as_str(), "{}").unwrap()
        }),
        ("a bucket removed", true, |d| {
            let checks = root_map(d, "checks");
            let b = d.keys(&checks).next().unwrap();
            d.delete(&checks, b.as_str()).unwrap()
        }),
        ("a list in a recipient", false, |d| {
            let recipients = root_map(d, "recipients");
            let r = d.keys(&recipients).next().unwrap();
            let rec = d.get(&recipients, r.as_str()).unwrap().unwrap().1;
            d.put_object(&rec, "x", automerge::ObjType::List).unwrap();
        }),
    ];
    for (what, in_incident, write) in bad {
        let key = if in_incident { &incident } else { &roster };
        let mut copy = member_of(&mut office, &space, Role::CareManager);
        copy.tamper(key, write).unwrap();
        let (whole, refused) = judged_whole(&mut copy, key);
        assert!(!whole, "{what}: taken whole");
        assert!(!refused.is_empty(), "{what}: no change refused");
    }
}

/// Issue 20, 9: a member streams changes without end. Past the session's
/// bound its next message is refused and the session ends; what came
/// before is kept (the checks below were real, and nothing is lost: the
/// rest comes in the next session).
#[test]
fn a_peer_past_the_sessions_change_bound_is_cut_off_keeping_what_came() {
    let (mut office, space) = office();
    let inc = office
        .start_incident(&space, IncidentKind::Flood, "大雨", Timestamp::now())
        .unwrap();
    let mut phone = member_of(&mut office, &space, Role::CareManager);
    let record = |n: &mut Node, count: usize| {
        for i in 0..count {
            let r = if i % 2 == 0 { "R1" } else { "R2" };
            n.record_check(
                &space,
                &inc.id,
                NewCheck::new(r.into(), CheckMethod::Phone, CheckResult::Safe),
            )
            .unwrap();
        }
    };
    record(&mut phone, 12);
    let (mut sp, hello) = phone
        .sync_start(Some(&office.device().clone()), &[])
        .unwrap();
    let mut so = office.sync_accept();
    // The phone's checks of one message are one change.
    so.max_changes = 2;
    let mut to_office = Some(hello);
    let mut cut = None;
    for _ in 0..super::session::MAX_LOCAL_MESSAGES {
        let Some(m) = to_office.take() else { break };
        match office.sync_receive(&mut so, m) {
            Err(e) => {
                cut = Some(e.to_string());
                break;
            }
            Ok(None) => break,
            Ok(Some(reply)) => {
                // More checks while the session runs.
                record(&mut phone, 3);
                to_office = phone.sync_receive(&mut sp, reply).unwrap();
            }
        }
    }
    let cut = cut.expect("the session is cut off");
    assert!(cut.contains("more than 2 changes"), "{cut}");
    // Three messages taken (12 + 3 + 3 checks), the fourth refused.
    assert_eq!(office.checks(&space, &inc.id).unwrap().len(), 18);
    // The next session takes the rest.
    sync_local(&mut office, &mut phone, std::slice::from_ref(&space)).unwrap();
    assert_eq!(office.checks(&space, &inc.id).unwrap().len(), 21);
}

/// Issue 20, 12: an invite expires; later the office's clock is set back
/// (a dead battery, a wrong manual setting) to a time before the invite's
/// end. The invite stays expired: the office's own audit trail, in its
/// order, shows it lived past the end. A new invite made then works.
#[test]
fn a_clock_set_back_does_not_revive_an_expired_invite() {
    let (mut office, space) = office();
    let phone = Node::open(MemoryStore::new()).unwrap().device().clone();
    let address = vec!["127.0.0.1:7150".to_string()];
    let expires = Timestamp::now().plus_minutes(60);
    let invite = office
        .create_invite(
            &space,
            Staff::default(),
            Role::CareManager,
            address.clone(),
            expires,
        )
        .unwrap();
    // The office ran past the invite's end: an entry dated after it.
    office.pending_audit.push(audit::Record {
        at: expires.plus_minutes(5),
        device: office.device().clone(),
        staff: Staff::default(),
        action: audit::Action::Changed,
        subject: "設定".into(),
        detail: String::new(),
    });
    office
        .record_audit(audit::Action::Changed, "設定", "")
        .unwrap();
    // Now its clock reads an hour before the end again.
    let name = invite.redemption_name(&phone);
    assert_eq!(
        office
            .redeem_invite(&phone, std::slice::from_ref(&name))
            .unwrap(),
        None
    );
    assert!(
        !office
            .members(&space)
            .unwrap()
            .iter()
            .any(|(m, _)| m.device == phone)
    );
    let again = office
        .create_invite(
            &space,
            Staff::default(),
            Role::CareManager,
            address.clone(),
            expires,
        )
        .unwrap();
    assert_eq!(
        office
            .redeem_invite(&phone, &[again.redemption_name(&phone)])
            .unwrap(),
        Some(space.clone())
    );
    // The same when the office wrote nothing past the end, but a running
    // node saw its clock go past it.
    let phone = Node::open(MemoryStore::new()).unwrap().device().clone();
    let again = office
        .create_invite(
            &space,
            Staff::default(),
            Role::CareManager,
            address,
            expires,
        )
        .unwrap();
    office.note_clock_at(expires.plus_minutes(1)).unwrap();
    let name = again.redemption_name(&phone);
    assert_eq!(
        office
            .redeem_invite(&phone, std::slice::from_ref(&name))
            .unwrap(),
        None
    );
    assert!(!office.gate().unwrap().admits(
        &phone,
        std::slice::from_ref(&name),
        None,
        Timestamp::now()
    ));
}

/// Issue 20, 8: a partner — another agency's device — sees only what an
/// area space holds. It is never enrolled in an office's own space (by
/// `device add` or an invite), and an entry that makes it a member there
/// anyway (a build before the rule, or an admin's modified build) lets it
/// sync nothing of it: it is not trusted at the handshake, no session
/// exchanges the space, and its membership proof admits it nowhere. In an
/// area space it syncs as before.
#[test]
fn a_partner_never_syncs_an_office_space() {
    use super::tests::office_with_area;
    let (mut office, space, area) = office_with_area();
    let partner = Node::open(MemoryStore::new()).unwrap();
    let id = partner.device().clone();
    let err = office
        .add_member(&space, &id, Staff::default(), Role::Partner)
        .unwrap_err();
    assert!(err.to_string().contains("area space"), "{err}");
    let err = office
        .create_invite(
            &space,
            Staff::default(),
            Role::Partner,
            vec!["127.0.0.1:7150".into()],
            Timestamp::now().plus_minutes(60),
        )
        .unwrap_err();
    assert!(err.to_string().contains("area space"), "{err}");
    // Written past the rule: a signed partner entry in the office space.
    office
        .put_member(
            &space,
            Member {
                device: id.clone(),
                staff: Staff::default(),
                role: Role::Partner,
                added_by: office.device().clone(),
                added_at: Timestamp::now(),
                revoked: None,
            },
        )
        .unwrap();
    assert!(
        office
            .members(&space)
            .unwrap()
            .iter()
            .any(|(m, s)| m.device == id && *s == MemberStanding::Active)
    );
    assert!(!office.gate().unwrap().trusted.contains(&id));
    assert!(office.spaces_shared_with(&id).unwrap().is_empty());
    // In the area space, enrolled the ordinary way: trusted, and only the
    // area space is exchanged.
    office
        .add_member(&area, &id, Staff::default(), Role::Partner)
        .unwrap();
    assert!(office.gate().unwrap().trusted.contains(&id));
    assert_eq!(
        office.spaces_shared_with(&id).unwrap(),
        BTreeSet::from([area.clone()])
    );
    let mut partner = partner;
    sync_local(&mut partner, &mut office, std::slice::from_ref(&area)).unwrap();
    assert!(partner.spaces().unwrap().iter().all(|s| s.id == area));
    // Its proof, shown to a device that has not heard of it, admits it to
    // the area space and never to the office's own.
    let mut proof = partner.membership_proof().unwrap();
    let ledger = office.member_statements(&space).unwrap();
    proof
        .spaces
        .extend(membership::proof_for(&space, &ledger, &id));
    assert_eq!(proof.spaces.len(), 2);
    let mut carer = member_of(&mut office, &space, Role::CareManager);
    let mut area_member = member_of(&mut office, &area, Role::CareManager);
    assert!(
        !carer
            .admitted_by_proof(&id, &proof)
            .unwrap()
            .contains(&space)
    );
    let by_area_member = area_member.admitted_by_proof(&id, &proof).unwrap();
    assert!(by_area_member.contains(&area), "{by_area_member:?}");
}

/// An office with a flood incident open since now.
fn office_in_flood() -> (Node, SpaceId, Incident) {
    super::tests::office_in_a_flood(MemoryStore::new())
}

fn staff_member(id: &str) -> crate::model::StaffMember {
    crate::model::StaffMember {
        id: StaffId(id.into()),
        name: format!("職員{id}"),
        distance_km: Some(1.0),
        ..Default::default()
    }
}

/// An unharmed staff member `id` who can come at once.
fn unharmed(id: &str) -> NewReport {
    use crate::codes::*;
    NewReport {
        staff: Some(StaffId(id.into())),
        person: PersonalSafety::Unharmed,
        family: FamilySafety::Safe,
        home: HomeDamage::None,
        attendance: Attendance::Able,
        from: Some(AvailableFrom::Now),
        location: String::new(),
        contact: String::new(),
        at: Timestamp::now(),
    }
}

fn checks_in(n: &mut Node, space: &SpaceId, incident: &IncidentId) -> Vec<Check> {
    n.checks(space, incident).unwrap()
}

/// `n` records that recipient `r` is safe.
fn record(n: &mut Node, space: &SpaceId, incident: &IncidentId, r: &str, method: CheckMethod) {
    n.record_check(
        space,
        incident,
        NewCheck::new(RecipientId(r.into()), method, CheckResult::Safe),
    )
    .unwrap();
}

/// Issue 20, 4: actor squatting. A member commits a check under a victim
/// phone's actor and next sequence number, claiming the victim made it.
/// Before seals the office took it, and then refused the victim's own
/// change of that number in every later session: the victim was cut off.
/// Now nobody takes the forgery (the insider holds no seal of the
/// victim's), its own changes still arrive, and the victim's next check
/// arrives as if nothing had happened — directly and passed on by another
/// phone (which carries the victim's seal).
#[test]
fn a_change_forged_under_another_devices_actor_is_refused_and_cuts_no_one_off() {
    let (mut office, space, incident) = office_in_flood();
    let mut victim = member_of(&mut office, &space, Role::CareManager);
    let mut insider = member_of(&mut office, &space, Role::CareManager);
    let mut courier = member_of(&mut office, &space, Role::CareManager);
    record(&mut insider, &space, &incident.id, "R1", CheckMethod::Visit);
    let key = DocKey::incident(&space, &incident.id);
    let victim_id = victim.device().clone();
    let victim_actor = victim.actor.clone();
    insider
        .tamper(&key, |d| {
            let mine = d.get_actor().clone();
            let mut forged = doc::checks(d).unwrap().remove(0);
            forged.id = CheckId::new();
            forged.device = victim_id.clone();
            forged.result = CheckResult::Deceased;
            d.set_actor(victim_actor.clone());
            doc::put_check(d, &forged).unwrap();
            d.commit();
            d.set_actor(mine);
        })
        .unwrap();
    let here = std::slice::from_ref(&space);

    let got = sync_local(&mut office, &mut insider, here).unwrap();
    assert!(got.initiator.changes_refused >= 1, "{got:?}");
    let at_office = checks_in(&mut office, &space, &incident.id);
    assert_eq!(
        at_office.len(),
        1,
        "the insider's own check, not the forgery"
    );
    assert_ne!(at_office[0].device, victim_id);
    assert!(
        office.audit_trail().unwrap().iter().any(|e| e
            .record
            .detail
            .contains("not sealed by the device it names")),
        "the refusal is in the office's audit trail"
    );

    // The victim records its first check: the sequence number the forgery
    // took. It reaches the office directly, and — through a phone that
    // met the victim — a second office copy that never met the victim.
    record(&mut victim, &space, &incident.id, "R2", CheckMethod::Visit);
    let mut copy = member_of(&mut office, &space, Role::CareManager);
    let got = sync_local(&mut courier, &mut victim, here).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
    let got = sync_local(&mut copy, &mut courier, here).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
    assert_eq!(got.initiator.changes_refused, 0, "{got:?}");
    assert!(
        checks_in(&mut copy, &space, &incident.id)
            .iter()
            .any(|c| c.device == victim_id),
        "the victim's check, passed on with its seal"
    );
    let got = sync_local(&mut victim, &mut office, here).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
    assert!(
        checks_in(&mut office, &space, &incident.id)
            .iter()
            .any(|c| c.device == victim_id && c.result == CheckResult::Safe),
        "the victim is not cut off"
    );

    // The insider passes the forgery on to a phone enrolled later, in a
    // whole document: refused there too, the rest taken.
    let mut late = Node::open(MemoryStore::new()).unwrap();
    office
        .add_member(
            &space,
            &late.device().clone(),
            Staff::default(),
            Role::CareManager,
        )
        .unwrap();
    sync_local(&mut insider, &mut office, here).unwrap();
    let got = sync_local(&mut late, &mut insider, here).unwrap();
    assert!(got.initiator.changes_refused >= 1, "{got:?}");
    let seen = checks_in(&mut late, &space, &incident.id);
    assert!(!seen.iter().any(|c| c.result == CheckResult::Deceased));
    // The insider holds the forgery, so never the victim's check of that
    // number; the late phone, which refused it, takes it from the office.
    let got = sync_local(&mut late, &mut office, here).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
    let seen = checks_in(&mut late, &space, &incident.id);
    assert!(seen.iter().any(|c| c.device == victim_id), "{seen:?}");
}

/// Issue 20, 4: a seal made with another key, or moved to another
/// document, or over another change, seals nothing.
#[test]
fn a_seal_in_another_devices_name_or_for_another_change_covers_nothing() {
    let (mut office, space, incident) = office_in_flood();
    let mut victim = member_of(&mut office, &space, Role::CareManager);
    let mut insider = member_of(&mut office, &space, Role::CareManager);
    let key = DocKey::incident(&space, &incident.id);
    let victim_id = victim.device().clone();
    let victim_actor = victim.actor.clone();
    let mut forged_hash = None;
    insider
        .tamper(&key, |d| {
            let mine = d.get_actor().clone();
            d.set_actor(victim_actor.clone());
            let checks = d.get(ROOT, "checks").unwrap().unwrap().1;
            d.put_object(&checks, format!("{victim_id}.0"), automerge::ObjType::Map)
                .unwrap();
            forged_hash = d.commit();
            d.set_actor(mine);
        })
        .unwrap();
    let forged_hash = forged_hash.expect("a change");
    // Seals the insider can make: with its own key, with a stranger's.
    let stranger = Identity::generate().unwrap();
    let name = key.to_string();
    for seal in [
        crate::seal::Seal::sign(&insider.identity, &name, &[forged_hash]).unwrap(),
        crate::seal::Seal::sign(&stranger, &name, &[forged_hash]).unwrap(),
    ] {
        insider
            .store
            .write(Batch {
                meta: vec![Node::seals_setting(&key, &[seal])],
                ..Default::default()
            })
            .unwrap();
        let got = sync_local(&mut office, &mut insider, std::slice::from_ref(&space)).unwrap();
        assert!(got.initiator.changes_refused >= 1, "{got:?}");
        assert!(
            office
                .doc(&key)
                .unwrap()
                .get_change_by_hash(&forged_hash)
                .is_none(),
            "the forgery stays out"
        );
    }
    // The victim itself still syncs.
    record(&mut victim, &space, &incident.id, "R1", CheckMethod::Phone);
    let got = sync_local(&mut victim, &mut office, std::slice::from_ref(&space)).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
}

/// What leaves with a device's own changes carries its seal; an admin's
/// carries one over the heads it sends.
#[test]
fn changes_leave_with_their_seal() {
    let (mut office, space, incident) = office_in_flood();
    let mut phone = member_of(&mut office, &space, Role::CareManager);
    record(&mut phone, &space, &incident.id, "R1", CheckMethod::Visit);
    let office_id = office.device().clone();
    let (_, hello) = phone.sync_start(Some(&office_id), &[]).unwrap();
    let key = DocKey::incident(&space, &incident.id).to_string();
    let entry = hello.docs.iter().find(|d| d.doc == key).unwrap();
    assert!(matches!(entry.data, sync::Data::Changes(_)), "{entry:?}");
    assert_eq!(entry.seals.len(), 1);
    assert_eq!(entry.seals[0].signer(), *phone.device());
    assert!(entry.seals[0].holds(&key));
    // Through the wire's encoding and back.
    let back = sync::decode(&sync::encode(&hello)).unwrap();
    assert_eq!(back, hello);
    let entry_bytes = sync::encode_entry(entry);
    assert_eq!(sync::decode_entry(&entry_bytes).unwrap(), *entry);
}

/// An admin passing on a phone's check seals the heads of what it sends,
/// not of its document: a batch that fills a gap below what the receiver
/// holds (its peer state said the receiver held more) reaches none of the
/// document's heads, and was refused as unsealed (found by the
/// disaster-day simulator, one run in twenty).
#[test]
fn an_admins_seal_reaches_a_batch_that_fills_a_gap() {
    let (mut office, space, incident) = office_in_flood();
    let mut phone = member_of(&mut office, &space, Role::CareManager);
    let mut other = member_of(&mut office, &space, Role::CareManager);
    record(&mut phone, &space, &incident.id, "R1", CheckMethod::Visit);
    sync_local(&mut phone, &mut office, &[]).unwrap();
    // The office's own check on top: the document's heads are its.
    record(&mut office, &space, &incident.id, "R2", CheckMethod::Phone);
    let key = DocKey::incident(&space, &incident.id);
    let d = office.doc(&key).unwrap();
    let heads = d.get_heads();
    let theirs: Vec<automerge::Change> = d
        .get_changes(&[])
        .into_iter()
        .filter(|c| crate::seal::author_of(c.actor_id()).as_ref() == Some(phone.device()))
        .collect();
    assert!(!theirs.is_empty() && theirs.iter().all(|c| !heads.contains(&c.hash())));
    let mut entry = sync::DocEntry {
        doc: key.to_string(),
        heads: sync::heads_to_wire(&heads),
        need: false,
        data: sync::Data::Changes(sync::pack_changes(&theirs)),
        seals: Vec::new(),
    };
    office.seal_outgoing(&key, &mut entry).unwrap();
    let judge = other.judge(&space, office.device()).unwrap();
    let verdicts = judge.verdicts(&entry.doc, &judge.links(&theirs), &entry.seals);
    assert!(verdicts.iter().all(Option::is_none), "{verdicts:?}");
}

/// A relay keeps a phone's seal over its latest change; a batch may carry
/// only an earlier one (automerge's protocol leaves a change out when a
/// Bloom filter wrongly says the receiver holds it). The relay sends the
/// way up to the sealed change with it, or the next device refuses the
/// earlier one as unsealed, and everything built on it (the simulator's
/// area space, standard world, half the runs).
#[test]
fn a_relay_sends_the_way_up_to_the_seal_it_passes_on() {
    let (mut office, space, incident) = office_in_flood();
    let mut author = member_of(&mut office, &space, Role::CareManager);
    let mut relay = member_of(&mut office, &space, Role::CareManager);
    let mut next = member_of(&mut office, &space, Role::CareManager);
    let key = DocKey::incident(&space, &incident.id);
    let own = |n: &mut Node| -> Vec<automerge::Change> {
        let author = n.device().clone();
        n.doc(&key)
            .unwrap()
            .get_changes(&[])
            .into_iter()
            .filter(|c| crate::seal::author_of(c.actor_id()).as_ref() == Some(&author))
            .collect()
    };
    record(&mut author, &space, &incident.id, "R1", CheckMethod::Visit);
    author.doc(&key).unwrap().get_heads();
    record(&mut author, &space, &incident.id, "R2", CheckMethod::Visit);
    sync_local(&mut relay, &mut author, &[]).unwrap();
    let written = own(&mut author);
    assert_eq!(written.len(), 2, "two changes, the second on the first");
    let (first, second) = (written[0].clone(), written[1].hash());
    assert!(
        relay
            .stored_seals(&key)
            .unwrap()
            .iter()
            .any(|s| s.signer() == *author.device() && s.hashes == [second.0]),
        "the relay keeps the author's seal over its latest change"
    );
    for data in [
        sync::Data::Changes(sync::pack_changes([&first])),
        sync::Data::Automerge(
            automerge::sync::Message {
                heads: Vec::new(),
                need: Vec::new(),
                have: Vec::new(),
                changes: vec![first.raw_bytes().to_vec()].into(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            }
            .encode(),
        ),
    ] {
        let mut entry = sync::DocEntry {
            doc: key.to_string(),
            heads: Vec::new(),
            need: false,
            data,
            seals: Vec::new(),
        };
        relay.seal_outgoing(&key, &mut entry).unwrap();
        let carried = sync::carried(&entry.data).unwrap();
        let hashes: Vec<ChangeHash> = carried.iter().map(|c| c.hash()).collect();
        assert_eq!(hashes, vec![first.hash(), second], "the way up goes too");
        let judge = next.judge(&space, relay.device()).unwrap();
        let verdicts = judge.verdicts(&entry.doc, &judge.links(&carried), &entry.seals);
        assert!(verdicts.iter().all(Option::is_none), "{verdicts:?}");
    }
}

/// A receiver may take a phone's earlier change (its own need no seal)
/// and set the latest aside, its dependencies not there yet; with the
/// seal over the latest alone it kept none for what it took, and passed
/// it on unsealed when the session ended before the gap came (the soak:
/// area space, links cut, 5 runs in 500). The change before the latest is
/// sealed too, and that seal is kept with it and vouches for it onward.
#[test]
fn the_change_before_the_latest_is_sealed_too() {
    let (mut office, space, incident) = office_in_flood();
    let mut author = member_of(&mut office, &space, Role::CareManager);
    let mut relay = member_of(&mut office, &space, Role::CareManager);
    let mut next = member_of(&mut office, &space, Role::CareManager);
    let key = DocKey::incident(&space, &incident.id);
    record(&mut author, &space, &incident.id, "R1", CheckMethod::Visit);
    author.doc(&key).unwrap().get_heads();
    record(&mut author, &space, &incident.id, "R2", CheckMethod::Visit);
    let me = author.device().clone();
    let own: Vec<automerge::Change> = author
        .doc(&key)
        .unwrap()
        .get_changes(&[])
        .into_iter()
        .filter(|c| crate::seal::author_of(c.actor_id()).as_ref() == Some(&me))
        .collect();
    assert_eq!(own.len(), 2);
    let mut entry = sync::DocEntry {
        doc: key.to_string(),
        heads: Vec::new(),
        need: false,
        data: sync::Data::Changes(sync::pack_changes(&own)),
        seals: Vec::new(),
    };
    author.seal_outgoing(&key, &mut entry).unwrap();
    assert!(
        entry
            .seals
            .iter()
            .any(|s| s.signer() == me && s.hashes == [own[0].hash().0]),
        "a seal over the change before the latest"
    );
    // The relay takes the first and sets the latest aside: it keeps the
    // seal over what it took.
    relay
        .doc(&key)
        .unwrap()
        .apply_changes([own[0].clone()])
        .unwrap();
    let setting = relay.seals_noted(&key, &entry.seals).unwrap().unwrap();
    relay
        .store
        .write(Batch {
            meta: vec![setting],
            ..Default::default()
        })
        .unwrap();
    let mut onward = sync::DocEntry {
        doc: key.to_string(),
        heads: Vec::new(),
        need: false,
        data: sync::Data::Changes(sync::pack_changes([&own[0]])),
        seals: Vec::new(),
    };
    relay.seal_outgoing(&key, &mut onward).unwrap();
    let judge = next.judge(&space, relay.device()).unwrap();
    let carried = sync::carried(&onward.data).unwrap();
    let verdicts = judge.verdicts(&onward.doc, &judge.links(&carried), &onward.seals);
    assert!(verdicts.iter().all(Option::is_none), "{verdicts:?}");
}

/// A relay passes on an admin's seal over heads older than one this
/// device keeps: the newer stays, or what only it covers is refused at the
/// next device (the simulator found it, standard world, area space).
#[test]
fn an_older_admin_seal_does_not_replace_a_newer_one() {
    let (mut office, space, incident) = office_in_flood();
    let mut phone = member_of(&mut office, &space, Role::CareManager);
    let key = DocKey::incident(&space, &incident.id);
    let name = key.to_string();
    // Heads of two changes made apart: the office's and the phone's.
    record(&mut office, &space, &incident.id, "R1", CheckMethod::Phone);
    record(&mut phone, &space, &incident.id, "R2", CheckMethod::Visit);
    let mut other = member_of(&mut office, &space, Role::CareManager);
    sync_local(&mut other, &mut phone, &[]).unwrap();
    sync_local(&mut other, &mut office, &[]).unwrap();
    let heads = office.doc(&key).unwrap().get_heads();
    assert_eq!(heads.len(), 2);
    let older = Seal::sign(&office.identity, &name, &heads).unwrap();
    record(&mut office, &space, &incident.id, "R2", CheckMethod::Phone);
    let heads = office.doc(&key).unwrap().get_heads();
    let newer = Seal::sign(&office.identity, &name, &heads).unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    for order in [[&newer, &older], [&older, &newer]] {
        for s in order {
            if let Some(setting) = phone.seals_noted(&key, std::slice::from_ref(s)).unwrap() {
                phone
                    .store
                    .write(Batch {
                        meta: vec![setting],
                        ..Default::default()
                    })
                    .unwrap();
            }
        }
        // (The office sealed those heads itself in the sync: one signature
        // or another over the same heads.)
        let kept: Vec<Vec<[u8; 32]>> = phone
            .stored_seals(&key)
            .unwrap()
            .into_iter()
            .filter(|s| s.signer() == *office.device())
            .map(|s| s.hashes)
            .collect();
        assert_eq!(
            kept,
            vec![newer.hashes.clone()],
            "in either order, the newer alone"
        );
    }
}

/// A check of recipient `r` that corrects check `of`: injured after all.
fn correction(r: &str, method: CheckMethod, of: CheckId) -> NewCheck {
    NewCheck {
        supersedes: Some(of),
        ..NewCheck::new(RecipientId(r.into()), method, CheckResult::Injured)
    }
}

/// Issue 20, 5: a member writes only in its own name. Each forgery comes
/// from an insider phone under its own sealing actor, sealed by it — the
/// seal is not in question, what it says is: a check or claim naming
/// another device, a correction of another device's check, another
/// device's claim withdrawn or incident ended, the office's weights, the
/// roster. The office refuses each alone and says why; what the honest
/// devices made stands. An admin's correction of a phone's check is taken
/// everywhere; a member's of its own is too.
#[test]
fn a_member_writes_only_in_its_own_name() {
    let (mut office, space, incident) = office_in_flood();
    let here = std::slice::from_ref(&space);
    let checks_doc = DocKey::incident(&space, &incident.id);
    let roster = DocKey::roster(&space);
    let staff = vec![staff_member("S1"), staff_member("S2")];
    office.import_staff(&space, staff.clone()).unwrap();
    let mut victim = member_of(&mut office, &space, Role::CareManager);
    let victim_id = victim.device().clone();
    record(&mut victim, &space, &incident.id, "R1", CheckMethod::Visit);
    let report = victim
        .record_report(&space, &incident.id, unharmed("S1"))
        .unwrap();
    let r2 = RecipientId("R2".into());
    victim
        .claim(&space, &incident.id, &r2, 60, Timestamp::now())
        .unwrap();
    sync_local(&mut victim, &mut office, here).unwrap();
    let genuine = checks_in(&mut office, &space, &incident.id).remove(0);
    let weights = office.priority_weights(&space).unwrap();
    let r1_before = office.recipient(&space, &RecipientId("R1".into())).unwrap();

    type Forgery = Box<dyn Fn(&mut AutoCommit, &DeviceId)>;
    let in_victims_name = Check {
        id: CheckId::new(),
        result: CheckResult::Deceased,
        ..genuine.clone()
    };
    let forgeries: Vec<(&str, &DocKey, Forgery)> = vec![
        (
            "a check in the victim's name, in the victim's bucket",
            &checks_doc,
            {
                let c = in_victims_name.clone();
                Box::new(move |d, _| doc::put_check(d, &c).unwrap())
            },
        ),
        (
            "a check in the victim's name, in its own bucket",
            &checks_doc,
            {
                let c = in_victims_name.clone();
                Box::new(move |d, me| doc::put_check_by(d, me, &c).unwrap())
            },
        ),
        ("a correction of the victim's check", &checks_doc, {
            let g = genuine.clone();
            Box::new(move |d, me| {
                let c = Check {
                    id: CheckId::new(),
                    device: me.clone(),
                    result: CheckResult::Deceased,
                    supersedes: Some(g.id),
                    ..g.clone()
                };
                doc::put_check(d, &c).unwrap()
            })
        }),
        ("a claim in the victim's name", &checks_doc, {
            let v = victim_id.clone();
            Box::new(move |d, _| {
                let now = Timestamp::now();
                let c = Claim {
                    recipient: RecipientId("R1".into()),
                    staff: Staff::default(),
                    device: v.clone(),
                    since: now,
                    expires: now.plus_minutes(60),
                };
                doc::put_claim(d, &c).unwrap()
            })
        }),
        ("the victim's claim withdrawn", &checks_doc, {
            let (v, r) = (victim_id.clone(), r2.clone());
            Box::new(move |d, _| {
                assert!(doc::remove_claim(d, &v, &r).unwrap());
            })
        }),
        ("the incident ended in the victim's name", &checks_doc, {
            let v = victim_id.clone();
            Box::new(move |d, _| {
                let e = Ending {
                    at: Timestamp::now(),
                    staff: Staff::default(),
                    round: 0,
                };
                doc::end_incident(d, &v, &e).unwrap()
            })
        }),
        ("the office's priority weights", &roster, {
            let mut w = weights.clone();
            w.lives_alone += 100;
            Box::new(move |d, _| doc::set_priority_weights(d, &w).unwrap())
        }),
        ("a recipient of the roster", &roster, {
            let mut r = r1_before.recipient.clone();
            r.name = "書き換え".into();
            Box::new(move |d, _| doc::put_recipient(d, &r).unwrap())
        }),
        ("the space's name", &roster, {
            Box::new(|d, _| doc::set_space_name(d, "乗っ取り").unwrap())
        }),
        ("the staff list", &roster, {
            Box::new(|d, _| {
                let mut m = staff_member("S1");
                m.distance_km = Some(0.1);
                doc::put_staff_member(d, &m).unwrap();
                doc::remove_staff_member(d, &StaffId("S2".into())).unwrap();
            })
        }),
        (
            "a safety report in the victim's device's name",
            &checks_doc,
            {
                let r = report.clone();
                Box::new(move |d, _| {
                    let forged = crate::model::SafetyReport {
                        id: crate::model::RecordId::new(),
                        person: crate::codes::PersonalSafety::SeriousInjury,
                        supersedes: vec![r.id],
                        ..r.clone()
                    };
                    doc::put_report(d, &forged).unwrap()
                })
            },
        ),
        ("the operation level", &checks_doc, {
            Box::new(|d, me| {
                let x = crate::model::Decision {
                    id: crate::model::RecordId::new(),
                    what: crate::model::Decided::Level {
                        level: Some(crate::codes::OperationLevel::Level90),
                    },
                    reason: String::new(),
                    by: Staff::default(),
                    device: me.clone(),
                    at: Timestamp::now(),
                    supersedes: vec![],
                };
                doc::put_decision(d, &x).unwrap()
            })
        }),
        ("an assignment", &checks_doc, {
            Box::new(|d, _| {
                let a = crate::model::Assignment {
                    recipient: RecipientId("R1".into()),
                    staff: StaffId("S2".into()),
                    by: Staff::default(),
                    at: Timestamp::now(),
                };
                doc::put_assignment(d, &a).unwrap()
            })
        }),
    ];
    // Under each actor a forger can pick: its sealing actor (sealed by
    // it), its own id and the victim's (what builds before seals wrote
    // under: these once counted by their structure alone), and the id of
    // a key made for the purpose, sealed by that key.
    let victims_id = doc::actor_for(&victim_id);
    let mut insiders = Vec::new();
    for under in [
        "its sealing actor",
        "its id",
        "the victim's id",
        "a made-up key's id",
    ] {
        for (what, key, forge) in &forgeries {
            let mut insider = member_of(&mut office, &space, Role::CareManager);
            let me = insider.device().clone();
            let made_up = Identity::generate().unwrap();
            let actor = match under {
                "its id" => Some(doc::actor_for(&me)),
                "the victim's id" => Some(victims_id.clone()),
                "a made-up key's id" => Some(doc::actor_for(&made_up.device().unwrap())),
                _ => None,
            };
            let mut forged = None;
            insider
                .tamper(key, |d| {
                    let mine = d.get_actor().clone();
                    d.set_actor(actor.clone().unwrap_or_else(|| mine.clone()));
                    forge(d, &me);
                    forged = d.commit();
                    d.set_actor(mine);
                })
                .unwrap();
            if under == "a made-up key's id" {
                let seal = crate::seal::Seal::sign(&made_up, &key.to_string(), &[forged.unwrap()]);
                insider
                    .store
                    .write(Batch {
                        meta: vec![Node::seals_setting(key, &[seal.unwrap()])],
                        ..Default::default()
                    })
                    .unwrap();
            }
            let got = sync_local(&mut office, &mut insider, here).unwrap();
            assert!(got.failures.is_empty(), "{what}, under {under}: {got:?}");
            assert!(
                got.initiator.changes_refused >= 1,
                "{what}, under {under}: {got:?}"
            );
            insiders.push(insider);
        }
    }
    // A phone enrolled later takes the documents whole from the insider
    // of the check in the victim's name (not from an admin): the forgery
    // is refused there too, the rest taken. On SQLite the rows read from
    // the whole documents are written ahead while they load: the forged
    // check's row must go with it.
    let mut late = member_of(&mut office, &space, Role::CareManager);
    let dir = tempfile::tempdir().unwrap();
    let mut late_fresh =
        Node::open(crate::store::SqliteStore::open(&dir.path().join("late.db")).unwrap()).unwrap();
    office
        .add_member(
            &space,
            &late_fresh.device().clone(),
            Staff::default(),
            Role::CareManager,
        )
        .unwrap();
    sync_local(&mut insiders[1], &mut office, here).unwrap();
    for phone in [&mut late, &mut late_fresh] {
        let got = sync_local(phone, &mut insiders[1], here).unwrap();
        assert!(got.failures.is_empty(), "{got:?}");
        let seen = checks_in(phone, &space, &incident.id);
        assert!(
            !seen.iter().any(|c| c.result == CheckResult::Deceased),
            "{seen:?}"
        );
        assert!(seen.iter().any(|c| c.id == genuine.id), "{seen:?}");
    }
    let now = checks_in(&mut office, &space, &incident.id);
    assert_eq!(now, vec![genuine.clone()], "only the victim's own check");
    let data = office.incident_data(&space, Some(&incident.id)).unwrap();
    assert_eq!(data.claims.len(), 1, "{:?}", data.claims);
    assert_eq!(
        (&data.claims[0].device, &data.claims[0].recipient),
        (&victim_id, &r2)
    );
    assert!(data.incident.unwrap().is_open());
    assert_eq!(office.priority_weights(&space).unwrap(), weights);
    assert_eq!(
        office.recipient(&space, &RecipientId("R1".into())).unwrap(),
        r1_before
    );
    assert_eq!(office.staff_list(&space).unwrap(), staff);
    assert_eq!(office.reports(&space, &incident.id).unwrap(), vec![report]);
    assert!(office.decisions(&space, &incident.id).unwrap().is_empty());
    assert!(office.assignments(&space, &incident.id).unwrap().is_empty());
    let trail = office.audit_trail().unwrap();
    for why in [
        "in another device's name",
        "corrects a check recorded on another device",
        "only an admin changes",
        "only an admin edits",
        "edits the staff list",
        "only an admin takes",
        "assigns recipients",
    ] {
        assert!(
            trail.iter().any(|e| e.record.detail.contains(why)),
            "the office's trail says {why:?}"
        );
    }

    // A member corrects only its own checks, here and everywhere.
    let mut insider = member_of(&mut office, &space, Role::CareManager);
    let other = correction("R1", CheckMethod::Phone, genuine.id);
    let err = insider
        .record_check(&space, &incident.id, other)
        .unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::NotAllowed, "{err}");
    record(&mut insider, &space, &incident.id, "R2", CheckMethod::Visit);
    let own = checks_in(&mut insider, &space, &incident.id)
        .into_iter()
        .find(|c| c.device == *insider.device())
        .unwrap();
    let fix = correction("R2", CheckMethod::Visit, own.id);
    insider.record_check(&space, &incident.id, fix).unwrap();
    // The office (an admin) corrects the victim's check.
    let fix = correction("R1", CheckMethod::Phone, genuine.id);
    office.record_check(&space, &incident.id, fix).unwrap();
    for phone in [&mut insider, &mut victim] {
        let got = sync_local(phone, &mut office, here).unwrap();
        assert!(got.failures.is_empty(), "{got:?}");
        assert_eq!(got.initiator.changes_refused, 0, "{got:?}");
        assert_eq!(got.responder.changes_refused, 0, "{got:?}");
    }
    let seen = checks_in(&mut victim, &space, &incident.id);
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().any(|c| c.supersedes == Some(genuine.id)));
    assert!(seen.iter().any(|c| c.supersedes == Some(own.id)));
}

/// Issue 20, 4: one device twice — its data folder copied to a second PC
/// and used on both (not restored, which would give the copy an author of
/// its own). Each records a check under the same author and sequence
/// number. The office takes the one it meets first; the other is kept
/// aside, named for the admins in the audit trail, and the session goes on
/// instead of failing the document for good.
#[test]
fn a_folder_used_on_two_pcs_has_its_second_history_kept_aside() {
    use crate::store::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let (mut office, space, incident) = office_in_flood();
    let here = std::slice::from_ref(&space);
    let path = dir.path().join("phone.db");
    let copy_path = dir.path().join("copy.db");
    {
        let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        office
            .add_member(
                &space,
                &phone.device().clone(),
                Staff::default(),
                Role::CareManager,
            )
            .unwrap();
        sync_local(&mut phone, &mut office, here).unwrap();
    }
    std::fs::copy(&path, &copy_path).unwrap();
    let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
    let mut copy = Node::open(SqliteStore::open(&copy_path).unwrap()).unwrap();
    assert_eq!(phone.actor, copy.actor, "one author on both PCs");
    record(&mut phone, &space, &incident.id, "R1", CheckMethod::Visit);
    record(&mut copy, &space, &incident.id, "R2", CheckMethod::Phone);
    let got = sync_local(&mut phone, &mut office, here).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
    let got = sync_local(&mut office, &mut copy, here).unwrap();
    assert!(got.failures.is_empty(), "{got:?}");
    assert!(got.initiator.changes_refused >= 1, "{got:?}");
    let at_office = checks_in(&mut office, &space, &incident.id);
    assert_eq!(at_office.len(), 1, "{at_office:?}");
    assert_eq!(at_office[0].recipient.as_str(), "R1");
    assert!(
        office
            .audit_trail()
            .unwrap()
            .iter()
            .any(|e| e.record.detail.contains("signed two histories")),
        "the admins see it in the office's trail"
    );
}

/// `n` writes check `c` into document `key` under `actor`, as modified
/// code (or a build of another time) would.
fn check_under(n: &mut Node, key: &DocKey, actor: automerge::ActorId, c: &Check) {
    n.tamper(key, |d| {
        let mine = d.get_actor().clone();
        d.set_actor(actor);
        doc::put_check(d, c).unwrap();
        d.commit();
        d.set_actor(mine);
    })
    .unwrap();
}

/// Issue 20, 4 and 5: a change under an actor that is neither a sealing
/// one nor a member's id (what builds before seals wrote under) — one made
/// up, or a random one — once counted by its structure alone, which let a
/// member write in anyone's name past the seals. Now it counts only under
/// an admin's seal. A phone still on an older build (writing under its
/// device id) syncs as before, directly and passed on.
#[test]
fn a_change_under_a_made_up_actor_counts_only_under_an_admins_seal() {
    let (mut office, space, incident) = office_in_flood();
    let here = std::slice::from_ref(&space);
    let key = DocKey::incident(&space, &incident.id);
    let mut victim = member_of(&mut office, &space, Role::CareManager);
    let victim_id = victim.device().clone();
    let mut courier = member_of(&mut office, &space, Role::CareManager);
    let mut late = member_of(&mut office, &space, Role::CareManager);
    let check_of = |n: &mut Node, r: &str| {
        let mut c = Check::sample(r, n.device().as_str());
        c.incident = incident.id.clone();
        c
    };

    // The victim, as an older build would, under its device id: taken
    // straight from it, and passed on by a phone.
    let own = check_of(&mut victim, "R1");
    check_under(&mut victim, &key, doc::actor_for(&victim_id), &own);
    let got = sync_local(&mut courier, &mut victim, here).unwrap();
    assert_eq!(got.initiator.changes_refused, 0, "{got:?}");
    let got = sync_local(&mut late, &mut courier, here).unwrap();
    assert_eq!(got.initiator.changes_refused, 0, "{got:?}");
    assert!(
        checks_in(&mut late, &space, &incident.id)
            .iter()
            .any(|c| c.id == own.id)
    );

    // An insider writes in the victim's name under actors no member has:
    // refused at the office. The office's own check under a made-up actor
    // goes out under its seal and is taken.
    for actor in [
        automerge::ActorId::from(vec![0x5a; 20]),
        automerge::ActorId::random(),
    ] {
        let mut insider = member_of(&mut office, &space, Role::CareManager);
        let mut forged = check_of(&mut insider, "R2");
        forged.device = victim_id.clone();
        forged.result = CheckResult::Deceased;
        check_under(&mut insider, &key, actor.clone(), &forged);
        let got = sync_local(&mut office, &mut insider, here).unwrap();
        assert!(got.failures.is_empty(), "{got:?}");
        assert!(got.initiator.changes_refused >= 1, "{actor}: {got:?}");
        assert!(
            !checks_in(&mut office, &space, &incident.id)
                .iter()
                .any(|c| c.result == CheckResult::Deceased)
        );
    }
    let by_office = check_of(&mut office, "R2");
    check_under(&mut office, &key, automerge::ActorId::random(), &by_office);
    let got = sync_local(&mut late, &mut office, here).unwrap();
    assert_eq!(got.initiator.changes_refused, 0, "{got:?}");
    assert!(
        checks_in(&mut late, &space, &incident.id)
            .iter()
            .any(|c| c.id == by_office.id)
    );
}

/// Issue 20, 5, in an area space: the offices that share there are its
/// members, not its admins, and each writes its own shared records. A
/// record is its sharing office's: the device that shared it updates or
/// removes it (or an admin of the area); another partner's edit or removal
/// of it is refused.
#[test]
fn a_partner_edits_only_the_records_its_own_office_shared() {
    use super::tests::{consented, office_with_area};
    let (mut office, origin, area) = office_with_area();
    let here = std::slice::from_ref(&area);
    office.share_to_area(&origin, &area).unwrap();
    let mut partner = member_of(&mut office, &area, Role::Partner);
    let theirs = partner.create_space("あおば").unwrap().id;
    partner
        .upsert_recipients(&theirs, vec![consented("B1", "鈴木")])
        .unwrap();
    partner.share_to_area(&theirs, &area).unwrap();
    let got = sync_local(&mut office, &mut partner, here).unwrap();
    assert_eq!(got.initiator.changes_refused, 0, "its own records: {got:?}");
    let shared = office.recipients(&area).unwrap();
    assert_eq!(shared.len(), 2, "{shared:?}");

    let roster = DocKey::roster(&area);
    for (n, record) in shared.iter().enumerate() {
        for how in ["edit", "remove", "replace"] {
            let mut other = member_of(&mut office, &area, Role::Partner);
            let r = record.recipient.clone();
            other
                .tamper(&roster, |d| {
                    if how == "remove" {
                        doc::remove_recipient(d, &r.id).unwrap();
                    } else if how == "replace" {
                        let recipients = root_map(d, "recipients");
                        d.put_object(&recipients, r.id.as_str(), automerge::ObjType::Map)
                            .unwrap();
                    } else {
                        let mut r = r.clone();
                        r.name = "書き換え".into();
                        doc::put_recipient(d, &r).unwrap();
                    }
                    d.commit();
                })
                .unwrap();
            let got = sync_local(&mut office, &mut other, here).unwrap();
            assert!(got.failures.is_empty(), "{got:?}");
            assert!(
                got.initiator.changes_refused >= 1,
                "record {n}, {how}: {got:?}"
            );
        }
    }
    assert_eq!(office.recipients(&area).unwrap(), shared);

    // The partner updates its own record: taken.
    partner
        .record_consent(&theirs, &RecipientId("B1".into()), None)
        .unwrap();
    let report = partner.share_to_area(&theirs, &area).unwrap();
    assert_eq!(report.removed, 1);
    let got = sync_local(&mut office, &mut partner, here).unwrap();
    assert_eq!(got.initiator.changes_refused, 0, "{got:?}");
    assert_eq!(office.recipients(&area).unwrap().len(), 1);
}
