//! Documents of every format version anpi has written, made by the code of
//! that version and committed under `tests/fixtures/format-N/`: today's code
//! must load them, show the same lists, and sync them.
//!
//! A fixture is a small office as the field makes it — an office and a
//! phone, recipients with every group of fields, a concurrent edit, two
//! incidents (one ended), checks, a correction, a duplicate visit, a claim,
//! and an area space shared with consent and a disaster exception — saved
//! document by document as plain Automerge files, with what that version
//! showed for it (`expected.json`). Every later format change adds its own
//! directory, written by:
//!
//! ```text
//! ANPI_WRITE_FIXTURES=1 cargo test -p anpi-tests --test formats -- --ignored --exact write_fixtures
//! ```

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anpi_core::codes::{
    Attendance, AvailableFrom, FamilySafety, HomeDamage, OperationLevel, PersonalSafety,
};
use anpi_core::doc::{DocKey, DocKind};
use anpi_core::model::*;
use anpi_core::node::{NewCheck, Node, sync_local};
use anpi_core::store::{Batch, DocWrite, INDEX_VERSION_KEY, MemoryStore, Store};
use automerge::AutoCommit;
use serde_json::{Value, json};

/// The format the code under test writes. Format 1 is what anpi wrote
/// before documents carried a version (its fixtures were written by that
/// code, commit 3aabdb1).
const WRITES: u32 = anpi_core::doc::FORMAT_VERSION;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn at(minutes: i64) -> Timestamp {
    // 2026-09-01 09:00 JST, the fixtures' disaster.
    Timestamp::from_millis(1_788_220_800_000).plus_minutes(minutes)
}

fn recipient(id: &str, name: &str, kana: &str) -> Recipient {
    Recipient {
        id: RecipientId(id.into()),
        name: name.into(),
        kana: kana.into(),
        ..Default::default()
    }
}

fn roster() -> Vec<Recipient> {
    let mut a = recipient("A001", "安否 花子", "アンピ ハナコ");
    a.address = "新潟県架空市本町1-2-3".into();
    a.area = "本町地区".into();
    a.phone = "025-000-0001".into();
    a.household = Some(Household::Alone);
    a.care_level = Some(CareLevel::Care4);
    a.care_manager = "佐藤".into();
    a.bedridden = Some(true);
    a.check_method = "訪問".into();
    a.notes = "耳が遠い。玄関は裏口".into();
    a.consent = Some(true);
    a.consent_record = Some(ConsentRecord {
        date: Date::from_ymd(2026, 4, 1).unwrap(),
        scope: "安否確認のため連携先へ".into(),
        obtained_by: "佐藤".into(),
    });
    a.hazards.flood_depth = Some(FloodDepth::Over3);
    a.hazards.landslide_zone = Some(false);
    a.plan.shelter = "本町小学校".into();
    a.plan.supporter = "長男".into();
    a.plan.medical_devices = vec![MedicalDevice::Ventilator];
    a.plan.medical_needs = "人工呼吸器（バッテリー6時間）".into();
    let mut b = recipient("A002", "見守 次郎", "ミマモリ ジロウ");
    b.area = "本町地区".into();
    b.care_manager = "佐藤".into();
    b.household = Some(Household::ElderlyOnly);
    b.care_level = Some(CareLevel::Support2);
    b.dementia = Some(true);
    let mut c = recipient("A003", "連絡 三郎", "レンラク サブロウ");
    c.area = "川西地区".into();
    c.care_manager = "鈴木".into();
    c.household = Some(Household::WithFamily);
    c.consent = Some(false);
    let mut d = recipient("A004", "確認 四季", "カクニン シキ");
    d.area = "川西地区".into();
    d.care_manager = "鈴木".into();
    d.household = Some(Household::AloneDaytime);
    d.priority_override = Some(PriorityOverride {
        score: 90,
        reason: "在宅酸素".into(),
        by: "佐藤".into(),
        at: at(-40_000),
        office_ranking: false,
    });
    let e = recipient("A005", "未確認 五郎", "ミカクニン ゴロウ");
    vec![a, b, c, d, e]
}

