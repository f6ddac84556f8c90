//! One run: a world played by one strategy on real anpi nodes, in memory,
//! on a simulated clock.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anpi_core::model::{
    CheckId, CheckMethod, CheckResult, ConsentRecord, Date, DeviceId, Household, IncidentId,
    IncidentKind, MedicalDevice, Recipient, RecipientId, Role, SpaceId, Staff, Timestamp,
};
use anpi_core::node::{NewCheck, Node, sync_local};
use anpi_core::store::MemoryStore;
use anpi_core::sync::{self, Message};
use anpi_core::views::{Standing, is_high_priority};

use fastrand::Rng;

use super::truth::{Bits, TrueCheck, duplicate_pairs};
use super::world::{self, World, travel};
use super::{Config, Helping, Outcome, Strategy};

/// The onset: 2026-09-01 05:46 JST.
const ONSET_MS: i64 = 1_788_209_160_000;
/// A person not reached (absent, no answer) is tried again after this.
const RETRY_MINUTES: i64 = 180;
/// Field work between two shelter stops.
const SHELTER_EVERY: i64 = 180;
/// How often phones and offices try their links.
const TICK_MINUTES: i64 = 30;
/// How often a care manager without anpi phones the office, when the
/// mobile network works (the phone tree), and what the call takes.
const PHONE_TREE_EVERY: i64 = 120;
const PHONE_TREE_MINUTES: i64 = 10;
/// Helping with others' people starts from a picture no older than this:
/// older, the care manager goes back to the office first.
const FRESH_PICTURE: i64 = 180;
/// Chance of finding nobody at home on a visit (out, asleep, next door).
const NOT_AT_HOME: f64 = 0.08;

fn ts(minutes: i64) -> Timestamp {
    Timestamp::from_millis(ONSET_MS + minutes * 60_000)
}

fn minutes_of(t: Timestamp) -> i64 {
    (t.millis() - ONSET_MS).div_euclid(60_000)
}

/// Where a phone can meet others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Office(usize),
    Shelter(usize),
}

/// What a care manager is doing when the event fires.
#[derive(Clone, Debug)]
enum Event {
    /// Free to decide what next.
    Ready(usize),
    /// Back at the office after a shift, going off duty.
    OffDuty(usize),
    /// A visit or call is over: record it.
    Done(usize, Box<Job>),
    /// At a place: meet who is there.
    Arrive(usize, Place),
    /// Links: phones to their office, offices to the area's keeper.
    Tick,
}

/// A visit or a call on its way.
#[derive(Clone, Debug)]
struct Job {
    record: (usize, RecipientId),
    person: usize,
    method: CheckMethod,
    result: CheckResult,
    /// The checks of the person (any record) the phone knew when deciding.
    knew: Vec<usize>,
    minutes: i64,
}

struct Phone {
    agency: usize,
    district: usize,
    on_duty: bool,
    shift_ends: i64,
    last_office: i64,
    last_shelter: i64,
    last_phone_tree: i64,
    sessions: usize,
    bytes: usize,
    battery: Battery,
}

/// A phone's battery (`world::BATTERY_WH` and the draws beside it).
#[derive(Clone, Debug)]
struct Battery {
    /// Watt-hours left.
    wh: f64,
    /// The minute `wh` is for (later than now while charging).
    at: i64,
    /// Since when it has been flat, if it is.
    flat_since: Option<i64>,
    /// Minutes it has been flat, over the run.
    flat_minutes: i64,
    /// Watt-hours used in all, and by the radio's sync sessions.
    used_wh: f64,
    radio_wh: f64,
    /// Trips back to the office to charge during a shift.
    charge_trips: usize,
}

impl Battery {
    fn new(charge: f64) -> Self {
        Battery {
            wh: charge * world::BATTERY_WH,
            at: 0,
            flat_since: None,
            flat_minutes: 0,
            used_wh: 0.0,
            radio_wh: 0.0,
            charge_trips: 0,
        }
    }

    /// Drawn at `watts` until minute `t`: what is left then; flat from
    /// when it ran out.
    fn drain(&mut self, watts: f64, t: i64) {
        if t <= self.at {
            return;
        }
        let hours = (t - self.at) as f64 / 60.0;
        let used = (watts * hours).min(self.wh);
        if self.flat_since.is_none() && watts * hours >= self.wh {
            self.flat_since = Some(self.at + (self.wh / watts * 60.0) as i64);
        }
        self.wh -= used;
        self.used_wh += used;
        self.at = t;
    }

    /// A sync session's radio energy, `bytes` moved.
    fn session(&mut self, bytes: usize) {
        let wh = (world::SESSION_J + bytes as f64 / 1e6 * world::MEGABYTE_J) / 3600.0;
        let used = wh.min(self.wh);
        self.wh -= used;
        self.used_wh += used;
        self.radio_wh += used;
    }

    /// Charged up to `share` of a full battery from minute `t`: ready at
    /// the minute returned.
    fn charge(&mut self, share: f64, t: i64) -> i64 {
        if let Some(since) = self.flat_since.take() {
            self.flat_minutes += t - since;
        }
        let want = share * world::BATTERY_WH - self.wh;
        let minutes = if want > 0.0 {
            (want / (world::CHARGE_W - world::DUTY_W) * 60.0).ceil() as i64
        } else {
            0
        };
        self.wh = self.wh.max(share * world::BATTERY_WH);
        self.at = t + minutes;
        t + minutes
    }

    fn flat(&self) -> bool {
        self.flat_since.is_some()
    }

    fn low(&self) -> bool {
        self.wh < world::LOW_BATTERY * world::BATTERY_WH
    }
}

/// Someone to go to.
struct Candidate {
    record: (usize, RecipientId),
    person: usize,
    high: bool,
    /// anpi's priority score (the list's order without the record ids,
    /// which differ between runs in an area space).
    score: i64,
    mine: bool,
}

