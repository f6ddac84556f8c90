//! The staff side of the documents (format 4): the roster's staff list, and
//! an incident's safety reports, decisions and assignments.
//!
//! ```text
//! roster                           incident/<kind>-<date>
//! └─ staff: { <職員ID>: StaffMember }  ├─ reports:     { <device>: { <report id>: SafetyReport } }
//!                                  ├─ decisions:   { <decision id>: Decision }
//!                                  └─ assignments: { <利用者ID>: Assignment }
//! ```
//!
//! Reports sit in one bucket per recording device, made and filled only by
//! that device, like checks: immutable facts that never conflict.
//! Decisions are written once under their own id. The staff list and the
//! assignments are registers an admin overwrites or removes.

use super::*;
use crate::model::{Assignment, Decision, SafetyReport, StaffId, StaffMember};

/// The roster's staff list.
pub(super) const STAFF: &str = "staff";
/// An incident's safety reports.
pub(super) const REPORTS: &str = "reports";
/// An incident's decisions.
pub(super) const DECISIONS: &str = "decisions";
/// An incident's assignments.
pub(super) const ASSIGNMENTS: &str = "assignments";

/// One of the staff side's maps, each indexed whole (they hold tens to a
/// few thousand entries, read together).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The roster's staff list.
    Staff,
    /// An incident's safety reports.
    Reports,
    /// An incident's decisions.
    Decisions,
    /// An incident's assignments.
    Assignments,
}

impl Part {
    /// The map it lives in.
    pub fn map(self) -> &'static str {
        match self {
            Part::Staff => STAFF,
            Part::Reports => REPORTS,
            Part::Decisions => DECISIONS,
            Part::Assignments => ASSIGNMENTS,
        }
    }

    /// The parts of a document of `kind`.
    pub fn of(kind: &DocKind) -> &'static [Part] {
        match kind {
            DocKind::Roster => &[Part::Staff],
            DocKind::Incident(_) => &[Part::Reports, Part::Decisions, Part::Assignments],
        }
    }

    /// Every entry of the part in `doc`, as JSON (an array), for the index:
    /// empty when the document is older than the format that made the map.
    pub fn read_json(self, doc: &AutoCommit) -> Result<Vec<u8>> {
        fn json<T: Serialize>(v: Vec<T>) -> Vec<u8> {
            serde_json::to_vec(&v).expect("model types always serialize")
        }
        Ok(match self {
            Part::Staff => json(staff_list(doc)?),
            Part::Reports => json(reports(doc)?),
            Part::Decisions => json(decisions(doc)?),
            Part::Assignments => json(assignments(doc)?),
        })
    }
}

/// The map `name`, or `None` in a document not yet stepped to format 4.
fn part_map(doc: &AutoCommit, name: &str) -> Option<ObjId> {
    top(doc, name).ok()
}

/// The map `name` for writing: a document not yet stepped cannot take it.
fn part_map_to_write(doc: &AutoCommit, name: &str) -> Result<ObjId> {
    top(doc, name).map_err(|_| {
        Error::invalid(format!(
            "this document is older than the format that keeps '{name}': open it again to update it"
        ))
    })
}

/// Add or replace a staff member in the roster's staff list.
pub fn put_staff_member(doc: &mut AutoCommit, member: &StaffMember) -> Result<()> {
    let staff = part_map_to_write(doc, STAFF)?;
    put_json(doc, &staff, member.id.as_str(), member)
}

/// Remove a staff member from the staff list.
pub fn remove_staff_member(doc: &mut AutoCommit, id: &StaffId) -> Result<()> {
    let staff = part_map_to_write(doc, STAFF)?;
    if doc.get(&staff, id.as_str())?.is_some() {
        doc.delete(&staff, id.as_str())?;
    }
    Ok(())
}

/// The staff list, by 職員ID.
pub fn staff_list(doc: &AutoCommit) -> Result<Vec<StaffMember>> {
    match part_map(doc, STAFF) {
        Some(staff) => all_json(doc, &staff),
        None => Ok(Vec::new()),
    }
}

/// Add a safety report to the bucket of the device that recorded it.
/// Reports are never changed or removed.
pub fn put_report(doc: &mut AutoCommit, report: &SafetyReport) -> Result<()> {
    let reports = part_map_to_write(doc, REPORTS)?;
    let bucket = match doc.get(&reports, report.device.as_str())? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => doc.put_object(&reports, report.device.as_str(), ObjType::Map)?,
    };
    put_json(doc, &bucket, &report.id.to_string(), report)
}

/// Every safety report, once each.
pub fn reports(doc: &AutoCommit) -> Result<Vec<SafetyReport>> {
    let Some(reports) = part_map(doc, REPORTS) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<SafetyReport> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for bucket in doc.keys(&reports).collect::<Vec<_>>() {
        if let Some((Value::Object(ObjType::Map), b)) = doc.get(&reports, bucket.as_str())? {
            for r in all_json::<SafetyReport>(doc, &b)? {
                if seen.insert(r.id) {
                    out.push(r);
                }
            }
        }
    }
    Ok(out)
}

/// Record a decision. Decisions are never changed or removed.
pub fn put_decision(doc: &mut AutoCommit, decision: &Decision) -> Result<()> {
    let decisions = part_map_to_write(doc, DECISIONS)?;
    put_json(doc, &decisions, &decision.id.to_string(), decision)
}

/// Every decision.
pub fn decisions(doc: &AutoCommit) -> Result<Vec<Decision>> {
    match part_map(doc, DECISIONS) {
        Some(d) => all_json(doc, &d),
        None => Ok(Vec::new()),
    }
}

/// Assign a recipient (replacing an earlier assignment of them).
pub fn put_assignment(doc: &mut AutoCommit, a: &Assignment) -> Result<()> {
    let assignments = part_map_to_write(doc, ASSIGNMENTS)?;
    put_json(doc, &assignments, a.recipient.as_str(), a)
}

/// Take back a recipient's assignment.
pub fn remove_assignment(doc: &mut AutoCommit, recipient: &RecipientId) -> Result<()> {
    let assignments = part_map_to_write(doc, ASSIGNMENTS)?;
    if doc.get(&assignments, recipient.as_str())?.is_some() {
        doc.delete(&assignments, recipient.as_str())?;
    }
    Ok(())
}

/// Every assignment.
pub fn assignments(doc: &AutoCommit) -> Result<Vec<Assignment>> {
    match part_map(doc, ASSIGNMENTS) {
        Some(a) => all_json(doc, &a),
        None => Ok(Vec::new()),
    }
}
