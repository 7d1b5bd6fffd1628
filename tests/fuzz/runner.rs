//! The runner of `tests/fuzz.rs`: executes one target's inputs until its budget is spent, each
//! in `catch_unwind`, watches the peak RSS and (from a second thread) hung executions, saves
//! the input that fails and fails the test naming it. Knows nothing about the decoders.
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::mutate::{Mutator, Rng, fnv1a};

/// One fuzz target: how its inputs are made and what one execution does with an input.
pub struct Target {
    pub name: &'static str,
    pub mutator: Mutator,
    pub exec: Box<Exec>,
}

/// One execution: what the target does with an input.
pub type Exec = dyn FnMut(&[u8]) -> Ran;

/// What one execution made of its input (ordered: of two parts, the greater counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ran {
    /// Refused by the decoder, as most mutated inputs are.
    Refused,
    /// Not run: it would leave the machine (see `resolves_a_name`).
    Skipped,
    /// Taken all the way: a PDU read, a header read, a report parsed, a frame read, a config
    /// validated.
    Accepted,
}

pub struct Budget {
    pub time: Duration,
    pub execs: u64,
}

pub fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn fuzz_seed() -> u64 {
    let v = std::env::var("FUZZ_SEED").unwrap_or_default();
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
    .unwrap_or(0x5EED_0018_F022_2026)
}

fn out_dir() -> PathBuf {
    std::env::var_os("FUZZ_OUT").map_or_else(
        || {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("CARGO_TARGET_TMPDIR lies inside the target folder")
                .join("fuzz-crashes")
        },
        PathBuf::from,
    )
}

fn save(target: &str, n: u64, tag: &str, input: &[u8]) -> PathBuf {
    let dir = out_dir();
    let path = dir.join(format!("{target}-{n}{tag}.bin"));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, input))
        .unwrap_or_else(|e| panic!("cannot save the failing input to {}: {e}", path.display()));
    path
}

/// Peak resident set size of this process (VmHWM), in kB.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5), so that each target's peak is its own.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".into())
}

/// The execution in flight: its number, the RNG state its input came from, its start.
type InFlight = Mutex<Option<(u64, Rng, Instant)>>;

/// What a run did.
struct Tally {
    execs: u64,
    skipped: u64,
    accepted: u64,
    slowest: Duration,
    secs: f64,
}

/// Stops the watchdog when the run ends, by a panic too.
struct StopOnDrop<'a>(&'a AtomicBool, std::thread::Thread);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        self.1.unpark();
    }
}

/// Runs `t` within `budget`, then prints its line; panics (failing the test) on a panic, a
/// hang or too much memory.
pub fn fuzz(t: &mut Target, budget: &Budget) {
    let ceiling_kb = (env_num("FUZZ_RSS_MB", 300.0) * 1024.0) as u64;
    let hang = Duration::from_secs_f64(env_num("FUZZ_HANG_SECS", 30.0));
    let in_flight: InFlight = Mutex::new(None);
    let done = AtomicBool::new(false);
    reset_peak_rss();
    let tally = std::thread::scope(|s| {
        let dog = s.spawn(|| watchdog(t.name, &t.mutator, &in_flight, &done, hang));
        let _stop = StopOnDrop(&done, dog.thread().clone());
        run(
            t.name,
            &t.mutator,
            &mut t.exec,
            budget,
            &in_flight,
            ceiling_kb,
        )
    });
    let peak = peak_rss_kb();
    println!(
        "fuzz {:<6} {:>9} execs {:>8.0} execs/s  peak RSS {:>6.1} MB  accepted {:>4.1}%  \
         slowest {:.1} ms{}",
        t.name,
        tally.execs,
        tally.execs as f64 / tally.secs,
        peak as f64 / 1024.0,
        100.0 * tally.accepted as f64 / tally.execs.max(1) as f64,
        tally.slowest.as_secs_f64() * 1e3,
        match tally.skipped {
            0 => String::new(),
            n => format!("  ({n} skipped)"),
        },
    );
    assert!(
        peak <= ceiling_kb,
        "fuzz {}: peak RSS {peak} kB is above FUZZ_RSS_MB",
        t.name
    );
}

