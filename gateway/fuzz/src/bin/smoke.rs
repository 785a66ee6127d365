//! Stable-Rust fuzz smoke tester: mutates real media files with a seeded RNG and feeds them to
//! the same entry points as the libFuzzer targets, for a fixed time per target. No coverage
//! guidance (that is what `cargo +nightly fuzz run` adds); it still finds shallow panics, hangs
//! and slow paths in minutes, on any toolchain.
//!
//! ```sh
//! cargo run --release --bin smoke -- [image|audio|video]... [--seconds N] [--seed S]
//!     [--slow-ms MS] [--hang-ms MS] [--artifacts DIR]
//! cargo run --release --bin smoke -- --write-seeds corpus   # seed corpora for cargo fuzz
//! ```
//!
//! A panic is caught, its input saved as `ARTIFACTS/crash-TARGET-N.bin`, and the run goes on;
//! an input slower than `--slow-ms` is saved as `slow-TARGET-N.bin`; one still running after
//! `--hang-ms` is saved as `hang-TARGET.bin` and the process exits with status 2. The exit
//! status is 1 when anything panicked.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use omnigate_fuzz::{Target, seeds};

/// Inputs never grow past this (the seeds are at most 64 KiB).
const MAX_INPUT: usize = 256 * 1024;
/// Accepted mutants kept to mutate further, so mutations can stack past the first check.
const POOL: usize = 256;

struct Options {
    targets: Vec<Target>,
    seconds: u64,
    seed: u64,
    slow_ms: u64,
    hang_ms: u64,
    artifacts: PathBuf,
    write_seeds: Option<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        targets: Vec::new(),
        seconds: 60,
        seed: 0x005E_ED0F_0BB1,
        slow_ms: 2_000,
        hang_ms: 30_000,
        artifacts: PathBuf::from("artifacts/smoke"),
        write_seeds: None,
    };
    let mut args = std::env::args().skip(1);
    let number = |value: Option<String>, flag: &str| -> Result<u64, String> {
        let value = value.ok_or(format!("{flag} needs a value"))?;
        value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => options.seconds = number(args.next(), "--seconds")?,
            "--seed" => options.seed = number(args.next(), "--seed")?,
            "--slow-ms" => options.slow_ms = number(args.next(), "--slow-ms")?,
            "--hang-ms" => options.hang_ms = number(args.next(), "--hang-ms")?,
            "--artifacts" => {
                options.artifacts = PathBuf::from(args.next().ok_or("--artifacts needs a folder")?);
            }
            "--write-seeds" => {
                options.write_seeds = Some(PathBuf::from(
                    args.next().ok_or("--write-seeds needs a folder")?,
                ));
            }
            name => options
                .targets
                .push(Target::parse(name).ok_or(format!("unknown target or flag {name:?}"))?),
        }
    }
    if options.targets.is_empty() {
        options.targets = Target::ALL.to_vec();
    }
    Ok(options)
}

/// xorshift64*: tiny, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values that tend to break size and offset arithmetic.
const INTERESTING: [u32; 12] = [
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
];

/// Applies one random mutation to `data`; `other` is another seed to splice from.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if data.is_empty() {
        data.push(rng.next() as u8);
        return;
    }
    let len = data.len();
    let at = rng.below(len);
    match rng.below(10) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data[at] = INTERESTING[rng.below(5)] as u8,
        2 | 3 => {
            let value = INTERESTING[rng.below(INTERESTING.len())];
            let bytes = if rng.below(2) == 0 {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            };
            let width = [1, 2, 4][rng.below(3)];
            let field = if rng.below(2) == 0 {
                &bytes[4 - width..]
            } else {
                &bytes[..width]
            };
            for (i, b) in field.iter().enumerate() {
                if let Some(slot) = data.get_mut(at + i) {
                    *slot = *b;
                }
            }
        }
        4 => {
            let n = 1 + rng.below(64.min(len));
            data.drain(at..(at + n).min(len));
        }
        5 => {
            let n = 1 + rng.below(32);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, bytes);
        }
        6 => {
            let n = 1 + rng.below(256.min(len));
            let from = rng.below(len);
            let chunk: Vec<u8> = data[from..(from + n).min(len)].to_vec();
            data.splice(at..at, chunk);
        }
        7 => data.truncate(at.max(1)),
        8 if !other.is_empty() => {
            let from = rng.below(other.len());
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        _ => {
            let n = 1 + rng.below(16.min(len));
            let from = rng.below(len);
            let chunk: Vec<u8> = data[from..(from + n).min(len)].to_vec();
            for (i, b) in chunk.into_iter().enumerate() {
                if let Some(slot) = data.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
    }
    data.truncate(MAX_INPUT);
}

#[derive(Default)]
struct Stats {
    iterations: u64,
    accepted: u64,
    panics: u64,
    slow: u64,
    slowest: Duration,
}

fn save(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, data)) {
        eprintln!("could not save {}: {e}", path.display());
    }
    path
}

/// Where the watchdog looks: the input under test and when it started (ms since `epoch`,
/// 0 = idle).
struct Current {
    input: Mutex<Vec<u8>>,
    started_ms: AtomicU64,
    target: Mutex<&'static str>,
}

