//! The staff side on a phone or tablet: the staff list, safety reports,
//! the staff board (turnout and the operation level), the admin's level,
//! power and assignments. Every rule is the core's (docs/STAFF.md).

use anpi_core::codes::Lang;
use anpi_core::io::staff as staff_file;
use anpi_core::model::{self as core, Timestamp};
use anpi_core::node as cnode;

use crate::AnpiError;
use crate::node::{AnpiNode, Staff, space_of};
use crate::types::millis;

type Result<T> = std::result::Result<T, AnpiError>;

mirror! {
    /// 本人: the staff member's own safety.
    PersonalSafety = anpi_core::codes::PersonalSafety {
        /// 無事
        Unharmed,
        /// 軽傷
        MinorInjury,
        /// 重傷
        SeriousInjury,
    }
}

mirror! {
    /// 家族.
    FamilySafety = anpi_core::codes::FamilySafety {
        /// 無事
        Safe,
        /// 被害あり
        Harmed,
        /// 不明
        Unknown,
    }
}

mirror! {
    /// 自宅.
    HomeDamage = anpi_core::codes::HomeDamage {
        /// 被害なし
        None,
        /// 一部損壊
        Partial,
        /// 全半壊
        Severe,
    }
}

mirror! {
    /// 出勤.
    Attendance = anpi_core::codes::Attendance {
        /// 可能
        Able,
        /// 困難
        Difficult,
        /// 不可
        Unable,
    }
}

mirror! {
    /// いつから.
    AvailableFrom = anpi_core::codes::AvailableFrom {
        /// 勤務中
        OnDuty,
        /// すぐ
        Now,
        /// 1日以内
        Within1Day,
        /// 2日以内
        Within2Days,
        /// 3日以内
        Within3Days,
        /// 3日超
        Later,
    }
}

mirror! {
    /// 運営レベル.
    OperationLevel = anpi_core::codes::OperationLevel {
        /// 30%: safety checks only, highest priority first.
        Level30,
        /// 50%
        Level50,
        /// 70%
        Level70,
        /// 90%
        Level90,
    }
}

/// One person of the staff list (職員名簿).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct StaffMember {
    /// 職員ID.
    pub staff_id: String,
    /// 氏名.
    pub name: String,
    /// 所属.
    pub organisation: String,
    /// 職種.
    pub role: String,
    /// 電話.
    pub phone: String,
    /// Home to office in km, if known.
    pub distance_km: Option<f64>,
    /// 地区.
    pub area: String,
}

impl From<core::StaffMember> for StaffMember {
    fn from(m: core::StaffMember) -> Self {
        StaffMember {
            staff_id: m.id.0,
            name: m.name,
            organisation: m.organisation,
            role: m.role,
            phone: m.phone,
            distance_km: m.distance_km,
            area: m.area,
        }
    }
}

/// What a staff list import changed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StaffImportSummary {
    /// New people.
    pub added: u32,
    /// Changed.
    pub updated: u32,
    /// As before.
    pub unchanged: u32,
    /// 職員IDs of the list the file did not name (kept).
    pub missing: Vec<String>,
    /// The file's encoding.
    pub encoding: String,
}

/// A safety report to record.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NewStaffReport {
    /// Whose report; `None` for this device's carrier (`Staff.staffId`).
    pub staff_id: Option<String>,
    /// 本人.
    pub person: PersonalSafety,
    /// 家族.
    pub family: FamilySafety,
    /// 自宅.
    pub home: HomeDamage,
    /// 出勤.
    pub attendance: Attendance,
    /// いつから; needed unless `attendance` is `Unable`.
    pub available_from: Option<AvailableFrom>,
    /// 現在地.
    pub location: String,
    /// 連絡手段.
    pub contact: String,
}

/// A recorded safety report.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StaffReport {
    /// Its id.
    pub id: String,
    /// Whose.
    pub staff_id: String,
    /// 本人.
    pub person: PersonalSafety,
    /// 家族.
    pub family: FamilySafety,
    /// 自宅.
    pub home: HomeDamage,
    /// 出勤.
    pub attendance: Attendance,
    /// いつから.
    pub available_from: AvailableFrom,
    /// 現在地.
    pub location: String,
    /// 連絡手段.
    pub contact: String,
    /// Who recorded it.
    pub recorded_by: Staff,
    /// When (ms).
    pub at_ms: i64,
    /// The report on one line: 「本人 無事・家族 無事・自宅 被害なし・出勤 可能（すぐ）」.
    pub summary: String,
}

impl StaffReport {
    fn from_core(r: &core::SafetyReport, lang: Lang) -> Self {
        StaffReport {
            id: r.id.to_string(),
            staff_id: r.staff.0.clone(),
            person: r.person.into(),
            family: r.family.into(),
            home: r.home.into(),
            attendance: r.attendance.into(),
            available_from: r.from.into(),
            location: r.location.clone(),
            contact: r.contact.clone(),
            recorded_by: Staff::from(&r.recorded_by),
            at_ms: millis(r.at),
            summary: r.summary(lang),
        }
    }
}

