use super::*;
use crate::model::*;
use crate::priority::Factor;

fn staff(name: &str, org: &str) -> Staff {
    Staff {
        name: name.into(),
        organisation: org.into(),
        id: None,
    }
}

fn check(recipient: &str, who: Staff, result: CheckResult, at: i64, known: &[CheckId]) -> Check {
    Check {
        staff: who,
        result,
        at: Timestamp::from_millis(at),
        known: known.to_vec(),
        ..Check::sample(recipient, "d")
    }
}

fn flood() -> Incident {
    Incident {
        id: "flood-2026-11-21".into(),
        space: "s".into(),
        kind: IncidentKind::Flood,
        name: String::new(),
        started_at: Timestamp::from_millis(0),
        ended_at: None,
        round: 0,
    }
}

/// The list for a flood, default weights, no claims.
fn flood_list<'a>(rs: &'a [Recipient], checks: &'a [Check]) -> Vec<PriorityEntry<'a>> {
    priority_list(
        rs,
        Some(&flood()),
        checks,
        &[],
        &PriorityConfig::default(),
        Timestamp::from_millis(0),
    )
}

fn ventilator_alone_in_flood_zone() -> Recipient {
    let mut r = Recipient {
        id: "R1".into(),
        name: "呼吸 一郎".into(),
        household: Some(Household::Alone),
        care_level: Some(CareLevel::Care4),
        ..Default::default()
    };
    r.plan.medical_devices = vec![MedicalDevice::Ventilator];
    r.hazards.flood_depth = Some(FloodDepth::From05To3);
    r
}

fn support_1_with_family() -> Recipient {
    let mut r = Recipient {
        id: "R2".into(),
        name: "家族 花子".into(),
        household: Some(Household::WithFamily),
        care_level: Some(CareLevel::Support1),
        ..Default::default()
    };
    r.plan.supporter = "長男".into();
    r
}

#[test]
fn ventilator_alone_in_flood_zone_ranks_above_support_1_with_family() {
    let rs = vec![support_1_with_family(), ventilator_alone_in_flood_zone()];
    let list = flood_list(&rs, &[]);
    assert_eq!(list[0].recipient.id.as_str(), "R1");
    assert_eq!(list[0].rank, 1);
    let line = list[0].reasons_line();
    assert!(line.starts_with("人工呼吸器使用"), "{line}");
    assert!(line.contains("独居"), "{line}");
    assert!(line.contains("浸水想定0.5-3m"), "{line}");
    assert_eq!(list[1].recipient.id.as_str(), "R2");
    assert!(list[0].score > list[1].score);
}

/// Issue 21: in an earthquake (power out), a ventilator user whose battery
/// lasts 6 hours ranks first — above recipients with more points — and the
/// list says how long is left; once checked safe, the deadline no longer
/// puts them above those not yet reached. In a landslide (power taken as
/// on) the score alone ranks.
#[test]
fn a_ventilator_user_with_six_hours_of_battery_ranks_first_in_an_earthquake() {
    let mut quake = flood();
    quake.kind = IncidentKind::Earthquake;
    let mut on_battery = Recipient {
        id: "R9".into(),
        name: "電池 花子".into(),
        ..Default::default()
    };
    on_battery.plan.medical_devices = vec![MedicalDevice::Ventilator];
    on_battery.plan.medical_needs = "人工呼吸器 バッテリー6時間".into();
    on_battery.plan.supporter = "長男".into();
    on_battery.household = Some(Household::WithFamily);
    let mut more_points = ventilator_alone_in_flood_zone();
    more_points.bedridden = Some(true);
    more_points.dementia = Some(true);
    let rs = vec![more_points, on_battery, support_1_with_family()];
    let config = PriorityConfig::default();
    let two_hours_in = Timestamp::from_millis(2 * 3_600_000);
    let list = priority_list(&rs, Some(&quake), &[], &[], &config, two_hours_in);
    assert!(list[1].score > list[0].score, "more points, ranked below");
    assert_eq!(list[0].recipient.id.as_str(), "R9");
    let deadline = list[0].deadline.expect("a deadline");
    assert!(list[0].deadline_near);
    assert_eq!(
        crate::priority::time_left(deadline, two_hours_in, crate::codes::Lang::Ja),
        "バッテリー残り4時間"
    );
    // A battery that lasts two days is not near yet: the score ranks.
    let mut long = rs.clone();
    long[1].plan.battery_minutes = Some(48 * 60);
    let list = priority_list(&long, Some(&quake), &[], &[], &config, two_hours_in);
    assert_eq!(list[0].recipient.id.as_str(), "R1");
    assert!(list[1].deadline.is_some() && !list[1].deadline_near);
    // Checked safe: settled, below those not reached.
    let safe = [check(
        "R9",
        staff("佐藤", "A"),
        CheckResult::Safe,
        3_600_000,
        &[],
    )];
    let list = priority_list(&rs, Some(&quake), &safe, &[], &config, two_hours_in);
    assert_eq!(list.last().unwrap().recipient.id.as_str(), "R9");
    // An admin marked the power on: no deadline, the score ranks.
    let on = Operation {
        power_on: true,
        ..Default::default()
    };
    let list = priority_list_in(&rs, Some(&quake), &[], &[], &config, &on, two_hours_in);
    assert_eq!(list[0].recipient.id.as_str(), "R1");
    assert!(list.iter().all(|e| e.deadline.is_none()));
    // Power taken as on: no deadline.
    quake.kind = IncidentKind::Landslide;
    let list = priority_list(&rs, Some(&quake), &[], &[], &config, two_hours_in);
    assert_eq!(list[0].recipient.id.as_str(), "R1");
    assert!(list.iter().all(|e| e.deadline.is_none()));
}