fn watchdog(current: Arc<Current>, epoch: Instant, hang_ms: u64, artifacts: PathBuf) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let started = current.started_ms.load(Ordering::Acquire);
            let now = epoch.elapsed().as_millis() as u64;
            if started != 0 && now.saturating_sub(started) > hang_ms {
                let target = *current
                    .target
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let input = current
                    .input
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let path = save(&artifacts, &format!("hang-{target}.bin"), &input);
                eprintln!(
                    "HANG: {target} has run one input for over {hang_ms} ms; saved {}",
                    path.display()
                );
                std::process::exit(2);
            }
        }
    });
}

fn run_target(
    target: Target,
    options: &Options,
    current: &Current,
    epoch: Instant,
    last_panic: &Mutex<String>,
) -> Stats {
    let seeds: Vec<Vec<u8>> = seeds(target).into_iter().map(|(_, b)| b).collect();
    let mut stats = Stats::default();
    if seeds.is_empty() {
        eprintln!("{}: no seed files found, skipped", target.name());
        return stats;
    }
    *current
        .target
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = target.name();
    let mut rng = Rng(options.seed ^ (target as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    // Every seed once as it is, then mutants.
    let mut unmutated = seeds.clone().into_iter();
    while Instant::now() < deadline {
        let input = if let Some(seed) = unmutated.next() {
            seed
        } else {
            let from_pool = !pool.is_empty() && rng.below(3) == 0;
            let mut input = if from_pool {
                pool[rng.below(pool.len())].clone()
            } else {
                seeds[rng.below(seeds.len())].clone()
            };
            let other = &seeds[rng.below(seeds.len())];
            let rounds = if rng.below(4) == 0 {
                1 + rng.below(16)
            } else {
                1 + rng.below(3)
            };
            for _ in 0..rounds {
                mutate(&mut rng, &mut input, other);
            }
            input
        };
        current
            .input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone_from(&input);
        let start = Instant::now();
        current.started_ms.store(
            (epoch.elapsed().as_millis() as u64).max(1),
            Ordering::Release,
        );
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        current.started_ms.store(0, Ordering::Release);
        let took = start.elapsed();
        stats.iterations += 1;
        stats.slowest = stats.slowest.max(took);
        match outcome {
            Ok(accepted) => {
                if accepted {
                    stats.accepted += 1;
                    if pool.len() < POOL {
                        pool.push(input.clone());
                    } else {
                        let slot = rng.below(POOL);
                        pool[slot] = input.clone();
                    }
                }
            }
            Err(_) => {
                stats.panics += 1;
                let name = format!("crash-{}-{}.bin", target.name(), stats.panics);
                let path = save(&options.artifacts, &name, &input);
                let message = last_panic
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                eprintln!(
                    "PANIC in {}: {message}; input saved as {}",
                    target.name(),
                    path.display()
                );
            }
        }
        if took > Duration::from_millis(options.slow_ms) {
            stats.slow += 1;
            let name = format!("slow-{}-{}.bin", target.name(), stats.slow);
            let path = save(&options.artifacts, &name, &input);
            eprintln!(
                "SLOW: {} took {} ms on {} bytes; saved {}",
                target.name(),
                took.as_millis(),
                input.len(),
                path.display()
            );
        }
    }
    stats
}

fn write_seeds(dir: &Path) -> std::io::Result<()> {
    for target in Target::ALL {
        let folder = dir.join(target.name());
        std::fs::create_dir_all(&folder)?;
        let seeds = seeds(target);
        for (name, bytes) in &seeds {
            std::fs::write(folder.join(name), bytes)?;
        }
        println!(
            "{}: {} seeds in {}",
            target.name(),
            seeds.len(),
            folder.display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}\n(see the comment at the top of src/bin/smoke.rs for usage)");
            return ExitCode::from(64);
        }
    };
    if let Some(dir) = &options.write_seeds {
        return match write_seeds(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("writing seeds: {e}");
                ExitCode::FAILURE
            }
        };
    }

    // Panics are expected findings: record the message for the report instead of printing a
    // backtrace per caught panic.
    let last_panic = Arc::new(Mutex::new(String::new()));
    let hook_slot = Arc::clone(&last_panic);
    panic::set_hook(Box::new(move |info| {
        *hook_slot.lock().unwrap_or_else(PoisonError::into_inner) = info.to_string();
    }));

    let epoch = Instant::now();
    let current = Arc::new(Current {
        input: Mutex::new(Vec::new()),
        started_ms: AtomicU64::new(0),
        target: Mutex::new(""),
    });
    watchdog(
        Arc::clone(&current),
        epoch,
        options.hang_ms,
        options.artifacts.clone(),
    );

    let mut any_panic = false;
    println!(
        "{:<8}{:>12}{:>10}{:>10}{:>8}{:>8}{:>12}",
        "target", "iterations", "exec/s", "accepted", "panics", "slow", "slowest ms"
    );
    for &target in &options.targets {
        let start = Instant::now();
        let stats = run_target(target, &options, &current, epoch, &last_panic);
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        any_panic |= stats.panics > 0;
        println!(
            "{:<8}{:>12}{:>10.0}{:>10}{:>8}{:>8}{:>12}",
            target.name(),
            stats.iterations,
            stats.iterations as f64 / secs,
            stats.accepted,
            stats.panics,
            stats.slow,
            stats.slowest.as_millis()
        );
    }
    if any_panic {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
