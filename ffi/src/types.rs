//! What crosses the boundary: the SDK's own records and enums, converted
//! from core types with `From`, so that a change inside the core never
//! changes the apps' API by accident. Times are milliseconds since the Unix
//! epoch (every platform's clock type takes them); labels are in the
//! language the node was opened with.

use anpi_core::codes::Lang;
use anpi_core::model as core;
use anpi_core::views;

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(t: core::Timestamp) -> i64 {
    t.0.timestamp_millis()
}

/// Mirror a core code enum as a uniffi enum with conversions both ways and
/// a label in either language.
macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident = $core:path { $($(#[$vmeta:meta])* $v:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name {
            $($(#[$vmeta])* $v),+
        }

        impl From<$core> for $name {
            fn from(c: $core) -> Self {
                use $core as C;
                match c { $(C::$v => $name::$v),+ }
            }
        }

        impl From<$name> for $core {
            fn from(c: $name) -> Self {
                use $core as C;
                match c { $($name::$v => C::$v),+ }
            }
        }

        // Not every mirrored set needs every helper.
        #[allow(dead_code)]
        impl $name {
            /// Every value, in the order the core shows them.
            pub(crate) fn all() -> Vec<$name> {
                <$core>::ALL.iter().map(|c| (*c).into()).collect()
            }

            /// The label people read.
            pub(crate) fn label(self, lang: Lang) -> String {
                <$core>::from(self).label(lang).to_string()
            }

            /// The stable code (documents, CSV, the CLI).
            pub(crate) fn code(self) -> String {
                <$core>::from(self).code().to_string()
            }
        }
    };
}

mirror! {
    /// The result of a safety check (安否確認の結果).
    CheckResult = anpi_core::codes::CheckResult {
        /// 無事
        Safe,
        /// 無事・要支援
        SafeNeedsSupport,
        /// 負傷
        Injured,
        /// 要避難支援
        NeedsEvacuation,
        /// 避難済
        Evacuated,
        /// 入院・搬送
        Hospitalized,
        /// 死亡
        Deceased,
        /// 連絡不通
        Unreachable,
        /// 不在
        Absent,
    }
}

mirror! {
    /// How a check was made.
    CheckMethod = anpi_core::codes::CheckMethod {
        /// 電話
        Phone,
        /// 訪問
        Visit,
        /// 家族
        Family,
        /// 避難所名簿
        ShelterList,
        /// その他
        Other,
    }
}

mirror! {
    /// The kind of disaster.
    IncidentKind = anpi_core::codes::IncidentKind {
        /// 地震
        Earthquake,
        /// 水害
        Flood,
        /// 土砂災害
        Landslide,
        /// 台風・大雨
        Storm,
        /// その他
        Other,
    }
}

mirror! {
    /// What a member may do.
    Role = anpi_core::codes::Role {
        /// 管理者: changes members, invites.
        Admin,
        /// ケアマネジャー
        CareManager,
        /// 連携先
        Partner,
    }
}

/// A value of a closed set with its label, for buttons and pickers.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ResultChoice {
    /// The value.
    pub result: CheckResult,
    /// Its stable code.
    pub code: String,
    /// What the button says.
    pub label: String,
    /// Whether it settles the recipient's safety (everything but
    /// unreachable and absent).
    pub conclusive: bool,
}

/// A check method with its label.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MethodChoice {
    /// The value.
    pub method: CheckMethod,
    /// Its stable code.
    pub code: String,
    /// What the button says.
    pub label: String,
}

/// Every check result with its label, in display order.
pub(crate) fn result_choices(lang: Lang) -> Vec<ResultChoice> {
    CheckResult::all()
        .into_iter()
        .map(|r| ResultChoice {
            result: r,
            code: r.code(),
            label: r.label(lang),
            conclusive: anpi_core::codes::CheckResult::from(r).is_conclusive(),
        })
        .collect()
}

/// Every check method with its label.
pub(crate) fn method_choices(lang: Lang) -> Vec<MethodChoice> {
    CheckMethod::all()
        .into_iter()
        .map(|m| MethodChoice {
            method: m,
            code: m.code(),
            label: m.label(lang),
        })
        .collect()
}

/// A space: an office's team, or an area shared by several offices.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Space {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

