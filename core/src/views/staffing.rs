//! The staff board (職員安否): who reported, who did not (and whether
//! their phone has even synced since the disaster began), who is hurt;
//! turnout today and by day; the operation level in force.

use std::collections::BTreeMap;

use crate::bcp::{self, Answer, Outlook, TurnoutDay};
use crate::codes::{OperationLevel, PersonalSafety};
use crate::model::{
    Decided, Decision, DeviceId, Incident, SafetyReport, StaffId, StaffMember, Timestamp, in_force,
};

/// Where a staff member stands in the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StaffState {
    /// Reported an injury (軽傷 or 重傷).
    Injured,
    /// No report, though a device of theirs synced here after the
    /// incident began: they have not answered.
    NoAnswer,
    /// No report, and no device of theirs synced here since the incident
    /// began (or they carry none): they may not know yet.
    NotReached,
    /// Reported unharmed.
    Reported,
}

impl StaffState {
    /// The label users see.
    pub fn label(self, lang: crate::codes::Lang) -> &'static str {
        use crate::codes::Lang::*;
        match (self, lang) {
            (StaffState::Injured, Ja) => "負傷",
            (StaffState::NoAnswer, Ja) => "未報告（同期済み・応答なし）",
            (StaffState::NotReached, Ja) => "未報告（災害後の同期なし）",
            (StaffState::Reported, Ja) => "報告済み",
            (StaffState::Injured, En) => "injured",
            (StaffState::NoAnswer, En) => "not reported (synced, no answer)",
            (StaffState::NotReached, En) => "not reported (not synced since the disaster)",
            (StaffState::Reported, En) => "reported",
        }
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            StaffState::Injured => "injured",
            StaffState::NoAnswer => "no_answer",
            StaffState::NotReached => "not_reached",
            StaffState::Reported => "reported",
        }
    }
}

/// One staff member on the board.
#[derive(Clone, Debug, PartialEq)]
pub struct StaffRow {
    /// The person, as the staff list has them.
    pub member: StaffMember,
    /// Their report in force, if any.
    pub report: Option<SafetyReport>,
    /// Where they stand.
    pub state: StaffState,
    /// How many devices of the space they carry.
    pub devices: usize,
    /// The latest sync of any of their devices with this one.
    pub last_sync: Option<Timestamp>,
}

/// The operation level in force and where it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelInForce {
    /// The level the office works at.
    pub level: OperationLevel,
    /// The level today's turnout sets.
    pub by_turnout: OperationLevel,
    /// The admin's decision that set it by hand, if one holds.
    pub by_hand: Option<Decision>,
}

/// The staff board of an incident.
#[derive(Clone, Debug, PartialEq)]
pub struct StaffBoard {
    /// Injured first, then those who did not answer, those not reached,
    /// those reported; by 職員ID within each.
    pub rows: Vec<StaffRow>,
    /// Staff on the list.
    pub total: usize,
    /// Of them, with a report.
    pub reported: usize,
    /// Without one.
    pub not_reported: usize,
    /// Reported injured.
    pub injured: usize,
    /// Days since the incident began (0 = its first day).
    pub day: u32,
    /// Turnout today: reports, and the plan's estimate for the rest.
    pub today: TurnoutDay,
    /// Turnout expected by day ([`bcp::FORECAST_DAYS`]).
    pub forecast: Vec<TurnoutDay>,
    /// The operation level.
    pub level: LevelInForce,
}

/// Which staff member each device is carried by: its carrier's 職員ID
/// when the device was told it, else the one person of the list with its
/// carrier's name.
pub fn carriers(
    staff: &[StaffMember],
    devices: &[(DeviceId, crate::model::Staff)],
) -> BTreeMap<DeviceId, StaffId> {
    let mut by_name: BTreeMap<String, Vec<&StaffId>> = BTreeMap::new();
    for m in staff {
        by_name.entry(name_key(&m.name)).or_default().push(&m.id);
    }
    devices
        .iter()
        .filter_map(|(device, carrier)| {
            let id = match &carrier.id {
                Some(id) => Some(id.clone()),
                None => match by_name.get(&name_key(&carrier.name)).map(Vec::as_slice) {
                    Some([one]) => Some((*one).clone()),
                    _ => None,
                },
            }?;
            Some((device.clone(), id))
        })
        .collect()
}

