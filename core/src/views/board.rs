//! The office's situation board and list: the priority list narrowed as the
//! office asks (by care manager, area, standing, high priority, duplicates,
//! a search), the work broken down by care manager or area, and progress
//! hour by hour. Pure functions over the list, like the rest of `views`;
//! every host that shows a board or a filtered list calls these.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{IncidentSummary, PriorityEntry, Standing};
use crate::model::{Check, Incident, RecipientId, Timestamp};
use crate::priority::PriorityConfig;

/// Whether a row is high priority: its score reaches the office's threshold.
pub fn is_high_priority(e: &PriorityEntry<'_>, config: &PriorityConfig) -> bool {
    e.score >= config.high_priority_from
}

/// What the office narrows the priority list to. An empty field matches
/// every row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListFilter {
    /// 担当ケアマネ, as written in the roster.
    pub care_manager: Option<String>,
    /// 地区, as written in the roster.
    pub area: Option<String>,
    /// Only rows standing so.
    pub standing: Option<Standing>,
    /// Only high-priority rows.
    pub high_only: bool,
    /// Only rows with a duplicate visit.
    pub duplicates_only: bool,
    /// Part of the 利用者ID, 氏名 or フリガナ: spaces, letter width and
    /// hiragana / katakana do not matter.
    pub query: String,
}

impl ListFilter {
    /// Whether nothing narrows the list.
    pub fn is_empty(&self) -> bool {
        *self == ListFilter::default()
    }

    /// The rows of `list` this filter keeps, in the list's order.
    pub fn apply<'l, 'a>(
        &self,
        list: &'l [PriorityEntry<'a>],
        config: &PriorityConfig,
    ) -> Vec<&'l PriorityEntry<'a>> {
        let query = searchable(&self.query);
        list.iter()
            .filter(|e| {
                let r = e.recipient;
                self.care_manager
                    .as_ref()
                    .is_none_or(|c| &r.care_manager == c)
                    && self.area.as_ref().is_none_or(|a| &r.area == a)
                    && self.standing.is_none_or(|s| e.standing == s)
                    && (!self.high_only || is_high_priority(e, config))
                    && (!self.duplicates_only || e.duplicate)
                    && (query.is_empty()
                        || searchable(&r.id.0).contains(&query)
                        || searchable(&r.name).contains(&query)
                        || searchable(&r.kana).contains(&query))
            })
            .collect()
    }
}

/// Text as the search compares it: no spaces, full-width letters and digits
/// as ASCII, lower case, hiragana as katakana (people type フリガナ either
/// way).
pub fn searchable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            // Full-width ASCII (！ to ～).
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            // Hiragana ぁ to ゖ, and ゝゞ, to katakana.
            '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            }
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// What the work is broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// 担当ケアマネ.
    CareManager,
    /// 地区.
    Area,
}

/// One care manager's or one area's share of the work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupProgress {
    /// The care manager or area, as in the roster (empty: not set there).
    pub name: String,
    /// Recipients.
    pub recipients: usize,
    /// Of them, whose safety is known or who need action now.
    pub reached: usize,
    /// Of them, not reached yet (never checked, or unreachable / absent).
    pub not_reached: usize,
    /// High-priority recipients.
    pub high: usize,
    /// Of them, reached.
    pub high_reached: usize,
    /// Recipients with a duplicate visit.
    pub duplicates: usize,
}

/// The list broken down by care manager or area, by name.
pub fn breakdown(
    list: &[PriorityEntry<'_>],
    by: GroupBy,
    config: &PriorityConfig,
) -> Vec<GroupProgress> {
    let mut groups: BTreeMap<&str, GroupProgress> = BTreeMap::new();
    for e in list {
        let name = match by {
            GroupBy::CareManager => e.recipient.care_manager.as_str(),
            GroupBy::Area => e.recipient.area.as_str(),
        };
        let g = groups.entry(name).or_insert_with(|| GroupProgress {
            name: name.to_string(),
            ..Default::default()
        });
        let reached = e.standing != Standing::NotReached;
        let high = is_high_priority(e, config);
        g.recipients += 1;
        g.reached += usize::from(reached);
        g.not_reached += usize::from(!reached);
        g.high += usize::from(high);
        g.high_reached += usize::from(high && reached);
        g.duplicates += usize::from(e.duplicate);
    }
    groups.into_values().collect()
}

/// One step of the progress chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgressStep {
    /// Hours since the incident started, at the step's end.
    pub hours: i64,
    /// Checks recorded during the step.
    pub checks: usize,
    /// High-priority recipients reached by the step's end, of all the
    /// high-priority recipients (0 when there are none).
    pub high_reached_share: f64,
}

