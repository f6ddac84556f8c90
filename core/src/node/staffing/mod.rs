//! The staff side: the staff list, safety reports, decisions, assignments
//! and the staff board (`views::staff_board`).

use super::*;
use crate::access::Permission;
use crate::codes::{Attendance, AvailableFrom, FamilySafety, HomeDamage, PersonalSafety};
use crate::doc::Part;
use crate::model::{Assignment, Decided, Decision, RecordId, SafetyReport, StaffId, StaffMember};

/// A safety report as a person gives it (`Node::record_report`).
#[derive(Clone, Debug)]
pub struct NewReport {
    /// Whose safety: `None` for this device's carrier.
    pub staff: Option<StaffId>,
    /// 本人.
    pub person: PersonalSafety,
    /// 家族.
    pub family: FamilySafety,
    /// 自宅.
    pub home: HomeDamage,
    /// 出勤.
    pub attendance: Attendance,
    /// いつから: `None` reads as 3日超 for one who cannot come, and is
    /// refused for one who can.
    pub from: Option<AvailableFrom>,
    /// 現在地.
    pub location: String,
    /// 連絡手段.
    pub contact: String,
    /// When (by this device's clock).
    pub at: Timestamp,
}

/// Which recipients an assignment takes (`Node::select_recipients`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Select {
    /// These, by 利用者ID.
    Ids(Vec<RecipientId>),
    /// Every recipient of this 担当ケアマネ.
    CareManager(String),
    /// Every recipient of this 地区.
    Area(String),
}

/// What a staff list import changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaffImport {
    /// New people.
    pub added: usize,
    /// People whose entry changed.
    pub updated: usize,
    /// People exactly as before.
    pub unchanged: usize,
    /// People of the list the file did not name, kept as they were.
    pub missing: Vec<StaffId>,
}

