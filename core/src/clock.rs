//! Wrong clocks, made visible (issue 22). A phone whose battery ran flat
//! may wake up in another year; a PC may never have been set. Nothing in
//! anpi orders records by a clock where causality decides (a duplicate is
//! what a device did not know, never what came later by the clock), but
//! people read the times: "checked at 10:05" must mean 10:05.
//!
//! Every session's first messages carry the sender's clock, so each side
//! learns how far the other's is from its own. One peer cannot say which
//! of the two is wrong; the peers of the latest sessions together can: a
//! device whose clock differs from most of them by more than
//! [`TOLERANCE_SECS`] is told so, and the checks it records meanwhile carry
//! the difference, so that every device shows them at the corrected time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codes::Lang;
use crate::model::{Check, DeviceId, Timestamp};

/// How far a clock may be off before anyone is told: phones keep time to
/// seconds when they have had network time, and a check's time is read to
/// the minute.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// How many of the latest peers' clocks judge this device's.
pub const PEERS_CONSIDERED: usize = 3;

/// One peer's clock as this device last measured it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerClock {
    /// The peer's clock minus this device's, in milliseconds.
    pub ahead_ms: i64,
    /// When, by this device's clock.
    pub at: Timestamp,
    /// The how-manieth measurement of this device: the latest are the
    /// highest (a device's own clock cannot say which came last when it
    /// jumped).
    pub n: u64,
}

impl PeerClock {
    /// Whether this peer's clock differed from this device's by more than
    /// [`TOLERANCE_SECS`] when last measured.
    pub fn is_off(&self) -> bool {
        (self.ahead_ms / 1000).abs() > TOLERANCE_SECS
    }
}

/// This device's clock as its latest peers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStatus {
    /// This device's clock minus its peers' (the middle of the latest
    /// [`PEERS_CONSIDERED`]), in seconds: positive when it runs ahead.
    pub ahead_secs: i64,
    /// How many peers that is from.
    pub peers: usize,
    /// Whether those peers' clocks agree with each other (to the
    /// tolerance). When they do not, some of them are wrong too, and
    /// nobody is told anything: a device is told its clock is off only
    /// when every one of its latest peers says so alike.
    pub agreed: bool,
}

/// What the latest peers' clocks say of this device's; `None` before any
/// peer told its clock.
pub fn status(book: &BTreeMap<DeviceId, PeerClock>) -> Option<ClockStatus> {
    let mut latest: Vec<&PeerClock> = book.values().collect();
    latest.sort_by_key(|p| std::cmp::Reverse(p.n));
    latest.truncate(PEERS_CONSIDERED);
    if latest.is_empty() {
        return None;
    }
    let mut ahead: Vec<i64> = latest.iter().map(|p| p.ahead_ms).collect();
    ahead.sort_unstable();
    // The middle one; of two middle ones, the nearer this device's own
    // clock.
    let mid = ahead.len() / 2;
    let middle = if ahead.len() % 2 == 1 {
        ahead[mid]
    } else if ahead[mid - 1].abs() <= ahead[mid].abs() {
        ahead[mid - 1]
    } else {
        ahead[mid]
    };
    Some(ClockStatus {
        // To the nearest second: a truncated one shows a check a second
        // early, in the minute before.
        ahead_secs: -(middle as f64 / 1000.0).round() as i64,
        peers: latest.len(),
        agreed: ahead[ahead.len() - 1] - ahead[0] <= TOLERANCE_SECS * 1000,
    })
}

impl ClockStatus {
    /// Whether this device's clock is off by more than [`TOLERANCE_SECS`].
    pub fn is_off(&self) -> bool {
        self.agreed && self.ahead_secs.abs() > TOLERANCE_SECS
    }

    /// What to tell the person when the clock is off; `None` when it is
    /// not.
    pub fn warning(&self, lang: Lang) -> Option<String> {
        if !self.is_off() {
            return None;
        }
        let by = approx(self.ahead_secs, lang);
        Some(match (lang, self.ahead_secs > 0) {
            (Lang::Ja, ahead) => format!(
                "この端末の時計が{by}{}います（最近同期した端末{}台と比べて）。端末の日付と時刻を合わせてください。合わせるまでに記録した時刻は、ずれを補正して表示します。",
                if ahead { "進んで" } else { "遅れて" },
                self.peers
            ),
            (Lang::En, ahead) => format!(
                "This device's clock is {by} {} (compared with the {} devices it synced with last). Set its date and time; the times of what it records until then are shown corrected.",
                if ahead { "fast" } else { "slow" },
                self.peers
            ),
        })
    }
}

/// A duration in the words a person reads it in: "約3時間", "about 3
/// hours". The sign is dropped.
pub fn approx(secs: i64, lang: Lang) -> String {
    let s = secs.unsigned_abs();
    let (n, ja, en) = match s {
        s if s < 3600 => (s.div_ceil(60), "分", "minutes"),
        s if s < 2 * 86_400 => ((s + 1800) / 3600, "時間", "hours"),
        s if s < 60 * 86_400 => ((s + 43_200) / 86_400, "日", "days"),
        s if s < 330 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "か月", "months"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "年", "years"),
    };
    match lang {
        Lang::Ja => format!("約{n}{ja}"),
        Lang::En => format!("about {n} {en}"),
    }
}

/// What is said beside a time shown corrected: the recording device's
/// clock was `ahead_secs` off.
pub fn correction_note(ahead_secs: i64, lang: Lang) -> String {
    let by = approx(ahead_secs, lang);
    match (lang, ahead_secs > 0) {
        (Lang::Ja, true) => format!("端末の時計が{by}進んでいたため補正"),
        (Lang::Ja, false) => format!("端末の時計が{by}遅れていたため補正"),
        (Lang::En, true) => format!("corrected: the device's clock was {by} fast"),
        (Lang::En, false) => format!("corrected: the device's clock was {by} slow"),
    }
}

