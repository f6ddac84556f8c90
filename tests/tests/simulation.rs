//! The disaster-day simulator on a small world and fixed seeds: every run
//! must end with every device showing every check of its spaces, each
//! check saying exactly what its phone knew, and anpi's duplicate view
//! counting exactly the duplicates that happened (docs/SIMULATION.md).

use anpi_tests::sim::{Config, Outcome, Strategy, run};

const SEEDS: [u64; 3] = [1, 2, 3];

fn sound(strategy: Strategy, seed: u64) -> Outcome {
    sound_in(&Config::small(), strategy, seed)
}

/// A run of `config` that ended as every run must (the module's header).
fn sound_in(config: &Config, strategy: Strategy, seed: u64) -> Outcome {
    let o = run(config, strategy, seed).expect("the run completes");
    assert!(
        o.checks > 50,
        "{strategy:?} seed {seed}: {} checks",
        o.checks
    );
    assert!(
        o.faults.is_empty(),
        "{strategy:?} seed {seed}: anpi disagreed with what happened: {:#?}",
        o.faults
    );
    assert_eq!(o.anpi_pairs, o.true_pairs, "{strategy:?} seed {seed}");
    o
}

/// [`sound_in`] for every way of working with anpi (office only,
/// phone-to-phone, area space) and every seed: the fault tests' runs.
fn sound_in_every_way(config: &Config) -> Vec<(Strategy, u64, Outcome)> {
    sound_in_every_way_for(config, &SEEDS)
}

/// [`sound_in_every_way`] for `seeds`.
fn sound_in_every_way_for(config: &Config, seeds: &[u64]) -> Vec<(Strategy, u64, Outcome)> {
    [
        Strategy::OfficeOnly,
        Strategy::PhoneToPhone,
        Strategy::Shared,
    ]
    .into_iter()
    .flat_map(|strategy| seeds.iter().map(move |seed| (strategy, *seed)))
    .map(|(strategy, seed)| (strategy, seed, sound_in(config, strategy, seed)))
    .collect()
}

#[test]
fn each_agency_alone_runs_sound() {
    for seed in SEEDS {
        sound(Strategy::Alone, seed);
    }
}

#[test]
fn office_sync_only_runs_sound() {
    for seed in SEEDS {
        sound(Strategy::OfficeOnly, seed);
    }
}

#[test]
fn phone_to_phone_runs_sound() {
    for seed in SEEDS {
        sound(Strategy::PhoneToPhone, seed);
    }
}

/// The area space across agencies, with claims: phones of different
/// offices meeting at shelters, checks relayed over several hops.
#[test]
fn shared_area_runs_sound() {
    for seed in SEEDS {
        sound(Strategy::Shared, seed);
    }
}

/// A third of the phones' clocks go wrong at the onset (minutes to a
/// year): no device is told a wrong error, a wrong
/// phone that syncs with its office is told, the checks it makes once
/// told are shown at the right time, and duplicates are still exactly
/// those that happened (decided by what a device knew, never by a clock).
/// (What the staff do may differ: until told, a wrong phone's list reads
/// battery deadlines and claims by its clock.)
#[test]
fn wrong_clocks_are_told_and_decide_nothing() {
    let config = Config {
        wrong_clocks: 0.34,
        ..Config::small()
    };
    for (strategy, seed, o) in sound_in_every_way(&config) {
        assert!(
            o.wrong_clocks > 0,
            "{strategy:?} seed {seed}: no wrong clock drawn"
        );
        if strategy == Strategy::OfficeOnly {
            // Their peers are their offices, whose clocks are right.
            assert_eq!(
                o.wrong_clocks_told, o.wrong_clocks,
                "{strategy:?} seed {seed}"
            );
        }
    }
}

/// In one session in ten a device dies mid-way (a flat battery) and starts
/// again from what it saved: it has lost no check it had recorded or
/// taken, and the rest holds as with links cut — with wrong clocks too.
#[test]
fn devices_killed_mid_session_lose_nothing() {
    let config = Config {
        killed_sessions: 0.1,
        wrong_clocks: 0.2,
        ..Config::small()
    };
    for (strategy, seed, o) in sound_in_every_way(&config) {
        assert!(
            o.killed > 3,
            "{strategy:?} seed {seed}: {} killed",
            o.killed
        );
    }
}

