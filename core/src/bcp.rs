//! Staff turnout (参集) and the operation level (運営レベル) of the plans
//! (DOMAIN.md, "Incidents and BCP phases"): how many staff can work on each
//! day of a disaster, from their safety reports and, for those who have not
//! reported, the plan's estimate by distance; and the level that turnout
//! sets, with what it means for the office's work.
//!
//! Pure functions: no store, no clock (the caller says which day).

use crate::codes::{Attendance, AvailableFrom, Lang, OperationLevel, PersonalSafety};

/// Walking speed in a disaster, km/h (the plan's figure).
pub const WALKING_KMH: f64 = 3.0;

/// A disaster commute is this many times the normal distance (detours).
pub const DETOUR: f64 = 1.5;

/// Hours of walking within which a staff member comes "at once" (day 0):
/// 2 km from home at the plan's pace.
const AT_ONCE_HOURS: f64 = 1.0;

/// Hours of walking within which a staff member comes in the first three
/// days: 12 km from home.
const FIRST_DAYS_HOURS: f64 = 6.0;

/// What a staff member said in their latest safety report, as far as
/// turnout is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// 本人.
    pub person: PersonalSafety,
    /// 出勤.
    pub attendance: Attendance,
    /// いつから.
    pub from: AvailableFrom,
    /// The day the report was made (0 = the incident's first day): いつから
    /// counts from it.
    pub on_day: u32,
}

/// One staff member as the estimate sees them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outlook {
    /// Distance from home to the office in km, if known.
    pub distance_km: Option<f64>,
    /// Their latest safety report, if they sent one.
    pub answer: Option<Answer>,
}

/// Hours of walking from home to the office in a disaster.
pub fn walking_hours(distance_km: f64) -> f64 {
    DETOUR * distance_km / WALKING_KMH
}

/// The plan's estimate of the share of staff living `distance_km` away who
/// can work on `day` (0 = the day the incident started): half of those
/// within an hour's walk (2 km) at once; 70% of those within six hours'
/// walk (12 km) for the first three days; everyone else from day 4, when
/// the share is 70% for all; 90% from day 7 (a week); 95% from day 30 (a
/// month). An unknown distance counts as far.
pub fn plan_share(distance_km: Option<f64>, day: u32) -> f64 {
    let hours = distance_km.map_or(f64::INFINITY, walking_hours);
    match day {
        0 if hours <= AT_ONCE_HOURS => 0.5,
        0 => 0.0,
        1..=3 if hours <= FIRST_DAYS_HOURS => 0.7,
        1..=3 => 0.0,
        4..=6 => 0.7,
        7..=29 => 0.9,
        _ => 0.95,
    }
}

/// The first day a report says its author can work.
fn first_day(from: AvailableFrom) -> u32 {
    match from {
        AvailableFrom::OnDuty | AvailableFrom::Now => 0,
        AvailableFrom::Within1Day => 1,
        AvailableFrom::Within2Days => 2,
        AvailableFrom::Within3Days => 3,
        AvailableFrom::Later => 4,
    }
}

/// How much of one staff member can be counted on for `day` (0 to 1): a
/// report that says they can come counts fully from the day it says; one
/// that says they cannot, or that they are seriously injured, counts
/// nothing; "difficult", or no report, counts the plan's estimate for
/// their distance.
pub fn expected(staff: &Outlook, day: u32) -> f64 {
    match staff.answer {
        Some(a)
            if a.person == PersonalSafety::SeriousInjury || a.attendance == Attendance::Unable =>
        {
            0.0
        }
        Some(a) if a.attendance == Attendance::Able => {
            if day >= a.on_day.saturating_add(first_day(a.from)) {
                1.0
            } else {
                0.0
            }
        }
        _ => plan_share(staff.distance_km, day),
    }
}