impl From<core::Space> for Space {
    fn from(s: core::Space) -> Self {
        Space {
            id: s.id.0,
            name: s.name,
        }
    }
}

/// What a roster import changed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ImportSummary {
    /// New recipients.
    pub added: u32,
    /// Recipients with changed fields.
    pub updated: u32,
    /// Recipients exactly as before.
    pub unchanged: u32,
    /// 利用者ID of recipients the file does not list: kept, not deleted.
    pub missing: Vec<String>,
    /// The file's encoding (UTF-8 or Shift_JIS).
    pub encoding: String,
    /// Columns anpi does not know, left out.
    pub ignored_columns: Vec<String>,
}

/// A disaster the team responds to.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Incident {
    /// Its id.
    pub id: String,
    /// Kind.
    pub kind: IncidentKind,
    /// The kind's label.
    pub kind_label: String,
    /// Its name ("11/21 地震").
    pub name: String,
    /// When it started.
    pub started_at_ms: i64,
    /// When it ended, if it did.
    pub ended_at_ms: Option<i64>,
    /// The BCP phase now (発災〜6時間, 〜3日, …).
    pub phase_label: String,
    /// Whether checks may be recorded.
    pub open: bool,
    /// How many times it was opened again after an end (0: never ended).
    pub round: u32,
}

impl Incident {
    pub(crate) fn from_core(i: &core::Incident, lang: Lang) -> Self {
        let kind: IncidentKind = i.kind.into();
        Incident {
            id: i.id.0.clone(),
            kind,
            kind_label: kind.label(lang),
            name: i.name.clone(),
            started_at_ms: millis(i.started_at),
            ended_at_ms: i.ended_at.map(millis),
            phase_label: i.phase(core::Timestamp::now()).label_ja().to_string(),
            open: i.is_open(),
            round: i.round,
        }
    }
}

/// What the app records: the node adds who, where and when.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NewCheck {
    /// 利用者ID.
    pub recipient_id: String,
    /// How.
    pub method: CheckMethod,
    /// The result.
    pub result: CheckResult,
    /// A note ("" for none).
    pub note: String,
    /// The shelter, when evacuated or found on a shelter list.
    pub shelter: Option<String>,
    /// The id of a check this one corrects.
    pub supersedes: Option<String>,
}

/// A recorded safety check.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Check {
    /// Its id.
    pub id: String,
    /// Whom.
    pub recipient_id: String,
    /// In which incident.
    pub incident_id: String,
    /// Who checked.
    pub staff: String,
    /// Their organisation.
    pub organisation: String,
    /// On which device.
    pub device_id: String,
    /// When: the recording device's clock, corrected by its error when
    /// that was known more than five minutes off (`clock_note` says so).
    pub at_ms: i64,
    /// 「端末の時計が約3時間遅れていたため補正」 when `at_ms` was corrected.
    pub clock_note: Option<String>,
    /// How.
    pub method: CheckMethod,
    /// How, as people read it.
    pub method_label: String,
    /// The result.
    pub result: CheckResult,
    /// The result, as people read it.
    pub result_label: String,
    /// Note.
    pub note: String,
    /// Shelter.
    pub shelter: Option<String>,
    /// The check it corrects.
    pub supersedes: Option<String>,
}

impl Check {
    pub(crate) fn from_core(c: &core::Check, lang: Lang) -> Self {
        let method: CheckMethod = c.method.into();
        let result: CheckResult = c.result.into();
        Check {
            id: c.id.0.to_string(),
            recipient_id: c.recipient.0.clone(),
            incident_id: c.incident.0.clone(),
            staff: c.staff.name.clone(),
            organisation: c.staff.organisation.clone(),
            device_id: c.device.0.clone(),
            at_ms: millis(c.shown_at()),
            clock_note: anpi_core::clock::check_note(c, lang),
            method,
            method_label: method.label(lang),
            result,
            result_label: result.label(lang),
            note: c.note.clone(),
            shelter: c.shelter.clone(),
            supersedes: c.supersedes.map(|s| s.0.to_string()),
        }
    }
}