#[test]
fn equal_scores_go_by_id_whatever_order_the_roster_came_in() {
    let twin = |id: &str| Recipient {
        id: id.into(),
        ..support_1_with_family()
    };
    let ids = |rs: &[Recipient]| -> Vec<String> {
        flood_list(rs, &[])
            .iter()
            .map(|e| e.recipient.id.to_string())
            .collect()
    };
    let sorted = vec![twin("R10"), twin("R2"), twin("R3"), twin("R30")];
    let mut shuffled = vec![twin("R3"), twin("R30"), twin("R10"), twin("R2")];
    assert_eq!(ids(&sorted), ["R10", "R2", "R3", "R30"]);
    assert_eq!(ids(&shuffled), ids(&sorted));
    shuffled.reverse();
    let list = flood_list(&shuffled, &[]);
    assert_eq!(
        list.iter().map(|e| e.rank).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(list[0].recipient.id.as_str(), "R10");
}

#[test]
fn hazards_count_only_for_their_incident_kind() {
    let r = ventilator_alone_in_flood_zone();
    let c = PriorityConfig::default();
    let (flood, _) = score(&r, Some(IncidentKind::Flood), &c);
    let (quake, reasons) = score(&r, Some(IncidentKind::Earthquake), &c);
    assert_eq!(flood - quake, c.flood_0_5m_to_3m);
    assert!(reasons.iter().all(|x| x.factor != Factor::FloodZone));
    let (storm, _) = score(&r, Some(IncidentKind::Storm), &c);
    assert_eq!(storm, flood);
}

#[test]
fn weights_are_configurable() {
    let c = PriorityConfig {
        life_sustaining_device: 0,
        flood_0_5m_to_3m: 0,
        lives_alone: 0,
        no_supporter: 100,
        ..Default::default()
    };
    let rs = vec![support_1_with_family(), ventilator_alone_in_flood_zone()];
    let list = priority_list(&rs, Some(&flood()), &[], &[], &c, Timestamp::from_millis(0));
    // R1 has no supporter recorded; with these weights that dominates.
    assert_eq!(list[0].recipient.id.as_str(), "R1");
    assert_eq!(list[0].reasons[0].factor, Factor::NoSupporter);
}

#[test]
fn an_override_replaces_the_score_and_says_why() {
    let mut low = support_1_with_family();
    low.priority_override = Some(PriorityOverride {
        score: 1000,
        reason: "転倒リスク高".into(),
        by: "佐藤".into(),
        at: Timestamp::from_millis(0),
        office_ranking: false,
    });
    let rs = vec![ventilator_alone_in_flood_zone(), low];
    let list = flood_list(&rs, &[]);
    assert_eq!(list[0].recipient.id.as_str(), "R2");
    assert_eq!(list[0].score, 1000);
    assert_eq!(list[0].reasons[0].label, "手動設定: 転倒リスク高");
}

#[test]
fn unchecked_first_and_unreachable_stays_near_the_top() {
    let high = ventilator_alone_in_flood_zone();
    let mut mid = support_1_with_family();
    mid.id = "R3".into();
    let low = support_1_with_family();
    let rs = vec![high, mid, low];
    let a = staff("佐藤", "A");
    let checks = vec![
        check("R1", a.clone(), CheckResult::Safe, 10, &[]),
        check("R3", a.clone(), CheckResult::Unreachable, 10, &[]),
    ];
    let list = flood_list(&rs, &checks);
    let order: Vec<&str> = list.iter().map(|e| e.recipient.id.as_str()).collect();
    // R2 and R3 are not reached (R3 tried, unreachable); R1 is settled
    // and drops below them despite the highest score.
    assert_eq!(order, ["R2", "R3", "R1"]);
    assert_eq!(list[2].standing, Standing::Settled);
    assert_eq!(list[1].standing, Standing::NotReached);
}

#[test]
fn needs_evacuation_goes_to_the_very_top() {
    let rs = vec![ventilator_alone_in_flood_zone(), support_1_with_family()];
    let checks = vec![check(
        "R2",
        staff("佐藤", "A"),
        CheckResult::NeedsEvacuation,
        10,
        &[],
    )];
    let list = flood_list(&rs, &checks);
    assert_eq!(list[0].recipient.id.as_str(), "R2");
    assert_eq!(list[0].standing, Standing::ActionNeeded);
}

#[test]
fn unaware_checks_by_two_organisations_are_a_duplicate() {
    let a = check("R1", staff("佐藤", "ひまわり"), CheckResult::Safe, 10, &[]);
    let b = check("R1", staff("田中", "市役所"), CheckResult::Safe, 20, &[]);
    let checks = vec![a.clone(), b.clone()];
    let d = duplicates(&checks);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].recipient.as_str(), "R1");
    assert_eq!(d[0].pairs, vec![(a.id, b.id)]);
    assert_eq!(d[0].checks.len(), 2);
}

