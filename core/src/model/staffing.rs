//! The staff side of a disaster (職員の安否確認・参集): the office's staff
//! list, each person's safety reports, the operation decisions an admin
//! takes by hand, and which recipients are assigned to whom.

use super::*;
use crate::codes::{
    Attendance, AvailableFrom, FamilySafety, HomeDamage, OperationLevel, PersonalSafety,
};

string_id!(
    /// A staff member's number in the office's staff list (職員ID), unique
    /// within a space.
    StaffId
);

/// One person of the office's staff list (職員名簿), kept in the roster and
/// edited only by admins.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    /// 職員ID.
    pub id: StaffId,
    /// 氏名.
    pub name: String,
    /// 所属: the agency or team.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organisation: String,
    /// 職種 (ケアマネジャー, 訪問介護員, 看護師 …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// 電話.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// 自宅から事業所までの距離 in km, for the turnout estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// 居住地区, when the distance is not known (then the estimate counts
    /// the person as far).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub area: String,
}

uuid_id!(
    /// The id of a safety report or a decision.
    RecordId
);

/// A staff member's safety report in an incident (職員安否報告). Immutable
/// like a check: a newer report supersedes it. Anyone may record one for a
/// colleague who phoned in; `recorded_by` and `device` say who did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyReport {
    /// Its id.
    pub id: RecordId,
    /// Whose safety it reports.
    pub staff: StaffId,
    /// 本人.
    pub person: PersonalSafety,
    /// 家族.
    pub family: FamilySafety,
    /// 自宅.
    pub home: HomeDamage,
    /// 出勤.
    pub attendance: Attendance,
    /// いつから.
    pub from: AvailableFrom,
    /// 現在地.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// 連絡手段.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub contact: String,
    /// Who recorded it (the person, or a colleague they phoned).
    pub recorded_by: Staff,
    /// On which device.
    pub device: DeviceId,
    /// When, by that device's clock.
    pub at: Timestamp,
    /// The reports of the same person that device held when it recorded
    /// this one: this one replaces them, whatever the clocks say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<RecordId>,
}

/// What an admin decided by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decided {
    /// The operation level, set by hand; `None` hands it back to turnout.
    Level {
        /// The level, or `None` to follow turnout again.
        level: Option<OperationLevel>,
    },
    /// Whether the power is on where the clients live: an earthquake,
    /// storm or flood is taken to cut it until an admin says it is back.
    Power {
        /// 通電.
        on: bool,
    },
}

impl Decided {
    /// Which setting it is, for finding the one in force.
    pub fn setting(&self) -> &'static str {
        match self {
            Decided::Level { .. } => "level",
            Decided::Power { .. } => "power",
        }
    }
}

/// A decision an admin recorded in an incident (運営判断): who, when, why.
/// Immutable; the newest supersedes those its device knew.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Its id.
    pub id: RecordId,
    /// What was decided.
    pub what: Decided,
    /// 理由.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Who decided.
    pub by: Staff,
    /// On which device.
    pub device: DeviceId,
    /// When, by that device's clock.
    pub at: Timestamp,
    /// The decisions of the same setting that device held then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<RecordId>,
}

/// A recipient assigned to a staff member for this incident (担当割当).
/// It tells a phone whom to visit first; it never stops anyone else from
/// checking the recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Whom.
    pub recipient: RecipientId,
    /// To whom.
    pub staff: StaffId,
    /// The admin who assigned.
    pub by: Staff,
    /// When, by that admin's clock.
    pub at: Timestamp,
}

/// Something that replaces what its device knew of the same kind.
pub trait Superseding {
    /// Its id.
    fn record_id(&self) -> RecordId;
    /// What it replaces.
    fn supersedes(&self) -> &[RecordId];
    /// When it was made, for concurrent ones.
    fn made_at(&self) -> Timestamp;
}

impl Superseding for SafetyReport {
    fn record_id(&self) -> RecordId {
        self.id
    }
    fn supersedes(&self) -> &[RecordId] {
        &self.supersedes
    }
    fn made_at(&self) -> Timestamp {
        self.at
    }
}

impl Superseding for Decision {
    fn record_id(&self) -> RecordId {
        self.id
    }
    fn supersedes(&self) -> &[RecordId] {
        &self.supersedes
    }
    fn made_at(&self) -> Timestamp {
        self.at
    }
}

/// The one in force among `records` (all of one person, or one setting):
/// those no other replaced, and of several made apart the latest by its
/// clock, then by id — the same one on every device.
pub fn in_force<'a, T: Superseding + 'a>(
    records: impl IntoIterator<Item = &'a T>,
) -> Option<&'a T> {
    let records: Vec<&T> = records.into_iter().collect();
    let replaced: std::collections::HashSet<RecordId> = records
        .iter()
        .flat_map(|r| r.supersedes().iter().copied())
        .collect();
    records
        .into_iter()
        .filter(|r| !replaced.contains(&r.record_id()))
        .max_by_key(|r| (r.made_at(), r.record_id()))
}

impl SafetyReport {
    /// What it says, on one line: 「本人 無事・家族 無事・自宅 被害なし・出勤
    /// 可能（すぐ）」, with where they are and how to reach them when given.
    pub fn summary(&self, lang: crate::codes::Lang) -> String {
        use crate::codes::Lang::*;
        let (person, family, home, attendance) = match lang {
            Ja => ("本人", "家族", "自宅", "出勤"),
            En => ("self", "family", "home", "attendance"),
        };
        let mut s = format!(
            "{person} {}・{family} {}・{home} {}・{attendance} {}",
            self.person.label(lang),
            self.family.label(lang),
            self.home.label(lang),
            self.attendance.label(lang),
        );
        if self.attendance != Attendance::Unable {
            s.push_str(&match lang {
                Ja => format!("（{}）", self.from.label(lang)),
                En => format!(" ({})", self.from.label(lang)),
            });
        }
        for (ja, en, v) in [
            ("現在地", "at", &self.location),
            ("連絡", "contact", &self.contact),
        ] {
            if !v.is_empty() {
                s.push_str(&match lang {
                    Ja => format!("・{ja} {v}"),
                    En => format!(", {en} {v}"),
                });
            }
        }
        s
    }
}

impl Decided {
    /// What was decided, in words.
    pub fn describe(&self, lang: crate::codes::Lang) -> String {
        use crate::codes::Lang::*;
        match (self, lang) {
            (Decided::Level { level: Some(l) }, _) => l.label(lang).to_string(),
            (Decided::Level { level: None }, Ja) => "運営レベルを参集状況に連動".to_string(),
            (Decided::Level { level: None }, En) => "operation level follows turnout".to_string(),
            (Decided::Power { on: true }, Ja) => "通電あり".to_string(),
            (Decided::Power { on: false }, Ja) => "停電".to_string(),
            (Decided::Power { on: true }, En) => "power on".to_string(),
            (Decided::Power { on: false }, En) => "power cut".to_string(),
        }
    }
}
