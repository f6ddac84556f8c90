//! Replicas that record checks, claims, roster edits, staff safety reports,
//! operation decisions (level, power) and assignments offline, then merge
//! in random orders and partitions, always end with identical data and
//! identical views, and nothing recorded anywhere is lost — even with a
//! member gone bad among them, writing changes that do not fit.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};

use anpi_core::model::*;
use anpi_core::node::{NewCheck, Node};
use anpi_core::store::MemoryStore;
use anpi_core::views;
use anpi_tests::{pair, sync, sync_all};
use proptest::prelude::*;

const ONSET_MS: i64 = 1_795_000_000_000; // 2026-11-18, an ordinary day
const RECIPIENTS: usize = 6;
const STAFF: usize = 3;

fn staff_member(i: usize) -> StaffMember {
    StaffMember {
        id: StaffId(format!("S{i:02}")),
        name: format!("職員{i}"),
        distance_km: Some(1.0 + 5.0 * i as f64),
        ..Default::default()
    }
}

fn now() -> Timestamp {
    Timestamp::from_millis(ONSET_MS + 3_600_000)
}

fn recipient(i: usize) -> Recipient {
    let mut r = Recipient {
        id: RecipientId(format!("R{i:03}")),
        name: format!("利用者{i}"),
        address: format!("市内{i}丁目"),
        household: Some(if i.is_multiple_of(2) {
            Household::Alone
        } else {
            Household::WithFamily
        }),
        ..Default::default()
    };
    if i.is_multiple_of(3) {
        r.plan.medical_devices = vec![MedicalDevice::HomeOxygen];
    }
    r
}

/// An office with a roster, and `phones` devices that cloned it.
fn team(phones: usize) -> (Vec<Node>, SpaceId) {
    let mut office = Node::open(MemoryStore::new()).unwrap();
    office
        .set_staff(Staff {
            name: "事務 太郎".into(),
            organisation: "ひまわり居宅".into(),
            id: None,
        })
        .unwrap();
    let space = office.create_space("ひまわり居宅").unwrap().id;
    office
        .upsert_recipients(&space, (0..RECIPIENTS).map(recipient).collect())
        .unwrap();
    office
        .import_staff(&space, (0..STAFF).map(staff_member).collect())
        .unwrap();
    let mut nodes = vec![office];
    for p in 0..phones {
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        phone
            .set_staff(Staff {
                name: format!("職員{p}"),
                organisation: if p.is_multiple_of(2) {
                    "ひまわり居宅"
                } else {
                    "市役所"
                }
                .into(),
                id: None,
            })
            .unwrap();
        // Admins' devices: the roster edits below are an admin's (the
        // office PC and, say, the manager's laptop editing at once).
        let device = phone.device().clone();
        nodes[0]
            .add_member(&space, &device, phone.staff().clone(), Role::Admin)
            .unwrap();
        // Joining: ask the office for the space.
        anpi_core::node::sync_local(&mut phone, &mut nodes[0], std::slice::from_ref(&space))
            .unwrap();
        assert_eq!(phone.recipients(&space).unwrap().len(), RECIPIENTS);
        nodes.push(phone);
    }
    (nodes, space)
}

/// A care manager's phone on SQLite (in `dir`), enrolled by `office` and
/// joined: it takes every document whole.
fn enrolled_now(office: &mut Node, space: &SpaceId, dir: &tempfile::TempDir) -> Node {
    let mut late =
        Node::open(anpi_core::store::SqliteStore::open(&dir.path().join("late.db")).unwrap())
            .unwrap();
    let device = late.device().clone();
    office
        .add_member(space, &device, Staff::default(), Role::CareManager)
        .unwrap();
    let x = anpi_core::node::sync_local(&mut late, office, std::slice::from_ref(space)).unwrap();
    assert!(x.failures.is_empty(), "{x:?}");
    late
}

/// [`team`] and one more phone, a care manager's, that will go bad.
fn team_and_a_bad_member(phones: usize) -> (Vec<Node>, SpaceId) {
    let (mut nodes, space) = team(phones);
    let mut bad = Node::open(MemoryStore::new()).unwrap();
    let device = bad.device().clone();
    nodes[0]
        .add_member(&space, &device, Staff::default(), Role::CareManager)
        .unwrap();
    anpi_core::node::sync_local(&mut bad, &mut nodes[0], std::slice::from_ref(&space)).unwrap();
    nodes.push(bad);
    (nodes, space)
}