/// "向かっています": someone on the way to a recipient.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Claim {
    /// Whom.
    pub recipient_id: String,
    /// Who is on the way.
    pub staff: String,
    /// Their organisation.
    pub organisation: String,
    /// From which device.
    pub device_id: String,
    /// Since when.
    pub since_ms: i64,
    /// Until when it holds.
    pub expires_ms: i64,
}

impl From<&core::Claim> for Claim {
    fn from(c: &core::Claim) -> Self {
        Claim {
            recipient_id: c.recipient.0.clone(),
            staff: c.staff.name.clone(),
            organisation: c.staff.organisation.clone(),
            device_id: c.device.0.clone(),
            since_ms: millis(c.since),
            expires_ms: millis(c.expires),
        }
    }
}

/// Where a recipient stands in the safety-check work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Standing {
    /// The latest check asks for action now (要避難支援).
    ActionNeeded,
    /// Nobody has reached them yet.
    NotReached,
    /// Their safety is known.
    Settled,
}

impl From<views::Standing> for Standing {
    fn from(s: views::Standing) -> Self {
        match s {
            views::Standing::ActionNeeded => Standing::ActionNeeded,
            views::Standing::NotReached => Standing::NotReached,
            views::Standing::Settled => Standing::Settled,
        }
    }
}

/// One row of the priority list: whom to check first, and why.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PriorityRow {
    /// 1 = check first.
    pub rank: u32,
    /// 利用者ID.
    pub recipient_id: String,
    /// 氏名.
    pub name: String,
    /// フリガナ.
    pub kana: String,
    /// Age today, if the birth date is known.
    pub age: Option<u32>,
    /// 地区.
    pub area: String,
    /// 住所.
    pub address: String,
    /// 電話.
    pub phone: String,
    /// 担当ケアマネ.
    pub care_manager: String,
    /// The score (or a care manager's override).
    pub score: i64,
    /// Why, strongest first ("人工呼吸器使用", "独居", …).
    pub reasons: Vec<String>,
    /// Where they stand.
    pub standing: Standing,
    /// Where they stand, as people read it (or the latest result).
    pub status_label: String,
    /// The check that decides their status, if any.
    pub latest: Option<Check>,
    /// Checks that did not know of each other and disagree, most attention
    /// first; empty when they agree. Show `conflict_label` beside them.
    pub conflicting: Vec<Check>,
    /// "結果が食い違っています: 負傷（鈴木・B）／無事（佐藤・A）", or empty.
    pub conflict_label: String,
    /// Checks in this incident.
    pub checks: u32,
    /// A duplicate visit was made for them.
    pub duplicate: bool,
    /// Live claims, one per device.
    pub claims: Vec<Claim>,
    /// When the battery of the device they depend on runs out, in an
    /// incident that cuts power (milliseconds since the epoch).
    pub battery_deadline_ms: Option<i64>,
    /// The battery's time left as people read it (「バッテリー残り4時間」), or empty.
    pub time_left: String,
    /// The deadline is within a day or past: the row ranks above every
    /// score for it. Show `time_left` prominently.
    pub deadline_near: bool,
    /// The 職員ID of the staff member they are assigned to, if any.
    pub assigned_to: Option<String>,
    /// Assigned to this device's carrier: show `mine_label` (わたしの担当).
    pub mine: bool,
    /// 「わたしの担当」 when `mine`, else empty.
    pub mine_label: String,
    /// At operation level 30% and not high priority: after the rest, show
    /// `postponed_label`.
    pub postponed: bool,
    /// 「後回し（運営レベル）」 when `postponed`, else empty.
    pub postponed_label: String,
    /// Checked by someone other than the assignee (shown, never refused).
    pub despite_assignment: bool,
    /// 「担当外の確認」 when `despite_assignment`, else empty.
    pub despite_assignment_label: String,
}