fn check(r: &str, method: CheckMethod, result: CheckResult, minutes: i64) -> NewCheck {
    let mut c = NewCheck::new(RecipientId(r.into()), method, result);
    c.at = at(minutes);
    c
}

/// A device of the office's staff member `name`, added with `role` and
/// joined (the space synced from the office).
fn enrolled(office: &mut Node, space: &SpaceId, name: &str, role: Role) -> Node {
    let mut device = Node::open(MemoryStore::new()).unwrap();
    let staff = Staff {
        name: name.into(),
        organisation: "ひまわり居宅介護支援事業所".into(),
        id: None,
    };
    device.set_staff(staff.clone()).unwrap();
    office
        .add_member(space, device.device(), staff, role)
        .unwrap();
    sync_local(&mut device, office, std::slice::from_ref(space)).unwrap();
    device
}

fn staff_member(id: &str, name: &str, km: Option<f64>) -> StaffMember {
    StaffMember {
        id: StaffId(id.into()),
        name: name.into(),
        organisation: "ひまわり居宅介護支援事業所".into(),
        distance_km: km,
        ..Default::default()
    }
}

fn report(
    staff: &str,
    person: PersonalSafety,
    from: Option<AvailableFrom>,
    minutes: i64,
) -> anpi_core::node::NewReport {
    anpi_core::node::NewReport {
        staff: Some(StaffId(staff.into())),
        person,
        family: FamilySafety::Safe,
        home: HomeDamage::None,
        attendance: if from.is_some() {
            Attendance::Able
        } else {
            Attendance::Unable
        },
        from,
        location: String::new(),
        contact: String::new(),
        at: at(minutes),
    }
}

/// The fixture's world, made with the code under test. Returns the office
/// (holding every document) and the spaces by label.
fn make_world() -> (Node, BTreeMap<&'static str, SpaceId>) {
    let mut office = Node::open(MemoryStore::new()).unwrap();
    office
        .set_staff(Staff {
            name: "事務 一子".into(),
            organisation: "ひまわり居宅介護支援事業所".into(),
            id: None,
        })
        .unwrap();
    let space = office
        .create_space("ひまわり居宅介護支援事業所")
        .unwrap()
        .id;
    office.upsert_recipients(&space, roster()).unwrap();
    let mut phone = enrolled(&mut office, &space, "訪問 太郎", Role::CareManager);

    // An earlier incident, ended.
    let rain = office
        .start_incident(&space, IncidentKind::Storm, "8月の大雨", at(-20_000))
        .unwrap();
    office
        .record_check(
            &space,
            &rain.id,
            check("A001", CheckMethod::Phone, CheckResult::Safe, -19_990),
        )
        .unwrap();
    office.end_incident(&space, &rain.id, at(-19_000)).unwrap();

    // The earthquake: the office opens it, the phone works offline.
    let quake = office
        .start_incident(&space, IncidentKind::Earthquake, "本町地震", at(0))
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    let first = phone
        .record_check(
            &space,
            &quake.id,
            check("A001", CheckMethod::Visit, CheckResult::Unreachable, 30),
        )
        .unwrap();
    let mut fix = check("A001", CheckMethod::Visit, CheckResult::Safe, 45);
    fix.supersedes = Some(first.id);
    fix.note = "裏口から声かけ、本人と会話".into();
    phone.record_check(&space, &quake.id, fix).unwrap();
    phone
        .claim(&space, &quake.id, &RecipientId("A004".into()), 120, at(150))
        .unwrap();
    // The office phones A002 while the phone visits: a duplicate.
    office
        .record_check(
            &space,
            &quake.id,
            check("A002", CheckMethod::Phone, CheckResult::Safe, 50),
        )
        .unwrap();
    phone
        .record_check(
            &space,
            &quake.id,
            check("A002", CheckMethod::Visit, CheckResult::Injured, 55),
        )
        .unwrap();
    office
        .record_check(
            &space,
            &quake.id,
            check(
                "A003",
                CheckMethod::Phone,
                CheckResult::SafeNeedsSupport,
                60,
            ),
        )
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    // Two office PCs edit A003's phone number before they meet: a
    // conflict shown.
    let mut second = enrolled(&mut office, &space, "事務 二子", Role::Admin);
    let mut c_office = roster().remove(2);
    c_office.phone = "025-000-0003".into();
    office.upsert_recipients(&space, vec![c_office]).unwrap();
    let mut c_second = roster().remove(2);
    c_second.phone = "090-0000-0003".into();
    second.upsert_recipients(&space, vec![c_second]).unwrap();
    sync_local(&mut second, &mut office, &[]).unwrap();

    // The staff side (format 4): the staff list, a report from the phone
    // and one the office took by phone, the level set by hand, an
    // assignment.
    office
        .import_staff(
            &space,
            vec![
                staff_member("S01", "事務 一子", Some(0.8)),
                staff_member("S02", "訪問 太郎", Some(4.0)),
                staff_member("S03", "事務 二子", None),
            ],
        )
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();
    phone
        .record_report(
            &space,
            &quake.id,
            report(
                "S02",
                PersonalSafety::Unharmed,
                Some(AvailableFrom::Now),
                20,
            ),
        )
        .unwrap();
    office
        .record_report(
            &space,
            &quake.id,
            report("S03", PersonalSafety::MinorInjury, None, 40),
        )
        .unwrap();
    office
        .decide(
            &space,
            &quake.id,
            Decided::Level {
                level: Some(OperationLevel::Level50),
            },
            "応援職員が到着",
        )
        .unwrap();
    office
        .assign(
            &space,
            &quake.id,
            &[RecipientId("A004".into())],
            Some(&StaffId("S02".into())),
        )
        .unwrap();
    sync_local(&mut phone, &mut office, &[]).unwrap();

    // The area space, shared with consent, then under an exception.
    let area = office.create_area_space("本町地区 連携").unwrap().id;
    office.share_to_area(&space, &area).unwrap();
    office
        .declare_exception(&space, &area, 72, "震度6強、安否不明者多数")
        .unwrap();
    office.share_to_area(&space, &area).unwrap();
    let shared = office
        .start_incident(&area, IncidentKind::Earthquake, "本町地震", at(0))
        .unwrap();
    let mut visit = NewCheck::new(
        anpi_core::sharing::shared_id(&space, &RecipientId("A005".into())),
        CheckMethod::Visit,
        CheckResult::Safe,
    );
    visit.at = at(90);
    visit.staff = Some(Staff {
        name: "見守り 一郎".into(),
        organisation: "あおば訪問看護".into(),
        id: None,
    });
    office.record_check(&area, &shared.id, visit).unwrap();
    office.collect_area_checks(&space, &area).unwrap();
    office.flush_all().unwrap();
    (office, BTreeMap::from([("office", space), ("area", area)]))
}

