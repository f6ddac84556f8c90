//! The world of one simulated disaster, drawn from a seed: agencies with
//! their offices and staff, the people they care for spread over the
//! city's districts, and when the mobile network, the landlines and each
//! office's link work. Nothing here knows anpi; the same world is played
//! by every strategy.

use anpi_core::model::CheckResult;
use fastrand::Rng;

use super::Config;

/// The city: districts (地区) on a 4 × 3 grid, one shelter in each.
pub const DISTRICTS: usize = 12;

/// Minutes from district `a` to district `b`: on foot or by bicycle
/// through a damaged town, a few minutes more for every district crossed.
pub fn travel(a: usize, b: usize) -> i64 {
    let (ax, ay) = (a % 4, a / 4);
    let (bx, by) = (b % 4, b / 4);
    10 + 12 * (ax.abs_diff(bx) + ay.abs_diff(by)) as i64
}

/// Minutes at a recipient's home for a visit.
pub const VISIT_MINUTES: i64 = 20;
/// Minutes of a telephone call.
pub const CALL_MINUTES: i64 = 5;
/// Minutes at a shelter, reading its list and meeting whoever is there.
pub const SHELTER_MINUTES: i64 = 20;
/// Hours a care manager works before going back to the office.
pub const SHIFT_HOURS: i64 = 12;
/// Hours off between shifts.
pub const REST_HOURS: i64 = 10;

/// A phone's battery, watt-hours (about 4,000 mAh).
pub const BATTERY_WH: f64 = 15.0;
/// A phone's draw on duty, watts: the screen on for the list and each
/// record, calls, and the radio searching while the network is down.
pub const DUTY_W: f64 = 0.45;
/// Off duty, watts (standby).
pub const STANDBY_W: f64 = 0.05;
/// Each sync session's radio energy, joules: waking the radio and its
/// tail after (a cellular radio's; Wi-Fi costs less).
pub const SESSION_J: f64 = 20.0;
/// Radio energy per megabyte sent or received, joules.
pub const MEGABYTE_J: f64 = 10.0;
/// Charging at the office (its generator), watts.
pub const CHARGE_W: f64 = 10.0;
/// Below this share of a charge the care manager goes back to the office
/// to charge, up to [`CHARGED`].
pub const LOW_BATTERY: f64 = 0.1;
/// What a charge at the office during a shift brings the battery up to.
pub const CHARGED: f64 = 0.8;

/// When something works: sorted, disjoint intervals of minutes since the
/// onset, [from, to).
#[derive(Clone, Debug, Default)]
pub struct Timeline(pub Vec<(i64, i64)>);

impl Timeline {
    /// Down from the onset until `first`, then up and down by turns.
    fn draw(rng: &mut Rng, end: i64, first: (i64, i64), up: (i64, i64), down: (i64, i64)) -> Self {
        let mut at = rng.i64(first.0..=first.1);
        let mut spans = Vec::new();
        while at < end {
            let until = at + rng.i64(up.0..=up.1);
            spans.push((at, until.min(end)));
            at = until + rng.i64(down.0..=down.1);
        }
        Timeline(spans)
    }

    /// Whether it works at minute `t`.
    pub fn up(&self, t: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= t && t < b)
    }

    /// Minutes it worked in [0, end).
    pub fn minutes_up(&self, end: i64) -> i64 {
        self.0.iter().map(|&(a, b)| b.min(end) - a.min(end)).sum()
    }
}

/// One person on the agencies' rosters.
#[derive(Clone, Debug)]
pub struct Person {
    /// The district they live in.
    pub district: usize,
    /// The agency whose care manager plans their care (and checks first).
    pub home: usize,
    /// A second agency that serves them too (visiting nursing, a helper
    /// service), with its own record of them.
    pub second: Option<usize>,
    /// How they are, as whoever reaches them will find.
    pub found: CheckResult,
    /// Gone to their district's shelter: not at home for a visit.
    pub evacuated: bool,
    /// They answer their landline when the lines work.
    pub answers: bool,
    /// Consent to share with partner agencies, recorded by the care manager.
    pub consented: bool,
    /// Their care record's draws (household, care level, oxygen, flood
    /// depth), which set anpi's priority.
    pub traits: u64,
}

/// One agency: its office and its staff.
#[derive(Clone, Debug)]
pub struct Agency {
    /// Its name (事業所名).
    pub name: String,
    /// The district its office is in.
    pub district: usize,
    /// Its staff, one phone each: minutes after the onset each can start.
    pub turnout: Vec<i64>,
    /// When the office's own link (its line to the outside) works.
    pub link: Timeline,
}