/// Three sessions in ten lose their link mid-way (after the hello, its
/// answer, or later): nothing a device holds comes from nowhere, every
/// check reaches every device in the final rounds, each check still says
/// exactly what its phone knew, and the duplicates are those that
/// happened.
#[test]
fn sessions_cut_mid_way_lose_nothing() {
    let config = Config {
        cut_sessions: 0.3,
        ..Config::small()
    };
    for (strategy, seed, o) in sound_in_every_way(&config) {
        assert!(
            o.cut_sessions > 10,
            "{strategy:?} seed {seed}: {} cut",
            o.cut_sessions
        );
    }
}

/// Every fault of the soak at once (`scripts/soak`: a third of the links
/// cut, a device dying in one session in ten, a message arriving twice,
/// late, in one in five, a third of the clocks wrong).
#[test]
fn every_fault_at_once_loses_nothing() {
    let config = Config {
        cut_sessions: 0.34,
        killed_sessions: 0.1,
        replayed_sessions: 0.2,
        wrong_clocks: 0.34,
        ..Config::small()
    };
    for (strategy, seed, o) in sound_in_every_way(&config) {
        assert!(
            o.cut_sessions > 10 && o.killed > 3 && o.replayed > 10 && o.wrong_clocks > 0,
            "{strategy:?} seed {seed}: {} cut, {} killed, {} replayed, {} wrong clocks",
            o.cut_sessions,
            o.killed,
            o.replayed,
            o.wrong_clocks
        );
    }
}

/// In a third of the sessions one message arrives twice, the copy after
/// the next message or after the session ended (a transport that resends
/// and reorders): a copy is answered or, a second hello, ends the session
/// as a dropped link does; nothing is refused, nothing comes from nowhere,
/// and every check reaches every device.
#[test]
fn messages_arriving_twice_and_late_lose_nothing() {
    let config = Config {
        replayed_sessions: 0.34,
        ..Config::small()
    };
    for (strategy, seed, o) in sound_in_every_way(&config) {
        assert!(
            o.replayed > 20 && o.replay_errors < o.replayed,
            "{strategy:?} seed {seed}: {} replayed, {} ended by it",
            o.replayed,
            o.replay_errors
        );
    }
}

/// The seeds the first soak found faults in (links cut and clocks wrong,
/// no device killed) stay sound: a phone's change before its latest was
/// set aside at the receiver, and what it had taken from the phone lost
/// its seal (seed 268 fails without the seal over the change before the
/// latest; docs/SIMULATION.md, "Findings").
#[test]
fn the_first_soaks_faults_stay_mended() {
    let config = Config {
        cut_sessions: 0.34,
        wrong_clocks: 0.34,
        ..Config::small()
    };
    sound_in_every_way_for(&config, &[268, 311, 455, 460, 485]);
}

/// The same in the standard world, seeds 1 and 2: relayed area-space changes
/// were refused as unsealed in half the runs until a relay sent the way up
/// to the seals it passes on (docs/SIMULATION.md, "Findings").
#[test]
fn shared_area_runs_sound_in_the_standard_world() {
    for seed in [1, 2] {
        let o = run(&Config::standard(), Strategy::Shared, seed).expect("the run completes");
        assert!(o.faults.is_empty(), "seed {seed}: {:#?}", o.faults);
    }
}

/// The phones' batteries: anpi's sync sessions use a small share of them
/// (paper uses none), and a phone run low goes back to its office to
/// charge in every way of working alike (seed 2 draws low batteries).
#[test]
fn the_radio_uses_a_small_share_of_the_batteries() {
    for strategy in Strategy::ALL {
        let o = sound(strategy, 2);
        if strategy == Strategy::Alone {
            assert_eq!(o.radio_share, 0.0);
        } else {
            assert!(
                o.radio_share > 0.001 && o.radio_share < 0.05,
                "{strategy:?}: {}",
                o.radio_share
            );
        }
        assert!(o.charge_trips > 0, "{strategy:?}");
    }
}

/// A seed is a world: played again, the same visits, calls and duplicates.
#[test]
fn a_seed_plays_the_same_twice() {
    let a = run(&Config::small(), Strategy::PhoneToPhone, 7).expect("the run completes");
    let b = run(&Config::small(), Strategy::PhoneToPhone, 7).expect("the run completes");
    assert_eq!(
        (a.checks, a.duplicate_visits, a.true_pairs, a.checked_at),
        (b.checks, b.duplicate_visits, b.true_pairs, b.checked_at)
    );
}
