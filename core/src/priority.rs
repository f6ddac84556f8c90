//! The priority rules (DOMAIN.md "Priority"): the factors, their weights
//! (per office, carried in the roster document) and a recipient's score
//! with the reasons for it. Below both `doc`, which stores the weights,
//! and `views`, which ranks by the score.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::codes::{CareLevel, FloodDepth, Household, IncidentKind, Lang};
use crate::error::{Error, Result};
use crate::model::{EvacuationPlan, Incident, Recipient, Timestamp};

/// The factors of the priority rules (DOMAIN.md "Priority").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// 人工呼吸器・在宅酸素・吸引・透析・経管栄養
    LifeSustainingDevice,
    /// 医療必要度 (recorded medical needs)
    MedicalNeeds,
    /// 独居
    LivesAlone,
    /// 高齢者世帯
    ElderlyOnly,
    /// 日中独居
    AloneDaytime,
    /// 寝たきり
    Bedridden,
    /// 認知症
    Dementia,
    /// 避難支援者なし
    NoSupporter,
    /// 浸水想定 (flood and storm incidents)
    FloodZone,
    /// 土砂災害警戒区域 (landslide and storm incidents)
    LandslideZone,
    /// 旧耐震木造 (earthquakes)
    OldWoodenHouse,
    /// 要介護度
    CareLevel,
    /// 手動設定 (a care manager's override)
    Override,
}

/// Points per factor. Configurable per office; the defaults follow the
/// order of concern in the plans: life-sustaining devices first, then being
/// alone, immobile, and in the incident's hazard zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PriorityConfig {
    /// Life-sustaining medical device.
    pub life_sustaining_device: i64,
    /// Medical needs recorded (医療必要度 not empty).
    pub medical_needs: i64,
    /// Lives alone.
    pub lives_alone: i64,
    /// Elderly-only household.
    pub elderly_only: i64,
    /// Alone in the daytime.
    pub alone_daytime: i64,
    /// Bedridden.
    pub bedridden: i64,
    /// Dementia.
    pub dementia: i64,
    /// No evacuation supporter recorded.
    pub no_supporter: i64,
    /// Flood zone, 3 m or more.
    pub flood_over_3m: i64,
    /// Flood zone, 0.5–3 m.
    pub flood_0_5m_to_3m: i64,
    /// Flood zone, below 0.5 m.
    pub flood_below_0_5m: i64,
    /// Flood zone, depth unknown.
    pub flood_unknown: i64,
    /// Landslide warning zone.
    pub landslide_zone: i64,
    /// Old wooden house (earthquakes).
    pub old_wooden_house: i64,
    /// Points per care level step above 要介護1 (要介護5 gets 4×).
    pub care_level_step: i64,
    /// From this score on, a recipient counts as high priority in summaries.
    pub high_priority_from: i64,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            life_sustaining_device: 50,
            medical_needs: 10,
            lives_alone: 20,
            elderly_only: 10,
            alone_daytime: 8,
            bedridden: 20,
            dementia: 10,
            no_supporter: 10,
            flood_over_3m: 30,
            flood_0_5m_to_3m: 25,
            flood_below_0_5m: 10,
            flood_unknown: 15,
            landslide_zone: 25,
            old_wooden_house: 15,
            care_level_step: 3,
            high_priority_from: 50,
        }
    }
}

/// One weight of [`PriorityConfig`]: its name (as hosts take it, and as
/// it is stored) and what it means, in Japanese and English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weight {
    /// The field's name, e.g. `lives_alone`.
    pub name: &'static str,
    /// What it means, in Japanese.
    pub ja: &'static str,
    /// What it means, in English.
    pub en: &'static str,
}

impl Weight {
    /// What it means, in `lang`.
    pub fn label(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => self.ja,
            Lang::En => self.en,
        }
    }
}

