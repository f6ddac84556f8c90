use super::*;

fn dev(n: u8) -> DeviceId {
    DeviceId(format!("{n:02x}{n:02x}{n:02x}{n:02x}"))
}

#[test]
fn doc_keys_round_trip() {
    for s in ["abc/roster", "abc/incident/flood-2026-11-21"] {
        assert_eq!(s.parse::<DocKey>().unwrap().to_string(), s);
    }
    for bad in ["", "abc", "abc/", "/roster", "abc/incident/", "abc/other"] {
        assert!(bad.parse::<DocKey>().is_err(), "{bad}");
    }
}

#[test]
fn genesis_is_shared_by_independent_devices() {
    let kind = DocKind::Incident("flood-2026-11-21".into());
    let mut a = create(&kind, &actor_for(&dev(1)));
    let mut b = create(&kind, &actor_for(&dev(2)));
    assert_eq!(a.get_heads(), b.get_heads());

    put_check(&mut a, &Check::sample("R1", dev(1).as_str())).unwrap();
    put_check(&mut b, &Check::sample("R1", dev(2).as_str())).unwrap();
    a.merge(&mut b).unwrap();
    // Both checks are visible: the two devices shared one `checks` map.
    assert_eq!(checks(&a).unwrap().len(), 2);
}

#[test]
fn checks_fill_one_bucket_after_another() {
    let mut a = create(
        &DocKind::Incident("flood-2026-11-21".into()),
        &actor_for(&dev(1)),
    );
    let mut ids = Vec::new();
    for i in 0..(CHECKS_PER_BUCKET + 10) {
        let c = Check::sample(&format!("R{i}"), dev(1).as_str());
        put_check(&mut a, &c).unwrap();
        ids.push(c.id);
    }
    let buckets: Vec<String> = a.keys(top(&a, CHECKS).unwrap()).collect();
    assert_eq!(buckets, [format!("{}.0", dev(1)), format!("{}.1", dev(1))]);
    let mut got: Vec<_> = checks(&a).unwrap().into_iter().map(|c| c.id).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    let last = ids.last().unwrap().to_string();
    let in_second = check(&a, &format!("{}.1", dev(1)), &last).unwrap();
    let in_first = check(&a, &format!("{}.0", dev(1)), &last).unwrap();
    assert!(in_second.is_some() != in_first.is_some());
}

#[test]
fn concurrent_field_edits_are_all_readable() {
    let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
    let mut r = Recipient {
        id: "R1".into(),
        name: "山田 花子".into(),
        ..Default::default()
    };
    put_recipient(&mut a, &r).unwrap();
    a.commit();
    let mut b = a.fork().with_actor(actor_for(&dev(2)));
    r.plan.shelter = "第一小学校".into();
    put_recipient(&mut a, &r).unwrap();
    r.plan.shelter = "中央公民館".into();
    r.phone = "03-0000-0000".into();
    put_recipient(&mut b, &r).unwrap();
    a.merge(&mut b).unwrap();
    let conflicts = recipient_conflicts(&a, &r.id).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "plan.shelter");
    let mut values = conflicts[0].values.clone();
    values.sort();
    assert_eq!(values, ["中央公民館", "第一小学校"]);
    // The field nobody else touched merged without conflict.
    assert_eq!(recipient(&a, &r.id).unwrap().unwrap().phone, "03-0000-0000");
}

#[test]
fn the_whole_roster_read_in_one_pass_matches_each_recipient_read_alone() {
    let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
    let plain = |i: usize| Recipient {
        id: RecipientId(format!("R{i}")),
        name: format!("利用者 {i}"),
        phone: "03-0000-0000".into(),
        ..Default::default()
    };
    for i in 0..5 {
        put_recipient(&mut a, &plain(i)).unwrap();
    }
    a.commit();
    let mut b = a.fork().with_actor(actor_for(&dev(2)));
    // R1: one group edited on both sides; R2: one field on one side.
    let mut r1 = plain(1);
    r1.plan.shelter = "第一小学校".into();
    put_recipient(&mut a, &r1).unwrap();
    r1.plan.shelter = "中央公民館".into();
    put_recipient(&mut b, &r1).unwrap();
    let mut r2 = plain(2);
    r2.phone = "090-2222-2222".into();
    put_recipient(&mut b, &r2).unwrap();
    // R9: created on both sides while apart.
    let mut r9 = plain(9);
    put_recipient(&mut a, &r9).unwrap();
    r9.name = "別の 記録".into();
    put_recipient(&mut b, &r9).unwrap();
    a.merge(&mut b).unwrap();

    let one_pass = recipients_with_conflicts(&a).unwrap();
    let alone: Vec<_> = recipients(&a)
        .unwrap()
        .into_iter()
        .map(|r| {
            let c = recipient_conflicts(&a, &r.id).unwrap();
            (r, c)
        })
        .collect();
    assert_eq!(one_pass, alone);
    let conflicted: Vec<&str> = one_pass
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(r, _)| r.id.as_str())
        .collect();
    assert_eq!(conflicted, ["R1", "R9"]);
    assert_eq!(one_pass[2].0.phone, "090-2222-2222");
}