/// What a version shows of one space at the fixture's moment: every
/// recipient with its conflicts, the members, the incidents, and the
/// priority list of the incident shown.
fn shown(node: &mut Node, space: &SpaceId) -> Value {
    let now = at(180);
    let recipients: Vec<Value> = node
        .recipients(space)
        .unwrap()
        .into_iter()
        .map(|r| {
            json!([
                r.recipient.id.as_str(),
                r.recipient.name,
                r.recipient.phone,
                r.conflicts
                    .iter()
                    .map(|c| c.field.clone())
                    .collect::<Vec<_>>(),
            ])
        })
        .collect();
    let members: Vec<Value> = node
        .members(space)
        .unwrap()
        .into_iter()
        .map(|(m, standing)| {
            json!([
                m.staff.name,
                format!("{:?}", m.role),
                format!("{standing:?}")
            ])
        })
        .collect();
    let incidents: Vec<Value> = node
        .incidents(space)
        .unwrap()
        .into_iter()
        .map(|i| {
            json!([
                i.name,
                format!("{:?}", i.kind),
                i.started_at.0.timestamp(),
                i.ended_at.map(|t| t.0.timestamp())
            ])
        })
        .collect();
    let data = node.shown_incident_data(space).unwrap();
    let list: Vec<Value> = data
        .priority_list(now)
        .iter()
        .map(|e| {
            json!([
                e.rank,
                e.recipient.id.as_str(),
                e.score,
                e.reasons_line(),
                format!("{:?}", e.standing),
                e.latest.map(|c| format!("{:?}", c.result)),
                e.checks,
                e.duplicate,
                e.conflict.len(),
                e.live_claims.len(),
            ])
        })
        .collect();
    let staff_side = match data.incident.as_ref() {
        Some(i) => staff_shown(node, space, &i.id, now),
        None => no_staff_side(),
    };
    json!({
        "staff": staff_side,
        "name": node.spaces().unwrap().into_iter().find(|s| &s.id == space).map(|s| s.name),
        "recipients": recipients,
        "members": members,
        "incidents": incidents,
        "list": list,
        "exceptions": node.exceptions(space).unwrap().len(),
    })
}