impl Node {
    fn part<T: serde::de::DeserializeOwned>(&self, key: &DocKey, part: Part) -> Result<Vec<T>> {
        match self.store.meta(&crate::store::part_key(key, part))? {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("{} of {key}: {e}", part.map()))),
        }
    }

    /// The space's staff list, by 職員ID.
    pub fn staff_list(&self, space: &SpaceId) -> Result<Vec<StaffMember>> {
        let mut all: Vec<StaffMember> = self.part(&DocKey::roster(space), Part::Staff)?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// The staff list by 職員ID, as an import compares against it.
    fn staff_by_id(&self, space: &SpaceId) -> Result<HashMap<StaffId, StaffMember>> {
        Ok(self
            .staff_list(space)?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect())
    }

    /// What importing `staff` would change, writing nothing.
    pub fn preview_staff_import(
        &self,
        space: &SpaceId,
        staff: &[StaffMember],
    ) -> Result<StaffImport> {
        Ok(import_counts(&self.staff_by_id(space)?, staff))
    }

    /// Add or update the people of a staff list file
    /// ([`crate::io::staff`]) in one durable write; those it does not name
    /// are kept (and counted in `missing`). Admins only.
    pub fn import_staff(
        &mut self,
        space: &SpaceId,
        staff: Vec<StaffMember>,
    ) -> Result<StaffImport> {
        self.ensure_space(space)?;
        self.require(space, Permission::ManageStaff)?;
        let existing = self.staff_by_id(space)?;
        let counts = import_counts(&existing, &staff);
        let changed: Vec<StaffMember> = staff
            .into_iter()
            .filter(|m| existing.get(&m.id) != Some(m))
            .collect();
        if changed.is_empty() {
            return Ok(counts);
        }
        self.note(
            audit::Action::Changed,
            "staff",
            format!("import of {} people", changed.len()),
        );
        self.change(&DocKey::roster(space), false, |e| {
            for m in changed {
                e.apply(JournalOp::PutStaffMember(Box::new(m)))?;
            }
            Ok(((), vec![part_row(e, Part::Staff)?]))
        })?;
        Ok(counts)
    }

    /// Take a person off the staff list. Admins only.
    pub fn remove_staff_member(&mut self, space: &SpaceId, id: &StaffId) -> Result<StaffMember> {
        self.require(space, Permission::ManageStaff)?;
        let member = self
            .staff_list(space)?
            .into_iter()
            .find(|m| &m.id == id)
            .ok_or_else(|| Error::NotFound(format!("職員ID {id}")))?;
        self.note(audit::Action::Changed, "staff", format!("removed {id}"));
        self.change(&DocKey::roster(space), false, |e| {
            e.apply(JournalOp::RemoveStaffMember(id.clone()))?;
            Ok(((), vec![part_row(e, Part::Staff)?]))
        })?;
        Ok(member)
    }

    /// The safety reports of an incident, every one (a newer supersedes an
    /// older: `views::reports_in_force`).
    pub fn reports(&self, space: &SpaceId, incident: &IncidentId) -> Result<Vec<SafetyReport>> {
        self.part(&DocKey::incident(space, incident), Part::Reports)
    }

    /// The decisions of an incident.
    pub fn decisions(&self, space: &SpaceId, incident: &IncidentId) -> Result<Vec<Decision>> {
        self.part(&DocKey::incident(space, incident), Part::Decisions)
    }

    /// The assignments of an incident.
    pub fn assignments(&self, space: &SpaceId, incident: &IncidentId) -> Result<Vec<Assignment>> {
        let mut all: Vec<Assignment> =
            self.part(&DocKey::incident(space, incident), Part::Assignments)?;
        all.sort_by(|a, b| a.recipient.cmp(&b.recipient));
        Ok(all)
    }

    /// The recipients `select` names, by 利用者ID: each id must be one of
    /// the space's; a care manager or area must have at least one (names
    /// compared with spaces of either width dropped).
    pub fn select_recipients(&self, space: &SpaceId, select: &Select) -> Result<Vec<RecipientId>> {
        let by =
            |field: fn(&Recipient) -> &str, want: &str, what: &str| -> Result<Vec<RecipientId>> {
                let want = crate::views::name_key(want);
                let ids: Vec<RecipientId> = self
                    .store
                    .recipients(space)?
                    .into_iter()
                    .filter(|r| crate::views::name_key(field(&r.recipient)) == want)
                    .map(|r| r.recipient.id)
                    .collect();
                if ids.is_empty() {
                    return Err(Error::NotFound(format!(
                        "{what} {want:?} (no recipient has it)"
                    )));
                }
                Ok(ids)
            };
        match select {
            Select::Ids(ids) => {
                for r in ids {
                    if self.store.recipient(space, r)?.is_none() {
                        return Err(Error::NotFound(format!("recipient {r}")));
                    }
                }
                Ok(ids.clone())
            }
            Select::CareManager(name) => by(|r| &r.care_manager, name, "担当ケアマネ"),
            Select::Area(area) => by(|r| &r.area, area, "地区"),
        }
    }

    /// Record a safety report in the open incident: this device's carrier's
    /// own, or a colleague's who phoned in (the report says who recorded
    /// it). It replaces the reports of that person this device holds.
    pub fn record_report(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        new: NewReport,
    ) -> Result<SafetyReport> {
        let inc = self.incident(space, incident)?;
        if !inc.is_open() {
            return Err(Error::invalid(format!(
                "incident {incident} has ended; reports can no longer be recorded"
            )));
        }
        let staff = match new.staff.or_else(|| self.staff.id.clone()) {
            Some(s) => s,
            None => {
                return Err(Error::invalid(
                    "この端末の職員IDが設定されていません。職員IDを指定してください (this device has no 職員ID: name whose report it is)",
                ));
            }
        };
        if !self.staff_list(space)?.iter().any(|m| m.id == staff) {
            return Err(Error::NotFound(format!(
                "職員ID {staff} (not on the staff list)"
            )));
        }
        let from = match (new.attendance, new.from) {
            (_, Some(f)) => f,
            (Attendance::Unable, None) => AvailableFrom::Later,
            (_, None) => {
                return Err(Error::invalid(
                    "出勤が可能・困難のときは「いつから」を選んでください (say from when they can work)",
                ));
            }
        };
        for (what, text) in [("現在地", &new.location), ("連絡手段", &new.contact)] {
            crate::text::check(text, false).map_err(|m| Error::invalid(format!("{what}: {m}")))?;
        }
        let supersedes: Vec<RecordId> = self
            .reports(space, incident)?
            .into_iter()
            .filter(|r| r.staff == staff)
            .map(|r| r.id)
            .collect();
        let report = SafetyReport {
            id: RecordId::new(),
            staff,
            person: new.person,
            family: new.family,
            home: new.home,
            attendance: new.attendance,
            from,
            location: new.location.trim().to_string(),
            contact: new.contact.trim().to_string(),
            recorded_by: self.staff.clone(),
            device: self.device.clone(),
            at: new.at,
            supersedes,
        };
        self.note(
            audit::Action::Recorded,
            report.staff.as_str(),
            format!("safety report {}", report.id),
        );
        let r = report.clone();
        self.change(&DocKey::incident(space, incident), false, |e| {
            e.apply(JournalOp::PutReport(Box::new(r)))?;
            Ok(((), vec![part_row(e, Part::Reports)?]))
        })?;
        Ok(report)
    }

    /// Record an admin's decision in an incident: the operation level set
    /// by hand (or handed back to turnout), or the power marked on or off.
    pub fn decide(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        what: Decided,
        reason: &str,
    ) -> Result<Decision> {
        self.require(space, Permission::ManageStaff)?;
        self.incident(space, incident)?;
        crate::text::check(reason, false).map_err(|m| Error::invalid(format!("理由: {m}")))?;
        let supersedes = self
            .decisions(space, incident)?
            .into_iter()
            .filter(|d| d.what.setting() == what.setting())
            .map(|d| d.id)
            .collect();
        let decision = Decision {
            id: RecordId::new(),
            what,
            reason: reason.trim().to_string(),
            by: self.acting_staff(),
            device: self.device.clone(),
            at: Timestamp::now(),
            supersedes,
        };
        self.note(
            audit::Action::Changed,
            incident.as_str(),
            format!("decision {} ({})", what.setting(), decision.id),
        );
        let d = decision.clone();
        self.change(&DocKey::incident(space, incident), false, |e| {
            e.apply(JournalOp::PutDecision(Box::new(d)))?;
            Ok(((), vec![part_row(e, Part::Decisions)?]))
        })?;
        Ok(decision)
    }

    /// Assign `recipients` to staff member `staff` in an incident (or,
    /// with `None`, take their assignments back). Returns how many changed.
    /// Admins only.
    pub fn assign(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        recipients: &[RecipientId],
        staff: Option<&StaffId>,
    ) -> Result<usize> {
        self.require(space, Permission::ManageStaff)?;
        self.incident(space, incident)?;
        if let Some(s) = staff
            && !self.staff_list(space)?.iter().any(|m| &m.id == s)
        {
            return Err(Error::NotFound(format!(
                "職員ID {s} (not on the staff list)"
            )));
        }
        self.select_recipients(space, &Select::Ids(recipients.to_vec()))?;
        let current: HashMap<RecipientId, StaffId> = self
            .assignments(space, incident)?
            .into_iter()
            .map(|a| (a.recipient, a.staff))
            .collect();
        let changing: Vec<&RecipientId> = recipients
            .iter()
            .filter(|r| current.get(*r) != staff)
            .collect();
        if changing.is_empty() {
            return Ok(0);
        }
        let by = self.acting_staff();
        let at = Timestamp::now();
        self.note(
            audit::Action::Changed,
            incident.as_str(),
            match staff {
                Some(s) => format!("assigned {} recipients to {s}", changing.len()),
                None => format!("took back {} assignments", changing.len()),
            },
        );
        let n = changing.len();
        self.change(&DocKey::incident(space, incident), false, |e| {
            for r in changing {
                e.apply(match staff {
                    Some(s) => JournalOp::PutAssignment(Box::new(Assignment {
                        recipient: r.clone(),
                        staff: s.clone(),
                        by: by.clone(),
                        at,
                    })),
                    None => JournalOp::RemoveAssignment(r.clone()),
                })?;
            }
            Ok(((), vec![part_row(e, Part::Assignments)?]))
        })?;
        Ok(n)
    }

    /// The staff board of an incident at `now`: reports, who did not
    /// report and whether their device synced since, turnout, the level.
    pub fn staff_board(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        now: Timestamp,
    ) -> Result<crate::views::StaffBoard> {
        let inc = self.incident(space, incident)?;
        let staff = self.staff_list(space)?;
        let mut devices: Vec<(DeviceId, Staff)> = self
            .members(space)?
            .into_iter()
            .filter(|(_, s)| *s == MemberStanding::Active)
            .map(|(m, _)| (m.device, m.staff))
            .collect();
        // This device's own carrier as it was told here, which may be
        // newer than its member entry.
        devices.retain(|(d, _)| d != &self.device);
        devices.push((self.device.clone(), self.staff.clone()));
        let carriers = crate::views::carriers(&staff, &devices);
        let mut last_sync = self.last_exchanges()?;
        last_sync.insert(self.device.clone(), now);
        let reports = self.reports(space, incident)?;
        let decisions = self.decisions(space, incident)?;
        Ok(crate::views::staff_board(
            &staff,
            &crate::views::StaffInputs {
                incident: &inc,
                reports: &reports,
                decisions: &decisions,
                carriers: &carriers,
                last_sync: &last_sync,
                now,
            },
        ))
    }

    /// The open incident, when this device's carrier has not reported in
    /// it yet: what a phone asks for when an incident starts (on any
    /// device) — its carrier's safety report. `None` when there is no open
    /// incident, the device was never told its carrier's 職員ID, or they
    /// reported.
    pub fn report_due(&self, space: &SpaceId) -> Result<Option<Incident>> {
        let Some(me) = &self.staff.id else {
            return Ok(None);
        };
        let Some(incident) = self.open_incident(space)? else {
            return Ok(None);
        };
        if !self.staff_list(space)?.iter().any(|m| &m.id == me) {
            return Ok(None);
        }
        let reported = self
            .reports(space, &incident.id)?
            .iter()
            .any(|r| &r.staff == me);
        Ok((!reported).then_some(incident))
    }

    /// What the office's operation adds to the incident's priority list:
    /// the power as an admin marked it, the level in force (when the
    /// office has a staff list), the assignments, this device's carrier.
    pub fn operation(
        &self,
        space: &SpaceId,
        incident: &Incident,
    ) -> Result<crate::views::Operation> {
        let decisions = self.decisions(space, &incident.id)?;
        let staff = self.staff_list(space)?;
        let reports = match staff.is_empty() {
            true => Vec::new(),
            false => self.reports(space, &incident.id)?,
        };
        let level = (!staff.is_empty()).then(|| {
            crate::views::staff_board(
                &staff,
                &crate::views::StaffInputs {
                    incident,
                    reports: &reports,
                    decisions: &decisions,
                    carriers: &BTreeMap::new(),
                    last_sync: &BTreeMap::new(),
                    now: Timestamp::now(),
                },
            )
            .level
            .level
        });
        Ok(crate::views::Operation {
            power_on: crate::views::power_on(&decisions),
            level,
            assignments: self
                .assignments(space, &incident.id)?
                .into_iter()
                .map(|a| (a.recipient, a.staff))
                .collect(),
            me: self.staff.id.clone(),
            names: staff.into_iter().map(|m| (m.id, m.name)).collect(),
        })
    }

    /// Who acts: the dashboard's person when one is logged in, else this
    /// device's carrier.
    fn acting_staff(&self) -> Staff {
        self.acting
            .as_ref()
            .map_or_else(|| self.staff.clone(), |p| p.staff.clone())
    }
}

/// What importing `staff` over `existing` adds, updates and leaves.
fn import_counts(existing: &HashMap<StaffId, StaffMember>, staff: &[StaffMember]) -> StaffImport {
    let mut out = StaffImport::default();
    for m in staff {
        match existing.get(&m.id) {
            None => out.added += 1,
            Some(old) if old == m => out.unchanged += 1,
            Some(_) => out.updated += 1,
        }
    }
    let named: BTreeSet<&StaffId> = staff.iter().map(|m| &m.id).collect();
    out.missing = existing
        .keys()
        .filter(|id| !named.contains(id))
        .cloned()
        .collect();
    out.missing.sort();
    out
}

/// The index row of one staff-side part, as the edited document has it.
fn part_row(e: &Edit<'_>, part: Part) -> Result<IndexOp> {
    Ok(IndexOp::Part(part, part.read_json(e.doc())?))
}

#[cfg(test)]
mod tests;
