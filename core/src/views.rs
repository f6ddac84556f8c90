//! What people look at: the priority list (安否確認優先順位), a recipient's
//! detail with check history, duplicate visits, and the incident summary.
//!
//! Pure functions over model values: no store, no document, no clock (the
//! caller passes `now`). The same inputs give the same list on every device,
//! which is what lets merged devices agree.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::codes::Lang;
use crate::model::{
    Check, CheckId, CheckResult, Claim, FieldConflict, Incident, Phase, Recipient, RecipientId,
    Timestamp,
};
use crate::priority::{PriorityConfig, Reason, score};

/// Where a recipient stands in the safety-check work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// The latest check asks for action now (要避難支援).
    ActionNeeded,
    /// Nobody has reached them yet: never checked, or only unreachable /
    /// absent so far.
    NotReached,
    /// Their safety status is known.
    Settled,
}

/// One row of the priority list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriorityEntry<'a> {
    /// 1 = check first.
    pub rank: usize,
    /// Who.
    pub recipient: &'a Recipient,
    /// Score (or the override's).
    pub score: i64,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
    /// Where they stand.
    pub standing: Standing,
    /// The check that decides their status, if any.
    pub latest: Option<&'a Check>,
    /// Checks that did not know of each other and disagree, most attention
    /// first (empty when they agree): 結果が食い違っています.
    pub conflict: Vec<&'a Check>,
    /// How many checks they have had in this incident.
    pub checks: usize,
    /// A duplicate visit was made for them.
    pub duplicate: bool,
    /// Live claims ("向かっています"), one per device.
    pub live_claims: Vec<&'a Claim>,
}

impl PriorityEntry<'_> {
    /// The reasons as one line ("人工呼吸器使用・独居").
    pub fn reasons_line(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.label.as_ref())
            .collect::<Vec<_>>()
            .join("・")
    }

    /// Two or more devices claim this recipient at once.
    pub fn claim_conflict(&self) -> bool {
        self.live_claims.len() > 1
    }
}

/// Whether a claim was ended by a check its own device recorded of the
/// recipient since the claim began (the announced visit or call was made;
/// both times come from that one device's clock). `checks` may hold other
/// recipients' checks too.
pub fn claim_ended(claim: &Claim, checks: &[Check]) -> bool {
    checks
        .iter()
        .any(|c| c.device == claim.device && c.recipient == claim.recipient && c.at >= claim.since)
}

/// The claims that hold at `now`: live, and not ended by a check of their
/// own device.
fn claims_in_force<'a>(
    claims: &'a [Claim],
    checks: &[Check],
    now: Timestamp,
) -> FxHashMap<&'a RecipientId, Vec<&'a Claim>> {
    let mut live: FxHashMap<&RecipientId, Vec<&Claim>> = FxHashMap::default();
    if claims.is_empty() {
        return live;
    }
    // The last check each device made of each recipient.
    let mut last: FxHashMap<(&RecipientId, &crate::model::DeviceId), Timestamp> =
        FxHashMap::default();
    for c in checks {
        let at = last.entry((&c.recipient, &c.device)).or_insert(c.at);
        *at = (*at).max(c.at);
    }
    for c in claims.iter().filter(|c| c.is_live(now)) {
        if last
            .get(&(&c.recipient, &c.device))
            .is_some_and(|at| *at >= c.since)
        {
            continue;
        }
        live.entry(&c.recipient).or_default().push(c);
    }
    live
}

/// The checks of each recipient, with corrected (superseded) checks left out.
fn current_checks(checks: &[Check]) -> FxHashMap<&RecipientId, Current<'_>> {
    let superseded: FxHashSet<CheckId> = checks.iter().filter_map(|c| c.supersedes).collect();
    let mut by: FxHashMap<&RecipientId, Current<'_>> =
        FxHashMap::with_capacity_and_hasher(checks.len(), Default::default());
    for c in checks.iter().filter(|c| !superseded.contains(&c.id)) {
        by.entry(&c.recipient)
            .and_modify(|cur| cur.push(c))
            .or_insert(Current::One(c));
    }
    by
}