/// What a version shows of the staff side (format 4) of an incident: the
/// staff list, the reports in force, turnout and the level, assignments.
fn staff_shown(node: &mut Node, space: &SpaceId, incident: &IncidentId, now: Timestamp) -> Value {
    let board = node.staff_board(space, incident, now).unwrap();
    json!({
        "list": board.rows.iter().map(|r| json!([
            r.member.id.as_str(),
            r.member.name,
            r.member.distance_km,
            r.report.as_ref().map(|x| [x.person.code(), x.attendance.code(), x.from.code()]),
        ])).collect::<Vec<_>>(),
        "expected_today": board.today.expected,
        "level": board.level.level.code(),
        "by_hand": board.level.by_hand.map(|d| d.reason),
        "assignments": node.assignments(space, incident).unwrap().into_iter()
            .map(|a| json!([a.recipient.as_str(), a.staff.as_str()])).collect::<Vec<_>>(),
    })
}

/// [`staff_shown`] of a space with no staff side (before format 4).
fn no_staff_side() -> Value {
    json!({
        "list": [],
        "expected_today": 0.0,
        "level": "30",
        "by_hand": null,
        "assignments": [],
    })
}

fn file_name(key: &DocKey) -> String {
    match &key.kind {
        DocKind::Roster => "roster.automerge".into(),
        DocKind::Incident(id) => format!("incident-{id}.automerge"),
    }
}

#[test]
#[ignore = "writes the fixtures of this code's format; run by hand after a format change"]
fn write_fixtures() {
    if std::env::var("ANPI_WRITE_FIXTURES").is_err() {
        return;
    }
    let dir = fixtures().join(format!("format-{WRITES}"));
    assert!(
        !dir.exists(),
        "{} exists: a format's fixtures are written once, by its own code",
        dir.display()
    );
    let (mut office, spaces) = make_world();
    let mut expected = serde_json::Map::new();
    for (label, space) in &spaces {
        std::fs::create_dir_all(dir.join(label)).unwrap();
        for key in office
            .documents()
            .unwrap()
            .into_iter()
            .filter(|k| &k.space == space)
        {
            let bytes = office.saved_document(&key).unwrap();
            std::fs::write(dir.join(label).join(file_name(&key)), bytes).unwrap();
        }
        expected.insert(
            (*label).to_string(),
            json!({ "space": space.as_str(), "shown": shown(&mut office, space) }),
        );
    }
    std::fs::write(
        dir.join("expected.json"),
        serde_json::to_string_pretty(&Value::Object(expected)).unwrap() + "\n",
    )
    .unwrap();
}

/// A node holding exactly the saved documents of one fixture directory, as
/// a device that received them would (the index made from them on open).
fn node_of(dir: &Path) -> (Node, BTreeMap<String, (SpaceId, Value)>) {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let mut store = MemoryStore::new();
    let mut spaces = BTreeMap::new();
    for (label, e) in expected.as_object().unwrap() {
        let space = SpaceId(e["space"].as_str().unwrap().into());
        for entry in std::fs::read_dir(dir.join(label)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let kind = match name.strip_suffix(".automerge") {
                Some("roster") => DocKind::Roster,
                Some(n) => {
                    DocKind::Incident(IncidentId(n.strip_prefix("incident-").unwrap().to_string()))
                }
                None => continue,
            };
            let bytes = std::fs::read(&path).unwrap();
            let heads = AutoCommit::load(&bytes).unwrap().get_heads();
            let mut w = DocWrite::new(
                DocKey {
                    space: space.clone(),
                    kind,
                },
                heads,
            );
            w.snapshot = Some(bytes);
            store
                .write(Batch {
                    docs: vec![w],
                    ..Default::default()
                })
                .unwrap();
        }
        spaces.insert(label.clone(), (space, e["shown"].clone()));
    }
    // An index of no known layout: made again from the documents on open.
    store
        .write(Batch {
            meta: vec![(INDEX_VERSION_KEY.into(), b"0".to_vec())],
            ..Default::default()
        })
        .unwrap();
    (Node::open(store).unwrap(), spaces)
}

