//! 連携型BCP: sharing with other agencies through a shared **area space**,
//! a space whose members are devices of several organisations. What enters
//! it is decided here:
//!
//! - only recipients whose consent is recorded (情報提供同意 with its date
//!   and who obtained it), unless an admin declared a **disaster exception**
//!   (sharing without consent to protect life): time-boxed, kept in the area
//!   space where every member sees it, and in the audit trail;
//! - only the fields safety checks need ([`SHARED_ITEMS`]), never the care
//!   record: no care level, no medical devices, no dementia — the priority
//!   travels as a score with a neutral reason (「優先度高」), and with its
//!   real reasons only when the recorded consent's scope names them
//!   ([`reasons_consented`]).

use std::collections::BTreeSet;

use crate::model::{
    DeviceId, Exception, IncidentKind, PriorityOverride, Recipient, RecipientId, SpaceId, Timestamp,
};
use crate::priority::{PriorityConfig, score};

/// What another agency receives of a recipient, as the audit trail names it.
pub const SHARED_ITEMS: &str =
    "氏名・住所・地区・電話・安否確認方法・優先度（理由は同意の範囲にあるときのみ）";

/// Whether the recipient's recorded consent covers the reasons of their
/// priority — health details such as a ventilator or dementia: its scope
/// names them (「理由」, or "reasons"). Without that, and always under a
/// disaster exception, partners see only the score and a neutral reason.
pub fn reasons_consented(r: &Recipient) -> bool {
    consented(r)
        && r.consent_record
            .as_ref()
            .is_some_and(|c| c.scope.contains("理由") || c.scope.to_lowercase().contains("reasons"))
}

/// The reason partners see when the consent does not cover the real ones.
fn neutral_reason(points: i64, weights: &PriorityConfig) -> String {
    if points >= weights.high_priority_from {
        "優先度高".to_string()
    } else {
        "優先度通常".to_string()
    }
}

/// Whether a recipient's consent to share is recorded.
pub fn consented(r: &Recipient) -> bool {
    r.consent == Some(true)
        && r.consent_record
            .as_ref()
            .is_some_and(|c| !c.obtained_by.trim().is_empty())
}

/// The id a recipient of office `origin` has in an area space: unique across
/// the offices sharing there.
pub fn shared_id(origin: &SpaceId, id: &RecipientId) -> RecipientId {
    RecipientId(format!(
        "{}:{}",
        &origin.as_str()[..8.min(origin.as_str().len())],
        id
    ))
}

/// The record an area space gets of `r`: name, address, area, telephone,
/// how to check, and the priority as a score (the office's manual priority
/// if it set one) with a neutral reason, or its real reasons where the
/// consent covers them — nothing else of the care record.
pub fn shared_record(
    origin: &SpaceId,
    organisation: &str,
    r: &Recipient,
    kind: Option<IncidentKind>,
    weights: &PriorityConfig,
    now: Timestamp,
) -> Recipient {
    let mut priority = match &r.priority_override {
        Some(o) => o.clone(),
        None => {
            let (points, reasons) = score(r, kind, weights);
            PriorityOverride {
                score: points,
                reason: reasons
                    .iter()
                    .map(|x| x.label.as_ref())
                    .collect::<Vec<_>>()
                    .join("・"),
                by: organisation.to_string(),
                at: now,
                office_ranking: true,
            }
        }
    };
    priority.office_ranking = true;
    if !reasons_consented(r) {
        priority.reason = neutral_reason(priority.score, weights);
    }
    Recipient {
        id: shared_id(origin, &r.id),
        name: r.name.clone(),
        address: r.address.clone(),
        area: r.area.clone(),
        phone: r.phone.clone(),
        check_method: r.check_method.clone(),
        care_manager: organisation.to_string(),
        priority_override: Some(priority),
        ..Default::default()
    }
}

/// The office an area space hears from: who it is, what its admins
/// declared, and how it ranks.
pub struct Office<'a> {
    /// The office's space.
    pub space: &'a SpaceId,
    /// Its name, as the receiving agencies see it.
    pub organisation: &'a str,
    /// Its active admins: only their exceptions count.
    pub admins: &'a BTreeSet<DeviceId>,
    /// The kind of its open incident, for the hazards that count.
    pub kind: Option<IncidentKind>,
    /// Its priority weights.
    pub weights: &'a PriorityConfig,
}

/// What an office provides to an area space ([`provision`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provision {
    /// The records the area gets, reduced ([`shared_record`]).
    pub records: Vec<Recipient>,
    /// Shared because their consent is recorded.
    pub with_consent: usize,
    /// Shared without consent, under the exception.
    pub under_exception: usize,
    /// Not shared.
    pub withheld: usize,
    /// The disaster exception in force, if any (the latest-ending one
    /// declared for this office by one of its admins).
    pub exception: Option<Exception>,
    /// This office's records already in the area that must go (consent
    /// withdrawn, or no longer on the roster).
    pub stale: Vec<RecipientId>,
}