/// What modified code writes: a number where a map is, a founding of its
/// own, a statement or a check removed or overwritten, a bucket removed,
/// a value that is not text; and forgeries that fit the structure: a check
/// in an honest device's name, a correction of an honest check, an honest
/// claim withdrawn, the office's weights changed, a check under an honest
/// device's actor (actor squatting).
fn bad_write(node: &mut Node, space: &SpaceId, what: u8, honest: &[DeviceId]) {
    use anpi_core::doc::DocKey;
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc, Value};
    let roster = DocKey::roster(space);
    let incident = DocKey::incident(space, &incident_id());
    let key = if what < 4 || what == 11 || !has_incident(node, space) {
        roster
    } else {
        incident
    };
    let map = |d: &automerge::AutoCommit, name: &str| match d.get(ROOT, name).unwrap() {
        Some((Value::Object(_), id)) => Some(id),
        _ => None,
    };
    node.tamper(&key, |d| match what {
        0 => d.put(ROOT, "members", 7).unwrap(),
        1 => {
            if let Some(space_map) = map(d, "space") {
                d.put(&space_map, "founding", r#"{"key":"00","nonce":"00"}"#)
                    .unwrap();
            }
        }
        2 | 3 => {
            if let Some(statements) = map(d, "statements") {
                let keys: Vec<String> = d.keys(&statements).collect();
                for k in keys.iter().take(2) {
                    if what == 2 {
                        d.delete(&statements, k.as_str()).unwrap();
                    } else {
                        d.put(&statements, k.as_str(), "{}").unwrap();
                    }
                }
            }
        }
        4 => d.put(ROOT, "checks", "none").unwrap(),
        5 | 6 => {
            if let Some(checks) = map(d, "checks") {
                let buckets: Vec<String> = d.keys(&checks).collect();
                for b in buckets.iter().take(1) {
                    if what == 5 {
                        d.delete(&checks, b.as_str()).unwrap();
                    } else if let Some((_, bucket)) = d.get(&checks, b.as_str()).unwrap() {
                        let ids: Vec<String> = d.keys(&bucket).collect();
                        for id in ids.iter().take(1) {
                            d.put(&bucket, id.as_str(), r#"{"result":"safe"}"#).unwrap();
                        }
                    }
                }
            }
        }
        7 => {
            if let Some(opened) = map(d, "opened") {
                d.put(&opened, "x", 42).unwrap();
            }
        }
        13..=15 => {
            let victim = &honest[usize::from(what) % honest.len()];
            let by = Staff::default();
            let at = Timestamp::from_millis(ONSET_MS);
            let id = RecordId::new();
            let _ = match what {
                13 => anpi_core::doc::put_report(
                    d,
                    &SafetyReport {
                        id,
                        staff: StaffId("S00".into()),
                        person: anpi_core::codes::PersonalSafety::SeriousInjury,
                        family: anpi_core::codes::FamilySafety::Unknown,
                        home: anpi_core::codes::HomeDamage::Severe,
                        attendance: anpi_core::codes::Attendance::Unable,
                        from: anpi_core::codes::AvailableFrom::Later,
                        location: String::new(),
                        contact: String::new(),
                        recorded_by: by,
                        device: victim.clone(),
                        at,
                        supersedes: Vec::new(),
                    },
                ),
                14 => anpi_core::doc::put_decision(
                    d,
                    &Decision {
                        id,
                        what: Decided::Power { on: true },
                        reason: String::new(),
                        by,
                        device: victim.clone(),
                        at,
                        supersedes: Vec::new(),
                    },
                ),
                _ => anpi_core::doc::put_assignment(
                    d,
                    &Assignment {
                        recipient: RecipientId("R000".into()),
                        staff: StaffId("S01".into()),
                        by,
                        at,
                    },
                ),
            };
        }
        11 => {
            let mut w = anpi_core::priority::PriorityConfig::default();
            w.lives_alone += 50;
            anpi_core::doc::set_priority_weights(d, &w).unwrap();
        }
        _ if map(d, "checks").is_none() => {}
        8 | 12 => {
            let victim = &honest[usize::from(what) % honest.len()];
            let Some(mut c) = anpi_core::doc::checks(d).unwrap().into_iter().next() else {
                return;
            };
            c.id = CheckId::new();
            c.device = victim.clone();
            c.result = CheckResult::Deceased;
            let mine = d.get_actor().clone();
            if what == 12 {
                // The victim's actor, as it holds the most changes here.
                let theirs = d
                    .get_changes(&[])
                    .iter()
                    .map(|ch| ch.actor_id().clone())
                    .find(|a| anpi_core::seal::owner_of(a).as_ref() == Some(victim));
                let Some(theirs) = theirs else { return };
                d.set_actor(theirs);
            }
            anpi_core::doc::put_check(d, &c).unwrap();
            d.commit();
            d.set_actor(mine);
        }
        9 => {
            let me = anpi_core::seal::owner_of(d.get_actor());
            let theirs = anpi_core::doc::checks(d)
                .unwrap()
                .into_iter()
                .find(|c| Some(&c.device) != me.as_ref());
            if let (Some(t), Some(me)) = (theirs, me) {
                let c = Check {
                    id: CheckId::new(),
                    device: me.clone(),
                    supersedes: Some(t.id),
                    result: CheckResult::Deceased,
                    ..t
                };
                anpi_core::doc::put_check_by(d, &me, &c).unwrap();
            }
        }
        _ => {
            let me = anpi_core::seal::owner_of(d.get_actor());
            let theirs = anpi_core::doc::claims(d)
                .unwrap()
                .into_iter()
                .find(|c| Some(&c.device) != me.as_ref());
            if let Some(t) = theirs {
                anpi_core::doc::remove_claim(d, &t.device, &t.recipient).unwrap();
            }
        }
    })
    .unwrap();
}

#[derive(Clone, Debug)]
enum Op {
    /// Replica starts (or joins) the incident on its own.
    Start(usize),
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
    Edit {
        node: usize,
        recipient: usize,
        value: u8,
    },
    Sync(usize, usize),
    /// A safety report of staff member `staff` (anyone may record one).
    Report {
        node: usize,
        staff: usize,
        answer: usize,
    },
    /// An admin sets the level by hand (`None`: back to turnout) or marks
    /// the power.
    Decide {
        node: usize,
        what: u8,
    },
    /// An admin assigns a recipient (`None`: takes it back).
    Assign {
        node: usize,
        recipient: usize,
        staff: Option<usize>,
    },
    /// The member gone bad (the last replica, a care manager's phone
    /// running modified code) writes something that does not fit.
    Bad(u8),
}

fn op(nodes: usize) -> impl Strategy<Value = Op> {
    let n = 0..nodes;
    let r = 0..RECIPIENTS;
    prop_oneof![
        1 => n.clone().prop_map(Op::Start),
        4 => (n.clone(), r.clone(), 0..CheckResult::ALL.len())
            .prop_map(|(node, recipient, result)| Op::Check { node, recipient, result }),
        2 => (n.clone(), r.clone()).prop_map(|(node, recipient)| Op::Claim { node, recipient }),
        1 => (n.clone(), r.clone()).prop_map(|(node, recipient)| Op::Release { node, recipient }),
        2 => (n.clone(), r.clone(), 0u8..4)
            .prop_map(|(node, recipient, value)| Op::Edit { node, recipient, value }),
        2 => (n.clone(), 0..STAFF, 0usize..4)
            .prop_map(|(node, staff, answer)| Op::Report { node, staff, answer }),
        1 => (n.clone(), 0u8..7).prop_map(|(node, what)| Op::Decide { node, what }),
        1 => (n.clone(), r.clone(), prop::option::of(0..STAFF))
            .prop_map(|(node, recipient, staff)| Op::Assign { node, recipient, staff }),
        3 => (n.clone(), n).prop_filter("distinct", |(a, b)| a != b).prop_map(|(a, b)| Op::Sync(a, b)),
        2 => (0u8..16).prop_map(Op::Bad),
    ]
}

/// A replica's clock error in minutes: right, or off by up to a year
/// either way (a phone whose battery died).
fn skew() -> impl Strategy<Value = i64> {
    const YEAR: i64 = 365 * 24 * 60;
    prop_oneof![
        2 => Just(0i64),
        1 => -YEAR..=YEAR,
        1 => prop_oneof![Just(YEAR), Just(-YEAR)],
    ]
}

fn incident_id() -> IncidentId {
    IncidentId::derive(IncidentKind::Flood, Timestamp::from_millis(ONSET_MS))
}

/// Whether the node has the incident the ops use yet.
fn has_incident(node: &Node, space: &SpaceId) -> bool {
    let id = incident_id();
    node.incidents(space).unwrap().iter().any(|i| i.id == id)
}

/// Everything a user could see, in a comparable form.
fn view(node: &Node, space: &SpaceId) -> String {
    let id = incident_id();
    let has_incident = has_incident(node, space);
    let mut data = node
        .incident_data(space, has_incident.then_some(&id))
        .unwrap();
    // わたしの担当 is each device's own: compared without it.
    data.operation.me = None;
    let list = data.priority_list(now());
    let dups = views::duplicates(&data.checks);
    let rows: Vec<String> = list
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?} {:?} conflict={:?} dup={} claims={:?} phone={}",
                e.rank,
                e.recipient.id,
                e.standing,
                e.latest.map(|c| c.id),
                e.conflict.iter().map(|c| c.id).collect::<Vec<_>>(),
                e.duplicate,
                e.live_claims.iter().map(|c| &c.device).collect::<Vec<_>>(),
                e.recipient.phone,
            ) + &format!(" assigned={:?} later={}", e.assigned_to, e.postponed)
        })
        .collect();
    let conflicts: Vec<_> = node
        .recipients(space)
        .unwrap()
        .into_iter()
        .map(|r| (r.recipient.id, r.conflicts))
        .collect();
    // The staff side: each person's report in force, the decisions in
    // force, the assignments, the level the list is made at.
    let staff_side = if has_incident {
        let reports = node.reports(space, &id).unwrap();
        let in_force: Vec<(String, RecordId)> = views::reports_in_force(&reports)
            .into_iter()
            .map(|(s, r)| (s.to_string(), r.id))
            .collect();
        let decisions = node.decisions(space, &id).unwrap();
        let decided: Vec<Option<RecordId>> = ["level", "power"]
            .iter()
            .map(|k| views::decision_in_force(&decisions, k).map(|d| d.id))
            .collect();
        let assigned: Vec<(RecipientId, StaffId)> = node
            .assignments(space, &id)
            .unwrap()
            .into_iter()
            .map(|a| (a.recipient, a.staff))
            .collect();
        format!(
            "{in_force:?}\n{decided:?}\n{assigned:?}\n{:?} power={}",
            data.operation.level, data.operation.power_on
        )
    } else {
        String::new()
    };
    format!(
        "{rows:#?}\n{:?}\n{conflicts:?}\n{:?}\n{staff_side}",
        dups.iter()
            .map(|d| (d.recipient, &d.pairs, &d.despite_claim))
            .collect::<Vec<_>>(),
        data.incident
    )
}