impl PriorityRow {
    pub(crate) fn from_core(
        e: &views::PriorityEntry<'_>,
        lang: Lang,
        now: anpi_core::model::Timestamp,
    ) -> Self {
        let today = now.jst().date_naive();
        let r = e.recipient;
        PriorityRow {
            rank: e.rank as u32,
            recipient_id: r.id.0.clone(),
            name: r.name.clone(),
            kana: r.kana.clone(),
            age: r.age_on(today),
            area: r.area.clone(),
            address: r.address.clone(),
            phone: r.phone.clone(),
            care_manager: r.care_manager.clone(),
            score: e.score,
            reasons: e.reasons.iter().map(|x| x.label.to_string()).collect(),
            standing: e.standing.into(),
            status_label: match e.latest {
                Some(c) => c.result.label(lang).to_string(),
                None => views::standing_label(e.standing, lang).to_string(),
            },
            latest: e.latest.map(|c| Check::from_core(c, lang)),
            conflicting: e
                .conflict
                .iter()
                .map(|c| Check::from_core(c, lang))
                .collect(),
            conflict_label: views::conflict_line(&e.conflict, lang),
            checks: e.checks as u32,
            duplicate: e.duplicate,
            claims: e.live_claims.iter().map(|c| Claim::from(*c)).collect(),
            battery_deadline_ms: e.deadline.map(millis),
            time_left: e.time_left(now, lang).unwrap_or_default(),
            deadline_near: e.deadline_near,
            assigned_to: e.assigned_to.as_ref().map(|s| s.0.clone()),
            mine: e.mine,
            mine_label: if e.mine {
                views::PriorityEntry::mine_label(lang).to_string()
            } else {
                String::new()
            },
            postponed: e.postponed,
            postponed_label: if e.postponed {
                views::PriorityEntry::postponed_label(lang).to_string()
            } else {
                String::new()
            },
            despite_assignment: e.despite_assignment,
            despite_assignment_label: if e.despite_assignment {
                views::PriorityEntry::despite_assignment_label(lang).to_string()
            } else {
                String::new()
            },
        }
    }
}

/// A field that two devices changed at once: every value is kept.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FieldConflict {
    /// The field (`phone`, `plan.shelter`).
    pub field: String,
    /// Every value; the first is shown by default.
    pub values: Vec<String>,
}

/// A recipient's record: the 様式2 columns and the 様式1 evacuation plan.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Recipient {
    /// 利用者ID.
    pub id: String,
    /// 氏名.
    pub name: String,
    /// フリガナ.
    pub kana: String,
    /// 生年月日 (YYYY-MM-DD).
    pub birth_date: Option<String>,
    /// 性別.
    pub sex: String,
    /// 住所.
    pub address: String,
    /// 地区.
    pub area: String,
    /// 電話.
    pub phone: String,
    /// 世帯状況, as people read it.
    pub household: Option<String>,
    /// 要介護度, as people read it.
    pub care_level: Option<String>,
    /// 担当ケアマネ.
    pub care_manager: String,
    /// 認知症.
    pub dementia: Option<bool>,
    /// 寝たきり.
    pub bedridden: Option<bool>,
    /// 安否確認方法.
    pub check_method: String,
    /// 特記事項.
    pub notes: String,
    /// 情報提供同意.
    pub consent: Option<bool>,
    /// 浸水想定, as people read it.
    pub flood_depth: Option<String>,
    /// 土砂災害警戒区域.
    pub landslide_zone: Option<bool>,
    /// 旧耐震の木造住宅.
    pub old_wooden_house: Option<bool>,
    /// 様式1.
    pub plan: EvacuationPlan,
    /// A care manager's manual priority: score and reason.
    pub priority_override: Option<PriorityOverride>,
}

/// 様式1 利用者避難情報.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct EvacuationPlan {
    /// 記入日 (YYYY-MM-DD).
    pub as_of: Option<String>,
    /// 想定避難所.
    pub shelter: String,
    /// 避難所確認済み.
    pub shelter_confirmed: Option<bool>,
    /// 避難手段.
    pub means: String,
    /// 避難支援者.
    pub supporter: String,
    /// 避難支援者続柄.
    pub supporter_relation: String,
    /// 避難意思.
    pub intends_to_evacuate: Option<bool>,
    /// 避難先での支援.
    pub support_at_shelter: String,
    /// 常備薬.
    pub regular_medication: Option<bool>,
    /// 医療機器, as people read them.
    pub medical_devices: Vec<String>,
    /// 医療必要度.
    pub medical_needs: String,
    /// How long the battery of their device lasts without mains power, in
    /// minutes: the plan's バッテリー時間, else what 医療必要度 says.
    pub battery_minutes: Option<u32>,
    /// 非常持ち出し袋.
    pub emergency_bag: Option<bool>,
    /// 担当民生委員.
    pub welfare_commissioner: String,
    /// 民生委員電話.
    pub welfare_commissioner_phone: String,
    /// 命のバトン.
    pub life_baton: Option<bool>,
    /// 緊急連絡先.
    pub emergency_contacts: Vec<String>,
}

