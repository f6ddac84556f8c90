//! The staff side end to end on nodes: a staff list, reports recorded on
//! phones for themselves and for colleagues, the board, the admin's hand.

use super::super::tests::{office_on, recipient};
use super::*;
use crate::codes::{OperationLevel, Role};
use crate::store::{MemoryStore, SqliteStore};
use crate::views::StaffState;

fn person(id: &str, km: Option<f64>) -> StaffMember {
    StaffMember {
        id: StaffId(id.into()),
        name: format!("職員 {id}"),
        organisation: "ひまわり居宅".into(),
        distance_km: km,
        ..Default::default()
    }
}

fn report(staff: Option<&str>, person: PersonalSafety, from: Option<AvailableFrom>) -> NewReport {
    NewReport {
        staff: staff.map(|s| StaffId(s.into())),
        person,
        family: FamilySafety::Safe,
        home: HomeDamage::None,
        attendance: if from.is_some() {
            Attendance::Able
        } else {
            Attendance::Unable
        },
        from,
        location: "自宅".into(),
        contact: "携帯".into(),
        at: Timestamp::now(),
    }
}

/// A phone enrolled in `space`, carried by `carrier`, synced once.
fn phone(office: &mut Node, space: &SpaceId, carrier: Staff) -> Node {
    let mut n = Node::open(MemoryStore::new()).unwrap();
    n.set_staff(carrier.clone()).unwrap();
    office
        .add_member(space, &n.device().clone(), carrier, Role::CareManager)
        .unwrap();
    sync_local(&mut n, office, std::slice::from_ref(space)).unwrap();
    n
}

fn carrier(name: &str, id: Option<&str>) -> Staff {
    Staff {
        name: name.into(),
        organisation: "ひまわり居宅".into(),
        id: id.map(|i| StaffId(i.into())),
    }
}