/// Most steps the chart has: a long incident gets longer steps.
pub const MAX_PROGRESS_STEPS: i64 = 48;

/// Progress since the incident started, in steps of whole hours (one hour
/// for the first two days, longer later so that there are at most
/// [`MAX_PROGRESS_STEPS`]). A high-priority recipient counts as reached
/// from the first check that reached them, if the list says they are
/// reached now. Checks dated before the start (a wrong clock) count in the
/// first step; checks dated after `now` in the last.
pub fn progress(
    incident: &Incident,
    list: &[PriorityEntry<'_>],
    checks: &[Check],
    config: &PriorityConfig,
    now: Timestamp,
) -> Vec<ProgressStep> {
    let start = incident.started_at;
    let elapsed_hours = ((now.0 - start.0).num_minutes().max(0) + 59) / 60;
    let step = ((elapsed_hours.max(1) + MAX_PROGRESS_STEPS - 1) / MAX_PROGRESS_STEPS).max(1);
    let steps = ((elapsed_hours.max(1) + step - 1) / step).max(1);
    let index_of = |at: Timestamp| -> usize {
        let minutes = (at.0 - start.0).num_minutes().max(0);
        ((minutes / 60 / step).min(steps - 1)) as usize
    };
    let mut per_step = vec![0usize; steps as usize];
    let high: HashMap<&RecipientId, bool> = list
        .iter()
        .filter(|e| is_high_priority(e, config))
        .map(|e| (&e.recipient.id, e.standing != Standing::NotReached))
        .collect();
    let mut first_reach: HashMap<&RecipientId, Timestamp> = HashMap::new();
    for c in checks {
        per_step[index_of(c.shown_at())] += 1;
        if high.get(&c.recipient) == Some(&true)
            && (c.result.is_conclusive() || c.result.needs_action())
        {
            first_reach
                .entry(&c.recipient)
                .and_modify(|t| *t = (*t).min(c.shown_at()))
                .or_insert(c.shown_at());
        }
    }
    let mut reached_by_step = vec![0usize; steps as usize];
    for at in first_reach.values() {
        reached_by_step[index_of(*at)] += 1;
    }
    let mut reached = 0;
    (0..steps as usize)
        .map(|i| {
            reached += reached_by_step[i];
            ProgressStep {
                hours: (i as i64 + 1) * step,
                checks: per_step[i],
                high_reached_share: if high.is_empty() {
                    0.0
                } else {
                    reached as f64 / high.len() as f64
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CheckMethod, CheckResult, IncidentKind};
    use crate::model::{CheckId, DeviceId, IncidentId, Recipient, Staff};
    use crate::views::priority_list;

    fn recipient(id: &str, name: &str, kana: &str, cm: &str, area: &str) -> Recipient {
        Recipient {
            id: RecipientId(id.into()),
            name: name.into(),
            kana: kana.into(),
            care_manager: cm.into(),
            area: area.into(),
            ..Default::default()
        }
    }

    fn check(r: &str, result: CheckResult, at: Timestamp) -> Check {
        Check {
            id: CheckId::new(),
            recipient: RecipientId(r.into()),
            incident: IncidentId("i".into()),
            staff: Staff::default(),
            device: DeviceId("aa".repeat(16)),
            at,
            method: CheckMethod::Phone,
            result,
            note: String::new(),
            shelter: None,
            supersedes: None,
            known: Vec::new(),
            known_claims: Vec::new(),
            clock_ahead_secs: None,
        }
    }

    #[test]
    fn a_search_ignores_spaces_width_and_kana_kind_and_filters_combine() {
        let rs = vec![
            recipient("R001", "山田 ハル", "ヤマダ ハル", "佐藤", "北"),
            recipient("R002", "鈴木 一郎", "スズキ イチロウ", "佐藤", "南"),
            recipient("R103", "田中 花", "タナカ ハナ", "高橋", "北"),
        ];
        let config = PriorityConfig::default();
        let list = priority_list(&rs, None, &[], &[], &config, Timestamp::from_millis(0));
        let ids = |f: &ListFilter| -> Vec<String> {
            let mut v: Vec<String> = f
                .apply(&list, &config)
                .iter()
                .map(|e| e.recipient.id.0.clone())
                .collect();
            v.sort();
            v
        };
        let q = |s: &str| ListFilter {
            query: s.into(),
            ..Default::default()
        };
        assert_eq!(ids(&q("やまだは")), ["R001"], "hiragana finds katakana");
        assert_eq!(ids(&q("ｒ００")), ["R001", "R002"], "full width, any case");
        assert_eq!(ids(&q("鈴木一郎")), ["R002"], "spaces do not matter");
        assert_eq!(ids(&ListFilter::default()).len(), 3);
        let north_sato = ListFilter {
            care_manager: Some("佐藤".into()),
            area: Some("北".into()),
            ..Default::default()
        };
        assert_eq!(ids(&north_sato), ["R001"]);
        let settled = ListFilter {
            standing: Some(Standing::Settled),
            ..Default::default()
        };
        assert!(ids(&settled).is_empty());
    }

    #[test]
    fn the_breakdown_and_progress_count_what_the_list_says() {
        let rs = vec![
            recipient("R1", "a", "", "佐藤", "北"),
            recipient("R2", "b", "", "佐藤", "南"),
            recipient("R3", "c", "", "", "北"),
        ];
        let config = PriorityConfig {
            // Every recipient is high priority.
            high_priority_from: i64::MIN,
            ..Default::default()
        };
        let t0 = Timestamp::from_millis(0);
        let incident = Incident {
            id: IncidentId("i".into()),
            space: crate::model::SpaceId("s".into()),
            kind: IncidentKind::Earthquake,
            name: String::new(),
            started_at: t0,
            ended_at: None,
            round: 0,
        };
        let checks = vec![
            check("R1", CheckResult::Unreachable, t0.plus_minutes(30)),
            check("R1", CheckResult::Safe, t0.plus_minutes(150)),
            check("R2", CheckResult::Safe, t0.plus_minutes(-30)),
        ];
        let now = t0.plus_minutes(4 * 60);
        let list = priority_list(&rs, Some(&incident), &checks, &[], &config, now);
        let by_cm = breakdown(&list, GroupBy::CareManager, &config);
        assert_eq!(by_cm.len(), 2);
        assert_eq!(
            (
                by_cm[0].name.as_str(),
                by_cm[0].recipients,
                by_cm[0].not_reached
            ),
            ("", 1, 1),
            "no care manager in the roster is a group of its own"
        );
        assert_eq!(
            (by_cm[1].recipients, by_cm[1].reached, by_cm[1].high_reached),
            (2, 2, 2)
        );
        let steps = progress(&incident, &list, &checks, &config, now);
        assert_eq!(steps.len(), 4);
        assert_eq!(
            steps.iter().map(|s| s.checks).collect::<Vec<_>>(),
            [2, 0, 1, 0],
            "a check dated before the start counts in the first hour"
        );
        let shares: Vec<f64> = steps.iter().map(|s| s.high_reached_share).collect();
        assert_eq!(shares, [1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
        // A long incident is drawn in longer steps.
        let later = t0.plus_minutes(10 * 24 * 60);
        let long = progress(&incident, &list, &checks, &config, later);
        assert!(long.len() as i64 <= MAX_PROGRESS_STEPS, "{}", long.len());
        assert_eq!(long.iter().map(|s| s.checks).sum::<usize>(), 3);
    }
}

/// Everything the situation board shows of an incident at one moment: its
/// counters, progress, and the work by care manager and by area.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Board {
    /// The counters.
    pub summary: IncidentSummary,
    /// Progress hour by hour.
    pub progress: Vec<ProgressStep>,
    /// By 担当ケアマネ.
    pub by_care_manager: Vec<GroupProgress>,
    /// By 地区.
    pub by_area: Vec<GroupProgress>,
}

/// The board of `incident` from its priority list at `now`.
pub fn board(
    incident: &Incident,
    list: &[PriorityEntry<'_>],
    checks: &[Check],
    config: &PriorityConfig,
    now: Timestamp,
) -> Board {
    Board {
        summary: super::incident_summary(incident, list, checks.len(), config, now),
        progress: progress(incident, list, checks, config, now),
        by_care_manager: breakdown(list, GroupBy::CareManager, config),
        by_area: breakdown(list, GroupBy::Area, config),
    }
}