/// No disagreement is hidden: for every recipient, the checks no other
/// check knew of (corrections left out) that are conclusive and differ are
/// exactly the conflict shown, and the status shown is the one asking for
/// most attention among them — whatever the clocks said.
fn no_conflict_hidden(node: &Node, space: &SpaceId) {
    if !has_incident(node, space) {
        return;
    }
    let data = node.incident_data(space, Some(&incident_id())).unwrap();
    for e in data.priority_list(now()) {
        let mine: Vec<&Check> = data
            .checks
            .iter()
            .filter(|c| c.recipient == e.recipient.id)
            .collect();
        let superseded: BTreeSet<CheckId> = mine.iter().filter_map(|c| c.supersedes).collect();
        let current: Vec<&Check> = mine
            .into_iter()
            .filter(|c| !superseded.contains(&c.id))
            .collect();
        let known: BTreeSet<CheckId> = current
            .iter()
            .flat_map(|c| c.known.iter().copied().chain(c.supersedes))
            .collect();
        let frontier: Vec<&Check> = current
            .iter()
            .copied()
            .filter(|c| !known.contains(&c.id))
            .collect();
        let conclusive: Vec<&Check> = frontier
            .iter()
            .copied()
            .filter(|c| c.result.is_conclusive())
            .collect();
        let results: BTreeSet<CheckResult> = conclusive.iter().map(|c| c.result).collect();
        let shown: BTreeSet<CheckId> = e.conflict.iter().map(|c| c.id).collect();
        if results.len() > 1 {
            let want: BTreeSet<CheckId> = conclusive.iter().map(|c| c.id).collect();
            assert_eq!(shown, want, "{}: conflict hidden", e.recipient.id);
        } else {
            assert!(
                shown.is_empty(),
                "{}: a conflict where none is",
                e.recipient.id
            );
        }
        let pool = if conclusive.is_empty() {
            &frontier
        } else {
            &conclusive
        };
        if let Some(most) = pool.iter().map(|c| c.result.attention()).max() {
            assert_eq!(
                e.latest.map(|c| c.result.attention()),
                Some(most),
                "{}: the status shown is not the one asking for most attention",
                e.recipient.id
            );
        }
    }
}