/// One recipient's current checks. Most recipients have one, which then
/// needs no allocation of its own: 50,000 small vectors made and freed were
/// a quarter of a 50,000-recipient list.
enum Current<'a> {
    One(&'a Check),
    Many(Vec<&'a Check>),
}

impl<'a> Current<'a> {
    fn push(&mut self, c: &'a Check) {
        match self {
            Current::One(first) => *self = Current::Many(vec![*first, c]),
            Current::Many(all) => all.push(c),
        }
    }

    fn all(&self) -> &[&'a Check] {
        match self {
            Current::One(c) => std::slice::from_ref(c),
            Current::Many(all) => all,
        }
    }
}

/// The check that decides a recipient's status (see [`decide`]).
pub fn latest<'a>(checks: &[&'a Check]) -> Option<&'a Check> {
    decide(checks).0
}

/// What one recipient's current checks (corrected ones left out) say: the
/// check that decides the status, and — when checks that did not know of
/// each other disagree — the disagreeing ones, most attention first.
///
/// Only the causal frontier counts (checks no other check knew of): a check
/// made after its device had seen the others settles them. Among the
/// frontier, a conclusive result comes before "not reached", then the
/// result asking for most attention ([`CheckResult::attention`]); the
/// recording clock only breaks a tie between equal results, then the id (so
/// that every device picks the same). Conclusive frontier results that
/// differ are a conflict, shown as such (結果が食い違っています).
pub fn decide<'a>(checks: &[&'a Check]) -> (Option<&'a Check>, Vec<&'a Check>) {
    // Most recipients have one check, and no check knows of itself.
    if let [only] = checks {
        return (Some(only), Vec::new());
    }
    let known: HashSet<CheckId> = checks
        .iter()
        .flat_map(|c| c.known.iter().copied().chain(c.supersedes))
        .collect();
    let key = |c: &&Check| (c.result.is_conclusive(), c.result.attention(), c.at, c.id);
    let mut frontier: Vec<&'a Check> = checks
        .iter()
        .copied()
        .filter(|c| !known.contains(&c.id))
        .collect();
    frontier.sort_by_key(|c| Reverse(key(c)));
    let deciding = frontier.first().copied();
    let conclusive: Vec<&'a Check> = frontier
        .into_iter()
        .filter(|c| c.result.is_conclusive())
        .collect();
    let disagree = conclusive
        .iter()
        .any(|c| conclusive.first().is_some_and(|f| f.result != c.result));
    (deciding, if disagree { conclusive } else { Vec::new() })
}

/// Each recipient's place among the recipients ordered by id. The index
/// hands them over in that order already, which one pass confirms.
fn id_order(recipients: &[Recipient]) -> Vec<usize> {
    if recipients.windows(2).all(|w| w[0].id <= w[1].id) {
        return (0..recipients.len()).collect();
    }
    let mut by_id: Vec<usize> = (0..recipients.len()).collect();
    by_id.sort_by(|&a, &b| recipients[a].id.cmp(&recipients[b].id));
    let mut place = vec![0; recipients.len()];
    for (p, i) in by_id.into_iter().enumerate() {
        place[i] = p;
    }
    place
}