#[test]
fn a_follow_up_that_knew_the_result_is_not_a_duplicate() {
    let a = check("R1", staff("佐藤", "ひまわり"), CheckResult::Safe, 10, &[]);
    let b = check(
        "R1",
        staff("田中", "訪問看護"),
        CheckResult::SafeNeedsSupport,
        20,
        &[a.id],
    );
    let checks = vec![a.clone(), b.clone()];
    assert!(duplicates(&checks).is_empty());
    let r = ventilator_alone_in_flood_zone();
    let detail = recipient_detail(&r, &[], &checks, &[], Timestamp::from_millis(0));
    assert_eq!(detail.history[1].relation, Relation::FollowUp);
    assert_eq!(detail.latest.unwrap().id, b.id);
}

#[test]
fn same_person_twice_or_two_failed_calls_are_not_duplicates() {
    let s = staff("佐藤", "ひまわり");
    let twice = vec![
        check("R1", s.clone(), CheckResult::Safe, 10, &[]),
        check("R1", s.clone(), CheckResult::Safe, 20, &[]),
    ];
    assert!(duplicates(&twice).is_empty());
    let failed = vec![
        check("R1", s, CheckResult::Unreachable, 10, &[]),
        check("R1", staff("田中", "市"), CheckResult::Unreachable, 20, &[]),
    ];
    assert!(duplicates(&failed).is_empty());
}

#[test]
fn a_check_despite_a_known_claim_is_flagged() {
    let mut c = check("R1", staff("田中", "市役所"), CheckResult::Safe, 10, &[]);
    c.known_claims = vec![KnownClaim {
        device: "d2".into(),
        staff: staff("佐藤", "ひまわり"),
    }];
    let checks = vec![c.clone()];
    let d = duplicates(&checks);
    assert_eq!(d[0].despite_claim, vec![c.id]);
}

