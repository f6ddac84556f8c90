//! Domain types, in the users' words: space, recipient (利用者) with the
//! 様式1 evacuation plan, staff, incident, check (安否確認), claim.
//!
//! These are plain data. How they are laid out in automerge lives in
//! [`crate::doc`]; how they are ranked and compared lives in [`crate::views`].

use std::fmt;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::codes::{
    CareLevel, CheckMethod, CheckResult, FloodDepth, Household, IncidentKind, MedicalDevice, Role,
};

/// Japan Standard Time. Incident ids and printed dates use the local day of
/// the people doing the work, whatever the phone's time zone setting.
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }
    };
}

string_id!(
    /// A team's data set: an office, or a shared area of several agencies.
    SpaceId
);
string_id!(
    /// The care system's client number (利用者ID), unique within a space.
    RecipientId
);
string_id!(
    /// An incident's id: `<kind>-<onset date in JST>`, so that phones which
    /// start the same disaster independently end in the same incident.
    IncidentId
);
string_id!(
    /// A device's id, derived from its key (or random until the network
    /// identity exists). Also its automerge actor.
    DeviceId
);

impl SpaceId {
    /// A new random space id.
    pub fn random() -> Self {
        SpaceId(Uuid::now_v7().simple().to_string())
    }
}

impl DeviceId {
    /// A new random device id (32 hex digits).
    pub fn random() -> Self {
        DeviceId(Uuid::new_v4().simple().to_string())
    }
}

impl IncidentId {
    /// The id every device derives for an incident of `kind` that began on
    /// the JST calendar day of `onset`.
    pub fn derive(kind: IncidentKind, onset: Timestamp) -> Self {
        let day = onset.0.with_timezone(&jst()).date_naive();
        IncidentId(format!("{}-{}", kind.code(), day.format("%Y-%m-%d")))
    }
}

/// An id that is a UUIDv7, so ids sort by creation time on one device and
/// never collide across devices.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(s.trim().parse()?))
            }
        }
    };
}

uuid_id!(
    /// A check's id.
    CheckId
);

/// A point in time, stored as UTC milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Now, by this device's clock.
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(Utc.timestamp_millis_opt(ms).single().unwrap_or_default())
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// This time plus `minutes` (saturating at the ends of time, never a
    /// panic: the minutes may come from anyone's input).
    pub fn plus_minutes(self, minutes: i64) -> Self {
        let end = if minutes < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        };
        Timestamp(
            Duration::try_minutes(minutes)
                .and_then(|d| self.0.checked_add_signed(d))
                .unwrap_or(end),
        )
    }

    /// This time less a clock's known error (`ahead_secs`: how far the
    /// clock ran ahead; none, no error known), saturating at the ends of
    /// time: a check's error comes from whichever device wrote it.
    pub fn corrected(self, ahead_secs: Option<i64>) -> Self {
        let Some(s) = ahead_secs else {
            return self;
        };
        let end = if s > 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        };
        Timestamp(
            Duration::try_seconds(s)
                .and_then(|d| self.0.checked_sub_signed(d))
                .unwrap_or(end),
        )
    }

    /// Local (JST) time, for people.
    pub fn jst(self) -> DateTime<FixedOffset> {
        self.0.with_timezone(&jst())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.jst().format("%Y-%m-%d %H:%M"))
    }
}

/// A calendar date (birth date, plan as-of date).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Date(pub NaiveDate);

impl Date {
    /// A date from year, month and day, if it exists.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(y, m, d).map(Date)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Whether a value is its type's default: empty parts of a recipient are
/// left out of JSON, which keeps the index rows small and fast to read.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A space as its members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    /// Its id.
    pub id: SpaceId,
    /// Its name (an office, or a shared area).
    pub name: String,
}

/// A device that belongs to a space: who carries it and what they may do.
/// Only admins add members, and each entry is signed by the admin who wrote
/// it (see [`crate::membership`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The device (its key's id).
    pub device: DeviceId,
    /// Who carries it.
    pub staff: Staff,
    /// What they may do.
    pub role: Role,
    /// The admin device that added it.
    pub added_by: DeviceId,
    /// When.
    pub added_at: Timestamp,
    /// Set when the device was revoked (lost, or its carrier left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// A member's revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The admin device that revoked it.
    pub by: DeviceId,
    /// When.
    pub at: Timestamp,
}

/// Whether a member entry counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStanding {
    /// A current member.
    Active,
    /// Revoked by an admin.
    Revoked,
    /// Added by a device that is not an admin: ignored.
    Unauthorised,
    /// Its signature does not hold (forged or changed after signing):
    /// ignored, and shown so that an admin can see the attempt.
    BadSignature,
}