/// A name as compared: spaces of either width dropped (田中 花子 = 田中花子):
/// a staff member, an assignee, a care manager or an area named by hand.
pub fn name_key(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The decision in force for `setting` ("level", "power").
pub fn decision_in_force<'a>(decisions: &'a [Decision], setting: &str) -> Option<&'a Decision> {
    in_force(decisions.iter().filter(|d| d.what.setting() == setting))
}

/// Whether an admin has marked the power as back on (otherwise an
/// earthquake, storm or flood is taken to have cut it).
pub fn power_on(decisions: &[Decision]) -> bool {
    matches!(
        decision_in_force(decisions, "power").map(|d| d.what),
        Some(Decided::Power { on: true })
    )
}

/// The report in force of each staff member.
pub fn reports_in_force(reports: &[SafetyReport]) -> BTreeMap<&StaffId, &SafetyReport> {
    let mut by_staff: BTreeMap<&StaffId, Vec<&SafetyReport>> = BTreeMap::new();
    for r in reports {
        by_staff.entry(&r.staff).or_default().push(r);
    }
    by_staff
        .into_iter()
        .filter_map(|(id, rs)| Some((id, in_force(rs)?)))
        .collect()
}

/// What the board needs beside the staff list.
pub struct StaffInputs<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// Its safety reports.
    pub reports: &'a [SafetyReport],
    /// Its decisions.
    pub decisions: &'a [Decision],
    /// Which staff member carries each device ([`carriers`]).
    pub carriers: &'a BTreeMap<DeviceId, StaffId>,
    /// When each device last synced with this one.
    pub last_sync: &'a BTreeMap<DeviceId, Timestamp>,
    /// Now.
    pub now: Timestamp,
}

/// The staff board.
pub fn staff_board(staff: &[StaffMember], i: &StaffInputs<'_>) -> StaffBoard {
    let in_force = reports_in_force(i.reports);
    let started = i.incident.started_at;
    let mut rows: Vec<StaffRow> = staff
        .iter()
        .map(|m| {
            let theirs: Vec<&DeviceId> = i
                .carriers
                .iter()
                .filter(|(_, s)| **s == m.id)
                .map(|(d, _)| d)
                .collect();
            let last_sync = theirs
                .iter()
                .filter_map(|d| i.last_sync.get(*d))
                .max()
                .copied();
            let report = in_force.get(&m.id).map(|r| (*r).clone());
            let state = match &report {
                Some(r) if r.person != PersonalSafety::Unharmed => StaffState::Injured,
                Some(_) => StaffState::Reported,
                None if last_sync.is_some_and(|t| t >= started) => StaffState::NoAnswer,
                None => StaffState::NotReached,
            };
            StaffRow {
                member: m.clone(),
                report,
                state,
                devices: theirs.len(),
                last_sync,
            }
        })
        .collect();
    rows.sort_by(|a, b| (a.state, &a.member.id).cmp(&(b.state, &b.member.id)));
    let outlooks: Vec<Outlook> = rows.iter().map(|r| outlook(r, started)).collect();
    let day = day_of(started, i.now);
    let today = bcp::turnout_on(&outlooks, day);
    let by_hand = decision_in_force(i.decisions, "level")
        .filter(|d| matches!(d.what, Decided::Level { level: Some(_) }))
        .cloned();
    let level = match by_hand.as_ref().map(|d| d.what) {
        Some(Decided::Level { level: Some(l) }) => l,
        _ => today.level,
    };
    let reported = rows.iter().filter(|r| r.report.is_some()).count();
    StaffBoard {
        total: rows.len(),
        reported,
        not_reported: rows.len() - reported,
        injured: rows
            .iter()
            .filter(|r| r.state == StaffState::Injured)
            .count(),
        day,
        forecast: bcp::forecast(&outlooks),
        level: LevelInForce {
            level,
            by_turnout: today.level,
            by_hand,
        },
        today,
        rows,
    }
}

fn outlook(row: &StaffRow, started: Timestamp) -> Outlook {
    Outlook {
        distance_km: row.member.distance_km,
        answer: row.report.as_ref().map(|r| Answer {
            person: r.person,
            attendance: r.attendance,
            from: r.from,
            on_day: day_of(started, r.at),
        }),
    }
}

/// The day of the incident `at` falls on (0 = its first 24 hours).
fn day_of(started: Timestamp, at: Timestamp) -> u32 {
    u32::try_from((at.millis() - started.millis()).max(0) / 86_400_000).unwrap_or(u32::MAX)
}