#[test]
fn the_staff_board_follows_reports_syncs_and_the_admins_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("office.db");
    let (mut office, space) = office_on(SqliteStore::open(&path).unwrap());
    let here = std::slice::from_ref(&space);
    let staff = vec![
        person("S1", Some(0.5)),
        person("S2", Some(5.0)),
        person("S3", Some(20.0)),
        person("S4", None),
    ];
    let counts = office.import_staff(&space, staff.clone()).unwrap();
    assert_eq!((counts.added, counts.updated), (4, 0));
    // The earthquake struck ten minutes ago. S3's phone (known by its
    // carrier's name alone) last synced an hour before it; S2's now.
    let inc = office
        .start_incident(
            &space,
            IncidentKind::Earthquake,
            "",
            Timestamp::now().plus_minutes(-10),
        )
        .unwrap();
    let mut s3_phone = phone(&mut office, &space, carrier("職員S3", None));
    let mut seen = office.last_exchanges().unwrap();
    seen.insert(
        s3_phone.device().clone(),
        Timestamp::now().plus_minutes(-70),
    );
    office
        .store
        .write(Batch {
            meta: vec![(
                META_LAST_EXCHANGE.into(),
                serde_json::to_vec(&seen).unwrap(),
            )],
            ..Default::default()
        })
        .unwrap();
    office.peers.forget_stored();
    let mut s2_phone = phone(&mut office, &space, carrier("職員 S2", Some("S2")));
    assert_eq!(s2_phone.staff_list(&space).unwrap(), staff);

    // A phone may not edit the staff list, decide or assign.
    for err in [
        s2_phone
            .import_staff(&space, vec![person("S9", None)])
            .unwrap_err(),
        s2_phone
            .decide(&space, &inc.id, Decided::Power { on: true }, "")
            .unwrap_err(),
        s2_phone
            .assign(
                &space,
                &inc.id,
                &[RecipientId("R1".into())],
                Some(&StaffId("S2".into())),
            )
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), crate::error::ErrorKind::NotAllowed, "{err}");
    }
    // The phone asks its carrier for a report; S3's phone, never told its
    // carrier's 職員ID, cannot.
    assert_eq!(
        s2_phone.report_due(&space).unwrap().map(|i| i.id),
        Some(inc.id.clone())
    );
    assert!(s3_phone.report_due(&space).unwrap().is_none());
    // Its carrier's own report, and S1's, who phoned in hurt.
    let own = s2_phone
        .record_report(
            &space,
            &inc.id,
            report(None, PersonalSafety::Unharmed, Some(AvailableFrom::Now)),
        )
        .unwrap();
    assert_eq!(own.staff.as_str(), "S2");
    assert_eq!(own.recorded_by.id, Some(StaffId("S2".into())));
    assert!(s2_phone.report_due(&space).unwrap().is_none(), "asked once");
    let hurt = s2_phone
        .record_report(
            &space,
            &inc.id,
            report(Some("S1"), PersonalSafety::SeriousInjury, None),
        )
        .unwrap();
    assert_eq!(hurt.from, AvailableFrom::Later, "one who cannot come");
    // What is refused, and said so.
    let mut able_without_when = report(Some("S1"), PersonalSafety::Unharmed, None);
    able_without_when.attendance = Attendance::Able;
    let err = s2_phone
        .record_report(&space, &inc.id, able_without_when)
        .unwrap_err();
    assert!(err.to_string().contains("いつから"), "{err}");
    let err = s2_phone
        .record_report(
            &space,
            &inc.id,
            report(
                Some("S9"),
                PersonalSafety::Unharmed,
                Some(AvailableFrom::Now),
            ),
        )
        .unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::NotFound, "{err}");
    sync_local(&mut s2_phone, &mut office, here).unwrap();

    let board = office
        .staff_board(&space, &inc.id, Timestamp::now())
        .unwrap();
    let states: Vec<(&str, StaffState)> = board
        .rows
        .iter()
        .map(|r| (r.member.id.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("S1", StaffState::Injured),
            ("S3", StaffState::NotReached),
            ("S4", StaffState::NotReached),
            ("S2", StaffState::Reported),
        ]
    );
    let s3 = &board.rows[1];
    assert_eq!((s3.devices, s3.last_sync.is_some()), (1, true), "{s3:?}");
    assert_eq!(board.rows[2].devices, 0);
    assert_eq!(
        (
            board.total,
            board.reported,
            board.not_reported,
            board.injured
        ),
        (4, 2, 2, 1)
    );
    // Day 0: S2 (reported, now); S1 hurt; S3 far; S4 unknown: 1 of 4.
    assert!(
        (board.today.expected - 1.0).abs() < 1e-9,
        "{:?}",
        board.today
    );
    assert_eq!(board.level.level, OperationLevel::Level30);
    assert!(board.level.by_hand.is_none());

    // S3's phone syncs now: no answer, which is not "not reached".
    sync_local(&mut s3_phone, &mut office, here).unwrap();
    let board = office
        .staff_board(&space, &inc.id, Timestamp::now())
        .unwrap();
    assert_eq!(
        board
            .rows
            .iter()
            .find(|r| r.member.id.as_str() == "S3")
            .unwrap()
            .state,
        StaffState::NoAnswer
    );

    // The office and the phone report S1 apart (each unaware of the
    // other's): one stands, the same everywhere; a later one knowing
    // both replaces them.
    let a = office
        .record_report(
            &space,
            &inc.id,
            report(Some("S1"), PersonalSafety::MinorInjury, None),
        )
        .unwrap();
    let b = s2_phone
        .record_report(
            &space,
            &inc.id,
            report(Some("S1"), PersonalSafety::SeriousInjury, None),
        )
        .unwrap();
    assert_eq!(b.supersedes, vec![hurt.id]);
    sync_local(&mut s2_phone, &mut office, here).unwrap();
    let stands = |n: &mut Node| {
        let all = n.reports(&space, &inc.id).unwrap();
        crate::views::reports_in_force(&all)[&StaffId("S1".into())].id
    };
    assert_eq!(stands(&mut office), stands(&mut s2_phone));
    assert!([a.id, b.id].contains(&stands(&mut office)));
    let c = s3_phone
        .record_report(
            &space,
            &inc.id,
            report(
                Some("S1"),
                PersonalSafety::MinorInjury,
                Some(AvailableFrom::Within2Days),
            ),
        )
        .unwrap();
    assert_eq!(
        c.supersedes,
        vec![hurt.id],
        "S3's phone had the first alone"
    );
    sync_local(&mut s3_phone, &mut office, here).unwrap();
    let d = office
        .record_report(
            &space,
            &inc.id,
            report(
                Some("S1"),
                PersonalSafety::MinorInjury,
                Some(AvailableFrom::Within1Day),
            ),
        )
        .unwrap();
    assert_eq!(d.supersedes.len(), 4);
    assert_eq!(stands(&mut office), d.id);

    // The level by hand, with who and why; then handed back to turnout.
    office
        .decide(
            &space,
            &inc.id,
            Decided::Level {
                level: Some(OperationLevel::Level50),
            },
            "応援職員2名が到着",
        )
        .unwrap();
    sync_local(&mut s2_phone, &mut office, here).unwrap();
    let board = s2_phone
        .staff_board(&space, &inc.id, Timestamp::now())
        .unwrap();
    assert_eq!(board.level.level, OperationLevel::Level50);
    assert_eq!(board.level.by_turnout, OperationLevel::Level30);
    assert_eq!(
        board.level.by_hand.as_ref().unwrap().reason,
        "応援職員2名が到着"
    );
    office
        .decide(&space, &inc.id, Decided::Level { level: None }, "")
        .unwrap();
    let board = office
        .staff_board(&space, &inc.id, Timestamp::now())
        .unwrap();
    assert_eq!(board.level.level, OperationLevel::Level30);
    assert!(board.level.by_hand.is_none());
    assert!(!crate::views::power_on(
        &office.decisions(&space, &inc.id).unwrap()
    ));
    office
        .decide(&space, &inc.id, Decided::Power { on: true }, "北電力 復旧")
        .unwrap();
    assert!(crate::views::power_on(
        &office.decisions(&space, &inc.id).unwrap()
    ));

    // Assignments reach the phone; taken back, they go.
    office
        .upsert_recipients(&space, vec![recipient("R3")])
        .unwrap();
    let rs: Vec<RecipientId> = ["R1", "R3"]
        .iter()
        .map(|r| RecipientId((*r).into()))
        .collect();
    assert_eq!(
        office
            .assign(&space, &inc.id, &rs, Some(&StaffId("S2".into())))
            .unwrap(),
        2
    );
    assert_eq!(
        office
            .assign(&space, &inc.id, &rs, Some(&StaffId("S2".into())))
            .unwrap(),
        0
    );
    assert_eq!(office.assign(&space, &inc.id, &rs[..1], None).unwrap(), 1);
    let err = office
        .assign(&space, &inc.id, &rs, Some(&StaffId("S9".into())))
        .unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::NotFound);
    sync_local(&mut s2_phone, &mut office, here).unwrap();
    let seen: Vec<(String, String)> = s2_phone
        .assignments(&space, &inc.id)
        .unwrap()
        .into_iter()
        .map(|a| (a.recipient.0, a.staff.0))
        .collect();
    assert_eq!(seen, vec![("R3".to_string(), "S2".to_string())]);

    // All of it is on disk, and comes back after the index is rebuilt.
    office.flush_all().unwrap();
    let before = office
        .staff_board(&space, &inc.id, Timestamp::now())
        .unwrap();
    drop(office);
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .write(Batch {
            meta: vec![(INDEX_VERSION_KEY.into(), b"1".to_vec())],
            ..Default::default()
        })
        .unwrap();
    let mut office = Node::open(store).unwrap();
    let after = office
        .staff_board(&space, &inc.id, Timestamp::now())
        .unwrap();
    assert_eq!(
        (
            after.rows.len(),
            after.reported,
            after.injured,
            after.level.level
        ),
        (
            before.rows.len(),
            before.reported,
            before.injured,
            before.level.level
        )
    );
    assert_eq!(office.assignments(&space, &inc.id).unwrap().len(), 1);
    assert_eq!(office.decisions(&space, &inc.id).unwrap().len(), 3);
}