struct Sim<'w> {
    world: &'w World,
    strategy: Strategy,
    rng: Rng,
    /// Offices first (device = agency number), then phones.
    nodes: Vec<Node>,
    phones: Vec<Phone>,
    spaces: Vec<SpaceId>,
    area: Option<usize>,
    incident: IncidentId,
    /// Every record, to its person.
    records: BTreeMap<(usize, RecipientId), usize>,
    /// Each person's records, and whose caseload they are in (phones).
    person_records: Vec<Vec<(usize, RecipientId)>>,
    caseload: Vec<BTreeSet<usize>>,
    high: Vec<bool>,
    /// What each device knows, per space; which spaces it holds.
    known: Vec<Vec<Bits>>,
    holds: Vec<Vec<usize>>,
    checks: Vec<TrueCheck>,
    by_record: BTreeMap<(usize, RecipientId), Vec<usize>>,
    by_id: BTreeMap<anpi_core::model::CheckId, usize>,
    /// When each check reached its person's own office.
    arrived: Vec<Option<i64>>,
    present: BTreeMap<Place, Vec<(usize, i64)>>,
    /// The roster each phone's list last read, per space.
    kept: BTreeMap<(usize, usize), anpi_core::node::KeptRecipients>,
    /// Events by (minute, sequence): the sequence keeps events of one
    /// minute in the order they were planned.
    queue: BTreeMap<(i64, u64), Event>,
    seq: u64,
    sessions: usize,
    /// The simulated clock every node reads (each phone off by its skew).
    now: Arc<AtomicI64>,
    /// Checks shown more than five minutes from when they were made.
    times_off: usize,
    /// Draws of the faults, apart from the world's and the staff's.
    fault_rng: Rng,
    cut_sessions: usize,
    killed: usize,
    replayed: usize,
    replay_errors: usize,
    /// The final rounds: no fault is injected.
    ending: bool,
    helping: Helping,

    faults: Vec<String>,
}

/// The clock a node reads: the simulated one, and from the onset (the
/// battery ran flat in the quake) `skew` milliseconds off.
fn clock(now: &Arc<AtomicI64>, skew: i64) -> anpi_core::node::Clock {
    let now = now.clone();
    Arc::new(move || {
        let t = now.load(Ordering::Relaxed);
        Timestamp::from_millis(if t >= ts(0).millis() { t + skew } else { t })
    })
}

/// Play `seed`'s world with `strategy`.
pub fn run(config: &Config, strategy: Strategy, seed: u64) -> anpi_core::Result<Outcome> {
    let world = World::draw(config, seed);
    let mut sim = Sim::prepare(&world, strategy, seed)?;
    sim.helping = config.helping;
    sim.play()?;
    sim.converge()?;
    Ok(sim.outcome())
}

fn phone_staff(world: &World, agency: usize, i: usize) -> Staff {
    Staff {
        name: format!("{}職員{}", &world.agencies[agency].name, i + 1),
        organisation: world.agencies[agency].name.clone(),
        id: None,
    }
}

/// A person's record on an agency's roster: what sets anpi's priority
/// comes from the person's draws, the rest is plausible filler.
fn record(world: &World, person: usize, id: RecipientId, care_manager: String) -> Recipient {
    let p = &world.persons[person];
    let bits = p.traits;
    let pick = |shift: u32, n: usize| ((bits >> shift) as usize) % n;
    let mut r = Recipient {
        id,
        name: format!("模擬 利用者{person}"),
        kana: format!("モギ リヨウシャ{person}"),
        address: format!("架空市{}丁目{}番", p.district + 1, person),
        area: format!("第{}地区", p.district + 1),
        phone: "0250-00-0000".into(),
        household: Some(
            [
                Household::Alone,
                Household::ElderlyOnly,
                Household::WithFamily,
                Household::AloneDaytime,
            ][pick(0, 4)],
        ),
        care_level: Some(
            anpi_core::model::CareLevel::ALL[pick(2, anpi_core::model::CareLevel::ALL.len())],
        ),
        care_manager,
        dementia: Some(pick(8, 5) == 0),
        bedridden: Some(pick(11, 8) == 0),
        check_method: "電話→訪問".into(),
        ..Default::default()
    };
    if pick(14, 12) == 0 {
        r.plan.medical_devices = vec![MedicalDevice::HomeOxygen];
    }
    r.plan.shelter = format!("第{}避難所", p.district + 1);
    r.hazards.flood_depth =
        Some(anpi_core::model::FloodDepth::ALL[pick(18, anpi_core::model::FloodDepth::ALL.len())]);
    if p.consented {
        r.consent = Some(true);
        r.consent_record = Some(ConsentRecord {
            date: Date::from_ymd(2026, 4, 1).expect("a date"),
            scope: "安否確認のため連携先へ".into(),
            obtained_by: "担当ケアマネ".into(),
        });
    }
    r
}