/// A manual priority.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PriorityOverride {
    /// The score used instead of the computed one.
    pub score: i64,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub by: String,
}

impl Recipient {
    pub(crate) fn from_core(r: &core::Recipient, lang: Lang) -> Self {
        let p = &r.plan;
        Recipient {
            id: r.id.0.clone(),
            name: r.name.clone(),
            kana: r.kana.clone(),
            birth_date: r.birth_date.map(|d| d.0.to_string()),
            sex: r.sex.clone(),
            address: r.address.clone(),
            area: r.area.clone(),
            phone: r.phone.clone(),
            household: r.household.map(|h| h.label(lang).to_string()),
            care_level: r.care_level.map(|c| c.label(lang).to_string()),
            care_manager: r.care_manager.clone(),
            dementia: r.dementia,
            bedridden: r.bedridden,
            check_method: r.check_method.clone(),
            notes: r.notes.clone(),
            consent: r.consent,
            flood_depth: r.hazards.flood_depth.map(|d| d.label(lang).to_string()),
            landslide_zone: r.hazards.landslide_zone,
            old_wooden_house: r.hazards.old_wooden_house,
            plan: EvacuationPlan {
                as_of: p.as_of.map(|d| d.0.to_string()),
                shelter: p.shelter.clone(),
                shelter_confirmed: p.shelter_confirmed,
                means: p.means.clone(),
                supporter: p.supporter.clone(),
                supporter_relation: p.supporter_relation.clone(),
                intends_to_evacuate: p.intends_to_evacuate,
                support_at_shelter: p.support_at_shelter.clone(),
                regular_medication: p.regular_medication,
                medical_devices: p
                    .medical_devices
                    .iter()
                    .map(|d| d.label(lang).to_string())
                    .collect(),
                medical_needs: p.medical_needs.clone(),
                battery_minutes: anpi_core::priority::battery_minutes(p),
                emergency_bag: p.emergency_bag,
                welfare_commissioner: p.welfare_commissioner.clone(),
                welfare_commissioner_phone: p.welfare_commissioner_phone.clone(),
                life_baton: p.life_baton,
                emergency_contacts: p.emergency_contacts.clone(),
            },
            priority_override: r.priority_override.as_ref().map(|o| PriorityOverride {
                score: o.score,
                reason: o.reason.clone(),
                by: o.by.clone(),
            }),
        }
    }
}

/// How a check relates to the recipient's other checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Relation {
    /// A check.
    Check,
    /// Made after the device knew of a conclusive result: deliberate.
    FollowUp,
    /// Made without knowledge of another person's check.
    Duplicate,
    /// Corrects an earlier check.
    Correction,
    /// Corrected by a later check; kept, not counted.
    Superseded,
}

/// One line of a recipient's check history.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HistoryLine {
    /// The check.
    pub check: Check,
    /// How it relates to the others.
    pub relation: Relation,
    /// The checks it duplicates, corrects or is corrected by.
    pub related: Vec<String>,
}

impl HistoryLine {
    pub(crate) fn from_core(h: &views::HistoryEntry<'_>, lang: Lang) -> Self {
        let (relation, related) = match &h.relation {
            views::Relation::Check => (Relation::Check, vec![]),
            views::Relation::FollowUp => (Relation::FollowUp, vec![]),
            views::Relation::Duplicate { of } => (
                Relation::Duplicate,
                of.iter().map(|c| c.0.to_string()).collect(),
            ),
            views::Relation::Correction { of } => (Relation::Correction, vec![of.0.to_string()]),
            views::Relation::Superseded { by } => (Relation::Superseded, vec![by.0.to_string()]),
        };
        HistoryLine {
            check: Check::from_core(h.check, lang),
            relation,
            related,
        }
    }
}

