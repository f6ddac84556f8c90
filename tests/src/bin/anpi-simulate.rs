//! `anpi-simulate`: the disaster-day simulator (docs/SIMULATION.md). Plays
//! each strategy over the same seeded worlds on real anpi nodes, prints
//! each run's figures, and writes the table and chart.

use std::path::PathBuf;
use std::time::Instant;

use anpi_tests::sim::report::{self, Runs};
use anpi_tests::sim::{self, Config, Helping, Strategy};
use clap::Parser;

#[derive(Parser)]
#[command(about = "災害当日のシミュレーション / the disaster day, simulated on real anpi nodes")]
struct Args {
    /// How many seeds (worlds), each played by every strategy.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first: u64,
    /// The world's size: standard (the table), scale (the benchmark:
    /// 10 agencies × 10 phones × 5,000 people × 72 h), small.
    #[arg(long, default_value = "standard")]
    world: String,
    /// Strategies to play (alone, office, p2p, shared); all by default.
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
    /// Write the table (NAME.md) and chart (NAME.svg) here, e.g.
    /// docs/simulation.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Share of phones whose clock goes wrong at the onset, by minutes to
    /// a year (the fault run; 0: every clock right).
    #[arg(long, default_value_t = 0.0)]
    wrong_clocks: f64,
    /// Share of sync sessions whose link drops mid-way (0: none).
    #[arg(long, default_value_t = 0.0)]
    cut_sessions: f64,
    /// Share of sync sessions in which a device dies mid-way and starts
    /// again from what it saved (0: none).
    #[arg(long, default_value_t = 0.0)]
    killed_sessions: f64,
    /// Whom care managers whose own people are done help with: high (the
    /// high-priority people on their list only) or anyone.
    #[arg(long, default_value = "high")]
    helpers: String,
    /// Share of sync sessions in which one message arrives twice, the copy
    /// late and out of order (0: none).
    #[arg(long, default_value_t = 0.0)]
    replayed_sessions: f64,
    /// Fail (exit status 1) if any run found a fault in anpi: the soak's
    /// and CI's way of running it.
    #[arg(long)]
    strict: bool,
    /// Runs played at once, each on its own thread (default: one per
    /// core). Every run is its own world: the figures do not change.
    #[arg(long)]
    jobs: Option<usize>,
    /// Print no table (a soak's thousand seeds need only the totals).
    #[arg(long)]
    no_table: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = match args.world.as_str() {
        "standard" => Config::standard(),
        "scale" => Config::scale(),
        "small" => Config::small(),
        other => {
            eprintln!("unknown world '{other}' (standard, scale, small)");
            return std::process::ExitCode::FAILURE;
        }
    };
    let strategies: Vec<Strategy> = Strategy::ALL
        .into_iter()
        .filter(|s| args.strategies.is_empty() || args.strategies.iter().any(|c| c == s.code()))
        .collect();
    let helping = match args.helpers.as_str() {
        "high" => Helping::HighPriority,
        "anyone" => Helping::Anyone,
        other => {
            eprintln!("unknown --helpers '{other}' (high, anyone)");
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = Config {
        helping,
        wrong_clocks: args.wrong_clocks,
        cut_sessions: args.cut_sessions,
        killed_sessions: args.killed_sessions,
        replayed_sessions: args.replayed_sessions,
        ..config
    };
    let seeds: Vec<u64> = (args.first..args.first + args.seeds).collect();
    let mut all: Vec<Runs> = strategies
        .iter()
        .map(|&strategy| Runs {
            strategy,
            outcomes: Vec::new(),
        })
        .collect();
    let started = Instant::now();
    let mut faults = 0;
    // What the runs did and had done to them, for the totals line.
    let (mut checks, mut sessions, mut cut, mut killed, mut wrong, mut told) = (0, 0, 0, 0, 0, 0);
    let mut replayed = 0;
    // Each run alone on a core: the longest way of working first, so that
    // the others fill the other cores meanwhile.
    let jobs: Vec<(u64, usize)> = seeds
        .iter()
        .flat_map(|&seed| (0..all.len()).rev().map(move |k| (seed, k)))
        .collect();
    let workers = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut done: Vec<Option<sim::Outcome>> = vec![None; jobs.len()];
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let failed = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            let tx = tx.clone();
            let (next, stop, jobs, config, strategies) =
                (&next, &stop, &jobs, &config, &strategies);
            scope.spawn(move || {
                use std::sync::atomic::Ordering::Relaxed;
                while !stop.load(Relaxed) {
                    let n = next.fetch_add(1, Relaxed);
                    let Some(&(seed, k)) = jobs.get(n) else { break };
                    let t = Instant::now();
                    let o = sim::run(config, strategies[k], seed);
                    if o.is_err() {
                        stop.store(true, Relaxed);
                    }
                    if tx.send((n, t.elapsed().as_secs_f64(), o)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (n, secs, o) in rx {
            let (seed, k) = jobs[n];
            let o = match o {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("seed {seed} {}: the run failed: {e}", strategies[k].code());
                    return true;
                }
            };
            print_run(seed, strategies[k], secs, &o);
            faults += usize::from(!o.faults.is_empty());
            checks += o.checks;
            sessions += o.sessions;
            cut += o.cut_sessions;
            killed += o.killed;
            replayed += o.replayed;
            wrong += o.wrong_clocks;
            told += o.wrong_clocks_told;
            done[n] = Some(o);
        }
        false
    });
    if failed {
        return std::process::ExitCode::FAILURE;
    }
    for ((_, k), o) in jobs.iter().zip(done) {
        all[*k].outcomes.extend(o);
    }
    eprintln!(
        "{} runs in {:.1} s; {faults} with faults",
        seeds.len() * all.len(),
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "totals: {checks} checks recorded, {sessions} sync sessions, {cut} cut mid-way, {killed} devices killed mid-session, {replayed} with a message twice, {wrong} wrong clocks ({told} told)"
    );
    if args.no_table {
        return exit(args.strict, faults);
    }
    let command = format!(
        "cargo run --release -p anpi-tests --bin anpi-simulate -- --world {} --seeds {} --first {}{}{}",
        args.world,
        args.seeds,
        args.first,
        if helping == Helping::Anyone {
            " --helpers anyone"
        } else {
            ""
        },
        args.out
            .as_ref()
            .map(|o| format!(" --out {}", o.display()))
            .unwrap_or_default()
    );
    let md = report::table(&config, &seeds, &command, &all);
    println!("{md}");
    if let Some(out) = &args.out {
        let write = |ext: &str, text: &str| {
            let path = out.with_extension(ext);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        if let Err(e) = write("md", &md).and_then(|_| write("svg", &report::chart(&all))) {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    exit(args.strict, faults)
}

/// One run's figures, as it ends.
fn print_run(seed: u64, strategy: Strategy, secs: f64, o: &sim::Outcome) {
    eprintln!(
        "seed {seed} {:7} {secs:6.1} s: duplicates {:4} ({:.0} h), 95% high priority at {}, checked at 24 h {:.0}%, {} KB/phone, faults {}",
        strategy.code(),
        o.duplicate_visits,
        o.duplicate_hours,
        o.high_priority_95
            .map_or("—".into(), |h| format!("{h:.1} h")),
        o.checked_at[1] * 100.0,
        (o.bytes_per_phone / 1000.0).round(),
        o.faults.len()
    );
    eprintln!(
        "    duplicates across agencies {}, by helpers {}",
        o.cross_agency, o.by_helpers
    );
    eprintln!(
        "    battery: radio {:.1}% of use, {} trips back to charge, {:.1} phone-hours flat",
        o.radio_share * 100.0,
        o.charge_trips,
        o.flat_hours
    );
    if o.wrong_clocks > 0 {
        eprintln!(
            "    wrong clocks {}, told {}; checks shown off by more than 5 min {}",
            o.wrong_clocks, o.wrong_clocks_told, o.times_off
        );
    }
    if o.cut_sessions > 0 {
        eprintln!("    sessions cut mid-way {}", o.cut_sessions);
    }
    if o.killed > 0 {
        eprintln!("    devices killed mid-session {}", o.killed);
    }
    if o.replayed > 0 {
        eprintln!(
            "    sessions with a message twice {} (ended by it {})",
            o.replayed, o.replay_errors
        );
    }
    for f in o.faults.iter().take(5) {
        eprintln!("    {f}");
    }
}

/// Failure when `strict` and a run found faults.
fn exit(strict: bool, faults: usize) -> std::process::ExitCode {
    if strict && faults > 0 {
        eprintln!("{faults} runs found faults in anpi");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