/// Each replica's clock is off by `skew` minutes (up to a year either
/// way): checks and claims carry those times.
///
/// The last replica is a member gone bad: besides what honest replicas do,
/// it writes changes that do not fit. The honest replicas still converge
/// and keep every check; the bad one keeps its own copy.
fn run(nodes_n: usize, ops: Vec<Op>, skew: Vec<i64>) {
    let (mut nodes, space) = team_and_a_bad_member(nodes_n - 2);
    let bad = nodes_n - 1;
    let mut tainted = false;
    let mut by_bad: BTreeSet<CheckId> = BTreeSet::new();
    let mut made: BTreeSet<CheckId> = BTreeSet::new();
    let at = |k: usize| Timestamp::from_millis(ONSET_MS + 60_000 * k as i64);
    let clock = |node: usize, k: usize| at(k).plus_minutes(skew[node % skew.len()]);
    for (k, op) in ops.into_iter().enumerate() {
        match op {
            Op::Start(n) => {
                nodes[n]
                    .start_incident(&space, IncidentKind::Flood, "大雨", at(k))
                    .unwrap();
            }
            Op::Check {
                node,
                recipient: r,
                result,
            } => {
                let id = incident_id();
                if !has_incident(&nodes[node], &space) {
                    continue;
                }
                let mut c = NewCheck::new(
                    RecipientId(format!("R{r:03}")),
                    CheckMethod::Visit,
                    CheckResult::ALL[result],
                );
                c.at = clock(node, k);
                let check = nodes[node].record_check(&space, &id, c).unwrap();
                made.insert(check.id);
                if node == bad {
                    by_bad.insert(check.id);
                }
            }
            Op::Claim { node, recipient: r } => {
                let id = incident_id();
                if has_incident(&nodes[node], &space) {
                    nodes[node]
                        .claim(
                            &space,
                            &id,
                            &RecipientId(format!("R{r:03}")),
                            600,
                            clock(node, k),
                        )
                        .unwrap();
                }
            }
            Op::Release { node, recipient: r } => {
                let id = incident_id();
                if has_incident(&nodes[node], &space) {
                    nodes[node]
                        .release(&space, &id, &RecipientId(format!("R{r:03}")))
                        .unwrap();
                }
            }
            Op::Edit {
                node,
                recipient: r,
                value,
            } => {
                if node == bad {
                    // A care manager's phone: roster edits are an admin's.
                    continue;
                }
                let id = RecipientId(format!("R{r:03}"));
                let mut rec = nodes[node].recipient(&space, &id).unwrap().recipient;
                rec.phone = format!("090-0000-000{value}");
                if value.is_multiple_of(2) {
                    rec.plan.shelter = format!("避難所{value}");
                }
                nodes[node].upsert_recipients(&space, vec![rec]).unwrap();
            }
            Op::Sync(a, b) => {
                let (a, b) = pair(&mut nodes, a, b);
                sync(a, b).unwrap();
            }
            Op::Report {
                node,
                staff,
                answer,
            } => {
                use anpi_core::codes::*;
                if !has_incident(&nodes[node], &space) {
                    continue;
                }
                let (person, attendance, from) = [
                    (
                        PersonalSafety::Unharmed,
                        Attendance::Able,
                        Some(AvailableFrom::Now),
                    ),
                    (
                        PersonalSafety::MinorInjury,
                        Attendance::Difficult,
                        Some(AvailableFrom::Within2Days),
                    ),
                    (PersonalSafety::SeriousInjury, Attendance::Unable, None),
                    (
                        PersonalSafety::Unharmed,
                        Attendance::Able,
                        Some(AvailableFrom::Later),
                    ),
                ][answer];
                nodes[node]
                    .record_report(
                        &space,
                        &incident_id(),
                        anpi_core::node::NewReport {
                            staff: Some(StaffId(format!("S{staff:02}"))),
                            person,
                            family: FamilySafety::Safe,
                            home: HomeDamage::None,
                            attendance,
                            from,
                            location: String::new(),
                            contact: String::new(),
                            at: clock(node, k),
                        },
                    )
                    .unwrap();
            }
            Op::Decide { node, what } => {
                use anpi_core::codes::OperationLevel as L;
                if node == bad || !has_incident(&nodes[node], &space) {
                    // A care manager's phone: decisions are an admin's.
                    continue;
                }
                let what = match what {
                    0 => Decided::Level { level: None },
                    1 => Decided::Level {
                        level: Some(L::Level30),
                    },
                    2 => Decided::Level {
                        level: Some(L::Level50),
                    },
                    3 => Decided::Level {
                        level: Some(L::Level70),
                    },
                    4 => Decided::Level {
                        level: Some(L::Level90),
                    },
                    5 => Decided::Power { on: true },
                    _ => Decided::Power { on: false },
                };
                nodes[node]
                    .decide(&space, &incident_id(), what, "理由")
                    .unwrap();
            }
            Op::Assign {
                node,
                recipient: r,
                staff,
            } => {
                if node == bad || !has_incident(&nodes[node], &space) {
                    continue;
                }
                let to = staff.map(|s| StaffId(format!("S{s:02}")));
                nodes[node]
                    .assign(
                        &space,
                        &incident_id(),
                        &[RecipientId(format!("R{r:03}"))],
                        to.as_ref(),
                    )
                    .unwrap();
            }
            Op::Bad(what) => {
                let honest: Vec<DeviceId> =
                    nodes[..bad].iter().map(|n| n.device().clone()).collect();
                bad_write(&mut nodes[bad], &space, what, &honest);
                tainted = true;
            }
        }
    }
    sync_all(&mut nodes).unwrap();
    if tainted {
        // The bad replica keeps its own copy; the checks it made after
        // going bad may be built on what everyone refuses: the honest
        // replicas agree on which of its checks they hold (the views
        // below), and every honest check is everywhere.
        nodes.pop();
        let reached: BTreeSet<CheckId> = if has_incident(&nodes[0], &space) {
            nodes[0]
                .checks(&space, &incident_id())
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect()
        } else {
            BTreeSet::new()
        };
        made.retain(|id| !by_bad.contains(id) || reached.contains(id));
    }

    // A phone enrolled now, on SQLite, takes every document whole from the
    // office (the rows read from their saved forms, written while they
    // load) and must show what everyone shows.
    let dir = tempfile::tempdir().unwrap();
    let late = enrolled_now(&mut nodes[0], &space, &dir);
    nodes.push(late);
    sync_all(&mut nodes).unwrap();

    let heads: Vec<_> = nodes.iter_mut().map(|n| n.heads().unwrap()).collect();
    for h in &heads[1..] {
        assert_eq!(h, &heads[0], "documents differ after merging");
    }
    let views: Vec<String> = nodes.iter().map(|n| view(n, &space)).collect();
    // Nothing the member gone bad forged on the staff side was taken.
    if has_incident(&nodes[0], &space) {
        let ds = nodes[0].decisions(&space, &incident_id()).unwrap();
        let honest: Vec<DeviceId> = nodes.iter().map(|n| n.device().clone()).collect();
        assert!(ds.iter().all(|d| honest.contains(&d.device)), "{ds:?}");
    }
    for v in &views[1..] {
        assert_eq!(v, &views[0], "views differ after merging");
    }
    for n in &nodes {
        no_conflict_hidden(n, &space);
    }
    for n in &nodes {
        let have: BTreeSet<CheckId> = if n.incidents(&space).unwrap().is_empty() {
            BTreeSet::new()
        } else {
            n.checks(&space, &incident_id())
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(have, made, "a check was lost, or one forged was taken");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn three_replicas_converge(
        ops in prop::collection::vec(op(3), 1..60),
        skew in prop::collection::vec(skew(), 3),
    ) {
        run(3, ops, skew);
    }

    #[test]
    fn four_replicas_converge(
        ops in prop::collection::vec(op(4), 1..80),
        skew in prop::collection::vec(skew(), 4),
    ) {
        run(4, ops, skew);
    }
}

#[test]
fn phones_that_start_the_same_incident_offline_end_in_one() {
    let (mut nodes, space) = team(2);
    let t = Timestamp::from_millis(ONSET_MS);
    let a = nodes[1]
        .start_incident(&space, IncidentKind::Earthquake, "", t)
        .unwrap();
    let b = nodes[2]
        .start_incident(&space, IncidentKind::Earthquake, "地震", t.plus_minutes(20))
        .unwrap();
    assert_eq!(a.id, b.id);
    let mut c1 = NewCheck::new("R000".into(), CheckMethod::Visit, CheckResult::Safe);
    c1.at = t.plus_minutes(30);
    let mut c2 = NewCheck::new("R000".into(), CheckMethod::Phone, CheckResult::Safe);
    c2.at = t.plus_minutes(31);
    nodes[1].record_check(&space, &a.id, c1).unwrap();
    nodes[2].record_check(&space, &b.id, c2).unwrap();
    sync_all(&mut nodes).unwrap();
    for n in &nodes {
        let incidents = n.incidents(&space).unwrap();
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].started_at, t);
        assert_eq!(incidents[0].name, "地震");
        let checks = n.checks(&space, &a.id).unwrap();
        assert_eq!(checks.len(), 2);
        let d = views::duplicates(&checks);
        assert_eq!(d.len(), 1, "two organisations checked R000 unaware");
    }
}