/// The sharing policy, whole: which of `roster` enter the area and as
/// what, given the `exceptions` declared in the area and the ids
/// `in_area` it holds now. A pure function: the node reads the inputs and
/// writes the result.
pub fn provision(
    office: &Office<'_>,
    roster: impl IntoIterator<Item = Recipient>,
    exceptions: &[Exception],
    in_area: impl IntoIterator<Item = RecipientId>,
    now: Timestamp,
) -> Provision {
    let exception = exceptions
        .iter()
        .filter(|e| &e.origin == office.space && office.admins.contains(&e.by) && e.active(now))
        .max_by_key(|e| e.until)
        .cloned();
    let mut p = Provision {
        exception,
        ..Default::default()
    };
    for r in roster {
        if consented(&r) {
            p.with_consent += 1;
        } else if p.exception.is_some() {
            p.under_exception += 1;
        } else {
            p.withheld += 1;
            continue;
        }
        p.records.push(shared_record(
            office.space,
            office.organisation,
            &r,
            office.kind,
            office.weights,
            now,
        ));
    }
    let ours = shared_id(office.space, &RecipientId(String::new())).0;
    let keep: BTreeSet<&RecipientId> = p.records.iter().map(|r| &r.id).collect();
    p.stale = in_area
        .into_iter()
        .filter(|id| id.as_str().starts_with(&ours) && !keep.contains(id))
        .collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CareLevel, ConsentRecord, Date, MedicalDevice};

    #[test]
    fn the_shared_record_holds_only_what_checks_need() {
        let mut r = Recipient {
            id: "R1".into(),
            name: "山田 ハル".into(),
            address: "架空市東1-1".into(),
            phone: "0120-000-000".into(),
            care_level: Some(CareLevel::Care4),
            dementia: Some(true),
            notes: "家族関係の記録".into(),
            consent: Some(true),
            ..Default::default()
        };
        r.plan.medical_devices = vec![MedicalDevice::Ventilator];
        assert!(!consented(&r), "consent without a record does not count");
        r.consent_record = Some(ConsentRecord {
            date: Date::from_ymd(2026, 4, 1).unwrap(),
            scope: "安否確認".into(),
            obtained_by: "佐藤".into(),
        });
        assert!(consented(&r));
        let space = SpaceId("ab".repeat(16));
        let s = shared_record(
            &space,
            "ひまわり",
            &r,
            None,
            &PriorityConfig::default(),
            Timestamp::from_millis(0),
        );
        assert_eq!(s.id.as_str(), "abababab:R1");
        assert_eq!(s.name, r.name);
        assert_eq!(s.care_level, None);
        assert_eq!(s.dementia, None);
        assert!(s.notes.is_empty() && s.plan.medical_devices.is_empty());
        assert!(s.consent.is_none() && s.consent_record.is_none());
        // Issue 20, 7: the reasons (a ventilator) stay with the office
        // unless the consent's scope names them.
        let p = s.priority_override.unwrap();
        assert_eq!(p.reason, "優先度高");
        let mut wider = r.clone();
        wider.consent_record.as_mut().unwrap().scope = "安否確認と優先度の理由".into();
        let s = shared_record(
            &space,
            "ひまわり",
            &wider,
            None,
            &PriorityConfig::default(),
            Timestamp::from_millis(0),
        );
        let p = s.priority_override.unwrap();
        assert!(p.reason.contains("人工呼吸器"), "{}", p.reason);
    }

    #[test]
    fn only_consent_or_an_admins_exception_in_force_lets_a_record_in() {
        let office = SpaceId("ab".repeat(16));
        let other = SpaceId("cd".repeat(16));
        let admin = DeviceId("admin".into());
        let admins: BTreeSet<DeviceId> = [admin.clone()].into();
        let weights = PriorityConfig::default();
        let o = Office {
            space: &office,
            organisation: "ひまわり",
            admins: &admins,
            kind: None,
            weights: &weights,
        };
        let consenting = Recipient {
            id: "R1".into(),
            consent: Some(true),
            consent_record: Some(ConsentRecord {
                date: Date::from_ymd(2026, 4, 1).unwrap(),
                scope: "安否確認".into(),
                obtained_by: "佐藤".into(),
            }),
            ..Default::default()
        };
        let silent = Recipient {
            id: "R2".into(),
            ..Default::default()
        };
        let now = Timestamp::from_millis(1_000_000);
        let exception = |by: &DeviceId, origin: &SpaceId, until: i64| Exception {
            id: "e".into(),
            origin: origin.clone(),
            by: by.clone(),
            staff: Default::default(),
            from: Timestamp::from_millis(0),
            until: Timestamp::from_millis(until),
            reason: "浸水".into(),
        };
        // In the area: R1 and R2 from an earlier exception, and another
        // office's record.
        let in_area: Vec<RecipientId> = vec![
            shared_id(&office, &"R1".into()),
            shared_id(&office, &"R2".into()),
            shared_id(&other, &"R2".into()),
        ];
        let roster = || vec![consenting.clone(), silent.clone()];

        let p = provision(&o, roster(), &[], in_area.clone(), now);
        assert_eq!((p.with_consent, p.under_exception, p.withheld), (1, 0, 1));
        assert_eq!(p.records.len(), 1);
        assert_eq!(
            p.stale,
            [shared_id(&office, &"R2".into())],
            "consent gone: removed"
        );

        // Exceptions that do not count: declared by a non-admin, for
        // another office, or over.
        let stranger = DeviceId("x".into());
        let void = [
            exception(&stranger, &office, 2_000_000),
            exception(&admin, &other, 2_000_000),
            exception(&admin, &office, 999_999),
        ];
        let p = provision(&o, roster(), &void, in_area.clone(), now);
        assert_eq!((p.with_consent, p.under_exception, p.withheld), (1, 0, 1));
        assert!(p.exception.is_none());

        let p = provision(
            &o,
            roster(),
            &[
                exception(&admin, &office, 1_500_000),
                exception(&admin, &office, 2_000_000),
            ],
            in_area,
            now,
        );
        assert_eq!((p.with_consent, p.under_exception, p.withheld), (1, 1, 0));
        assert_eq!(
            p.exception.unwrap().until,
            Timestamp::from_millis(2_000_000)
        );
        assert!(p.stale.is_empty());
    }
}