impl<'w> Sim<'w> {
    /// Before the disaster: each office with its roster, its phones
    /// enrolled and holding it; under [`Strategy::Shared`], the area space
    /// kept by the city hall with every office's consented people and
    /// every device a member. Then the onset: every device opens the
    /// incident on its own.
    fn prepare(world: &'w World, strategy: Strategy, seed: u64) -> anpi_core::Result<Self> {
        let agencies = world.agencies.len();
        let phones_per = world.agencies[0].turnout.len();
        let mut nodes = Vec::new();
        let mut spaces = Vec::new();
        // The day before: devices are enrolled with their clocks right.
        let now = Arc::new(AtomicI64::new(ts(-24 * 60).millis()));
        for a in &world.agencies {
            let mut office = Node::open(MemoryStore::new())?;
            office.set_clock(clock(&now, 0));
            office.set_staff(Staff {
                name: format!("{} 事務", a.name),
                organisation: a.name.clone(),
                id: None,
            })?;
            spaces.push(office.create_space(&a.name)?.id);
            nodes.push(office);
        }
        // Rosters: each agency's people, split among its care managers by
        // district, so that a caseload is a neighbourhood.
        let mut persons_of: Vec<Vec<usize>> = vec![Vec::new(); agencies];
        for (n, p) in world.persons.iter().enumerate() {
            persons_of[p.home].push(n);
            if let Some(s) = p.second {
                persons_of[s].push(n);
            }
        }
        let mut records = BTreeMap::new();
        let mut person_records = vec![Vec::new(); world.persons.len()];
        let mut caseload = vec![BTreeSet::new(); world.persons.len()];
        for (a, people) in persons_of.iter_mut().enumerate() {
            people.sort_by_key(|&n| (world.persons[n].district, n));
            let per = people.len().div_ceil(phones_per).max(1);
            let mut roster = Vec::new();
            for (k, &n) in people.iter().enumerate() {
                let phone = agencies + a * phones_per + k / per;
                let home = world.persons[n].home == a;
                let id = RecipientId(format!("{}{n:05}", if home { "R" } else { "V" }));
                let mut r = record(world, n, id.clone(), phone_staff(world, a, k / per).name);
                if !home {
                    // Consent is the care manager's to record.
                    r.consent = None;
                    r.consent_record = None;
                }
                roster.push(r);
                records.insert((a, id.clone()), n);
                person_records[n].push((a, id));
                caseload[n].insert(phone);
            }
            nodes[a].upsert_recipients(&spaces[a], roster)?;
        }
        let mut phones = Vec::new();
        for (a, agency) in world.agencies.iter().enumerate() {
            for i in 0..phones_per {
                let mut phone = Node::open(MemoryStore::new())?;
                phone.set_clock(clock(&now, world.clock_skew[a * phones_per + i]));
                phone.set_staff(phone_staff(world, a, i))?;
                let device = phone.device().clone();
                nodes[a].add_member(
                    &spaces[a],
                    &device,
                    phone.staff().clone(),
                    Role::CareManager,
                )?;
                sync_local(&mut phone, &mut nodes[a], std::slice::from_ref(&spaces[a]))?;
                nodes.push(phone);
                phones.push(Phone {
                    agency: a,
                    district: agency.district,
                    on_duty: false,
                    shift_ends: 0,
                    last_office: i64::MIN / 2,
                    last_shelter: 0,
                    last_phone_tree: i64::MIN / 2,
                    sessions: 0,
                    bytes: 0,
                    battery: Battery::new(world.charge[phones.len()]),
                });
            }
        }
        let mut holds: Vec<Vec<usize>> = (0..agencies)
            .map(|a| vec![a])
            .chain(phones.iter().map(|p| vec![p.agency]))
            .collect();
        let mut area = None;
        if strategy == Strategy::Shared {
            let id = nodes[0].create_area_space("架空市 連携エリア")?.id;
            let all: Vec<(DeviceId, Staff)> = nodes
                .iter()
                .skip(1)
                .map(|n| (n.device().clone(), n.staff().clone()))
                .collect();
            for (device, staff) in all {
                nodes[0].add_member(&id, &device, staff, Role::CareManager)?;
            }
            for (a, space) in spaces.iter().enumerate().skip(1) {
                let (keeper, office) = crate::pair(&mut nodes, 0, a);
                sync_local(office, keeper, std::slice::from_ref(&id))?;
                office.share_to_area(space, &id)?;
                sync_local(office, keeper, &[])?;
            }
            nodes[0].share_to_area(&spaces[0], &id)?;
            for a in 1..agencies {
                let (keeper, office) = crate::pair(&mut nodes, 0, a);
                sync_local(office, keeper, &[])?;
            }
            for (p, phone) in phones.iter().enumerate() {
                let a = phone.agency;
                let (office, phone) = crate::pair(&mut nodes, a, agencies + p);
                sync_local(phone, office, std::slice::from_ref(&id))?;
            }
            let s = agencies;
            for r in nodes[0].recipients(&id)? {
                let shared = r.recipient.id;
                let (origin, own) = shared
                    .as_str()
                    .split_once(':')
                    .expect("a shared id names its office");
                let a = spaces
                    .iter()
                    .position(|sp| sp.as_str().starts_with(origin))
                    .expect("the office it came from");
                let n = records[&(a, RecipientId(own.to_string()))];
                records.insert((s, shared.clone()), n);
                person_records[n].push((s, shared));
            }
            spaces.push(id);
            for h in &mut holds {
                h.push(s);
            }
            area = Some(s);
        }
        // The onset: everyone opens the incident where they are.
        let mut incident = None;
        for node in &mut nodes {
            let own: Vec<SpaceId> = node.spaces()?.into_iter().map(|s| s.id).collect();
            for space in own {
                let i =
                    node.start_incident(&space, IncidentKind::Earthquake, "架空市地震", ts(0))?;
                incident = Some(i.id);
            }
        }
        // High priority, as each office's own list ranks its people.
        let mut high = vec![false; world.persons.len()];
        for (a, space) in spaces.iter().enumerate().take(agencies) {
            let data = nodes[a].incident_data(space, incident.as_ref())?;
            for e in data.priority_list(ts(0)) {
                let n = records[&(a, e.recipient.id.clone())];
                if world.persons[n].home == a && is_high_priority(&e, &data.weights) {
                    high[n] = true;
                }
            }
        }
        let devices = nodes.len();
        let mut sim = Sim {
            world,
            strategy,
            rng: Rng::with_seed(seed ^ 0x5eed_f0da),
            nodes,
            phones,
            known: vec![vec![Bits::default(); spaces.len()]; devices],
            holds,
            spaces,
            area,
            incident: incident.expect("an incident"),
            records,
            person_records,
            caseload,
            high,
            checks: Vec::new(),
            by_record: BTreeMap::new(),
            by_id: BTreeMap::new(),
            arrived: Vec::new(),
            present: BTreeMap::new(),
            kept: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            sessions: 0,
            now,
            times_off: 0,
            fault_rng: Rng::with_seed(seed ^ 0xfa17_5eed),
            cut_sessions: 0,
            killed: 0,
            replayed: 0,
            replay_errors: 0,
            ending: false,
            helping: Helping::HighPriority,

            faults: Vec::new(),
        };
        for p in 0..sim.phones.len() {
            let a = sim.phones[p].agency;
            let i = p - a * phones_per;
            sim.at(world.agencies[a].turnout[i], Event::Ready(p));
        }
        sim.at(0, Event::Tick);
        Ok(sim)
    }

    fn at(&mut self, t: i64, e: Event) {
        self.seq += 1;
        self.queue.insert((t, self.seq), e);
    }

    fn device(&self, phone: usize) -> usize {
        self.world.agencies.len() + phone
    }

    /// Minute `t` by phone `p`'s clock.
    fn phone_now(&self, p: usize, t: i64) -> Timestamp {
        Timestamp::from_millis(ts(t).millis() + self.world.clock_skew[p])
    }

    /// How far device `d`'s clock runs ahead (offices' are right).
    fn skew_of(&self, d: usize) -> i64 {
        d.checked_sub(self.world.agencies.len())
            .map_or(0, |p| self.world.clock_skew[p])
    }