/// A staff member as recorded on checks and claims.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Staff {
    /// Name of the person.
    pub name: String,
    /// Their organisation (事業所・機関).
    pub organisation: String,
    /// Their number in the office's staff list (職員ID), when the device
    /// was told it: what links a device to its carrier's safety reports
    /// and assignments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<StaffId>,
}

/// 様式1 利用者避難情報: a recipient's evacuation plan, kept current at each
/// monitoring visit. `None` means unknown, which is not the same as "no".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvacuationPlan {
    /// 記入日: the date the plan was last confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Date>,
    /// 想定避難所
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shelter: String,
    /// 避難所確認済み
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelter_confirmed: Option<bool>,
    /// 避難手段
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub means: String,
    /// 避難支援者
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub supporter: String,
    /// 避難支援者続柄
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub supporter_relation: String,
    /// 避難意思
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intends_to_evacuate: Option<bool>,
    /// 避難先での支援
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub support_at_shelter: String,
    /// 常備薬
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regular_medication: Option<bool>,
    /// 医療機器
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub medical_devices: Vec<MedicalDevice>,
    /// 医療必要度 (free text)
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medical_needs: String,
    /// バッテリー時間: how long the battery of the device they depend on
    /// lasts without mains power, in minutes, where the plan says it
    /// (`priority::battery_minutes` says what else counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_minutes: Option<u32>,
    /// 非常持ち出し袋
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_bag: Option<bool>,
    /// 担当民生委員
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub welfare_commissioner: String,
    /// 民生委員電話
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub welfare_commissioner_phone: String,
    /// 命のバトン
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub life_baton: Option<bool>,
    /// 緊急連絡先①②③
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emergency_contacts: Vec<String>,
}

/// 個人情報提供同意: a recipient's consent to share with other agencies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// 同意日
    pub date: Date,
    /// 同意範囲: what may be shared, with whom.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// 同意取得者: who obtained it.
    pub obtained_by: String,
}

/// Hazards at the recipient's home, used by the priority rules for the
/// incident at hand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hazards {
    /// 浸水想定
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood_depth: Option<FloodDepth>,
    /// 土砂災害警戒区域
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landslide_zone: Option<bool>,
    /// 旧耐震の木造住宅 (earthquake risk)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_wooden_house: Option<bool>,
}

/// A care manager's manual priority, which replaces the computed score and is
/// shown with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityOverride {
    /// The score to use instead of the computed one.
    pub score: i64,
    /// Why (shown on the list).
    pub reason: String,
    /// Who set it.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// The score and reasons are the originating office's ranking, carried
    /// by an area space's copy (see `sharing`), not a person's override:
    /// the copy lacks the fields any other reason would be read from.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub office_ranking: bool,
}

/// A person the team looks after (利用者), with the columns of 様式2 and the
/// evacuation plan of 様式1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// 利用者ID
    pub id: RecipientId,
    /// 氏名
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// フリガナ
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kana: String,
    /// 生年月日
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<Date>,
    /// 性別
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sex: String,
    /// 住所
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// 地区
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub area: String,
    /// 電話
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// 世帯状況
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Household>,
    /// 要介護度
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_level: Option<CareLevel>,
    /// 担当ケアマネ
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub care_manager: String,
    /// 認知症
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dementia: Option<bool>,
    /// 寝たきり
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedridden: Option<bool>,
    /// 安否確認方法: how to check on them (phone, visit, family…)
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub check_method: String,
    /// 特記事項
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// 情報提供同意: consent to share with other agencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<bool>,
    /// The record of that consent: when, for what, who obtained it. Only a
    /// recipient with both `consent` and this record is shared with other
    /// agencies (outside a declared disaster exception).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_record: Option<ConsentRecord>,
    /// Hazards at home.
    #[serde(default, skip_serializing_if = "is_default")]
    pub hazards: Hazards,
    /// 様式1
    #[serde(default, skip_serializing_if = "is_default")]
    pub plan: EvacuationPlan,
    /// A manual priority, if a care manager set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_override: Option<PriorityOverride>,
}

impl Recipient {
    /// Age in whole years on `on`, if the birth date is known.
    pub fn age_on(&self, on: NaiveDate) -> Option<u32> {
        let born = self.birth_date?.0;
        on.years_since(born)
    }

    /// Whether any listed device is life-sustaining.
    pub fn has_life_sustaining_device(&self) -> bool {
        self.plan
            .medical_devices
            .iter()
            .any(|d| d.is_life_sustaining())
    }
}