#[test]
fn store_and_forward_carries_a_phones_checks_to_the_office() {
    let (mut nodes, space) = team(2);
    let t = Timestamp::from_millis(ONSET_MS);
    let inc = nodes[1]
        .start_incident(&space, IncidentKind::Flood, "", t)
        .unwrap();
    let mut c = NewCheck::new("R001".into(), CheckMethod::Visit, CheckResult::Injured);
    c.at = t;
    let check = nodes[1].record_check(&space, &inc.id, c).unwrap();
    // Phone 1 meets phone 2; phone 2 later reaches the office.
    {
        let (a, b) = pair(&mut nodes, 1, 2);
        sync(a, b).unwrap();
    }
    {
        let (a, b) = pair(&mut nodes, 2, 0);
        sync(a, b).unwrap();
    }
    let at_office = nodes[0].checks(&space, &inc.id).unwrap();
    assert_eq!(
        at_office.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![check.id]
    );
}

#[test]
fn a_repeat_sync_with_a_known_peer_is_one_round_trip() {
    let (mut nodes, space) = team(1);
    let t = Timestamp::from_millis(ONSET_MS);
    let inc = nodes[0]
        .start_incident(&space, IncidentKind::Flood, "", t)
        .unwrap();
    {
        let (a, b) = pair(&mut nodes, 0, 1);
        sync(a, b).unwrap();
    }
    for r in 0..RECIPIENTS {
        let mut c = NewCheck::new(
            RecipientId(format!("R{r:03}")),
            CheckMethod::Phone,
            CheckResult::Safe,
        );
        c.at = t;
        nodes[1].record_check(&space, &inc.id, c).unwrap();
    }
    let (a, b) = pair(&mut nodes, 1, 0);
    let x = sync(a, b).unwrap();
    assert_eq!(x.round_trips, 1, "{x:?}");
    assert_eq!(x.initiator.messages_sent, 1, "{x:?}");
    assert_eq!(nodes[0].checks(&space, &inc.id).unwrap().len(), RECIPIENTS);
    // And the other direction: only the responder changed.
    let mut c = NewCheck::new("R000".into(), CheckMethod::Phone, CheckResult::Safe);
    c.at = t;
    nodes[0].record_check(&space, &inc.id, c).unwrap();
    let (a, b) = pair(&mut nodes, 1, 0);
    let x = sync(a, b).unwrap();
    assert_eq!(x.round_trips, 1, "{x:?}");
    let views: BTreeMap<_, _> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i, n.checks(&space, &inc.id).unwrap().len()))
        .collect();
    assert_eq!(
        views.values().collect::<Vec<_>>(),
        vec![&(RECIPIENTS + 1); 2]
    );
}

