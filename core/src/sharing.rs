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
//!   travels as a score with its reasons.

use crate::model::{IncidentKind, PriorityOverride, Recipient, RecipientId, SpaceId, Timestamp};
use crate::priority::{PriorityConfig, score};

/// What another agency receives of a recipient, as the audit trail names it.
pub const SHARED_ITEMS: &str = "氏名・住所・地区・電話・安否確認方法・優先度と理由";

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
/// how to check, and the priority as a score with its reasons (the office's
/// manual priority if it set one) — nothing else of the care record.
pub fn shared_record(
    origin: &SpaceId,
    organisation: &str,
    r: &Recipient,
    kind: Option<IncidentKind>,
    weights: &PriorityConfig,
    now: Timestamp,
) -> Recipient {
    let priority = match &r.priority_override {
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
            }
        }
    };
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
        let p = s.priority_override.unwrap();
        assert!(p.reason.contains("人工呼吸器"), "{}", p.reason);
    }
}