/// Phase of work since an incident began (BCP phases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// First ~6 hours: highest-priority clients, damage, shelters opened.
    FirstHours,
    /// To ~3 days: all clients, coordination.
    FirstDays,
    /// To ~1 week: clients' health, schemes.
    FirstWeek,
    /// To ~1 month: the way forward, temporary housing.
    FirstMonth,
    /// After a month.
    Recovery,
}

impl Phase {
    /// The phase at `now` for an incident that started at `started`.
    /// A clock that runs behind (negative elapsed time) counts as the start.
    pub fn at(started: Timestamp, now: Timestamp) -> Phase {
        let hours = (now.0 - started.0).num_hours();
        match hours {
            h if h < 6 => Phase::FirstHours,
            h if h < 72 => Phase::FirstDays,
            h if h < 24 * 7 => Phase::FirstWeek,
            h if h < 24 * 31 => Phase::FirstMonth,
            _ => Phase::Recovery,
        }
    }

    /// Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            Phase::FirstHours => "発災〜6時間",
            Phase::FirstDays => "〜3日",
            Phase::FirstWeek => "〜1週間",
            Phase::FirstMonth => "〜1か月",
            Phase::Recovery => "復旧期",
        }
    }

    /// The label people read.
    pub fn label(self, lang: crate::codes::Lang) -> &'static str {
        match lang {
            crate::codes::Lang::Ja => self.label_ja(),
            crate::codes::Lang::En => match self {
                Phase::FirstHours => "first 6 hours",
                Phase::FirstDays => "to 3 days",
                Phase::FirstWeek => "to 1 week",
                Phase::FirstMonth => "to 1 month",
                Phase::Recovery => "recovery",
            },
        }
    }
}

/// A disaster the team responds to (BCP発動). Several devices may have
/// opened it independently; each opening is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Its id.
    pub id: IncidentId,
    /// The space it belongs to.
    pub space: SpaceId,
    /// Kind of disaster.
    pub kind: IncidentKind,
    /// A name people recognise (e.g. "11/21 地震").
    pub name: String,
    /// The earliest time any device opened it.
    pub started_at: Timestamp,
    /// When it was ended, if it was (and not opened again since).
    pub ended_at: Option<Timestamp>,
    /// How many times it was opened again after an end (an aftershock after
    /// a mistaken end): 0 for an incident never ended.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Incident {
    /// The phase of work at `now`.
    pub fn phase(&self, now: Timestamp) -> Phase {
        Phase::at(self.started_at, now)
    }

    /// Whether checks may still be recorded.
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// Someone else's live claim that a device knew of when a check was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownClaim {
    /// The claiming device.
    pub device: DeviceId,
    /// Who claimed.
    pub staff: Staff,
}

/// A safety check (安否確認): an immutable fact. A correction is a new check
/// naming the one it supersedes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Its id.
    pub id: CheckId,
    /// Who was checked.
    pub recipient: RecipientId,
    /// In which incident.
    pub incident: IncidentId,
    /// Who checked.
    pub staff: Staff,
    /// On which device it was recorded.
    pub device: DeviceId,
    /// When, by the recording device's clock (for people, not for ordering).
    pub at: Timestamp,
    /// How.
    pub method: CheckMethod,
    /// The result.
    pub result: CheckResult,
    /// Free note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Shelter name, when evacuated or found on a shelter list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelter: Option<String>,
    /// The check this one corrects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<CheckId>,
    /// Checks of the same recipient the device had received when this one was
    /// made: the causal knowledge duplicates are decided by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<CheckId>,
    /// Other devices' live claims on this recipient that were known then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_claims: Vec<KnownClaim>,
    /// How far the recording device's clock ran ahead of its peers' when
    /// it recorded this (seconds; negative: behind), when that was more
    /// than [`crate::clock::TOLERANCE_SECS`]: `at` is shown corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_ahead_secs: Option<i64>,
}

impl Check {
    /// When it was made, as people read it: `at` corrected by the
    /// recording device's known clock error.
    pub fn shown_at(&self) -> Timestamp {
        self.at.corrected(self.clock_ahead_secs)
    }
}

/// "向かっています": a device's announcement that someone is on the way to
/// (or calling) a recipient. Kept per device; concurrent claims are all kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Whom.
    pub recipient: RecipientId,
    /// Who is on the way.
    pub staff: Staff,
    /// From which device.
    pub device: DeviceId,
    /// Since when.
    pub since: Timestamp,
    /// Until when it holds unless renewed.
    pub expires: Timestamp,
}