/// The priority list: action needed first, then those not yet reached, then
/// the settled; within each, highest score first. `incident` decides which
/// hazards count; `checks` and `claims` are that incident's.
pub fn priority_list<'a>(
    recipients: &'a [Recipient],
    incident: Option<&Incident>,
    checks: &'a [Check],
    claims: &'a [Claim],
    config: &PriorityConfig,
    now: Timestamp,
) -> Vec<PriorityEntry<'a>> {
    let kind = incident.map(|i| i.kind);
    let by_recipient = current_checks(checks);
    let mut live = claims_in_force(claims, checks, now);
    let by_id = id_order(recipients);
    let mut rows: Vec<PriorityEntry<'a>> = recipients
        .iter()
        .zip(by_id)
        .map(|(r, id_rank)| {
            let (score, reasons) = score(r, kind, config);
            let mine = by_recipient.get(&r.id).map(Current::all);
            let (latest, conflict) = mine.map(decide).unwrap_or_default();
            let standing = match latest.map(|c| c.result) {
                Some(res) if res.needs_action() => Standing::ActionNeeded,
                Some(res) if res.is_conclusive() => Standing::Settled,
                _ => Standing::NotReached,
            };
            let mut live_claims = live.remove(&r.id).unwrap_or_default();
            live_claims.sort_by(|a, b| a.device.cmp(&b.device));
            PriorityEntry {
                // Until the sort below: where the id falls among the ids.
                rank: id_rank,
                recipient: r,
                score,
                reasons,
                standing,
                latest,
                conflict,
                checks: mine.map_or(0, <[_]>::len),
                duplicate: mine.is_some_and(|cs| {
                    !unaware_pairs(cs).is_empty() || !despite_claim(cs).is_empty()
                }),
                live_claims,
            }
        })
        .collect();
    // Ties go by recipient id, compared as their precomputed order: at
    // 50,000 recipients, comparing the id strings was a fifth of the list.
    rows.sort_unstable_by_key(|r| (r.standing, Reverse(r.score), r.rank));
    for (i, row) in rows.iter_mut().enumerate() {
        row.rank = i + 1;
    }
    rows
}

/// Recipients for whom effort was wasted in one incident.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Duplicate<'a> {
    /// Whom.
    pub recipient: &'a RecipientId,
    /// Every check involved, oldest first (by the recording clocks).
    pub checks: Vec<&'a Check>,
    /// Pairs of checks made without knowledge of each other, by different
    /// staff or organisations, at least one of them conclusive.
    pub pairs: Vec<(CheckId, CheckId)>,
    /// Checks made while another person's claim on the recipient was live
    /// and known to the device.
    pub despite_claim: Vec<CheckId>,
}

/// Pairs of one recipient's checks made without knowledge of each other by
/// different people, at least one conclusive: (earlier, later).
fn unaware_pairs(cs: &[&Check]) -> Vec<(CheckId, CheckId)> {
    let mut pairs = Vec::new();
    for (i, a) in cs.iter().enumerate() {
        for b in &cs[i + 1..] {
            let unaware = !a.known.contains(&b.id) && !b.known.contains(&a.id);
            let other_person = a.staff != b.staff;
            let wasted = a.result.is_conclusive() || b.result.is_conclusive();
            if unaware && other_person && wasted {
                pairs.push(if (a.at, a.id) <= (b.at, b.id) {
                    (a.id, b.id)
                } else {
                    (b.id, a.id)
                });
            }
        }
    }
    pairs
}

/// Checks made while another person's claim was live and known.
fn despite_claim(cs: &[&Check]) -> Vec<CheckId> {
    cs.iter()
        .filter(|c| c.known_claims.iter().any(|k| k.staff != c.staff))
        .map(|c| c.id)
        .collect()
}

/// Duplicate visits, decided by causality rather than clocks: two checks are
/// a duplicate pair when neither device knew of the other check. A check made
/// after its device had received a conclusive result is a follow-up, not a
/// duplicate.
pub fn duplicates(checks: &[Check]) -> Vec<Duplicate<'_>> {
    let by = current_checks(checks);
    let mut out: Vec<Duplicate<'_>> = Vec::new();
    for (recipient, current) in by {
        let cs = current.all();
        let mut pairs = unaware_pairs(cs);
        let despite_claim = despite_claim(cs);
        if pairs.is_empty() && despite_claim.is_empty() {
            continue;
        }
        let involved: HashSet<CheckId> = pairs
            .iter()
            .flat_map(|(a, b)| [*a, *b])
            .chain(despite_claim.iter().copied())
            .collect();
        let mut checks: Vec<&Check> = cs
            .iter()
            .copied()
            .filter(|c| involved.contains(&c.id))
            .collect();
        checks.sort_by_key(|c| (c.at, c.id));
        pairs.sort();
        out.push(Duplicate {
            recipient,
            checks,
            pairs,
            despite_claim,
        });
    }
    out.sort_by(|a, b| a.recipient.cmp(b.recipient));
    out
}