/// The loop: one mutated input after another, each in `catch_unwind`, with a look at the peak
/// RSS every 50 ms.
fn run(
    name: &str,
    m: &Mutator,
    exec: &mut Exec,
    budget: &Budget,
    in_flight: &InFlight,
    ceiling_kb: u64,
) -> Tally {
    let mut rng = Rng(fuzz_seed() ^ fnv1a(name.as_bytes()));
    let start = Instant::now();
    let (mut execs, mut skipped, mut accepted, mut slowest) = (0, 0, 0, Duration::ZERO);
    // RNG states since the last memory check, to find the input that crossed the ceiling.
    let (mut recent, mut checked) = (Vec::new(), Instant::now());
    while execs < budget.execs && start.elapsed() < budget.time {
        let state = rng;
        let input = m.input(&mut rng);
        let began = Instant::now();
        *in_flight.lock().expect("never poisoned") = Some((execs, state, began));
        let ran = catch_unwind(AssertUnwindSafe(|| exec(&input)));
        *in_flight.lock().expect("never poisoned") = None;
        slowest = slowest.max(began.elapsed());
        match ran {
            Ok(Ran::Refused) => {}
            Ok(Ran::Skipped) => skipped += 1,
            Ok(Ran::Accepted) => accepted += 1,
            Err(payload) => {
                let path = save(name, execs, "", &input);
                panic!(
                    "fuzz {name}: execution {execs} panicked ({}); input saved to {}",
                    panic_text(&*payload),
                    path.display()
                );
            }
        }
        recent.push((execs, state));
        execs += 1;
        if checked.elapsed() > Duration::from_millis(50) {
            if peak_rss_kb() > ceiling_kb {
                blame_memory(name, m, exec, &recent, ceiling_kb);
            }
            recent.clear();
            checked = Instant::now();
        }
    }
    Tally {
        execs,
        skipped,
        accepted,
        slowest,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// The peak RSS crossed the ceiling: replays the inputs since the last check one by one to find
/// the one that lifts it, saves it and fails.
fn blame_memory(
    name: &str,
    m: &Mutator,
    exec: &mut Exec,
    recent: &[(u64, Rng)],
    ceiling_kb: u64,
) -> ! {
    for &(n, mut state) in recent {
        reset_peak_rss();
        let before = peak_rss_kb();
        let input = m.input(&mut state);
        let _ = catch_unwind(AssertUnwindSafe(|| exec(&input)));
        let peak = peak_rss_kb();
        if before <= ceiling_kb && peak > ceiling_kb {
            let path = save(name, n, "-rss", &input);
            panic!(
                "fuzz {name}: execution {n} lifted the peak RSS from {before} to {peak} kB, above \
                 FUZZ_RSS_MB; input saved to {}",
                path.display()
            );
        }
    }
    panic!(
        "fuzz {name}: peak RSS {} kB is above FUZZ_RSS_MB, and no single input of the last {} \
         lifts it (memory grows across executions)",
        peak_rss_kb(),
        recent.len()
    );
}

/// Aborts the process, after saving the input, when one execution runs longer than `hang`.
fn watchdog(name: &str, m: &Mutator, in_flight: &InFlight, done: &AtomicBool, hang: Duration) {
    while !done.load(Ordering::Relaxed) {
        std::thread::park_timeout(Duration::from_millis(100));
        let Some((n, mut state, began)) = *in_flight.lock().unwrap_or_else(|p| p.into_inner())
        else {
            continue;
        };
        if began.elapsed() > hang {
            let path = save(name, n, "-hang", &m.input(&mut state));
            eprintln!(
                "fuzz {name}: execution {n} still running after {hang:?}; input saved to {}",
                path.display()
            );
            std::process::abort();
        }
    }
}