/// Every weight, in the order they are shown.
pub const WEIGHTS: &[Weight] = &[
    Weight {
        name: "life_sustaining_device",
        ja: "生命維持の医療機器（人工呼吸器・在宅酸素・吸引・透析・経管栄養）",
        en: "life-sustaining medical device",
    },
    Weight {
        name: "medical_needs",
        ja: "医療必要度の記載あり",
        en: "medical needs recorded",
    },
    Weight {
        name: "lives_alone",
        ja: "独居",
        en: "lives alone",
    },
    Weight {
        name: "elderly_only",
        ja: "高齢者世帯",
        en: "elderly-only household",
    },
    Weight {
        name: "alone_daytime",
        ja: "日中独居",
        en: "alone in the daytime",
    },
    Weight {
        name: "bedridden",
        ja: "寝たきり",
        en: "bedridden",
    },
    Weight {
        name: "dementia",
        ja: "認知症",
        en: "dementia",
    },
    Weight {
        name: "no_supporter",
        ja: "避難支援者なし",
        en: "no evacuation supporter",
    },
    Weight {
        name: "flood_over_3m",
        ja: "浸水想定3m以上（水害・台風）",
        en: "flood zone 3 m or more (floods, storms)",
    },
    Weight {
        name: "flood_0_5m_to_3m",
        ja: "浸水想定0.5-3m（水害・台風）",
        en: "flood zone 0.5-3 m (floods, storms)",
    },
    Weight {
        name: "flood_below_0_5m",
        ja: "浸水想定0.5m未満（水害・台風）",
        en: "flood zone below 0.5 m (floods, storms)",
    },
    Weight {
        name: "flood_unknown",
        ja: "浸水想定あり・深さ不明（水害・台風）",
        en: "flood zone, depth unknown (floods, storms)",
    },
    Weight {
        name: "landslide_zone",
        ja: "土砂災害警戒区域（土砂災害・台風）",
        en: "landslide zone (landslides, storms)",
    },
    Weight {
        name: "old_wooden_house",
        ja: "旧耐震の木造住宅（地震）",
        en: "old wooden house (earthquakes)",
    },
    Weight {
        name: "care_level_step",
        ja: "要介護度1段階ごと（要介護2以上）",
        en: "per care level above care level 1",
    },
    Weight {
        name: "high_priority_from",
        ja: "この点数以上を「優先度高」として集計",
        en: "score from which a recipient counts as high priority",
    },
];

impl PriorityConfig {
    /// The weight called `name` (see [`WEIGHTS`]), if there is one.
    fn slot(&mut self, name: &str) -> Option<&mut i64> {
        Some(match name {
            "life_sustaining_device" => &mut self.life_sustaining_device,
            "medical_needs" => &mut self.medical_needs,
            "lives_alone" => &mut self.lives_alone,
            "elderly_only" => &mut self.elderly_only,
            "alone_daytime" => &mut self.alone_daytime,
            "bedridden" => &mut self.bedridden,
            "dementia" => &mut self.dementia,
            "no_supporter" => &mut self.no_supporter,
            "flood_over_3m" => &mut self.flood_over_3m,
            "flood_0_5m_to_3m" => &mut self.flood_0_5m_to_3m,
            "flood_below_0_5m" => &mut self.flood_below_0_5m,
            "flood_unknown" => &mut self.flood_unknown,
            "landslide_zone" => &mut self.landslide_zone,
            "old_wooden_house" => &mut self.old_wooden_house,
            "care_level_step" => &mut self.care_level_step,
            "high_priority_from" => &mut self.high_priority_from,
            _ => return None,
        })
    }

    /// The points of the weight called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<i64> {
        // A copy of sixteen numbers, so that one list of names serves
        // reading and writing.
        self.clone().slot(name).map(|points| *points)
    }

    /// Set the weight called `name`; an unknown name is an error that
    /// lists the names there are.
    pub fn set(&mut self, name: &str, points: i64) -> Result<()> {
        let Some(slot) = self.slot(name) else {
            let names: Vec<&str> = WEIGHTS.iter().map(|w| w.name).collect();
            return Err(Error::invalid(format!(
                "{name}: no such priority weight ({})",
                names.join(", ")
            )));
        };
        *slot = points;
        Ok(())
    }
}

/// One reason a recipient ranks where they do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The factor.
    pub factor: Factor,
    /// What people read ("人工呼吸器使用", "独居", "浸水想定3m以上").
    /// Most labels are fixed words, and a list scores every recipient.
    pub label: Cow<'static, str>,
    /// Points it adds.
    pub points: i64,
}