/// A peer's clock as a person reads it beside the peer: "合っています",
/// or how far it is off from this device's, when beyond the tolerance.
pub fn peer_label(peer: &PeerClock, lang: Lang) -> String {
    let secs = peer.ahead_ms / 1000;
    if secs.abs() <= TOLERANCE_SECS {
        return match lang {
            Lang::Ja => "合っています".into(),
            Lang::En => "right".into(),
        };
    }
    let by = approx(secs, lang);
    match (lang, secs > 0) {
        (Lang::Ja, true) => format!("{by}進んでいます"),
        (Lang::Ja, false) => format!("{by}遅れています"),
        (Lang::En, true) => format!("{by} fast"),
        (Lang::En, false) => format!("{by} slow"),
    }
}

/// What an office is told when the clocks of some of its devices are off
/// against its own (`off`: each device's name and clock, as
/// [`crate::node::Node::members_with_clocks_off`] gives them); `None` when
/// none is.
pub fn devices_off_notice(off: &[(String, PeerClock)], lang: Lang) -> Option<String> {
    if off.is_empty() {
        return None;
    }
    let each: Vec<String> = off
        .iter()
        .map(|(name, clock)| match lang {
            Lang::Ja => format!("{name}（{}）", peer_label(clock, lang)),
            Lang::En => format!("{name} ({})", peer_label(clock, lang)),
        })
        .collect();
    Some(match lang {
        Lang::Ja => format!(
            "時計が5分以上ずれている端末が{}台あります: {}。その端末が記録した時刻は補正して表示します。端末の日付と時刻を合わせるよう伝えてください。",
            off.len(),
            each.join("、")
        ),
        Lang::En => format!(
            "{} of the devices have clocks more than 5 minutes off: {}. What they record is shown at corrected times; ask them to set their date and time.",
            off.len(),
            each.join(", ")
        ),
    })
}

/// What is said beside a check's time when it is shown corrected
/// ([`Check::shown_at`]); `None` when its device's clock was right.
pub fn check_note(check: &Check, lang: Lang) -> Option<String> {
    check.clock_ahead_secs.map(|s| correction_note(s, lang))
}

/// A check's time as people read it, with the note when corrected: what
/// every host prints.
pub fn check_time(check: &Check, lang: Lang) -> String {
    check_time_as(check, lang, check.shown_at().to_string())
}

/// [`check_time`] with the time written as the host writes times (`time`:
/// [`Check::shown_at`] in its format).
pub fn check_time_as(check: &Check, lang: Lang, time: String) -> String {
    match check_note(check, lang) {
        Some(note) => match lang {
            Lang::Ja => format!("{time}（{note}）"),
            Lang::En => format!("{time} ({note})"),
        },
        None => time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(aheads: &[(u64, i64)]) -> BTreeMap<DeviceId, PeerClock> {
        aheads
            .iter()
            .map(|&(n, ahead_ms)| {
                (
                    DeviceId(format!("{n:032x}")),
                    PeerClock {
                        ahead_ms,
                        at: Timestamp::from_millis(0),
                        n,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_latest_peers_judge_and_one_wrong_peer_does_not() {
        assert_eq!(status(&BTreeMap::new()), None);
        // Three hours behind every peer.
        let h3 = 3 * 3600 * 1000;
        let s = status(&book(&[(1, h3), (2, h3 + 2000), (3, h3 - 1000)])).unwrap();
        assert_eq!((s.ahead_secs, s.peers), (-10_800, 3));
        assert!(s.is_off());
        assert!(s.warning(Lang::Ja).unwrap().contains("約3時間遅れて"));
        // One peer whose own clock reset a year back: the peers disagree,
        // and nobody is told.
        let s = status(&book(&[(1, 0), (2, -365 * 86_400_000), (3, 1500)])).unwrap();
        assert!(!s.is_off() && !s.agreed, "{s:?}");
        // Two wrong peers of three (each its own way) tell nothing either.
        let s = status(&book(&[(1, -h3), (2, -2 * h3), (3, 0)])).unwrap();
        assert!(!s.is_off(), "{s:?}");
        assert_eq!(s.warning(Lang::Ja), None);
        // After the clock was set, the latest sessions say so, whatever
        // older ones measured.
        let s = status(&book(&[(1, h3), (2, h3), (3, 0), (4, 200), (5, -100)])).unwrap();
        assert!(!s.is_off(), "{s:?}");
        // Of two peers that disagree, neither outvotes this device.
        let s = status(&book(&[(1, 0), (2, h3)])).unwrap();
        assert_eq!(s.ahead_secs, 0);
        let s = status(&book(&[(1, h3 + 1000), (2, h3)])).unwrap();
        assert_eq!(s.ahead_secs, -10_800);
        // Five minutes is within; six is not.
        assert!(!status(&book(&[(1, 300_000)])).unwrap().is_off());
        assert!(status(&book(&[(1, -360_000)])).unwrap().is_off());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(approx(-6 * 60, Lang::Ja), "約6分");
        assert_eq!(approx(3 * 3600 + 100, Lang::Ja), "約3時間");
        assert_eq!(approx(3 * 86_400, Lang::En), "about 3 days");
        assert_eq!(approx(365 * 86_400, Lang::Ja), "約1年");
        assert_eq!(
            correction_note(-3 * 3600, Lang::Ja),
            "端末の時計が約3時間遅れていたため補正"
        );
    }
}