#[test]
fn a_correction_supersedes_and_is_not_a_duplicate() {
    let s = staff("佐藤", "ひまわり");
    let wrong = check("R1", s.clone(), CheckResult::Deceased, 10, &[]);
    let mut fix = check("R1", s, CheckResult::Hospitalized, 20, &[wrong.id]);
    fix.supersedes = Some(wrong.id);
    let other = check(
        "R1",
        staff("田中", "市"),
        CheckResult::Hospitalized,
        15,
        &[],
    );
    let checks = vec![wrong.clone(), fix.clone(), other.clone()];
    let d = duplicates(&checks);
    // The wrong check is out of the count; fix and other are unaware.
    assert_eq!(d[0].pairs.len(), 1);
    assert!(
        !d[0]
            .pairs
            .iter()
            .any(|(a, b)| *a == wrong.id || *b == wrong.id)
    );
    let r = ventilator_alone_in_flood_zone();
    let detail = recipient_detail(&r, &[], &checks, &[], Timestamp::from_millis(0));
    let rel: Vec<_> = detail.history.iter().map(|h| h.relation.clone()).collect();
    assert_eq!(rel[0], Relation::Superseded { by: fix.id });
    assert_eq!(rel[2], Relation::Correction { of: wrong.id });
}

/// A phone whose clock runs a year ahead records "safe"; another,
/// unaware of it, records "deceased" today. The clock decides nothing:
/// the result asking for more attention is shown, with the conflict.
#[test]
fn a_wrong_clock_does_not_decide_disagreeing_results() {
    let year = 365 * 24 * 3_600_000;
    let ahead = check("R1", staff("佐藤", "A"), CheckResult::Safe, year, &[]);
    let real = check("R1", staff("田中", "B"), CheckResult::Deceased, 10, &[]);
    let checks = vec![ahead.clone(), real.clone()];
    let r = ventilator_alone_in_flood_zone();
    let list = flood_list(std::slice::from_ref(&r), &checks);
    assert_eq!(list[0].latest.unwrap().id, real.id);
    let conflict: Vec<CheckId> = list[0].conflict.iter().map(|c| c.id).collect();
    assert_eq!(conflict, [real.id, ahead.id]);
    let detail = recipient_detail(&r, &[], &checks, &[], Timestamp::from_millis(0));
    assert_eq!(detail.latest.unwrap().id, real.id);
    assert_eq!(detail.conflict.len(), 2);
    assert_eq!(
        conflict_line(&detail.conflict, Lang::Ja),
        "結果が食い違っています: 死亡（田中・B）／無事（佐藤・A）"
    );
    // 負傷 asks for more attention than 死亡, whatever the clocks say.
    let injured = check("R1", staff("鈴木", "C"), CheckResult::Injured, -year, &[]);
    let three = vec![ahead, real, injured.clone()];
    let list = flood_list(std::slice::from_ref(&r), &three);
    assert_eq!(list[0].latest.unwrap().id, injured.id);
    // Unreachable beside a conclusive result is no conflict, and does
    // not hide it.
    let tried = check(
        "R1",
        staff("鈴木", "C"),
        CheckResult::Unreachable,
        year,
        &[],
    );
    let safe = check("R1", staff("佐藤", "A"), CheckResult::Safe, 10, &[]);
    let two = vec![tried, safe.clone()];
    let list = flood_list(std::slice::from_ref(&r), &two);
    assert_eq!(list[0].latest.unwrap().id, safe.id);
    assert!(list[0].conflict.is_empty());
    // A check made knowing both settles it.
    let ahead = check("R1", staff("佐藤", "A"), CheckResult::Safe, year, &[]);
    let real = check("R1", staff("田中", "B"), CheckResult::Deceased, 10, &[]);
    let settle = check(
        "R1",
        staff("田中", "B"),
        CheckResult::Hospitalized,
        20,
        &[ahead.id, real.id],
    );
    let settled = vec![ahead, real, settle.clone()];
    let list = flood_list(std::slice::from_ref(&r), &settled);
    assert_eq!(list[0].latest.unwrap().id, settle.id);
    assert!(list[0].conflict.is_empty());
}

#[test]
fn the_attention_order_holds_every_result_once() {
    let mut all: Vec<CheckResult> = crate::codes::ATTENTION_ORDER.to_vec();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), CheckResult::ALL.len());
    assert!(CheckResult::Injured.attention() > CheckResult::Deceased.attention());
    assert!(CheckResult::Absent.attention() < CheckResult::Safe.attention());
}

