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

use crate::codes::{Lang, OperationLevel};
use crate::model::{
    Check, CheckId, CheckResult, Claim, FieldConflict, Incident, Phase, Recipient, RecipientId,
    StaffId, Timestamp,
};
use crate::priority::{DEADLINE_NEAR_MINUTES, PriorityConfig, Reason, battery_deadline, score};

mod board;
mod staffing;
pub use board::{
    Board, GroupBy, GroupProgress, ListFilter, MAX_PROGRESS_STEPS, ProgressStep, board, breakdown,
    is_high_priority, progress, searchable,
};
pub use staffing::{
    LevelInForce, StaffBoard, StaffInputs, StaffRow, StaffState, carriers, decision_in_force,
    name_key, power_on, reports_in_force, staff_board,
};

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
    /// When the battery of the device they depend on runs out, in an
    /// incident that cuts power (`priority::battery_deadline`).
    pub deadline: Option<Timestamp>,
    /// The deadline is within a day, or past: they rank above every score
    /// in their standing, soonest first.
    pub deadline_near: bool,
    /// The staff member they are assigned to in this incident.
    pub assigned_to: Option<StaffId>,
    /// Assigned to this device's carrier (わたしの担当): first in their
    /// standing on this device.
    pub mine: bool,
    /// 後回し（運営レベル）: at operation level 30% only high priority
    /// recipients are checked first; the rest not yet reached come after
    /// them, still listed.
    pub postponed: bool,
    /// Checked by someone other than the staff member they are assigned
    /// to (担当外の確認): shown, never refused.
    pub despite_assignment: bool,
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

    /// 「後回し（運営レベル）」 when [`PriorityEntry::postponed`].
    pub fn postponed_label(lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => "後回し（運営レベル）",
            Lang::En => "later (operation level)",
        }
    }

    /// 「担当外の確認」 when [`PriorityEntry::despite_assignment`].
    pub fn despite_assignment_label(lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => "担当外の確認",
            Lang::En => "checked by another than the assignee",
        }
    }

    /// 「わたしの担当」 when [`PriorityEntry::mine`].
    pub fn mine_label(lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => "わたしの担当",
            Lang::En => "assigned to me",
        }
    }

    /// Two or more devices claim this recipient at once.
    pub fn claim_conflict(&self) -> bool {
        self.live_claims.len() > 1
    }

    /// The battery's time left at `now` (「バッテリー残り4時間」), when
    /// there is a deadline.
    pub fn time_left(&self, now: Timestamp, lang: Lang) -> Option<String> {
        self.deadline
            .map(|d| crate::priority::time_left(d, now, lang))
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

/// What the office's operation adds to a priority list: the power marked
/// on, the operation level in force, the assignments, and whose device it
/// is shown on.
#[derive(Clone, Debug, Default)]
pub struct Operation {
    /// An admin marked the power on: no battery deadlines.
    pub power_on: bool,
    /// The operation level in force, when the office has a staff list.
    pub level: Option<OperationLevel>,
    /// Each assigned recipient's staff member.
    pub assignments: HashMap<RecipientId, StaffId>,
    /// The staff member carrying the device the list is shown on.
    pub me: Option<StaffId>,
    /// The staff list's names, by 職員ID: a check by a device never told
    /// its carrier's 職員ID is its assignee's when the names match.
    pub names: HashMap<StaffId, String>,
}

impl Operation {
    /// Whether `check` was made by someone other than `assignee`.
    fn by_another(&self, check: &Check, assignee: &StaffId) -> bool {
        match &check.staff.id {
            Some(id) => id != assignee,
            None => self.names.get(assignee).is_none_or(|name| {
                staffing::name_key(name) != staffing::name_key(&check.staff.name)
            }),
        }
    }
}

/// The priority list with no operation beside it ([`priority_list_in`]).
pub fn priority_list<'a>(
    recipients: &'a [Recipient],
    incident: Option<&Incident>,
    checks: &'a [Check],
    claims: &'a [Claim],
    config: &PriorityConfig,
    now: Timestamp,
) -> Vec<PriorityEntry<'a>> {
    priority_list_in(
        recipients,
        incident,
        checks,
        claims,
        config,
        &Operation::default(),
        now,
    )
}

/// The priority list: action needed first, then those not yet reached, then
/// the settled; within each, at operation level 30% those not high priority
/// last (後回し), a battery deadline within a day first (soonest first,
/// unless the power is marked on: a life hangs on it, whoever it is
/// assigned to), then those assigned to this device's carrier, then
/// highest score first. `incident` decides which hazards
/// count; `checks` and `claims` are that incident's.
pub fn priority_list_in<'a>(
    recipients: &'a [Recipient],
    incident: Option<&Incident>,
    checks: &'a [Check],
    claims: &'a [Claim],
    config: &PriorityConfig,
    op: &Operation,
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
            let deadline = incident
                .filter(|_| !op.power_on)
                .and_then(|i| battery_deadline(r, i));
            let deadline_near = deadline
                .is_some_and(|d| d.millis() - now.millis() <= DEADLINE_NEAR_MINUTES * 60_000);
            let mut live_claims = live.remove(&r.id).unwrap_or_default();
            live_claims.sort_by(|a, b| a.device.cmp(&b.device));
            let assigned_to = if op.assignments.is_empty() {
                None
            } else {
                op.assignments.get(&r.id).cloned()
            };
            let postponed = op.level == Some(OperationLevel::Level30)
                && standing == Standing::NotReached
                && score < config.high_priority_from
                && !deadline_near;
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
                deadline,
                deadline_near,
                mine: assigned_to.is_some() && assigned_to == op.me,
                despite_assignment: assigned_to
                    .as_ref()
                    .is_some_and(|s| mine.is_some_and(|cs| cs.iter().any(|c| op.by_another(c, s)))),
                assigned_to,
                postponed,
            }
        })
        .collect();
    // Ties go by recipient id, compared as their precomputed order: at
    // 50,000 recipients, comparing the id strings was a fifth of the list.
    rows.sort_unstable_by_key(|r| {
        (
            r.standing,
            r.postponed,
            !r.deadline_near,
            r.deadline.filter(|_| r.deadline_near),
            !r.mine,
            Reverse(r.score),
            r.rank,
        )
    });
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
    /// Not reached yet, and their device's battery runs out within a day
    /// (or ran out) in an incident that cuts power.
    pub battery_deadline_not_reached: usize,
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
            .filter(|e| e.standing == Standing::NotReached && is_high_priority(e, config))
            .count(),
        battery_deadline_not_reached: list
            .iter()
            .filter(|e| e.standing == Standing::NotReached && e.deadline_near)
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
mod tests;