/// Two phones that never synced with each other, both with new checks,
/// meet: each sends what it has with its first message, so they converge
/// in at most two round trips, whichever synced with the office last.
#[test]
fn two_phones_meeting_for_the_first_time_sync_in_two_round_trips() {
    for later in [1, 2] {
        let (mut nodes, space) = team(2);
        let t = Timestamp::from_millis(ONSET_MS);
        let inc = nodes[0]
            .start_incident(&space, IncidentKind::Flood, "", t)
            .unwrap();
        // Both phones sync with the office, one after the office changed
        // again (so the two hold different office states).
        let first = 3 - later;
        {
            let (a, b) = pair(&mut nodes, first, 0);
            sync(a, b).unwrap();
        }
        let mut c = NewCheck::new("R000".into(), CheckMethod::Phone, CheckResult::Safe);
        c.at = t;
        nodes[0].record_check(&space, &inc.id, c).unwrap();
        {
            let (a, b) = pair(&mut nodes, later, 0);
            sync(a, b).unwrap();
        }
        for (n, r) in [(1, "R001"), (2, "R002"), (1, "R003"), (2, "R004")] {
            let mut c = NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe);
            c.at = t;
            nodes[n].record_check(&space, &inc.id, c).unwrap();
        }
        let (a, b) = pair(&mut nodes, 1, 2);
        let x = sync(a, b).unwrap();
        assert!(x.round_trips <= 2, "phone {later} synced last: {x:?}");
        assert_eq!(nodes[1].heads().unwrap(), nodes[2].heads().unwrap());
        assert_eq!(nodes[1].checks(&space, &inc.id).unwrap().len(), 5);
    }
}