/// Where a staff member stands on the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum StaffState {
    /// Reported an injury.
    Injured,
    /// No report, though a device of theirs synced here since the
    /// disaster began.
    NoAnswer,
    /// No report, and no device of theirs synced here since.
    NotReached,
    /// Reported unharmed.
    Reported,
}

impl From<anpi_core::views::StaffState> for StaffState {
    fn from(s: anpi_core::views::StaffState) -> Self {
        use anpi_core::views::StaffState as S;
        match s {
            S::Injured => StaffState::Injured,
            S::NoAnswer => StaffState::NoAnswer,
            S::NotReached => StaffState::NotReached,
            S::Reported => StaffState::Reported,
        }
    }
}

/// One person on the staff board.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct StaffRow {
    /// The person.
    pub member: StaffMember,
    /// Where they stand.
    pub state: StaffState,
    /// It, as people read it (負傷, 未報告（同期済み・応答なし）, …).
    pub state_label: String,
    /// Their report in force.
    pub report: Option<StaffReport>,
    /// Devices they carry.
    pub devices: u32,
    /// Their devices' latest sync with this one (ms).
    pub last_sync_ms: Option<i64>,
}

/// Turnout on one day.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct TurnoutDay {
    /// 0 = the day the incident began.
    pub day: u32,
    /// Staff expected, in persons.
    pub expected: f64,
    /// Of all staff (0 to 1).
    pub share: f64,
    /// The level that sets.
    pub level: OperationLevel,
}

impl From<&anpi_core::bcp::TurnoutDay> for TurnoutDay {
    fn from(t: &anpi_core::bcp::TurnoutDay) -> Self {
        TurnoutDay {
            day: t.day,
            expected: t.expected,
            share: t.share,
            level: t.level.into(),
        }
    }
}

/// The staff board (職員安否) of the incident shown.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct StaffBoard {
    /// Injured first, then no answer, not reached, reported.
    pub rows: Vec<StaffRow>,
    /// Staff on the list.
    pub total: u32,
    /// With a report.
    pub reported: u32,
    /// Without.
    pub not_reported: u32,
    /// Injured.
    pub injured: u32,
    /// Days since the incident began.
    pub day: u32,
    /// Turnout today.
    pub today: TurnoutDay,
    /// Turnout expected by day.
    pub forecast: Vec<TurnoutDay>,
    /// The operation level in force.
    pub level: OperationLevel,
    /// 「運営レベル30%」.
    pub level_label: String,
    /// What it means for the office's work.
    pub level_meaning: String,
    /// The level today's turnout sets.
    pub level_by_turnout: OperationLevel,
    /// Who set it by hand, if someone did.
    pub level_set_by: Option<Staff>,
    /// Why.
    pub level_reason: Option<String>,
}

/// A recipient's assignment.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Assignment {
    /// 利用者ID.
    pub recipient_id: String,
    /// 職員ID.
    pub staff_id: String,
    /// Who assigned.
    pub by: Staff,
    /// When (ms).
    pub at_ms: i64,
}

#[uniffi::export]
impl AnpiNode {
    /// Import the staff list CSV (docs/STAFF.md): all rows or none; a bad
    /// file is an `Invalid` error with every problem (line, column, value).
    /// Admins only.
    pub fn import_staff(&self, space_id: String, csv: Vec<u8>) -> Result<StaffImportSummary> {
        let file = staff_file::read(&csv).map_err(anpi_core::Error::from)?;
        let counts = self.with(|n| {
            let space = space_of(n, &space_id)?;
            n.import_staff(&space, file.staff)
        })?;
        self.data_changed();
        Ok(StaffImportSummary {
            added: counts.added as u32,
            updated: counts.updated as u32,
            unchanged: counts.unchanged as u32,
            missing: counts.missing.into_iter().map(|i| i.0).collect(),
            encoding: file.encoding.to_string(),
        })
    }