/// Turnout on one day.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnoutDay {
    /// 0 = the day the incident started.
    pub day: u32,
    /// Staff expected to work (reported and estimated), in persons.
    pub expected: f64,
    /// Of all staff.
    pub share: f64,
    /// The operation level that turnout sets.
    pub level: OperationLevel,
}

impl TurnoutDay {
    /// 「2日目 57%」, as a forecast line shows it.
    pub fn label(&self, lang: Lang) -> String {
        match lang {
            Lang::Ja => format!("{}日目 {:.0}%", self.day, self.share * 100.0),
            Lang::En => format!("day {} {:.0}%", self.day, self.share * 100.0),
        }
    }
}

/// The days a turnout forecast shows: the first week, then a month.
pub const FORECAST_DAYS: [u32; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 30];

/// Turnout on `day` for `staff` (no staff: none, level 30%).
pub fn turnout_on(staff: &[Outlook], day: u32) -> TurnoutDay {
    // A fold from 0.0, not `sum`: the sum of nothing is -0.0, shown "-0".
    let expected: f64 = staff
        .iter()
        .map(|s| expected(s, day))
        .fold(0.0, |a, b| a + b);
    let share = if staff.is_empty() {
        0.0
    } else {
        expected / staff.len() as f64
    };
    TurnoutDay {
        day,
        expected,
        share,
        level: OperationLevel::for_share(share),
    }
}

/// Turnout on each day of [`FORECAST_DAYS`].
pub fn forecast(staff: &[Outlook]) -> Vec<TurnoutDay> {
    FORECAST_DAYS
        .iter()
        .map(|d| turnout_on(staff, *d))
        .collect()
}

impl OperationLevel {
    /// The level a turnout share reaches: 90% from 0.9, 70% from 0.7, 50%
    /// from 0.5, else 30%.
    pub fn for_share(share: f64) -> OperationLevel {
        if share >= 0.9 {
            OperationLevel::Level90
        } else if share >= 0.7 {
            OperationLevel::Level70
        } else if share >= 0.5 {
            OperationLevel::Level50
        } else {
            OperationLevel::Level30
        }
    }

    /// The level and what it means, as every host shows it beside the
    /// incident: 「運営レベル30%: 安否確認のみ（優先度の高い利用者から）…」.
    pub fn with_meaning(self, lang: Lang) -> String {
        format!("{}: {}", self.label(lang), self.meaning(lang))
    }