/// The format a fixture folder holds (`format-N`).
fn format_of(dir: &Path) -> u32 {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("format-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

fn format_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("format-"))
        })
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no fixtures under {}",
        fixtures().display()
    );
    dirs
}

#[test]
fn every_format_s_fixtures_load_show_the_same_lists_and_sync() {
    for dir in format_dirs() {
        let (mut old, mut spaces) = node_of(&dir);
        if format_of(&dir) < 3 {
            // Disaster exceptions were unsigned before format 3: they grant
            // nothing now (docs/SECURITY.md, "Sharing").
            for (_, expected) in spaces.values_mut() {
                expected["exceptions"] = serde_json::json!(0);
            }
        }
        if format_of(&dir) < 4 {
            // No staff side before format 4.
            for (_, expected) in spaces.values_mut() {
                expected["staff"] = no_staff_side();
            }
        }
        for (label, (space, expected)) in &spaces {
            assert_eq!(
                &shown(&mut old, space),
                expected,
                "{} {label}: loaded, today's code shows what that version showed",
                dir.display()
            );
        }
        // A device new to these spaces does not take their history from a
        // device that neither wrote it nor is an admin: builds before seals
        // signed nothing, and their changes count only vouched for by the
        // device that made them or an admin (docs/SECURITY.md, "Changes").
        let mut fresh = Node::open(MemoryStore::new()).unwrap();
        let want: Vec<SpaceId> = spaces.values().map(|(s, _)| s.clone()).collect();
        let x = sync_local(&mut fresh, &mut old, &want).unwrap();
        assert_eq!(x.failures.len(), spaces.len(), "{x:?}");
        for (_, why) in &x.failures {
            assert!(why.contains("not sealed"), "{why}");
        }
        assert!(fresh.spaces().unwrap().is_empty(), "nothing half taken");
        // A device that held the same documents before its update (opened
        // by today's code) shows the same and records into the older
        // documents.
        let (mut today, _) = node_of(&dir);
        let (office, _) = &spaces["office"];
        let quake = today.shown_incident(office).unwrap().unwrap();
        let c = today
            .record_check(
                office,
                &quake.id,
                check("A005", CheckMethod::Phone, CheckResult::Safe, 170),
            )
            .unwrap();
        // Recording stepped the older document to today's format, once,
        // in the audit trail; the step syncs like any change.
        let key = DocKey::incident(office, &quake.id);
        let stepped = AutoCommit::load(&today.saved_document(&key).unwrap()).unwrap();
        assert_eq!(
            anpi_core::doc::format::format(&stepped).unwrap().version,
            anpi_core::doc::FORMAT_VERSION
        );
        let steps = today
            .audit_trail()
            .unwrap()
            .into_iter()
            .filter(|e| e.record.detail.starts_with("data format"))
            .count();
        let from = dir.file_name().unwrap().to_str().unwrap();
        let expected_steps =
            usize::from(from != format!("format-{}", anpi_core::doc::FORMAT_VERSION));
        assert_eq!(steps, expected_steps, "{}", dir.display());
        sync_local(&mut today, &mut old, &[]).unwrap();
        assert!(
            old.checks(office, &quake.id)
                .unwrap()
                .iter()
                .any(|k| k.id == c.id),
            "{}: a check recorded by today's code reached the older copy",
            dir.display()
        );
        assert_eq!(old.heads().unwrap(), today.heads().unwrap());
    }
}