    /// A device that says its clock is off says by how much it truly is;
    /// and how many of the wrong clocks were told.
    fn clocks_measured(&mut self, out: &mut Outcome) -> anpi_core::Result<()> {
        let tolerance = anpi_core::clock::TOLERANCE_SECS * 1000;
        for d in 0..self.nodes.len() {
            let skew = self.skew_of(d);
            let status = self.nodes[d].clock_status()?;
            if let Some(s) = status.filter(|s| s.is_off())
                && (s.ahead_secs * 1000 - skew).abs() > 60_000
            {
                self.faults.push(format!(
                    "device {d} is told its clock is {} s ahead, it is {} s",
                    s.ahead_secs,
                    skew / 1000
                ));
            }
            if skew.abs() > tolerance {
                out.wrong_clocks += 1;
                out.wrong_clocks_told += usize::from(status.is_some_and(|s| s.is_off()));
            }
        }
        Ok(())
    }

    fn play(&mut self) -> anpi_core::Result<()> {
        while let Some(((t, _), e)) = self.queue.pop_first() {
            if t >= self.world.minutes {
                break;
            }
            self.now.store(ts(t).millis(), Ordering::Relaxed);
            match e {
                Event::Tick => {
                    self.tick(t)?;
                    self.at(t + TICK_MINUTES, Event::Tick);
                }
                Event::Ready(p) => self.ready(p, t)?,
                Event::OffDuty(p) => {
                    self.settle(p, t);
                    self.arrive(p, Place::Office(self.phones[p].agency), t)?;
                    self.phones[p].on_duty = false;
                    // Left on the office's charger before going home
                    // (homes have no power).
                    self.phones[p].battery.charge(1.0, t);
                    self.at(t + world::REST_HOURS * 60, Event::Ready(p));
                }
                Event::Done(p, job) => {
                    self.record(p, *job, t)?;
                    self.at(t, Event::Ready(p));
                }
                Event::Arrive(p, place) => {
                    // Plugged in first at the office when low: it syncs
                    // while it charges.
                    let ready = match place {
                        Place::Office(_) => self.charge_if_low(p, t),
                        Place::Shelter(_) => t + world::SHELTER_MINUTES,
                    };
                    self.arrive(p, place, t)?;
                    if let Place::Shelter(d) = place {
                        self.shelter_lists(p, d, t)?;
                    }
                    self.at(ready, Event::Ready(p));
                }
            }
        }
        Ok(())
    }

    /// Phones on duty sync with their office while the mobile network and
    /// the office's line both work; offices with the area's keeper.
    fn tick(&mut self, t: i64) -> anpi_core::Result<()> {
        if !self.strategy.syncs_remotely() {
            return Ok(());
        }
        let agencies = self.world.agencies.len();
        if self.world.mobile.up(t) {
            for p in 0..self.phones.len() {
                let a = self.phones[p].agency;
                if self.phones[p].on_duty && self.world.agencies[a].link.up(t) {
                    self.sync(a, self.device(p), t)?;
                }
            }
        }
        if self.area.is_some() && self.world.agencies[0].link.up(t) {
            for a in 1..agencies {
                if self.world.agencies[a].link.up(t) {
                    self.sync(0, a, t)?;
                }
            }
        }
        Ok(())
    }

    /// One sync session between two devices, and what it must have moved.
    fn sync(&mut self, a: usize, b: usize, t: i64) -> anpi_core::Result<()> {
        let agencies = self.world.agencies.len();
        for d in [a, b] {
            if d >= agencies {
                self.settle(d - agencies, t);
                // A flat phone is off: no session (the paper of `alone`
                // needs no battery).
                if !self.ending
                    && self.strategy.syncs_remotely()
                    && self.phones[d - agencies].battery.flat()
                {
                    return Ok(());
                }
            }
        }
        let cut = self.world.cut_sessions;
        if !self.ending && cut > 0.0 && self.fault_rng.f64() < cut {
            let delivered = self.fault_rng.usize(0..4);
            return self.sync_cut(a, b, delivered, t);
        }
        let kill = self.world.killed_sessions;
        if !self.ending && kill > 0.0 && self.fault_rng.f64() < kill {
            let delivered = self.fault_rng.usize(0..4);
            let victim = if self.fault_rng.f64() < 0.5 { a } else { b };
            self.sync_cut(a, b, delivered, t)?;
            self.cut_sessions -= 1;
            return self.kill(victim, t);
        }
        let replay = self.world.replayed_sessions;
        if !self.ending && replay > 0.0 && self.fault_rng.f64() < replay {
            let which = self.fault_rng.usize(0..4);
            return self.sync_replayed(a, b, which, t);
        }
        let (na, nb) = crate::pair(&mut self.nodes, a, b);
        let done = sync_local(na, nb, &[])?;
        if !done.failures.is_empty() {
            self.faults.push(format!(
                "t={t}: session {a}–{b} failed: {:?}",
                done.failures
            ));
            return Ok(());
        }
        self.sessions += 1;
        let refused = done.initiator.changes_refused + done.responder.changes_refused;
        if refused > 0 {
            // Why, as each device kept the refused changes aside.
            let mut why = BTreeSet::new();
            for d in [a, b] {
                for q in self.nodes[d].store().quarantined()? {
                    if let Some((_, reason)) = q.reason.split_once(": ") {
                        why.insert(reason.to_string());
                    }
                }
            }
            self.faults.push(format!(
                "t={t}: session {a}–{b}: {refused} changes refused ({})",
                why.into_iter().collect::<Vec<_>>().join("; ")
            ));
        }
        self.count_session(a, b, done.bytes());
        for s in self.shared_spaces(a, b) {
            let from_b = self.known[b][s].clone();
            let to_a = self.known[a][s].merge(&from_b);
            let from_a = self.known[a][s].clone();
            let to_b = self.known[b][s].merge(&from_a);
            self.learned(a, to_a, t);
            self.learned(b, to_b, t);
        }
        Ok(())
    }

    /// The spaces devices `a` and `b` both hold.
    fn shared_spaces(&self, a: usize, b: usize) -> Vec<usize> {
        self.holds[a]
            .iter()
            .copied()
            .filter(|s| self.holds[b].contains(s))
            .collect()
    }

    /// Device `d` learned checks `new` at `t`: an office of their person's
    /// own, that is when its picture got them.
    fn learned(&mut self, d: usize, new: Vec<usize>, t: i64) {
        if d >= self.world.agencies.len() {
            return;
        }
        for n in new {
            if self.world.persons[self.checks[n].person].home == d {
                self.arrived[n].get_or_insert(t);
            }
        }
    }