#[test]
fn concurrent_edits_of_one_field_are_shown_on_every_device() {
    let (mut nodes, space) = team(2);
    let id = RecipientId("R000".into());
    for (n, phone) in [(1, "090-1111-1111"), (2, "090-2222-2222")] {
        let mut r = nodes[n].recipient(&space, &id).unwrap().recipient;
        r.phone = phone.into();
        nodes[n].upsert_recipients(&space, vec![r]).unwrap();
    }
    sync_all(&mut nodes).unwrap();
    let seen: Vec<_> = nodes
        .iter()
        .map(|n| n.recipient(&space, &id).unwrap())
        .collect();
    for s in &seen {
        assert_eq!(s, &seen[0]);
        assert_eq!(s.conflicts.len(), 1, "{:?}", s.conflicts);
        assert_eq!(s.conflicts[0].field, "phone");
        let mut values = s.conflicts[0].values.clone();
        // The value shown is listed first.
        assert_eq!(values[0], s.recipient.phone);
        values.sort();
        assert_eq!(values, ["090-1111-1111", "090-2222-2222"]);
    }
    // A phone enrolled now, on SQLite, takes the roster (compacted: the
    // conflict in its snapshot) and an incident whole: the conflict is
    // shown there too (the recipients read from the loaded roster, not
    // from the saved form, whose reading gives up on a conflict).
    nodes[0]
        .start_incident(&space, IncidentKind::Flood, "", now())
        .unwrap();
    nodes[0]
        .compact(&anpi_core::doc::DocKey::roster(&space))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let late = enrolled_now(&mut nodes[0], &space, &dir);
    assert_eq!(late.recipient(&space, &id).unwrap(), seen[0]);
    assert_eq!(
        late.recipients(&space).unwrap(),
        nodes[0].recipients(&space).unwrap()
    );
    // Resolving it on one device clears it everywhere.
    let mut r = nodes[0].recipient(&space, &id).unwrap().recipient;
    r.phone = "090-3333-3333".into();
    nodes[0].upsert_recipients(&space, vec![r.clone()]).unwrap();
    // The phone number changed, so this is an update even though the
    // merged value was shown before.
    sync_all(&mut nodes).unwrap();
    for n in &nodes {
        let s = n.recipient(&space, &id).unwrap();
        assert!(s.conflicts.is_empty(), "{:?}", s.conflicts);
        assert_eq!(s.recipient.phone, "090-3333-3333");
    }
}