/// The score of a recipient for an incident of `kind` (no hazard factor
/// without an incident), with its reasons, strongest first.
pub fn score(r: &Recipient, kind: Option<IncidentKind>, c: &PriorityConfig) -> (i64, Vec<Reason>) {
    let mut reasons = Vec::new();
    let mut add = |factor, label: Cow<'static, str>, points: i64| {
        if points != 0 {
            reasons.push(Reason {
                factor,
                label,
                points,
            });
        }
    };
    let devices: Vec<&str> = r
        .plan
        .medical_devices
        .iter()
        .filter(|d| d.is_life_sustaining())
        .map(|d| d.label_ja())
        .collect();
    if !devices.is_empty() {
        add(
            Factor::LifeSustainingDevice,
            format!("{}使用", devices.join("・")).into(),
            c.life_sustaining_device,
        );
    }
    if !r.plan.medical_needs.trim().is_empty() {
        add(
            Factor::MedicalNeeds,
            format!("医療: {}", r.plan.medical_needs.trim()).into(),
            c.medical_needs,
        );
    }
    match r.household {
        Some(Household::Alone) => add(Factor::LivesAlone, "独居".into(), c.lives_alone),
        Some(Household::ElderlyOnly) => {
            add(Factor::ElderlyOnly, "高齢者世帯".into(), c.elderly_only)
        }
        Some(Household::AloneDaytime) => {
            add(Factor::AloneDaytime, "日中独居".into(), c.alone_daytime)
        }
        Some(Household::WithFamily) | None => {}
    }
    if r.bedridden == Some(true) {
        add(Factor::Bedridden, "寝たきり".into(), c.bedridden);
    }
    if r.dementia == Some(true) {
        add(Factor::Dementia, "認知症".into(), c.dementia);
    }
    if r.plan.supporter.trim().is_empty() {
        add(Factor::NoSupporter, "避難支援者なし".into(), c.no_supporter);
    }
    let flood = matches!(kind, Some(IncidentKind::Flood | IncidentKind::Storm));
    let landslide = matches!(kind, Some(IncidentKind::Landslide | IncidentKind::Storm));
    if flood && let Some(depth) = r.hazards.flood_depth {
        let points = match depth {
            FloodDepth::None => 0,
            FloodDepth::Unknown => c.flood_unknown,
            FloodDepth::Below05 => c.flood_below_0_5m,
            FloodDepth::From05To3 => c.flood_0_5m_to_3m,
            FloodDepth::Over3 => c.flood_over_3m,
        };
        let label = match depth {
            FloodDepth::Unknown => Cow::Borrowed("浸水想定区域"),
            d => format!("浸水想定{}", d.label_ja()).into(),
        };
        add(Factor::FloodZone, label, points);
    }
    if landslide && r.hazards.landslide_zone == Some(true) {
        add(
            Factor::LandslideZone,
            "土砂災害警戒区域".into(),
            c.landslide_zone,
        );
    }
    if kind == Some(IncidentKind::Earthquake) && r.hazards.old_wooden_house == Some(true) {
        add(
            Factor::OldWoodenHouse,
            "旧耐震木造".into(),
            c.old_wooden_house,
        );
    }
    if let Some(level) = r.care_level {
        let steps = match level {
            CareLevel::Care2 => 1,
            CareLevel::Care3 => 2,
            CareLevel::Care4 => 3,
            CareLevel::Care5 => 4,
            _ => 0,
        };
        add(
            Factor::CareLevel,
            level.label_ja().into(),
            steps * c.care_level_step,
        );
    }
    let mut total: i64 = reasons.iter().map(|r| r.points).sum();
    if let Some(o) = &r.priority_override {
        total = o.score;
        let label = if o.office_ranking {
            // An area space's copy: reasons read from its few fields would
            // be false ("避難支援者なし" for a client who has one).
            reasons.clear();
            format!("事業所の評価: {}", o.reason)
        } else {
            format!("手動設定: {}", o.reason)
        };
        reasons.insert(
            0,
            Reason {
                factor: Factor::Override,
                label: label.into(),
                points: o.score,
            },
        );
    }
    reasons.sort_by_key(|r| (r.factor != Factor::Override, -r.points));
    (total, reasons)
}

/// Whether an incident of `kind` is taken to cut mains power: an
/// earthquake, a storm or a flood do, in the plans' experience.
pub fn cuts_power(kind: IncidentKind) -> bool {
    matches!(
        kind,
        IncidentKind::Earthquake | IncidentKind::Storm | IncidentKind::Flood
    )
}

/// How close a battery deadline must be for it to rank above every score:
/// within a day, or past.
pub const DEADLINE_NEAR_MINUTES: i64 = 24 * 60;

/// How long, in minutes, the battery of the device a recipient depends on
/// lasts without mains power: the plan's バッテリー時間 where it is
/// written, else what 医療必要度 says in words ("バッテリー6時間").
pub fn battery_minutes(plan: &EvacuationPlan) -> Option<u32> {
    plan.battery_minutes
        .or_else(|| crate::text::battery_in_words(&plan.medical_needs))
}

/// When the battery of the device a recipient depends on runs out in
/// `incident`: its start plus the battery's time ([`battery_minutes`]), in
/// an incident that cuts power ([`cuts_power`]). `None` otherwise.
pub fn battery_deadline(r: &Recipient, incident: &Incident) -> Option<Timestamp> {
    if !cuts_power(incident.kind) {
        return None;
    }
    let minutes = battery_minutes(&r.plan)?;
    Some(incident.started_at.plus_minutes(i64::from(minutes)))
}