    /// A session whose link drops after `delivered` messages: the next is
    /// lost, and the rest. What each device holds after it is read from
    /// the devices — and must be no more than the two knew together.
    fn sync_cut(&mut self, a: usize, b: usize, delivered: usize, t: i64) -> anpi_core::Result<()> {
        self.cut_sessions += 1;
        let agencies = self.world.agencies.len();
        for d in [a, b] {
            if d >= agencies && self.strategy.syncs_remotely() {
                // The radio woke; what it moved before the drop is not
                // counted.
                self.phones[d - agencies].battery.session(0);
            }
        }
        {
            let (na, nb) = crate::pair(&mut self.nodes, a, b);
            let peer = nb.device().clone();
            let (mut sa, hello) = na.sync_start(Some(&peer), &[])?;
            let mut sb = nb.sync_accept();
            let mut next = Some((true, hello));
            for _ in 0..delivered {
                let Some((to_b, m)) = next.take() else { break };
                next = if to_b {
                    nb.sync_receive(&mut sb, m)?.map(|r| (false, r))
                } else {
                    na.sync_receive(&mut sa, m)?.map(|r| (true, r))
                };
            }
        }
        self.read_back(a, b, "a cut session", t)
    }

    /// A session of `a` and `b` that moved `bytes`, on the phones' counts
    /// and batteries.
    fn count_session(&mut self, a: usize, b: usize, bytes: usize) {
        let agencies = self.world.agencies.len();
        let radio = self.strategy.syncs_remotely();
        for d in [a, b] {
            if d >= agencies {
                let phone = &mut self.phones[d - agencies];
                phone.sessions += 1;
                phone.bytes += bytes;
                if radio {
                    phone.battery.session(bytes);
                }
            }
        }
    }

    /// After a session that may have moved only part of what it would
    /// have: what each of `a` and `b` holds is read from it — and must be
    /// no more than the two knew together.
    fn read_back(&mut self, a: usize, b: usize, what: &str, t: i64) -> anpi_core::Result<()> {
        for s in self.shared_spaces(a, b) {
            let mut together = self.known[a][s].clone();
            together.merge(&self.known[b][s]);
            for d in [a, b] {
                let mut now = Bits::default();
                for c in self.nodes[d].checks(&self.spaces[s], &self.incident)? {
                    match self.by_id.get(&c.id) {
                        Some(&n) if together.has(n) => now.set(n),
                        _ => self.faults.push(format!(
                            "t={t}: after {what} device {d} holds check {} neither knew",
                            c.id
                        )),
                    }
                }
                let new = self.known[d][s].merge(&now);
                self.learned(d, new, t);
            }
        }
        Ok(())
    }