/// The longest a claim ("向かっています") may hold: 12 hours. Long enough to
/// walk to a client through a damaged town; a claim that outlived it would
/// keep others away from someone nobody is visiting.
pub const MAX_CLAIM_MINUTES: i64 = 12 * 60;

/// How far ahead of this device's clock a claim may start before its times
/// are judged by this device's clock instead (see [`Claim::judged`]).
pub const CLOCK_TOLERANCE_MINUTES: i64 = 5;

impl Claim {
    /// Whether the claim still holds at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires > now
    }

    /// The claim as this device holds it, having received it at `received`
    /// by its own clock: at most [`MAX_CLAIM_MINUTES`] long, and — when it
    /// starts more than [`CLOCK_TOLERANCE_MINUTES`] after `received`, so
    /// that the claiming phone's clock must be ahead — ending that long
    /// after `received` instead. (A claim that starts in the past keeps its
    /// times: it may have travelled for hours through other phones.)
    /// `since` stays as the claiming device wrote it: it is compared with
    /// that device's own checks, made by the same clock.
    pub fn judged(mut self, received: Timestamp) -> Claim {
        let length = (self.expires.millis().saturating_sub(self.since.millis()))
            .clamp(0, MAX_CLAIM_MINUTES * 60_000);
        let start = if self.since > received.plus_minutes(CLOCK_TOLERANCE_MINUTES) {
            received
        } else {
            self.since
        };
        self.expires = Timestamp::from_millis(start.millis().saturating_add(length));
        self
    }
}

/// A field of a recipient that holds several concurrent values: two people
/// changed it at the same time and neither saw the other's change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldConflict {
    /// Dotted field path, e.g. `phone` or `plan.shelter`.
    pub field: String,
    /// Every value, as text; the first is the one shown by default.
    pub values: Vec<String>,
}

/// A declared disaster exception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    /// Which one.
    pub id: String,
    /// The office whose recipients it covers.
    pub origin: SpaceId,
    /// The admin device that declared it.
    pub by: DeviceId,
    /// Who decided.
    pub staff: Staff,
    /// From when.
    pub from: Timestamp,
    /// Until when.
    pub until: Timestamp,
    /// Why (the danger to life).
    pub reason: String,
}

impl Exception {
    /// Whether it is in force at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.from <= now && now < self.until
    }
}

#[cfg(test)]
impl Check {
    /// A check for tests: 佐藤 of organisation A visited `recipient` from
    /// `device` in flood-2026-11-21 and found them safe.
    pub(crate) fn sample(recipient: &str, device: &str) -> Check {
        Check {
            id: CheckId::new(),
            recipient: recipient.into(),
            incident: "flood-2026-11-21".into(),
            staff: Staff {
                name: "佐藤".into(),
                organisation: "A".into(),
                id: None,
            },
            device: device.into(),
            at: Timestamp::from_millis(1_000),
            method: CheckMethod::Visit,
            result: CheckResult::Safe,
            note: String::new(),
            shelter: None,
            supersedes: None,
            known: vec![],
            known_claims: vec![],
            clock_ahead_secs: None,
        }
    }
}

mod staffing;
pub use staffing::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_id_uses_the_jst_day() {
        // 2026-11-20 16:30 UTC is already 11-21 01:30 in Japan.
        let t = Timestamp(Utc.with_ymd_and_hms(2026, 11, 20, 16, 30, 0).unwrap());
        assert_eq!(
            IncidentId::derive(IncidentKind::Earthquake, t).as_str(),
            "earthquake-2026-11-21"
        );
    }

    #[test]
    fn phases_follow_time_since_start() {
        let start = Timestamp::from_millis(0);
        let h = |n: i64| start.plus_minutes(60 * n);
        assert_eq!(Phase::at(start, h(5)), Phase::FirstHours);
        assert_eq!(Phase::at(start, h(6)), Phase::FirstDays);
        assert_eq!(Phase::at(start, h(71)), Phase::FirstDays);
        assert_eq!(Phase::at(start, h(24 * 6)), Phase::FirstWeek);
        assert_eq!(Phase::at(start, h(24 * 20)), Phase::FirstMonth);
        assert_eq!(Phase::at(start, h(24 * 40)), Phase::Recovery);
        assert_eq!(Phase::at(h(5), start), Phase::FirstHours);
    }

    #[test]
    fn check_json_uses_codes() {
        let c = Check::sample("R1", "d1");
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"method\":\"visit\""), "{json}");
        assert!(json.contains("\"result\":\"safe\""), "{json}");
        assert_eq!(serde_json::from_str::<Check>(&json).unwrap(), c);
    }
}