/// A recipient's page: 様式1, checks in the current incident, claims.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RecipientDetail {
    /// The record.
    pub recipient: Recipient,
    /// Fields two devices changed at once.
    pub conflicts: Vec<FieldConflict>,
    /// Checks in the current incident, oldest first.
    pub history: Vec<HistoryLine>,
    /// The check deciding their status.
    pub latest: Option<Check>,
    /// Checks that did not know of each other and disagree, most attention
    /// first; empty when they agree.
    pub conflicting: Vec<Check>,
    /// "結果が食い違っています: …", or empty.
    pub conflict_label: String,
    /// Live claims.
    pub claims: Vec<Claim>,
}

/// A duplicate visit: effort spent twice on one recipient.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Duplicate {
    /// 利用者ID.
    pub recipient_id: String,
    /// 氏名.
    pub name: String,
    /// Every check involved, oldest first: who, when, with what result.
    pub checks: Vec<Check>,
    /// Checks made while someone else's claim was known.
    pub despite_claim: Vec<String>,
}

/// How many recipients have a result.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ResultCount {
    /// The result.
    pub result: CheckResult,
    /// Its label.
    pub label: String,
    /// Recipients whose deciding check has it.
    pub count: u32,
}

/// The situation board of an incident.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IncidentSummary {
    /// The incident.
    pub incident: Incident,
    /// Recipients in the roster.
    pub recipients: u32,
    /// Never checked.
    pub unchecked: u32,
    /// Checked but not reached (unreachable / absent only).
    pub not_reached: u32,
    /// Not reached yet and high priority.
    pub high_priority_not_reached: u32,
    /// Not reached yet, and their device's battery runs out within a day
    /// (or ran out) in an incident that cuts power.
    pub battery_deadline_not_reached: u32,
    /// Recipients with a duplicate visit.
    pub duplicates: u32,
    /// Recipients whose checks disagree.
    pub conflicts: u32,
    /// Checks recorded.
    pub checks: u32,
    /// Recipients by their deciding result.
    pub by_result: Vec<ResultCount>,
    /// The operation level in force, when the office has a staff list.
    pub operation_level: Option<crate::staffing::OperationLevel>,
    /// 「運営レベル30%: 安否確認のみ…」, or empty.
    pub operation_level_label: String,
}

/// Whether a member entry counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum MemberStanding {
    /// A current member.
    Active,
    /// Revoked by an admin.
    Revoked,
    /// Added by a device that is not an admin: ignored.
    Unauthorised,
    /// Its signature does not hold: ignored.
    BadSignature,
}

impl From<core::MemberStanding> for MemberStanding {
    fn from(s: core::MemberStanding) -> Self {
        match s {
            core::MemberStanding::Active => MemberStanding::Active,
            core::MemberStanding::Revoked => MemberStanding::Revoked,
            core::MemberStanding::Unauthorised => MemberStanding::Unauthorised,
            core::MemberStanding::BadSignature => MemberStanding::BadSignature,
        }
    }
}

/// A device of a space.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    /// Its device id.
    pub device_id: String,
    /// The id in the short form people compare.
    pub readable_id: String,
    /// Who carries it.
    pub staff: String,
    /// Their organisation.
    pub organisation: String,
    /// What they may do.
    pub role: Role,
    /// The admin device that added it.
    pub added_by: String,
    /// When.
    pub added_at_ms: i64,
    /// Whether the entry counts.
    pub standing: MemberStanding,
    /// What it runs, as it told this device at their last session ("anpi
    /// 0.1.0・データ形式 2", with a call to update when it is older);
    /// empty when it has not said.
    pub version: String,
}

impl Member {
    pub(crate) fn from_core(m: &core::Member, s: core::MemberStanding, version: String) -> Self {
        Member {
            device_id: m.device.0.clone(),
            readable_id: m.device.readable(),
            staff: m.staff.name.clone(),
            organisation: m.staff.organisation.clone(),
            role: m.role.into(),
            added_by: m.added_by.0.clone(),
            added_at_ms: millis(m.added_at),
            standing: s.into(),
            version,
        }
    }
}

/// An invite for a new phone: the text code (also what the QR code holds).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Invite {
    /// The code (`ANPI2-…`).
    pub code: String,
    /// When it stops working.
    pub expires_at_ms: i64,
}