    /// Whether this device's carrier (`Staff.staffId`) owes a safety
    /// report in the open incident: true from the moment an incident starts
    /// on any device and reaches this one, until they report. The app asks
    /// for it (check on `DataChanged`).
    pub fn staff_report_due(&self, space_id: String) -> Result<bool> {
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            Ok(n.report_due(&space)?.is_some())
        })
    }

    /// The staff list, by 職員ID.
    pub fn staff_list(&self, space_id: String) -> Result<Vec<StaffMember>> {
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            Ok(n.staff_list(&space)?.into_iter().map(Into::into).collect())
        })
    }

    /// Record a staff safety report in the open incident: this device's
    /// carrier's, or a colleague's (`staff_id`) who phoned in.
    pub fn record_staff_report(
        &self,
        space_id: String,
        report: NewStaffReport,
    ) -> Result<StaffReport> {
        let lang = self.lang;
        let r = self.with(|n| {
            let space = space_of(n, &space_id)?;
            let incident = n.current_incident(&space)?;
            let new = cnode::NewReport {
                staff: report
                    .staff_id
                    .as_deref()
                    .map(anpi_core::text::typed_staff_id)
                    .transpose()?,
                person: report.person.into(),
                family: report.family.into(),
                home: report.home.into(),
                attendance: report.attendance.into(),
                from: report.available_from.map(Into::into),
                location: report.location,
                contact: report.contact,
                at: Timestamp::now(),
            };
            n.record_report(&space, &incident.id, new)
        })?;
        self.data_changed();
        Ok(StaffReport::from_core(&r, lang))
    }

    /// The staff board of the incident shown (the open one, else the
    /// latest): reports, who did not answer, turnout, the level.
    pub fn staff_board(&self, space_id: String) -> Result<StaffBoard> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let incident = n
                .shown_incident(&space)?
                .ok_or(anpi_core::Error::NoOpenIncident)?;
            let b = n.staff_board(&space, &incident.id, Timestamp::now())?;
            Ok(StaffBoard {
                rows: b
                    .rows
                    .iter()
                    .map(|r| StaffRow {
                        member: r.member.clone().into(),
                        state: r.state.into(),
                        state_label: r.state.label(lang).to_string(),
                        report: r.report.as_ref().map(|x| StaffReport::from_core(x, lang)),
                        devices: r.devices as u32,
                        last_sync_ms: r.last_sync.map(millis),
                    })
                    .collect(),
                total: b.total as u32,
                reported: b.reported as u32,
                not_reported: b.not_reported as u32,
                injured: b.injured as u32,
                day: b.day,
                today: (&b.today).into(),
                forecast: b.forecast.iter().map(Into::into).collect(),
                level: b.level.level.into(),
                level_label: b.level.level.label(lang).to_string(),
                level_meaning: b.level.level.meaning(lang).to_string(),
                level_by_turnout: b.level.by_turnout.into(),
                level_set_by: b.level.by_hand.as_ref().map(|d| Staff::from(&d.by)),
                level_reason: b.level.by_hand.map(|d| d.reason),
            })
        })
    }

    /// Set the operation level by hand (`None`: follow turnout again),
    /// with a reason. Admins only.
    pub fn set_operation_level(
        &self,
        space_id: String,
        level: Option<OperationLevel>,
        reason: String,
    ) -> Result<()> {
        self.decide(
            &space_id,
            core::Decided::Level {
                level: level.map(Into::into),
            },
            &reason,
        )
    }

    /// Mark the power on (no battery deadlines) or cut again. Admins only.
    pub fn set_power(&self, space_id: String, on: bool, reason: String) -> Result<()> {
        self.decide(&space_id, core::Decided::Power { on }, &reason)
    }

    /// Assign recipients to a staff member in the open incident (`None`:
    /// take their assignments back). Returns how many changed. Admins only.
    pub fn assign(
        &self,
        space_id: String,
        recipient_ids: Vec<String>,
        staff_id_to: Option<String>,
    ) -> Result<u32> {
        let n = self.with(|n| {
            let space = space_of(n, &space_id)?;
            let incident = n.current_incident(&space)?;
            let ids = recipient_ids
                .iter()
                .map(|i| anpi_core::text::typed_id(i))
                .collect::<anpi_core::Result<Vec<_>>>()?;
            let to = staff_id_to
                .as_deref()
                .map(anpi_core::text::typed_staff_id)
                .transpose()?;
            n.assign(&space, &incident.id, &ids, to.as_ref())
        })?;
        self.data_changed();
        Ok(n as u32)
    }

    /// The assignments of the incident shown.
    pub fn assignments(&self, space_id: String) -> Result<Vec<Assignment>> {
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let Some(incident) = n.shown_incident(&space)? else {
                return Ok(Vec::new());
            };
            Ok(n.assignments(&space, &incident.id)?
                .into_iter()
                .map(|a| Assignment {
                    recipient_id: a.recipient.0,
                    staff_id: a.staff.0,
                    by: Staff::from(&a.by),
                    at_ms: millis(a.at),
                })
                .collect())
        })
    }
}

impl AnpiNode {
    fn decide(&self, space_id: &str, what: core::Decided, reason: &str) -> Result<()> {
        self.with(|n| {
            let space = space_of(n, space_id)?;
            let incident = n.current_incident(&space)?;
            n.decide(&space, &incident.id, what, reason).map(|_| ())
        })?;
        self.data_changed();
        Ok(())
    }
}