#[test]
fn concurrent_edits_of_one_group_show_each_changed_field() {
    let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
    let mut r = Recipient {
        id: "R1".into(),
        address: "東京都架空区一丁目1番".into(),
        phone: "03-0000-0000".into(),
        ..Default::default()
    };
    put_recipient(&mut a, &r).unwrap();
    a.commit();
    let mut b = a.fork().with_actor(actor_for(&dev(2)));
    let mut ra = r.clone();
    ra.phone = "090-1111-1111".into();
    put_recipient(&mut a, &ra).unwrap();
    r.address = "東京都架空区二丁目2番".into();
    put_recipient(&mut b, &r).unwrap();
    a.merge(&mut b).unwrap();
    // Address and phone share a register: both edits stay readable, as
    // conflicts of the two fields that differ, and nothing else.
    let conflicts = recipient_conflicts(&a, &r.id).unwrap();
    let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["address", "phone"], "{conflicts:?}");
    // Writing the shown record over the conflict resolves it.
    let shown = recipient(&a, &r.id).unwrap().unwrap();
    put_recipient(&mut a, &shown).unwrap();
    assert!(recipient_conflicts(&a, &r.id).unwrap().is_empty());
}

#[test]
fn empty_groups_cost_no_operations() {
    let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
    let before = a.get_heads();
    put_recipient(
        &mut a,
        &Recipient {
            id: "R1".into(),
            name: "山田 花子".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let ops: usize = a.get_changes(&before).iter().map(|c| c.len()).sum();
    // The recipient's map and its one non-empty group.
    assert_eq!(ops, 2);
    let before = a.get_heads();
    let same = recipient(&a, &"R1".into()).unwrap().unwrap();
    put_recipient(&mut a, &same).unwrap();
    a.commit();
    assert_eq!(
        a.get_changes(&before).len(),
        0,
        "an unchanged put writes nothing"
    );
}

#[test]
fn touched_names_the_entries() {
    let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
    let before = a.get_heads();
    put_recipient(
        &mut a,
        &Recipient {
            id: "R9".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let changes = a.get_changes(&before);
    let t = touched_by(&a, &changes).unwrap();
    assert_eq!(t.recipients.into_iter().collect::<Vec<_>>(), ["R9"]);
    assert!(!t.meta);
}

#[test]
fn a_large_roster_read_in_two_halves_is_the_roster_read_in_order() {
    let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
    for i in 0..5000 {
        put_recipient(
            &mut a,
            &Recipient {
                id: RecipientId(format!("R{i:05}")),
                name: format!("利用者 {i}"),
                ..Default::default()
            },
        )
        .unwrap();
    }
    a.commit();
    // A conflict in each half.
    let mut b = a.fork().with_actor(actor_for(&dev(2)));
    for (id, phones) in [("R00010", ["03-1", "03-2"]), ("R04990", ["03-3", "03-4"])] {
        for (doc, phone) in [(&mut a, phones[0]), (&mut b, phones[1])] {
            let mut r = recipient(doc, &RecipientId(id.into())).unwrap().unwrap();
            r.phone = phone.into();
            put_recipient(doc, &r).unwrap();
        }
    }
    a.merge(&mut b).unwrap();
    let halves = recipients_with_conflicts(&a).unwrap();
    let recipients = top(&a, RECIPIENTS).unwrap();
    let whole = super::roster::recipients_in(&a, &recipients, ..).unwrap();
    assert_eq!(halves.len(), 5000);
    assert_eq!(halves, whole);
    assert_eq!(halves.iter().filter(|(_, c)| !c.is_empty()).count(), 2);
}

/// What `read_whole` reads of a document saved as `bytes`, confirmed by
/// the document loaded from them.
fn read_confirmed(kind: &DocKind, bytes: &[u8]) -> Reading {
    let reading = read_whole(kind, bytes).expect("the reading is sure");
    let loaded = AutoCommit::load(bytes).unwrap();
    assert!(reading.confirmed_by(&loaded, kind));
    reading
}

fn by_id(mut rs: Vec<Recipient>) -> Vec<Recipient> {
    rs.sort_by(|a, b| a.id.cmp(&b.id));
    rs
}

/// The recipients a new device indexes from a roster's saved form
/// (`whole_rows`) are those the loaded roster gives: after edits, removals,
/// a recipient removed and made again, two writers, and with changes saved
/// after the document; where they could differ (a conflict) the reading
/// gives none and the loaded document is read instead.
#[test]
fn the_recipients_read_from_the_saved_form_are_the_loaded_rosters() {
    let kind = DocKind::Roster;
    let mut a = create(&kind, &actor_for(&dev(1)));
    let person = |i: usize| {
        let mut r = Recipient {
            id: RecipientId(format!("R{i:02}")),
            name: format!("利用者 {i}"),
            area: ["北地区", "南地区"][i % 2].into(),
            ..Default::default()
        };
        if i.is_multiple_of(3) {
            r.plan.shelter = "第一小学校".into();
            r.care_level = Some(CareLevel::Care3);
        }
        r
    };
    for i in 0..40 {
        put_recipient(&mut a, &person(i)).unwrap();
    }
    a.commit();
    let mut b = a.fork().with_actor(actor_for(&dev(2)));
    let mut r1 = person(1);
    r1.phone = "090-1111-1111".into();
    put_recipient(&mut a, &r1).unwrap();
    remove_recipient(&mut a, &person(2).id).unwrap();
    remove_recipient(&mut a, &person(3).id).unwrap();
    a.commit();
    let mut r3 = person(3);
    r3.name = "戻った 人".into();
    put_recipient(&mut a, &r3).unwrap();
    let mut r5 = person(5);
    r5.plan.shelter = "中央公民館".into();
    put_recipient(&mut b, &r5).unwrap();
    a.merge(&mut b).unwrap();
    let loaded = || -> Vec<Recipient> {
        recipients_with_conflicts(&a)
            .unwrap()
            .into_iter()
            .map(|(r, conflicts)| {
                assert!(conflicts.is_empty(), "{conflicts:?}");
                r
            })
            .collect()
    };
    let expected = by_id(loaded());
    assert_eq!(expected.len(), 39);

    let saved = a.save();
    let mut reading = read_confirmed(&kind, &saved);
    assert!(reading.trailing().is_empty());
    let Some(WholeRows::Recipients(got)) = reading.take_rows() else {
        panic!("no rows read");
    };
    assert_eq!(by_id(got), expected);

    // Changes saved after the document (a stored form between
    // compactions): held apart, the rows are the document chunk's.
    let heads = a.get_heads();
    let mut r7 = person(7);
    r7.phone = "03-7777-7777".into();
    put_recipient(&mut a, &r7).unwrap();
    remove_recipient(&mut a, &person(8).id).unwrap();
    a.commit();
    let mut bytes = saved.clone();
    for c in a.get_changes(&heads) {
        bytes.extend_from_slice(c.raw_bytes());
    }
    let mut reading = read_confirmed(&kind, &bytes);
    assert_eq!(reading.trailing().len(), 1);
    let Some(WholeRows::Recipients(got)) = reading.take_rows() else {
        panic!("no rows read");
    };
    assert_eq!(by_id(got), expected);

    // A group edited on two devices apart: a conflict, no rows.
    let mut c = a.fork().with_actor(actor_for(&dev(3)));
    let mut r9 = person(9);
    r9.plan.shelter = "第二中学校".into();
    put_recipient(&mut a, &r9).unwrap();
    r9.plan.shelter = "体育館".into();
    put_recipient(&mut c, &r9).unwrap();
    a.merge(&mut c).unwrap();
    let mut reading = read_confirmed(&kind, &a.save());
    assert!(reading.take_rows().is_none());
}

/// The checks a new device indexes from an incident's saved form are those
/// the loaded incident gives: from several buckets and writers, a check
/// copied into a second bucket once, a text that is no check left out.
#[test]
fn the_checks_read_from_the_saved_form_are_the_loaded_incidents() {
    let kind = DocKind::Incident("flood-2026-11-21".into());
    let mut a = create(&kind, &actor_for(&dev(1)));
    for i in 0..(CHECKS_PER_BUCKET + 20) {
        put_check(&mut a, &Check::sample(&format!("R{i}"), dev(1).as_str())).unwrap();
    }
    a.commit();
    let mut b = a.fork().with_actor(actor_for(&dev(2)));
    let copied = checks(&a).unwrap().remove(3);
    put_check_by(&mut b, &dev(2), &copied).unwrap();
    put_check(&mut b, &Check::sample("R1", dev(2).as_str())).unwrap();
    let bucket = b
        .get(top(&b, CHECKS).unwrap(), format!("{}.0", dev(2)).as_str())
        .unwrap()
        .unwrap()
        .1;
    b.put(&bucket, "not-a-check", "{\"broken\": true}").unwrap();
    a.merge(&mut b).unwrap();
    let sorted = |mut cs: Vec<Check>| {
        cs.sort_by_key(|c| c.id);
        cs
    };
    let expected = sorted(checks(&a).unwrap());
    assert_eq!(expected.len(), CHECKS_PER_BUCKET + 21);
    let mut reading = read_confirmed(&kind, &a.save());
    let Some(WholeRows::Checks(got)) = reading.take_rows() else {
        panic!("no rows read");
    };
    assert_eq!(sorted(got), expected);
}