/// How background sync runs.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncConfig {
    /// Where to listen for peers (`0.0.0.0:0` for any port; a phone's
    /// hotspot address to serve a shelter).
    pub listen: String,
    /// Use mDNS on `interfaces` (Android; iOS feeds peers in through
    /// Bonjour with `add_peer` instead).
    pub mdns: bool,
    /// The network interfaces mDNS may use (e.g. `wlan0`); never others.
    pub interfaces: Vec<String>,
    /// Peers to sync with on start and after changes (`HOST:PORT`).
    pub peers: Vec<String>,
    /// Wait this long after a change before passing it on (a burst of
    /// checks makes one sync).
    pub debounce_ms: u64,
}

/// What one sync moved.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncResult {
    /// The peer's device id (proven by its key).
    pub peer_id: String,
    /// Its address.
    pub address: String,
    /// Documents that changed on this device.
    pub documents_changed: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Round trips.
    pub round_trips: u32,
    /// Documents that could not be synced (the others were): "document:
    /// why" each.
    pub failed_documents: Vec<String>,
}

impl From<&anpi_core::net::SyncReport> for SyncResult {
    fn from(r: &anpi_core::net::SyncReport) -> Self {
        SyncResult {
            peer_id: r.peer.0.clone(),
            address: r.addr.to_string(),
            documents_changed: r.stats.docs_changed as u32,
            bytes_sent: r.wire_sent,
            bytes_received: r.wire_received,
            round_trips: r.round_trips as u32,
            failed_documents: r
                .failures
                .iter()
                .map(|(doc, why)| format!("{doc}: {why}"))
                .collect(),
        }
    }
}

/// How syncing with one peer stands.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PeerStatus {
    /// Its address.
    pub address: String,
    /// Its device id, once a session proved it.
    pub peer_id: Option<String>,
    /// Whether it is the office.
    pub office: bool,
    /// When the last sync with it finished.
    pub last_sync_ms: Option<i64>,
    /// Why the last try failed, if it did.
    pub last_error: Option<String>,
    /// Changes made on this device since the last sync with it.
    pub pending_changes: u64,
}

impl From<anpi_core::node::PeerStatus> for PeerStatus {
    fn from(p: anpi_core::node::PeerStatus) -> Self {
        PeerStatus {
            address: p.address.to_string(),
            peer_id: p.device.map(|d| d.0),
            office: p.office,
            last_sync_ms: p.last_sync.map(millis),
            last_error: p.last_error,
            pending_changes: p.pending_changes,
        }
    }
}

/// What happened, for the app's listener.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AnpiEvent {
    /// The first event of every subscription: how sync stands now.
    Status {
        /// Whether background sync runs.
        running: bool,
        /// Where it listens.
        listening: Option<String>,
        /// Every peer known.
        peers: Vec<PeerStatus>,
    },
    /// Data changed: refresh lists. `local` when this device recorded it.
    DataChanged {
        /// Recorded on this device (else it arrived from a peer).
        local: bool,
    },
    /// A peer was heard on the local network.
    PeerSeen {
        /// Where.
        address: String,
    },
    /// A peer that was synced with could not be reached.
    PeerLost {
        /// Where.
        address: String,
    },
    /// A sync with a peer began (the matching `Synced` or `SyncFailed`
    /// follows).
    SyncStarted {
        /// With whom.
        address: String,
    },
    /// This device now holds data a newer anpi made: kept and passed on,
    /// but unread until the app is updated. Show `message` to the person.
    NeedsUpdate {
        /// What to tell the person, in the node's language.
        message: String,
    },
    /// This device's clock is more than five minutes off, as the devices it
    /// synced with last see it: show `message` until it is set (after
    /// every sync while it is off).
    ClockOff {
        /// What to tell the person, in the node's language.
        message: String,
    },
    /// A sync finished.
    Synced {
        /// What it moved.
        result: SyncResult,
    },
    /// A sync failed; nothing was lost.
    SyncFailed {
        /// With whom.
        address: String,
        /// Why.
        message: String,
    },
    /// A device that is not a member was refused.
    Refused {
        /// From where.
        address: String,
        /// Why.
        message: String,
    },
    /// The office is unreachable; the next try is after this long.
    OfficeRetry {
        /// Seconds.
        seconds: u64,
    },
}