    /// What the level means for the office's work, and for new
    /// consultations (DOMAIN.md).
    pub fn meaning(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (OperationLevel::Level30, Lang::Ja) => {
                "安否確認のみ（優先度の高い利用者から）。新規相談は休止"
            }
            (OperationLevel::Level50, Lang::Ja) => "通常業務の一部を休止。新規相談は個別に判断",
            (OperationLevel::Level70, Lang::Ja) => "通常に近づける。新規相談は通常に近づける",
            (OperationLevel::Level90, Lang::Ja) => "ほぼ通常。新規相談も通常どおり",
            (OperationLevel::Level30, Lang::En) => {
                "safety checks only, highest priority first; new consultations paused"
            }
            (OperationLevel::Level50, Lang::En) => {
                "normal work partly paused; new consultations case by case"
            }
            (OperationLevel::Level70, Lang::En) => {
                "approaching normal work; new consultations approaching normal"
            }
            (OperationLevel::Level90, Lang::En) => "nearly normal work; new consultations as usual",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn able(from: AvailableFrom) -> Option<Answer> {
        Some(Answer {
            person: PersonalSafety::Unharmed,
            attendance: Attendance::Able,
            from,
            on_day: 0,
        })
    }

    /// The plan's worked example: ten staff at 0.5, 1.5, 1.8, 3, 5, 8, 11,
    /// 15 and 20 km and one of unknown distance; the first (0.5 km) on duty,
    /// the one at 5 km able to come within a day, the one at 15 km unable.
    #[test]
    fn turnout_follows_the_plans_estimate_and_the_reports_and_sets_the_level() {
        let km = [
            Some(0.5),
            Some(1.5),
            Some(1.8),
            Some(3.0),
            Some(5.0),
            Some(8.0),
            Some(11.0),
            Some(15.0),
            Some(20.0),
            None,
        ];
        let mut staff: Vec<Outlook> = km
            .iter()
            .map(|d| Outlook {
                distance_km: *d,
                answer: None,
            })
            .collect();
        staff[0].answer = able(AvailableFrom::OnDuty);
        staff[4].answer = able(AvailableFrom::Within1Day);
        staff[7].answer = Some(Answer {
            person: PersonalSafety::Unharmed,
            attendance: Attendance::Unable,
            from: AvailableFrom::Later,
            on_day: 0,
        });
        let f = forecast(&staff);
        let at = |day: u32| f.iter().find(|t| t.day == day).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // Day 0: the one on duty, and half of the two others within 2 km.
        assert!(close(at(0).expected, 2.0), "{:?}", at(0));
        assert_eq!(at(0).level, OperationLevel::Level30);
        // Days 1–3: 70% of those within 12 km who did not report, and the
        // one who said within a day.
        assert!(close(at(1).expected, 1.0 + 0.7 * 5.0 + 1.0), "{:?}", at(1));
        assert!(close(at(1).share, 0.55));
        assert_eq!(at(1).level, OperationLevel::Level50);
        assert!(close(at(3).expected, at(1).expected));
        // Day 4: those beyond 12 km start coming (not the one who cannot).
        assert!(close(at(4).expected, 2.0 + 0.7 * 7.0), "{:?}", at(4));
        assert_eq!(at(4).level, OperationLevel::Level50);
        // A week: 90%; a month: 95%.
        assert!(close(at(7).expected, 2.0 + 0.9 * 7.0), "{:?}", at(7));
        assert_eq!(at(7).level, OperationLevel::Level70);
        assert!(close(at(30).expected, 2.0 + 0.95 * 7.0), "{:?}", at(30));
        // Walking: 2 km is an hour at 3 km/h with the detour, 12 km six.
        assert!(close(walking_hours(2.0), 1.0) && close(walking_hours(12.0), 6.0));
        // Everyone on duty: nearly normal.
        let all: Vec<Outlook> = (0..4)
            .map(|_| Outlook {
                distance_km: None,
                answer: able(AvailableFrom::Now),
            })
            .collect();
        assert_eq!(turnout_on(&all, 0).level, OperationLevel::Level90);
        assert_eq!(turnout_on(&[], 0).level, OperationLevel::Level30);
        assert!(
            OperationLevel::Level30
                .meaning(Lang::Ja)
                .contains("安否確認のみ")
        );
    }

    #[test]
    fn a_serious_injury_counts_nothing_and_difficult_counts_the_estimate() {
        let hurt = Outlook {
            distance_km: Some(1.0),
            answer: Some(Answer {
                person: PersonalSafety::SeriousInjury,
                attendance: Attendance::Able,
                from: AvailableFrom::Now,
                on_day: 0,
            }),
        };
        assert_eq!(expected(&hurt, 0), 0.0);
        let difficult = Outlook {
            distance_km: Some(1.0),
            answer: Some(Answer {
                person: PersonalSafety::MinorInjury,
                attendance: Attendance::Difficult,
                from: AvailableFrom::Later,
                on_day: 0,
            }),
        };
        assert_eq!(expected(&difficult, 0), 0.5);
    }

    #[test]
    fn a_reports_when_counts_from_the_day_it_was_made() {
        let mut late = Outlook {
            distance_km: None,
            answer: able(AvailableFrom::Within1Day),
        };
        late.answer.as_mut().unwrap().on_day = 2;
        assert_eq!(expected(&late, 2), 0.0);
        assert_eq!(expected(&late, 3), 1.0);
    }
}