/// A document of a format above today's, with a map today's code does not
/// know, passes through a device running today's code between two others:
/// it arrives unchanged, that device's people are told to update, and its
/// own checks still sync.
#[test]
fn a_newer_format_passes_through_unchanged_and_the_device_between_is_told_to_update() {
    use anpi_core::doc::{FORMAT_VERSION, format::update_notice};
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("office.db");
    let (space, quake) = {
        let mut office = Node::open(anpi_core::store::SqliteStore::open(&path).unwrap()).unwrap();
        let space = office.create_space("ひまわり").unwrap().id;
        office.upsert_recipients(&space, roster()).unwrap();
        let quake = office
            .start_incident(&space, IncidentKind::Earthquake, "本町地震", at(0))
            .unwrap();
        (space, quake.id)
    };
    // What a later anpi wrote: an incident of format FORMAT_VERSION + 1,
    // readable only from that format, with a map of its own.
    let future = DocKey::incident(&space, &IncidentId("flood-2027-07-01".into()));
    let newer = FORMAT_VERSION + 1;
    // Its step, as the rule for steps says: by the step's own actor at
    // time 0; then a device of that version writes into the new map.
    let mut doc = anpi_core::doc::create(
        &future.kind,
        &automerge::ActorId::from(format!("anpi-format-v{newer}").into_bytes()),
    );
    doc.put(ROOT, "format", u64::from(newer)).unwrap();
    doc.put(ROOT, "readable_from", u64::from(newer)).unwrap();
    let reports = doc.put_object(ROOT, "staff_reports", ObjType::Map).unwrap();
    doc.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    doc.set_actor(automerge::ActorId::from(b"later".to_vec()));
    doc.put(&reports, "d1", r#"{"self":"safe","can_work":"now"}"#)
        .unwrap();
    doc.commit();
    let future_heads = doc.get_heads();
    let future_bytes = doc.save();
    {
        let mut store = anpi_core::store::SqliteStore::open(&path).unwrap();
        let mut w = DocWrite::new(future.clone(), future_heads.clone());
        w.snapshot = Some(future_bytes);
        store
            .write(Batch {
                docs: vec![w],
                ..Default::default()
            })
            .unwrap();
    }
    let mut office = Node::open(anpi_core::store::SqliteStore::open(&path).unwrap()).unwrap();

    // The device between: today's code.
    let mut between = Node::open(MemoryStore::new()).unwrap();
    let x = sync_local(&mut between, &mut office, std::slice::from_ref(&space)).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    assert_eq!(
        between.newer_documents().unwrap(),
        vec![(future.clone(), newer)]
    );
    let notice = update_notice(
        anpi_core::codes::Lang::Ja,
        between.newer_documents().unwrap().len(),
    );
    assert!(notice.contains("anpi を更新してください"), "{notice}");
    // Shown nowhere, written never.
    assert!(
        between
            .incidents(&space)
            .unwrap()
            .iter()
            .all(|i| i.id.0 != "flood-2027-07-01")
    );
    let refused = between
        .record_check(
            &space,
            &IncidentId("flood-2027-07-01".into()),
            check("A001", CheckMethod::Visit, CheckResult::Safe, 10),
        )
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        anpi_core::error::ErrorKind::NeedsUpdate,
        "{refused}"
    );
    // Its own checks go on.
    let own = between
        .record_check(
            &space,
            &quake,
            check("A002", CheckMethod::Visit, CheckResult::Safe, 20),
        )
        .unwrap();

    // A third device meets only the one between.
    let mut third = Node::open(MemoryStore::new()).unwrap();
    let x = sync_local(&mut third, &mut between, std::slice::from_ref(&space)).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    let mut arrived = AutoCommit::load(&third.saved_document(&future).unwrap()).unwrap();
    assert_eq!(arrived.get_heads(), future_heads, "arrived unchanged");
    let (_, reports) = arrived.get(ROOT, "staff_reports").unwrap().unwrap();
    assert_eq!(
        arrived
            .get(&reports, "d1")
            .unwrap()
            .unwrap()
            .0
            .into_string()
            .ok(),
        Some(r#"{"self":"safe","can_work":"now"}"#.to_string())
    );
    assert!(
        third
            .checks(&space, &quake)
            .unwrap()
            .iter()
            .any(|c| c.id == own.id),
        "the check made between arrived"
    );
    // And back to the office, where nothing of the newer document moved.
    sync_local(&mut between, &mut office, &[]).unwrap();
    assert!(
        office
            .checks(&space, &quake)
            .unwrap()
            .iter()
            .any(|c| c.id == own.id)
    );
    assert_eq!(office.heads().unwrap()[&future], future_heads);
}

#[derive(Clone, Debug)]
enum Op {
    Check {
        node: usize,
        recipient: usize,
        result: usize,
    },
    Claim {
        node: usize,
        recipient: usize,
    },
    Release {
        node: usize,
        recipient: usize,
    },
    Sync(usize, usize),
}

fn op(nodes: usize) -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let n = 0..nodes;
    let r = 0..5usize;
    prop_oneof![
        4 => (n.clone(), r.clone(), 0..CheckResult::ALL.len())
            .prop_map(|(node, recipient, result)| Op::Check { node, recipient, result }),
        2 => (n.clone(), r.clone()).prop_map(|(node, recipient)| Op::Claim { node, recipient }),
        1 => (n.clone(), r).prop_map(|(node, recipient)| Op::Release { node, recipient }),
        3 => (n.clone(), n).prop_filter("distinct", |(a, b)| a != b).prop_map(|(a, b)| Op::Sync(a, b)),
    ]
}