/// Everything one seed draws.
#[derive(Clone, Debug)]
pub struct World {
    /// The people, index = person number.
    pub persons: Vec<Person>,
    /// The agencies, the first of them the city hall's welfare section,
    /// which keeps the shared area space.
    pub agencies: Vec<Agency>,
    /// When the mobile network carries data.
    pub mobile: Timeline,
    /// When landline calls go through.
    pub landline: Timeline,
    /// The simulated span, minutes.
    pub minutes: i64,
    /// How far each phone's clock runs ahead, in milliseconds (negative:
    /// behind; offices' clocks are right).
    pub clock_skew: Vec<i64>,
    /// Each phone's charge at the onset, a share of a full battery (the
    /// quake comes at any hour; homes have no power after it).
    pub charge: Vec<f64>,
    /// Share of sync sessions whose link drops mid-way.
    pub cut_sessions: f64,
    /// Share of sync sessions in which a device dies mid-way.
    pub killed_sessions: f64,
    /// Share of sync sessions in which a message arrives twice, late.
    pub replayed_sessions: f64,
}

const AGENCY_NAMES: [&str; 12] = [
    "市役所 福祉課",
    "ひまわり居宅介護支援",
    "さくら訪問看護",
    "あおば居宅介護支援",
    "けやき訪問介護",
    "みどり訪問看護",
    "つばき居宅介護支援",
    "かえで訪問介護",
    "すみれ居宅介護支援",
    "もみじ訪問看護",
    "なでしこ訪問介護",
    "はまなす居宅介護支援",
];

impl World {
    /// The world of `seed` for `config`.
    pub fn draw(config: &Config, seed: u64) -> World {
        let mut rng = Rng::with_seed(seed);
        let minutes = config.hours * 60;
        let agencies: Vec<Agency> = (0..config.agencies)
            .map(|a| {
                let name = AGENCY_NAMES
                    .get(a)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| format!("事業所{a}"));
                let turnout = (0..config.phones)
                    .map(|_| match rng.u32(0..100) {
                        // Most come in within the hour; some after
                        // seeing to their own families; a few, hurt or cut
                        // off, on the second day.
                        0..60 => rng.i64(0..=60),
                        60..90 => rng.i64(120..=480),
                        _ => rng.i64(720..=1800),
                    })
                    .collect();
                Agency {
                    name,
                    district: rng.usize(0..DISTRICTS),
                    turnout,
                    // Offices have a generator; their line comes back
                    // within hours and drops now and then.
                    link: Timeline::draw(&mut rng, minutes, (120, 720), (120, 360), (30, 120)),
                }
            })
            .collect();
        let mobile = Timeline::draw(&mut rng, minutes, (480, 1800), (40, 120), (60, 240));
        let landline = Timeline::draw(&mut rng, minutes, (720, 2400), (180, 480), (60, 180));
        let persons = (0..config.recipients)
            .map(|_| {
                let home = rng.usize(0..config.agencies);
                let second = (config.agencies > 1 && rng.f64() < config.overlap).then(|| {
                    let other = rng.usize(1..config.agencies);
                    (home + other) % config.agencies
                });
                let (found, evacuated) = match rng.u32(0..100) {
                    0..60 => (CheckResult::Safe, false),
                    60..78 => (CheckResult::SafeNeedsSupport, false),
                    78..83 => (CheckResult::Injured, false),
                    83..89 => (CheckResult::NeedsEvacuation, false),
                    89..92 => (CheckResult::Hospitalized, false),
                    _ => (CheckResult::Evacuated, true),
                };
                Person {
                    district: rng.usize(0..DISTRICTS),
                    home,
                    second,
                    found,
                    evacuated,
                    answers: rng.f64() < 0.6,
                    consented: rng.f64() < config.consent,
                    traits: rng.u64(..),
                }
            })
            .collect();
        // Drawn apart, so that a world with wrong clocks is otherwise the
        // same world.
        let mut clocks = Rng::with_seed(seed ^ 0xc10c_c10c);
        let clock_skew = (0..config.agencies * config.phones)
            .map(|_| {
                if clocks.f64() >= config.wrong_clocks {
                    return 0;
                }
                // Each wrong its own way: minutes to hours, days, a year.
                let minutes: i64 = match clocks.u32(0..4) {
                    0 => clocks.i64(-6 * 60..-10),
                    1 => clocks.i64(10..6 * 60),
                    2 => -clocks.i64(300..400) * 24 * 60,
                    _ => clocks.i64(1..30) * 24 * 60,
                };
                minutes * 60_000
            })
            .collect();
        // Drawn apart too: the same world with the batteries as they were.
        let mut batteries = Rng::with_seed(seed ^ 0xba77_e2e5);
        let charge = (0..config.agencies * config.phones)
            .map(|_| 0.2 + 0.8 * batteries.f64())
            .collect();
        World {
            persons,
            charge,
            agencies,
            mobile,
            landline,
            minutes,
            clock_skew,
            cut_sessions: config.cut_sessions,
            killed_sessions: config.killed_sessions,
            replayed_sessions: config.replayed_sessions,
        }
    }
}
