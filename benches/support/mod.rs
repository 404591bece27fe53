//! What the criterion benches share: criterion's command line as far as they need it (the
//! filter, and whether criterion measures), `bench` for a [`Routine`], and the interleaved check
//! that runs after a group's criterion runs.
//!
//! A bench includes it with `#[path = "support/mod.rs"] mod support;` (a file directly under
//! `benches/` would be taken for a bench of its own). The other files of this directory are
//! included on their own by what needs them: `logs.rs` (the entries and logs of the storage
//! benches), `disk.rs` (files and the page cache), `stats.rs` (`median`).

use std::sync::OnceLock;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

mod stats;

use stats::median;

/// Something criterion (and the interleaved check) can time: `run(n)` performs `n` iterations and
/// returns the time they took, leaving out any untimed upkeep.
pub trait Routine {
    fn name(&self) -> &'static str;
    fn run(&mut self, iters: u64) -> Duration;
}

struct Settings {
    filter: Option<String>,
    interleave: bool,
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        // criterion's options that take a value, so that the value is not taken for the filter.
        const WITH_VALUE: &[&str] = &[
            "-c",
            "--color",
            "--colour",
            "-s",
            "--save-baseline",
            "-b",
            "--baseline",
            "--baseline-lenient",
            "--format",
            "--profile-time",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--plotting-backend",
            "--output-format",
        ];
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut filter = None;
        let mut skip = false;
        for a in &args {
            if std::mem::take(&mut skip) {
                continue;
            }
            if WITH_VALUE.contains(&a.as_str()) {
                skip = true;
            } else if !a.starts_with('-') && filter.is_none() {
                filter = Some(a.clone());
            }
        }
        let has = |flag: &str| {
            args.iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        let measuring =
            has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
        let wanted = std::env::var("STELE_BENCH_INTERLEAVE").map_or(true, |v| v != "0");
        Settings {
            filter,
            interleave: measuring && wanted,
        }
    })
}

/// Whether criterion's filter may select one of the group's functions (a regular expression
/// filter is assumed to select everything), so that unselected groups skip their setup.
pub fn selected(group: &str, functions: &[&str]) -> bool {
    match &settings().filter {
        None => true,
        Some(f) if f.contains(|c: char| "^$.*+?()[]{}|\\".contains(c)) => true,
        Some(f) => functions
            .iter()
            .any(|name| format!("{group}/{name}").contains(f.as_str())),
    }
}

/// The routine as a function of the group, named after it, timed with `iter_custom`.
pub fn bench(g: &mut BenchmarkGroup<'_, WallTime>, r: &mut dyn Routine) {
    g.bench_function(r.name(), |b| b.iter_custom(|n| r.run(n)));
}

/// What the interleaved check takes from each routine in a round.
#[allow(dead_code)] // each bench constructs only the variant it uses
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// A rate, iterations per second, over as many iterations as took about 150 ms when
    /// calibrated beforehand; ratios are ratios of rates.
    Rate,
    /// The time of one iteration, in seconds; ratios are ratios of times.
    Time,
}

/// Runs the routines alternately (A B A B .., the order reversed every round) and prints to
/// stderr each routine's median rate or time (as `show` formats it) and its median per-round
/// ratio to the first routine, the names padded to `name_width`. `STELE_BENCH_INTERLEAVE=0`,
/// `--test`, `--list` and `--profile-time` skip it.
pub fn interleave(
    group: &str,
    measure: Measure,
    name_width: usize,
    show: impl Fn(f64) -> String,
    routines: &mut [&mut dyn Routine],
) {
    const ROUNDS: usize = 6;
    const TARGET: Duration = Duration::from_millis(150);
    if !settings().interleave {
        return;
    }
    let iters: Vec<u64> = match measure {
        Measure::Time => vec![1; routines.len()],
        Measure::Rate => routines
            .iter_mut()
            .map(|r| {
                let mut n = 1;
                loop {
                    let d = r.run(n);
                    if d >= Duration::from_millis(20) || n >= 1 << 24 {
                        let scaled = n as f64 * TARGET.as_secs_f64() / d.as_secs_f64().max(1e-9);
                        break (scaled as u64).max(1);
                    }
                    n *= 4;
                }
            })
            .collect(),
    };
    let mut values = vec![Vec::with_capacity(ROUNDS); routines.len()];
    for round in 0..ROUNDS {
        let mut order: Vec<usize> = (0..routines.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let d = routines[i].run(iters[i]).as_secs_f64();
            values[i].push(match measure {
                Measure::Rate => iters[i] as f64 / d,
                Measure::Time => d,
            });
        }
    }
    let what = match measure {
        Measure::Rate => "median rate and median per-round ratio",
        Measure::Time => "median time and median per-round time ratio",
    };
    eprintln!("interleaved {group} ({ROUNDS} rounds, {what}):");
    for (i, r) in routines.iter().enumerate() {
        let value = median(values[i].clone());
        let ratio = median((0..ROUNDS).map(|k| values[i][k] / values[0][k]).collect());
        eprintln!(
            "  {:<name_width$} {}  {ratio:.3}x {}",
            r.name(),
            show(value),
            routines[0].name()
        );
    }
}