    /// A session in which message `which` (0: the hello) arrives twice,
    /// the copy after the next message, or after the session ended when
    /// there was none. Each side answers whatever arrives; a copy that
    /// makes one side fail ends the session, as a dropped link does.
    /// Nothing may be refused, and what each holds after it is read from
    /// the devices.
    fn sync_replayed(&mut self, a: usize, b: usize, which: usize, t: i64) -> anpi_core::Result<()> {
        self.replayed += 1;
        let refused_before =
            self.nodes[a].store().quarantined()?.len() + self.nodes[b].store().quarantined()?.len();
        let mut moved = 0;
        let broken = {
            let (na, nb) = crate::pair(&mut self.nodes, a, b);
            let peer = nb.device().clone();
            let (mut sa, hello) = na.sync_start(Some(&peer), &[])?;
            let mut sb = nb.sync_accept();
            // In delivery order: (to b, message).
            let mut flight: VecDeque<(bool, Message)> = [(true, hello)].into();
            let mut copy = None;
            let mut delivered = 0;
            let mut broken = false;
            for _ in 0..64 {
                let next = match flight.pop_front() {
                    Some(m) => m,
                    // The session is over; a late copy may still come.
                    None => match copy.take() {
                        Some(m) => m,
                        None => break,
                    },
                };
                if delivered == which {
                    copy = Some(next.clone());
                }
                delivered += 1;
                let (to_b, m) = next;
                moved += sync::encoded_len(&m);
                let answer = if to_b {
                    nb.sync_receive(&mut sb, m)
                } else {
                    na.sync_receive(&mut sa, m)
                };
                match answer {
                    Ok(Some(r)) => flight.push_back((!to_b, r)),
                    Ok(None) => {}
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
                if delivered == which + 2
                    && let Some(c) = copy.take()
                {
                    flight.push_front(c);
                }
            }
            broken || !flight.is_empty()
        };
        if broken {
            self.replay_errors += 1;
        }
        let refused = self.nodes[a].store().quarantined()?.len()
            + self.nodes[b].store().quarantined()?.len()
            - refused_before;
        if refused > 0 {
            self.faults.push(format!(
                "t={t}: session {a}–{b} with a message twice: {refused} changes refused"
            ));
        }
        self.count_session(a, b, moved);
        self.read_back(a, b, "a session with a message twice", t)
    }

    /// Device `d` dies (its battery ran flat mid-session) and starts
    /// again from what it saved: everything it had acknowledged — every
    /// check it recorded or took from a peer — must still be there.
    fn kill(&mut self, d: usize, t: i64) -> anpi_core::Result<()> {
        self.killed += 1;
        let stand_in = Node::open(MemoryStore::new())?;
        let store = std::mem::replace(&mut self.nodes[d], stand_in).killed();
        let mut node = Node::reopen(store)?;
        let agencies = self.world.agencies.len();
        let skew = if d >= agencies {
            self.world.clock_skew[d - agencies]
        } else {
            0
        };
        node.set_clock(clock(&self.now, skew));
        self.nodes[d] = node;
        for &s in &self.holds[d] {
            let held: BTreeSet<CheckId> = self.nodes[d]
                .checks(&self.spaces[s], &self.incident)?
                .iter()
                .map(|c| c.id)
                .collect();
            let lost = self
                .by_id
                .iter()
                .filter(|&(id, &n)| self.known[d][s].has(n) && !held.contains(id))
                .count();
            if lost > 0 {
                self.faults.push(format!(
                    "t={t}: device {d} lost {lost} checks of space {s} when it died"
                ));
            }
        }
        Ok(())
    }

    /// A care manager arrives at a place: syncs with the office there, and
    /// with whoever is there too.
    fn arrive(&mut self, p: usize, place: Place, t: i64) -> anpi_core::Result<()> {
        let stay = match place {
            Place::Office(a) => {
                self.sync(a, self.device(p), t)?;
                self.phones[p].last_office = t;
                self.phones[p].district = self.world.agencies[a].district;
                t + 15
            }
            Place::Shelter(d) => {
                self.phones[p].last_shelter = t;
                self.phones[p].district = d;
                t + world::SHELTER_MINUTES
            }
        };
        let here: Vec<usize> = {
            let list = self.present.entry(place).or_default();
            list.retain(|&(_, until)| until >= t);
            list.iter().map(|&(q, _)| q).filter(|&q| q != p).collect()
        };
        if self.strategy.meets() {
            for q in here {
                if !self
                    .shared_spaces(self.device(p), self.device(q))
                    .is_empty()
                {
                    self.sync(self.device(p), self.device(q), t)?;
                }
            }
        }
        self.present.entry(place).or_default().push((p, stay));
        Ok(())
    }

    /// A care manager decides what to do next.
    fn ready(&mut self, p: usize, t: i64) -> anpi_core::Result<()> {
        let a = self.phones[p].agency;
        let office = self.world.agencies[a].district;
        self.settle(p, t);
        if !self.phones[p].on_duty {
            // A shift starts at the office.
            self.phones[p].on_duty = true;
            self.phones[p].shift_ends = t + world::SHIFT_HOURS * 60;
            self.phones[p].last_shelter = t;
            let ready = self.charge_if_low(p, t);
            self.arrive(p, Place::Office(a), t)?;
            if ready > t {
                self.at(ready, Event::Ready(p));
                return Ok(());
            }
        }
        if t >= self.phones[p].shift_ends {
            let back = travel(self.phones[p].district, office);
            self.at(t + back, Event::OffDuty(p));
            return Ok(());
        }
        // Without anpi: the phone tree, when the mobile network works.
        if self.strategy == Strategy::Alone
            && self.world.mobile.up(t)
            && t - self.phones[p].last_phone_tree >= PHONE_TREE_EVERY
        {
            self.phones[p].last_phone_tree = t;
            self.sync(a, self.device(p), t)?;
            self.at(t + PHONE_TREE_MINUTES, Event::Ready(p));
            return Ok(());
        }
        if self.phones[p].battery.low() {
            // Back to the office's charger (homes and most shelters have
            // no power).
            self.back_to_office(p, t);
            return Ok(());
        }
        let here = self.phones[p].district;
        if t - self.phones[p].last_shelter >= SHELTER_EVERY {
            self.at(t + 10, Event::Arrive(p, Place::Shelter(here)));
            return Ok(());
        }
        let candidates = self.candidates(p, t)?;
        // Their own people: high priority first, then the nearest, then
        // anpi's score.
        let key = |c: &Candidate| {
            (
                !c.high,
                travel(here, self.world.persons[c.person].district) / 25,
                Reverse(c.score),
                c.person,
            )
        };
        // Helping: high priority first, then the nearest; among equally
        // near, whoever (each helper its own pick: every phone shows the
        // same list, and helpers who all took its top would meet there).
        let help = |c: &Candidate| {
            (
                !c.high,
                travel(here, self.world.persons[c.person].district),
                (c.person as u64 ^ (p as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                    .wrapping_mul(0xff51_afd7_ed55_8ccd),
            )
        };
        let own = candidates.iter().filter(|c| c.mine).min_by_key(|c| key(c));
        let chosen = match own {
            Some(c) => Some(c),
            None if t - self.phones[p].last_office > FRESH_PICTURE => {
                // Own people done, as far as this phone knows: to the office
                // for the latest picture before helping others.
                self.back_to_office(p, t);
                return Ok(());
            }
            None => candidates
                .iter()
                .filter(|c| c.high || self.helping == Helping::Anyone)
                .min_by_key(|c| help(c)),
        };
        let Some(c) = chosen else {
            // Nobody left to go to, as far as this phone knows.
            if t - self.phones[p].last_office > 60 {
                self.back_to_office(p, t);
            } else {
                self.at(t + 60, Event::Ready(p));
            }
            return Ok(());
        };
        let person = &self.world.persons[c.person];
        let knew = self.knows_of(p, c.person);
        let (record, n) = (c.record.clone(), c.person);
        // A call first, when the lines work; nobody answering means a visit.
        let call = if self.world.landline.up(t) {
            world::CALL_MINUTES
        } else {
            0
        };
        if call > 0 && person.answers && !person.evacuated {
            let job = Job {
                record,
                person: n,
                method: CheckMethod::Phone,
                result: person.found,
                knew,
                minutes: call,
            };
            self.at(t + call, Event::Done(p, Box::new(job)));
            return Ok(());
        }
        let way = travel(here, person.district);
        if self.strategy == Strategy::Shared {
            let space = self.spaces[record.0].clone();
            let minutes = call + way + world::VISIT_MINUTES + 30;
            let d = self.device(p);
            let now = self.phone_now(p, t);
            self.nodes[d].claim(&space, &self.incident, &record.1, minutes, now)?;
        }
        let result = if person.evacuated || self.rng.f64() < NOT_AT_HOME {
            CheckResult::Absent
        } else {
            person.found
        };
        self.phones[p].district = person.district;
        let job = Job {
            record,
            person: n,
            method: CheckMethod::Visit,
            result,
            knew,
            minutes: call + way + world::VISIT_MINUTES,
        };
        self.at(
            t + call + way + world::VISIT_MINUTES,
            Event::Done(p, Box::new(job)),
        );
        Ok(())
    }

    /// The phone's battery drawn down to minute `t`, at its draw on duty
    /// or off.
    fn settle(&mut self, p: usize, t: i64) {
        let watts = if self.phones[p].on_duty {
            world::DUTY_W
        } else {
            world::STANDBY_W
        };
        self.phones[p].battery.drain(watts, t);
    }

    /// At the office at `t`: a phone on duty that is low is charged (to
    /// `world::CHARGED`) before its care manager goes out again. The
    /// minute they are ready.
    fn charge_if_low(&mut self, p: usize, t: i64) -> i64 {
        self.settle(p, t);
        let phone = &mut self.phones[p];
        if !phone.on_duty || !phone.battery.low() {
            return t;
        }
        phone.battery.charge_trips += 1;
        phone.battery.charge(world::CHARGED, t)
    }

    /// Go back to the office from where the care manager is.
    fn back_to_office(&mut self, p: usize, t: i64) {
        let a = self.phones[p].agency;
        let back = travel(self.phones[p].district, self.world.agencies[a].district);
        self.at(t + back, Event::Arrive(p, Place::Office(a)));
    }

    /// The checks of one record this phone holds (the truth).
    fn known_of(&self, p: usize, record: &(usize, RecipientId)) -> impl Iterator<Item = usize> {
        let known = &self.known[self.device(p)][record.0];
        self.by_record
            .get(record)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&n| known.has(n))
    }

    /// The checks of a person, on any record, this phone holds (the truth).
    fn knows_of(&self, p: usize, person: usize) -> Vec<usize> {
        self.person_records[person]
            .iter()
            .flat_map(|r| self.known_of(p, r))
            .collect()
    }

    /// Whom this phone's lists say is still to be checked: anpi's priority
    /// list of each space it holds, people nobody is known to have reached,
    /// not tried in the last hours, not claimed by someone else. Under the
    /// area space, a person shared there is worked on there only.
    fn candidates(&mut self, p: usize, t: i64) -> anpi_core::Result<Vec<Candidate>> {
        let d = self.device(p);
        let me = self.nodes[d].device().clone();
        let mut out = Vec::new();
        for &s in &self.holds[d] {
            // As a phone's list is read again: the roster only when it moved.
            let kept = self.kept.remove(&(d, s));
            let data = self.nodes[d].shown_incident_data_after(&self.spaces[s], kept)?;
            self.kept.insert((d, s), data.kept_recipients());
            for e in data.priority_list(self.phone_now(p, t)) {
                if e.standing != Standing::NotReached {
                    continue;
                }
                if e.latest
                    .is_some_and(|l| t - minutes_of(l.shown_at()) < RETRY_MINUTES)
                {
                    continue;
                }
                if e.live_claims.iter().any(|c| c.device != me) {
                    continue;
                }
                let record = (s, e.recipient.id.clone());
                let Some(&person) = self.records.get(&record) else {
                    continue;
                };
                if Some(s) != self.area
                    && self
                        .area
                        .is_some_and(|area| self.person_records[person].iter().any(|r| r.0 == area))
                {
                    continue;
                }
                out.push(Candidate {
                    high: self.high[person],
                    score: e.score,
                    mine: self.caseload[person].contains(&d),
                    record,
                    person,
                });
            }
        }
        Ok(out)
    }

    /// At a shelter: its list shows who from the district is there.
    fn shelter_lists(&mut self, p: usize, district: usize, t: i64) -> anpi_core::Result<()> {
        let found: Vec<Candidate> = self
            .candidates(p, t)?
            .into_iter()
            .filter(|c| {
                let person = &self.world.persons[c.person];
                person.evacuated && person.district == district
            })
            .take(8)
            .collect();
        for (k, c) in found.into_iter().enumerate() {
            let job = Job {
                knew: self.knows_of(p, c.person),
                record: c.record,
                person: c.person,
                method: CheckMethod::ShelterList,
                result: CheckResult::Evacuated,
                minutes: 2,
            };
            self.record(p, job, t + k as i64)?;
        }
        Ok(())
    }

    /// Record a check on the phone, and what really happened beside it.
    fn record(&mut self, p: usize, job: Job, t: i64) -> anpi_core::Result<()> {
        let d = self.device(p);
        let (s, rid) = job.record.clone();
        let at = self.phone_now(p, t);
        let check = self.nodes[d].record_check(
            &self.spaces[s],
            &self.incident,
            NewCheck {
                at,
                shelter: (job.method == CheckMethod::ShelterList)
                    .then(|| format!("第{}避難所", self.world.persons[job.person].district + 1)),
                ..NewCheck::new(rid.clone(), job.method, job.result)
            },
        )?;
        let n = self.checks.len();
        // Its time as every device shows it: off only while its phone's
        // wrong clock was not known, and never made wrong by a correction.
        let off = (check.shown_at().millis() - ts(t).millis()).abs();
        if off > anpi_core::clock::TOLERANCE_SECS * 1000 {
            self.times_off += 1;
        }
        if check.clock_ahead_secs.is_some() && off > 60_000 {
            self.faults.push(format!(
                "t={t}: phone {p}'s check is shown {} s from when it was made, corrected",
                off / 1000
            ));
        }
        // What the phone knew of this record: anpi's `known` must be it.
        let truth: BTreeSet<usize> = self.known_of(p, &job.record).collect();
        let said: BTreeSet<usize> = check
            .known
            .iter()
            .map(|id| self.by_id.get(id).copied().unwrap_or(usize::MAX))
            .collect();
        if truth != said {
            self.faults.push(format!(
                "t={t}: phone {p} knew {truth:?} of {rid} but its check says {said:?}"
            ));
        }
        // Effort spent twice: someone else had settled the person before,
        // and this phone did not know it when the visit was decided.
        let wasted = self.person_records[job.person].iter().any(|r| {
            self.by_record.get(r).is_some_and(|ns| {
                ns.iter().any(|&m| {
                    let other = &self.checks[m];
                    other.phone != p && other.conclusive && other.at < t && !job.knew.contains(&m)
                })
            })
        });
        self.checks.push(TrueCheck {
            record: (s, rid.as_str().to_string()),
            person: job.person,
            phone: p,
            at: t,
            conclusive: job.result.is_conclusive(),
            known: truth.into_iter().collect(),
            wasted,
            minutes: job.minutes,
        });
        self.arrived.push(None);
        self.by_record.entry(job.record).or_default().push(n);
        self.by_id.insert(check.id, n);
        self.known[d][s].set(n);
        Ok(())
    }

    /// After the span: every phone back at its office, the offices with the
    /// area's keeper twice in turn (an office met early takes from the
    /// keeper what a later one brought), twice around; then every device
    /// must show the same. Once in turn was not enough: a check a phone
    /// of the fifth office made late in the day never reached the first
    /// office's phones, which met their office before it had it.
    fn converge(&mut self) -> anpi_core::Result<()> {
        let agencies = self.world.agencies.len();
        let end = self.world.minutes;
        self.ending = true;
        self.now.store(ts(end).millis(), Ordering::Relaxed);
        for _ in 0..2 {
            for p in 0..self.phones.len() {
                self.sync(self.phones[p].agency, self.device(p), end)?;
            }
            if self.area.is_some() {
                for _ in 0..2 {
                    for a in 1..agencies {
                        self.sync(0, a, end)?;
                    }
                }
            }
        }
        for s in 0..self.spaces.len() {
            let want: BTreeSet<usize> = (0..self.checks.len())
                .filter(|&n| self.checks[n].record.0 == s)
                .collect();
            for d in 0..self.nodes.len() {
                if !self.holds[d].contains(&s) {
                    continue;
                }
                let got: BTreeSet<usize> = self.nodes[d]
                    .checks(&self.spaces[s], &self.incident)?
                    .iter()
                    .map(|c| self.by_id.get(&c.id).copied().unwrap_or(usize::MAX))
                    .collect();
                if got != want {
                    self.faults.push(format!(
                        "device {d} holds {} checks of space {s}, {} were recorded",
                        got.len(),
                        want.len()
                    ));
                }
            }
        }
        Ok(())
    }

    fn outcome(&mut self) -> Outcome {
        let mut out = Outcome {
            checks: self.checks.len(),
            sessions: self.sessions,
            ..Default::default()
        };
        for c in self.checks.iter().filter(|c| c.wasted) {
            out.duplicate_visits += 1;
            out.duplicate_hours += c.minutes as f64 / 60.0;
            let agency = self.phones[c.phone].agency;
            let others = self.checks.iter().any(|o| {
                o.person == c.person
                    && o.conclusive
                    && o.at < c.at
                    && self.phones[o.phone].agency != agency
            });
            if others {
                out.cross_agency += 1;
            }
            let person = &self.world.persons[c.person];
            if person.home != agency && person.second != Some(agency) {
                out.by_helpers += 1;
            }
        }
        // First conclusive check of each person.
        let mut first = vec![None::<i64>; self.world.persons.len()];
        for c in self.checks.iter().filter(|c| c.conclusive) {
            let f = &mut first[c.person];
            *f = Some(f.map_or(c.at, |x| x.min(c.at)));
        }
        let total = self.world.persons.len().max(1) as f64;
        for (k, h) in [6, 24, 72].into_iter().enumerate() {
            let by = (h * 60).min(self.world.minutes);
            out.checked_at[k] =
                first.iter().filter(|f| f.is_some_and(|x| x < by)).count() as f64 / total;
        }
        out.high_priority = self.high.iter().filter(|h| **h).count();
        let mut high: Vec<Option<i64>> = (0..first.len())
            .filter(|&n| self.high[n])
            .map(|n| first[n])
            .collect();
        high.sort_by_key(|f| f.unwrap_or(i64::MAX));
        let at95 = (high.len() * 95).div_ceil(100).max(1);
        out.high_priority_95 = high
            .get(at95 - 1)
            .copied()
            .flatten()
            .map(|m| m as f64 / 60.0);
        // Sorted with the unchecked last: the last is when all were, if all were.
        out.high_priority_done = high.last().map_or(Some(0), |f| *f).map(|m| m as f64 / 60.0);
        let phones = self.phones.len().max(1) as f64;
        out.bytes_per_phone = self.phones.iter().map(|p| p.bytes).sum::<usize>() as f64 / phones;
        out.sessions_per_phone =
            self.phones.iter().map(|p| p.sessions).sum::<usize>() as f64 / phones;
        let end = self.world.minutes;
        for p in 0..self.phones.len() {
            self.settle(p, end);
            let b = &self.phones[p].battery;
            let open = b.flat_since.map_or(0, |since| end - since);
            out.flat_hours += (b.flat_minutes + open) as f64 / 60.0;
            out.charge_trips += b.charge_trips;
        }
        let used: f64 = self.phones.iter().map(|p| p.battery.used_wh).sum();
        let radio: f64 = self.phones.iter().map(|p| p.battery.radio_wh).sum();
        out.radio_share = radio / used.max(f64::MIN_POSITIVE);
        let delays: Vec<f64> = self
            .checks
            .iter()
            .zip(&self.arrived)
            .filter_map(|(c, a)| a.map(|a| (a - c.at) as f64 / 60.0))
            .collect();
        out.office_delay = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        out.office_never = 1.0 - delays.len() as f64 / self.checks.len().max(1) as f64;
        // anpi's own duplicate view, on each space's keeper.
        for s in 0..self.spaces.len() {
            let keeper = if Some(s) == self.area { 0 } else { s };
            match self.nodes[keeper].checks(&self.spaces[s], &self.incident) {
                Ok(checks) => {
                    out.anpi_pairs += anpi_core::views::duplicates(&checks)
                        .iter()
                        .map(|d| d.pairs.len())
                        .sum::<usize>();
                }
                Err(e) => self.faults.push(format!("space {s}: {e}")),
            }
        }
        out.true_pairs = duplicate_pairs(&self.checks);
        if out.true_pairs != out.anpi_pairs {
            self.faults.push(format!(
                "anpi's duplicate view shows {} pairs, {} happened",
                out.anpi_pairs, out.true_pairs
            ));
        }
        out.times_off = self.times_off;
        out.cut_sessions = self.cut_sessions;
        out.killed = self.killed;
        out.replayed = self.replayed;
        out.replay_errors = self.replay_errors;
        if let Err(e) = self.clocks_measured(&mut out) {
            self.faults.push(format!("clocks: {e}"));
        }
        out.faults = std::mem::take(&mut self.faults);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phone at 10% on duty runs flat after 1.5 Wh / 0.45 W = 200
    /// minutes; charged at the office an hour later, it was flat for that
    /// hour and is at 80% once the charge is done.
    #[test]
    fn a_battery_runs_flat_and_is_charged() {
        let mut b = Battery::new(0.1);
        b.drain(world::DUTY_W, 120);
        assert!(!b.flat() && b.low());
        b.drain(world::DUTY_W, 260);
        assert_eq!(b.flat_since, Some(200));
        assert_eq!(b.wh, 0.0);
        let ready = b.charge(world::CHARGED, 260);
        assert!(!b.flat());
        assert_eq!(b.flat_minutes, 60);
        // 12 Wh at 10 W less the duty's 0.45 W: 76 minutes.
        assert_eq!(ready, 260 + 76);
        // Nothing drawn while it charges; the radio's share counted apart.
        b.drain(world::DUTY_W, 300);
        assert!((b.wh - 12.0).abs() < 1e-9);
        b.session(1_000_000);
        assert!((b.radio_wh - 30.0 / 3600.0).abs() < 1e-9);
    }
}
