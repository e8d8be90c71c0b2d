//! Fuzzing of every parser of outside input (`scripts/fuzz`). Stable Rust cannot build
//! coverage-guided fuzzers here (cargo-fuzz and AFL need nightly or an instrumenting toolchain), so
//! each target mutates real seeds from the repository (the sample corpus, the recorded arXiv and
//! Hugging Face responses) with its own syntax as a dictionary, and checks more than "no panic":
//! each target states what must hold of every input (a query with words is never empty, an id
//! reads back as itself, hostile text cannot add a mail header or an HTML tag).
//!
//! Inputs are numbered and each is made from `(seed, target, number)` alone, so a failure is
//! reproduced with `--from N --inputs 1`, and a crash that kills the process (a stack overflow) is
//! found by replaying from the last progress line; so is an input that never finishes, which a
//! watchdog stops after [`STUCK`].

pub mod mutate;
mod targets;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

pub use targets::TARGETS;

/// A target: where its seeds come from, its syntax, and what must hold for every input.
pub struct Target {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it feeds and checks.
    pub about: &'static str,
    /// Its seeds, read from the repository.
    pub seeds: fn(&Path) -> Vec<Vec<u8>>,
    /// Tokens of its syntax that mutations insert.
    pub tokens: &'static [&'static str],
    /// Checks one input: `Err` when an invariant does not hold. A panic is a failure too.
    pub check: fn(&[u8]) -> Result<(), String>,
}

/// How a run went.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Inputs tried.
    pub inputs: u64,
    /// Inputs that panicked.
    pub panics: u64,
    /// Inputs that broke the target's invariant.
    pub failures: u64,
    /// Inputs that took longer than [`HANG`].
    pub hangs: u64,
    /// The slowest input: its time and number.
    pub slowest: (Duration, u64),
    /// The first failures: (input number, what happened, where the input was saved).
    pub found: Vec<(u64, String, Option<PathBuf>)>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// An input slower than this is reported as a hang.
pub const HANG: Duration = Duration::from_secs(1);

/// An input still running after this stops the process (status 3), naming the input: a loop that
/// never ends cannot be caught like a panic.
pub const STUCK: Duration = Duration::from_secs(30);

/// The repository's root, where the seeds are.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A target by name.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run's seed.
    pub seed: u64,
    /// The first input's number.
    pub from: u64,
    /// At most this many inputs.
    pub inputs: u64,
    /// At most this long.
    pub time: Option<Duration>,
    /// Where inputs that fail are saved (none: not saved).
    pub save_to: Option<PathBuf>,
    /// Called every this many inputs with the next input's number (progress; a crash replays from
    /// the last one).
    pub every: u64,
}

/// Runs `target` on its inputs. Panics are caught and counted; the default panic message is kept
/// quiet while the run lasts.
pub fn run(target: &Target, seeds: &[Vec<u8>], run: &Run, progress: &mut dyn FnMut(u64)) -> Report {
    // The input running (its number + 1; 0: none) and since when (ms after `started`).
    let running = AtomicU64::new(0);
    let since = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let input = running.load(Ordering::Relaxed);
                let elapsed = (started.elapsed().as_millis() as u64).saturating_sub(since.load(Ordering::Relaxed));
                if input > 0 && elapsed > STUCK.as_millis() as u64 && running.load(Ordering::Relaxed) == input {
                    eprintln!("{}: input {} has run for {} s; stopping", target.name, input - 1, elapsed / 1000);
                    std::process::exit(3);
                }
            }
        });
        let report = fuzz(target, seeds, run, progress, started, &running, &since);
        done.store(true, Ordering::Relaxed);
        report
    })
}

fn fuzz(
    target: &Target,
    seeds: &[Vec<u8>],
    run: &Run,
    progress: &mut dyn FnMut(u64),
    started: Instant,
    running: &AtomicU64,
    since: &AtomicU64,
) -> Report {
    let mut report = Report::default();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for index in run.from..run.from.saturating_add(run.inputs) {
        if run.every > 0 && (index - run.from).is_multiple_of(run.every) {
            progress(index);
        }
        if run.time.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
        let mut rng = mutate::Rng::for_input(run.seed, target.name, index);
        let data = mutate::input(&mut rng, seeds, target.tokens);
        since.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        running.store(index + 1, Ordering::Relaxed);
        let took = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.check)(&data)));
        let took = took.elapsed();
        running.store(0, Ordering::Relaxed);
        report.inputs += 1;
        if took > report.slowest.0 {
            report.slowest = (took, index);
        }
        let problem = match outcome {
            Ok(Ok(())) if took <= HANG => None,
            Ok(Ok(())) => {
                report.hangs += 1;
                Some(format!("took {:.1} s", took.as_secs_f64()))
            }
            Ok(Err(broken)) => {
                report.failures += 1;
                Some(broken)
            }
            Err(panic) => {
                report.panics += 1;
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                Some(format!("panicked: {message}"))
            }
        };
        if let Some(problem) = problem
            && report.found.len() < 20
        {
            let saved = run.save_to.as_ref().and_then(|dir| {
                let path = dir.join(format!("{}-{}-{index}", target.name, run.seed));
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &data)).ok().map(|()| path)
            });
            report.found.push((index, problem, saved));
        }
    }
    std::panic::set_hook(hook);
    report.seconds = started.elapsed().as_secs_f64();
    report
}