/// Replicas holding one incident in two formats at once — the first
/// format's fixture, stepped by whichever replica writes first, while the
/// others still hold it unstepped — converge in any order of syncs, and no
/// check is lost.
fn converge_across_formats(ops: Vec<Op>) {
    let dir = fixtures().join("format-1");
    let (old, spaces) = node_of(&dir);
    let (space, _) = spaces["office"].clone();
    let quake = old.shown_incident(&space).unwrap().unwrap().id;
    let mut nodes = vec![old];
    for _ in 0..2 {
        nodes.push(node_of(&dir).0);
    }
    let mut made = std::collections::BTreeSet::new();
    for (k, op) in ops.into_iter().enumerate() {
        let rid = |r: usize| RecipientId(format!("A00{}", r + 1));
        match op {
            Op::Check {
                node,
                recipient,
                result,
            } => {
                let mut c =
                    NewCheck::new(rid(recipient), CheckMethod::Visit, CheckResult::ALL[result]);
                c.at = at(200 + k as i64);
                made.insert(nodes[node].record_check(&space, &quake, c).unwrap().id);
            }
            Op::Claim { node, recipient } => {
                nodes[node]
                    .claim(&space, &quake, &rid(recipient), 600, at(200 + k as i64))
                    .unwrap();
            }
            Op::Release { node, recipient } => {
                nodes[node]
                    .release(&space, &quake, &rid(recipient))
                    .unwrap();
            }
            Op::Sync(a, b) => {
                let (a, b) = anpi_tests::pair(&mut nodes, a, b);
                anpi_tests::sync(a, b).unwrap();
            }
        }
    }
    anpi_tests::sync_all(&mut nodes).unwrap();
    // The fixture's holder has the area space too; the office's documents
    // are the ones all hold.
    let heads: Vec<BTreeMap<_, _>> = nodes
        .iter_mut()
        .map(|n| {
            n.heads()
                .unwrap()
                .into_iter()
                .filter(|(k, _)| k.space == space)
                .collect()
        })
        .collect();
    for h in &heads[1..] {
        assert_eq!(h, &heads[0], "documents differ after merging");
    }
    let shown: Vec<Value> = nodes.iter_mut().map(|n| shown(n, &space)).collect();
    for s in &shown[1..] {
        assert_eq!(s, &shown[0], "views differ after merging");
    }
    let key = DocKey::incident(&space, &quake);
    let stepped = AutoCommit::load(&nodes[0].saved_document(&key).unwrap()).unwrap();
    let format = anpi_core::doc::format::format(&stepped).unwrap().version;
    assert_eq!(
        format == 1,
        made.is_empty()
            && nodes.iter().all(|n| n
                .audit_trail()
                .unwrap()
                .iter()
                .all(|e| !e.record.detail.starts_with("data format")))
    );
    for n in &nodes {
        let have: std::collections::BTreeSet<CheckId> = n
            .checks(&space, &quake)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(made.is_subset(&have), "a check was lost");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]

    #[test]
    fn replicas_on_two_formats_at_once_converge(
        ops in proptest::collection::vec(op(3), 1..40),
    ) {
        converge_across_formats(ops);
    }
}