#[test]
fn summary_counts() {
    let mut rs = vec![ventilator_alone_in_flood_zone(), support_1_with_family()];
    rs[0].plan.battery_minutes = Some(6 * 60);
    let checks = vec![check("R2", staff("佐藤", "A"), CheckResult::Safe, 10, &[])];
    let c = PriorityConfig::default();
    let now = Timestamp::from_millis(3_600_000);
    let list = priority_list(&rs, Some(&flood()), &checks, &[], &c, now);
    let s = incident_summary(&flood(), &list, checks.len(), &c, now);
    assert_eq!(s.recipients, 2);
    assert_eq!(s.unchecked, 1);
    assert_eq!(s.by_result.get(&CheckResult::Safe), Some(&1));
    assert_eq!(s.high_priority_not_reached, 1);
    assert_eq!(s.battery_deadline_not_reached, 1);
    assert_eq!(s.phase, Phase::FirstHours);
}

/// Issue 21: at operation level 30% the list puts high priority first and
/// marks the rest 後回し（運営レベル）, still listing them; on a phone the
/// recipients assigned to its carrier come first in their standing.
#[test]
fn level_30_postpones_the_rest_and_a_phone_sees_its_assignments_first() {
    let rs = vec![
        ventilator_alone_in_flood_zone(),
        support_1_with_family(),
        Recipient {
            id: "R7".into(),
            name: "軽度 三郎".into(),
            ..Default::default()
        },
    ];
    let config = PriorityConfig::default();
    let now = Timestamp::from_millis(3_600_000);
    let plain = priority_list(&rs, Some(&flood()), &[], &[], &config, now);
    assert!(plain.iter().all(|e| !e.postponed && !e.mine));
    let high: Vec<bool> = plain
        .iter()
        .map(|e| e.score >= config.high_priority_from)
        .collect();
    assert_eq!(high, vec![true, false, false], "one high priority");
    let mut op = Operation {
        level: Some(OperationLevel::Level30),
        ..Default::default()
    };
    let list = priority_list_in(&rs, Some(&flood()), &[], &[], &config, &op, now);
    assert_eq!(list.len(), 3, "the rest still listed");
    assert_eq!(
        list.iter().map(|e| e.postponed).collect::<Vec<_>>(),
        vec![false, true, true]
    );
    // R7 is assigned to this phone's carrier: first among the postponed,
    // never above the high-priority client.
    op.assignments.insert("R7".into(), StaffId("S2".into()));
    op.me = Some(StaffId("S2".into()));
    let list = priority_list_in(&rs, Some(&flood()), &[], &[], &config, &op, now);
    let order: Vec<&str> = list.iter().map(|e| e.recipient.id.as_str()).collect();
    assert_eq!(order, vec!["R1", "R7", "R2"]);
    assert!(list[1].mine && list[1].assigned_to == Some(StaffId("S2".into())));
    // Checked by someone else: shown as such, by 職員ID or, for a device
    // never told one, by the staff list's name.
    let mut by_other = check(
        "R7",
        staff("鈴木 花子", "A"),
        CheckResult::Safe,
        3_000_000,
        &[],
    );
    let list = priority_list_in(
        &rs,
        Some(&flood()),
        std::slice::from_ref(&by_other),
        &[],
        &config,
        &op,
        now,
    );
    let r7 = list
        .iter()
        .find(|e| e.recipient.id.as_str() == "R7")
        .unwrap();
    assert!(r7.despite_assignment);
    op.names.insert(StaffId("S2".into()), "鈴木花子".into());
    let list = priority_list_in(
        &rs,
        Some(&flood()),
        std::slice::from_ref(&by_other),
        &[],
        &config,
        &op,
        now,
    );
    assert!(
        !list.iter().any(|e| e.despite_assignment),
        "the assignee, by name"
    );
    by_other.staff.id = Some(StaffId("S9".into()));
    let list = priority_list_in(
        &rs,
        Some(&flood()),
        std::slice::from_ref(&by_other),
        &[],
        &config,
        &op,
        now,
    );
    assert!(list.iter().any(|e| e.despite_assignment), "another 職員ID");
    // At 50% nothing is postponed, and its assignment comes first.
    op.level = Some(OperationLevel::Level50);
    let list = priority_list_in(&rs, Some(&flood()), &[], &[], &config, &op, now);
    assert_eq!(list[0].recipient.id.as_str(), "R7");
    assert!(list.iter().all(|e| !e.postponed));
}