/// A length of time as people read it: 「4時間30分」, "4 h 30 min".
pub fn duration_label(minutes: i64, lang: Lang) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    match (lang, h, m) {
        (Lang::Ja, 0, m) => format!("{m}分"),
        (Lang::Ja, h, 0) => format!("{h}時間"),
        (Lang::Ja, h, m) => format!("{h}時間{m}分"),
        (Lang::En, 0, m) => format!("{m} min"),
        (Lang::En, h, 0) => format!("{h} h"),
        (Lang::En, h, m) => format!("{h} h {m} min"),
    }
}

/// The time left until `deadline` as people read it, whatever the host
/// (no symbol a font may lack): 「バッテリー残り5時間30分」, or once it
/// passed 「バッテリー切れの見込み（1時間20分経過）」.
pub fn time_left(deadline: Timestamp, now: Timestamp, lang: Lang) -> String {
    let minutes = (deadline.millis() - now.millis()).div_euclid(60_000);
    let span = |m| duration_label(m, lang);
    match (lang, minutes >= 0) {
        (Lang::Ja, true) => format!("バッテリー残り{}", span(minutes)),
        (Lang::Ja, false) => format!("バッテリー切れの見込み（{}経過）", span(-minutes)),
        (Lang::En, true) => format!("battery: {} left", span(minutes)),
        (Lang::En, false) => format!("battery expected out ({} ago)", span(-minutes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_is_named_once_and_reads_and_writes_its_own_field() {
        let defaults = serde_json::to_value(PriorityConfig::default()).unwrap();
        let fields: Vec<&String> = defaults.as_object().unwrap().keys().collect();
        let mut names: Vec<&str> = WEIGHTS.iter().map(|w| w.name).collect();
        assert_eq!(
            names.len(),
            fields.len(),
            "a field without a name, or twice"
        );
        names.sort();
        let mut fields: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
        fields.sort();
        assert_eq!(names, fields);
        for (i, w) in WEIGHTS.iter().enumerate() {
            let mut c = PriorityConfig::default();
            c.set(w.name, 1000 + i as i64).unwrap();
            assert_eq!(c.get(w.name), Some(1000 + i as i64));
            let json = serde_json::to_value(&c).unwrap();
            assert_eq!(
                json[w.name],
                1000 + i as i64,
                "{} sets its own field",
                w.name
            );
        }
        let err = PriorityConfig::default().set("lonely", 3).unwrap_err();
        assert!(err.to_string().contains("lives_alone"), "{err}");
        assert_eq!(PriorityConfig::default().get("lonely"), None);
    }

    #[test]
    fn a_battery_runs_out_from_the_incident_s_start_when_the_power_is_cut() {
        use crate::codes::MedicalDevice;
        let started = Timestamp::from_millis(1_788_220_800_000);
        let mut quake = Incident {
            id: crate::model::IncidentId("q".into()),
            space: crate::model::SpaceId("s".into()),
            kind: IncidentKind::Earthquake,
            name: "地震".into(),
            started_at: started,
            ended_at: None,
            round: 0,
        };
        let mut r = Recipient::default();
        r.plan.medical_devices = vec![MedicalDevice::Ventilator];
        assert_eq!(battery_deadline(&r, &quake), None, "no battery time known");
        r.plan.medical_needs = "人工呼吸器（バッテリー6時間）".into();
        assert_eq!(
            battery_deadline(&r, &quake),
            Some(started.plus_minutes(360))
        );
        r.plan.battery_minutes = Some(240);
        assert_eq!(
            battery_deadline(&r, &quake),
            Some(started.plus_minutes(240)),
            "the plan's own figure first"
        );
        quake.kind = IncidentKind::Landslide;
        assert_eq!(battery_deadline(&r, &quake), None, "power taken as on");
        let d = started.plus_minutes(240);
        for (minutes_in, lang, shown) in [
            (0, Lang::Ja, "バッテリー残り4時間"),
            (150, Lang::Ja, "バッテリー残り1時間30分"),
            (235, Lang::Ja, "バッテリー残り5分"),
            (320, Lang::Ja, "バッテリー切れの見込み（1時間20分経過）"),
            (150, Lang::En, "battery: 1 h 30 min left"),
            (320, Lang::En, "battery expected out (1 h 20 min ago)"),
        ] {
            assert_eq!(time_left(d, started.plus_minutes(minutes_in), lang), shown);
        }
    }
}
