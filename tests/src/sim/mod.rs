//! The disaster-day simulator: one seeded world of agencies, staff phones,
//! offices and the people they care for, played on a simulated clock by
//! real anpi nodes (the real sync engine, priority list and duplicate
//! view), once per strategy, with what really happened kept beside them
//! ([`truth`]) to measure the strategies and to check anpi against.
//!
//! The world and the staff's rules are in docs/SIMULATION.md.

pub mod report;
mod run;
pub mod truth;
pub mod world;

pub use run::run;

/// The size of the world.
#[derive(Clone, Debug)]
pub struct Config {
    /// Agencies, the first the city hall's welfare section.
    pub agencies: usize,
    /// Staff phones per agency.
    pub phones: usize,
    /// People on the rosters.
    pub recipients: usize,
    /// Simulated hours from the onset.
    pub hours: i64,
    /// Share of people served by a second agency too.
    pub overlap: f64,
    /// Share of people whose consent to share is recorded.
    pub consent: f64,
    /// Share of phones whose clock is wrong, by minutes to a year (a
    /// battery that ran flat): the fault run of docs/SIMULATION.md.
    pub wrong_clocks: f64,
    /// Share of sync sessions whose link drops mid-way (after the hello,
    /// or after its answer, or later): the rest of the session is lost.
    pub cut_sessions: f64,
    /// Share of sync sessions in which one of the two devices dies
    /// mid-way (a flat battery): the link drops, and the device starts
    /// again from what it had saved.
    pub killed_sessions: f64,
    /// Share of sync sessions in which one message arrives twice, the copy
    /// late — after the next message, or after the session ended — as a
    /// transport that resends and reorders would deliver it.
    pub replayed_sessions: f64,
    /// Whom care managers whose own people are done help with.
    pub helping: Helping,
}

/// Whom a care manager whose own people are done (as far as their phone
/// knows) goes to: the same rule in every way of working.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helping {
    /// The high-priority people on the phone's list only (the table's
    /// rule: helpers are few, and the 連携型BCP's help is for those most
    /// at risk).
    HighPriority,
    /// Anyone on the list (the rule until session 24: helpers of several
    /// agencies working one list met at the same doors).
    Anyone,
}

impl Config {
    /// The world of the headline table: six agencies of six care managers
    /// and 1,500 people over three days.
    pub fn standard() -> Self {
        Config {
            agencies: 6,
            phones: 6,
            recipients: 1_500,
            hours: 72,
            overlap: 0.2,
            consent: 0.8,
            wrong_clocks: 0.0,
            cut_sessions: 0.0,
            killed_sessions: 0.0,
            replayed_sessions: 0.0,
            helping: Helping::HighPriority,
        }
    }

    /// The scale of the benchmark: 10 agencies × 10 phones × 5,000 people
    /// × 72 hours.
    pub fn scale() -> Self {
        Config {
            agencies: 10,
            phones: 10,
            recipients: 5_000,
            ..Config::standard()
        }
    }

    /// A small world for the tests.
    pub fn small() -> Self {
        Config {
            agencies: 3,
            phones: 3,
            recipients: 150,
            hours: 48,
            ..Config::standard()
        }
    }
}

/// How the agencies work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    /// Each agency alone, on paper: staff hand in and read the office's
    /// picture at the office, and phone it in when the mobile network
    /// works (the phone tree).
    Alone,
    /// anpi, syncing only with the own office: at the office, or over the
    /// mobile network while the office's line works.
    OfficeOnly,
    /// anpi with phone-to-phone sync between an agency's phones that meet
    /// (at a shelter, at the office).
    PhoneToPhone,
    /// anpi with phone-to-phone sync, claims (向かっています), and a shared
    /// area space across agencies (連携型BCP, 支援代行).
    Shared,
}

impl Strategy {
    /// Every strategy, in the table's order.
    pub const ALL: [Strategy; 4] = [
        Strategy::Alone,
        Strategy::OfficeOnly,
        Strategy::PhoneToPhone,
        Strategy::Shared,
    ];

    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Alone => "各事業所単独（紙・電話連絡網） / each agency alone",
            Strategy::OfficeOnly => "anpi・事業所とだけ同期 / anpi, office sync only",
            Strategy::PhoneToPhone => "anpi・端末間同期 / anpi, phone-to-phone",
            Strategy::Shared => {
                "anpi・端末間同期＋向かっています＋連携エリア / anpi, phone-to-phone, claims, area space"
            }
        }
    }

    /// Its short name on the command line and in the chart.
    pub fn code(self) -> &'static str {
        match self {
            Strategy::Alone => "alone",
            Strategy::OfficeOnly => "office",
            Strategy::PhoneToPhone => "p2p",
            Strategy::Shared => "shared",
        }
    }

    fn syncs_remotely(self) -> bool {
        self != Strategy::Alone
    }

    fn meets(self) -> bool {
        matches!(self, Strategy::PhoneToPhone | Strategy::Shared)
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Checks recorded (visits, calls, shelter lists).
    pub checks: usize,
    /// Visits and calls made although someone else had already settled the
    /// person, unknown to the one who went (the simulator's truth).
    pub duplicate_visits: usize,
    /// Staff hours those took.
    pub duplicate_hours: f64,
    /// Of them, where the two were of different agencies.
    pub cross_agency: usize,
    /// Of them, made by a helper: a phone of an agency whose roster the
    /// person is not on.
    pub by_helpers: usize,
    /// Hours until every high-priority person had a conclusive check;
    /// `None` when some had none at the end.
    pub high_priority_done: Option<f64>,
    /// Hours until 95% of them had one.
    pub high_priority_95: Option<f64>,
    /// High-priority people.
    pub high_priority: usize,
    /// Share of people with a conclusive check at 6, 24 and 72 hours (or the
    /// run's end).
    pub checked_at: [f64; 3],
    /// Bytes sent and received per phone, mean.
    pub bytes_per_phone: f64,
    /// Sync sessions per phone, mean.
    pub sessions_per_phone: f64,
    /// Phone-hours the phones were flat (off: nothing synced), summed.
    pub flat_hours: f64,
    /// Trips back to the office to charge a phone during a shift.
    pub charge_trips: usize,
    /// Share of the phones' battery use that was the radio's for sync
    /// sessions (`world::SESSION_J`, `world::MEGABYTE_J`).
    pub radio_share: f64,
    /// Hours from a check to its person's own office knowing it, mean over
    /// the checks that reached it.
    pub office_delay: f64,
    /// Share of checks their person's own office never saw.
    pub office_never: f64,
    /// Duplicate pairs in anpi's own duplicate view, summed over every
    /// office's incident and the area space's.
    pub anpi_pairs: usize,
    /// The same pairs from what really happened.
    pub true_pairs: usize,
    /// Sync sessions run.
    pub sessions: usize,
    /// Phones whose clock was wrong, by more than five minutes.
    pub wrong_clocks: usize,
    /// Of them, told so by anpi at the end.
    pub wrong_clocks_told: usize,
    /// Checks whose time every device shows more than five minutes from
    /// when they were made: recorded by a wrong clock before its phone was
    /// told.
    pub times_off: usize,
    /// Sessions whose link dropped mid-way.
    pub cut_sessions: usize,
    /// Devices killed mid-session and started again.
    pub killed: usize,
    /// Sessions in which a message arrived twice, the copy late.
    pub replayed: usize,
    /// Of them, sessions a copy ended with an error (as a cut one ends).
    pub replay_errors: usize,
    /// Where anpi disagreed with what really happened (what a device
    /// knew, a view that differs between devices, a check missing): empty
    /// in a correct run.
    pub faults: Vec<String>,
}