/// How a check relates to the recipient's other checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Relation {
    /// The first check, or one made knowing only non-conclusive results.
    Check,
    /// Made after the device had received a conclusive result: deliberate.
    FollowUp,
    /// Made without knowledge of another person's check.
    Duplicate {
        /// The checks it duplicates.
        of: Vec<CheckId>,
    },
    /// A correction of an earlier check.
    Correction {
        /// The corrected check.
        of: CheckId,
    },
    /// Corrected by a later check; kept, not counted.
    Superseded {
        /// The correcting check.
        by: CheckId,
    },
}

/// One line of a recipient's check history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry<'a> {
    /// The check.
    pub check: &'a Check,
    /// How it relates to the others.
    pub relation: Relation,
}

/// A recipient with everything known about them in one incident.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecipientDetail<'a> {
    /// The recipient (様式1 included).
    pub recipient: &'a Recipient,
    /// Fields with concurrent values.
    pub conflicts: &'a [FieldConflict],
    /// Checks, oldest first.
    pub history: Vec<HistoryEntry<'a>>,
    /// The check deciding their status.
    pub latest: Option<&'a Check>,
    /// Checks that did not know of each other and disagree, most attention
    /// first (empty when they agree).
    pub conflict: Vec<&'a Check>,
    /// Live claims.
    pub live_claims: Vec<&'a Claim>,
}

/// The detail page of one recipient. `checks` and `claims` may hold other
/// recipients' too; they are filtered here.
pub fn recipient_detail<'a>(
    recipient: &'a Recipient,
    conflicts: &'a [FieldConflict],
    checks: &'a [Check],
    claims: &'a [Claim],
    now: Timestamp,
) -> RecipientDetail<'a> {
    let mine: Vec<&Check> = checks
        .iter()
        .filter(|c| c.recipient == recipient.id)
        .collect();
    let superseded_by: HashMap<CheckId, CheckId> = mine
        .iter()
        .filter_map(|c| c.supersedes.map(|s| (s, c.id)))
        .collect();
    let conclusive: HashSet<CheckId> = mine
        .iter()
        .filter(|c| c.result.is_conclusive())
        .map(|c| c.id)
        .collect();
    let owned: Vec<Check> = mine.iter().map(|c| (*c).clone()).collect();
    let dups: HashMap<CheckId, Vec<CheckId>> = duplicates(&owned)
        .into_iter()
        .flat_map(|d| d.pairs)
        .flat_map(|(a, b)| [(a, b), (b, a)])
        .fold(HashMap::new(), |mut m, (a, b)| {
            m.entry(a).or_insert_with(Vec::new).push(b);
            m
        });
    let mut history: Vec<HistoryEntry<'a>> = mine
        .iter()
        .map(|c| {
            let relation = if let Some(by) = superseded_by.get(&c.id) {
                Relation::Superseded { by: *by }
            } else if let Some(of) = c.supersedes {
                Relation::Correction { of }
            } else if let Some(of) = dups.get(&c.id) {
                let mut of = of.clone();
                of.sort();
                Relation::Duplicate { of }
            } else if c.known.iter().any(|k| conclusive.contains(k)) {
                Relation::FollowUp
            } else {
                Relation::Check
            };
            HistoryEntry { check: c, relation }
        })
        .collect();
    history.sort_by_key(|h| (h.check.at, h.check.id));
    let current: Vec<&Check> = mine
        .iter()
        .copied()
        .filter(|c| !superseded_by.contains_key(&c.id))
        .collect();
    let (latest, conflict) = decide(&current);
    RecipientDetail {
        recipient,
        conflicts,
        history,
        latest,
        conflict,
        live_claims: claims
            .iter()
            .filter(|c| c.recipient == recipient.id && c.is_live(now))
            .filter(|c| !claim_ended(c, checks))
            .collect(),
    }
}