/// A phone passes on a check to a phone it meets for the first time,
/// sending from what it last shared with anyone (its office): the other
/// holds the incident but not the bucket the check goes into. The change
/// waits for what it needs and comes with it — not refused as writing
/// into something that is not anpi's, while its sender counts it as
/// delivered (found by the disaster-day simulator, docs/SIMULATION.md).
#[test]
fn a_check_sent_from_a_base_the_other_phone_lacks_arrives_with_what_it_needs() {
    let (mut nodes, space) = team(2);
    let t = Timestamp::from_millis(ONSET_MS);
    let check = |r: usize| {
        let mut c = NewCheck::new(
            RecipientId(format!("R{r:03}")),
            CheckMethod::Visit,
            CheckResult::Safe,
        );
        c.at = t;
        c
    };
    // Each phone opens the incident on its own (one id for both).
    let inc = nodes[1]
        .start_incident(&space, IncidentKind::Earthquake, "", t)
        .unwrap();
    nodes[2]
        .start_incident(&space, IncidentKind::Earthquake, "", t)
        .unwrap();
    // Phone 1's first check makes its bucket; the office gets it.
    nodes[1].record_check(&space, &inc.id, check(0)).unwrap();
    {
        let (phone, office) = pair(&mut nodes, 1, 0);
        sync(phone, office).unwrap();
    }
    // Its second check goes into that bucket; then it meets phone 2.
    nodes[1].record_check(&space, &inc.id, check(1)).unwrap();
    let (a, b) = pair(&mut nodes, 1, 2);
    let x = sync(a, b).unwrap();
    assert_eq!(
        x.initiator.changes_refused + x.responder.changes_refused,
        0,
        "{x:?}"
    );
    assert!(x.failures.is_empty(), "{x:?}");
    assert_eq!(nodes[2].checks(&space, &inc.id).unwrap().len(), 2);
}