/// Counts for the incident's situation board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentSummary {
    /// The incident.
    pub incident: Incident,
    /// Its phase now.
    pub phase: Phase,
    /// Recipients in the roster.
    pub recipients: usize,
    /// Never checked.
    pub unchecked: usize,
    /// Checked, but not reached (unreachable / absent only).
    pub not_reached: usize,
    /// Recipients by their deciding result.
    pub by_result: BTreeMap<CheckResult, usize>,
    /// Not reached yet and high priority.
    pub high_priority_not_reached: usize,
    /// Recipients with a duplicate visit.
    pub duplicates: usize,
    /// Recipients whose checks disagree (結果が食い違っています).
    pub conflicts: usize,
    /// Checks recorded.
    pub checks: usize,
}

/// The summary of an incident from its priority list.
pub fn incident_summary(
    incident: &Incident,
    list: &[PriorityEntry<'_>],
    checks: usize,
    config: &PriorityConfig,
    now: Timestamp,
) -> IncidentSummary {
    let mut by_result = BTreeMap::new();
    for e in list {
        if let Some(c) = e.latest {
            *by_result.entry(c.result).or_insert(0) += 1;
        }
    }
    IncidentSummary {
        incident: incident.clone(),
        phase: incident.phase(now),
        recipients: list.len(),
        unchecked: list.iter().filter(|e| e.latest.is_none()).count(),
        not_reached: list
            .iter()
            .filter(|e| e.latest.is_some() && e.standing == Standing::NotReached)
            .count(),
        by_result,
        high_priority_not_reached: list
            .iter()
            .filter(|e| e.standing == Standing::NotReached && e.score >= config.high_priority_from)
            .count(),
        duplicates: list.iter().filter(|e| e.duplicate).count(),
        conflicts: list.iter().filter(|e| !e.conflict.is_empty()).count(),
        checks,
    }
}

/// Disagreeing checks (see [`decide`]) in one line for people:
/// "結果が食い違っています: 負傷（鈴木・B）／無事（佐藤・A）". Empty when
/// they agree.
pub fn conflict_line(conflict: &[&Check], lang: Lang) -> String {
    if conflict.is_empty() {
        return String::new();
    }
    let each: Vec<String> = conflict
        .iter()
        .map(|c| match lang {
            Lang::Ja => format!(
                "{}（{}・{}）",
                c.result.label_ja(),
                c.staff.name,
                c.staff.organisation
            ),
            Lang::En => format!(
                "{} ({}, {})",
                c.result.label_en(),
                c.staff.name,
                c.staff.organisation
            ),
        })
        .collect();
    match lang {
        Lang::Ja => format!("結果が食い違っています: {}", each.join("／")),
        Lang::En => format!("results disagree: {}", each.join(" / ")),
    }
}

/// A standing's label for people.
pub fn standing_label(s: Standing, lang: Lang) -> &'static str {
    match (s, lang) {
        (Standing::ActionNeeded, Lang::Ja) => "要対応",
        (Standing::NotReached, Lang::Ja) => "未確認",
        (Standing::Settled, Lang::Ja) => "確認済",
        (Standing::ActionNeeded, Lang::En) => "action needed",
        (Standing::NotReached, Lang::En) => "not reached",
        (Standing::Settled, Lang::En) => "checked",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::priority::Factor;

    fn staff(name: &str, org: &str) -> Staff {
        Staff {
            name: name.into(),
            organisation: org.into(),
        }
    }

    fn check(
        recipient: &str,
        who: Staff,
        result: CheckResult,
        at: i64,
        known: &[CheckId],
    ) -> Check {
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
        let rs = vec![ventilator_alone_in_flood_zone(), support_1_with_family()];
        let checks = vec![check("R2", staff("佐藤", "A"), CheckResult::Safe, 10, &[])];
        let c = PriorityConfig::default();
        let now = Timestamp::from_millis(3_600_000);
        let list = priority_list(&rs, Some(&flood()), &checks, &[], &c, now);
        let s = incident_summary(&flood(), &list, checks.len(), &c, now);
        assert_eq!(s.recipients, 2);
        assert_eq!(s.unchecked, 1);
        assert_eq!(s.by_result.get(&CheckResult::Safe), Some(&1));
        assert_eq!(s.high_priority_not_reached, 1);
        assert_eq!(s.phase, Phase::FirstHours);
    }
}
