//! `cargo xtask bench`: rnn-bench's suite against PyTorch, measured side by side in one run,
//! in alternating rounds, under a user's settings and under the harness's tuning.
//!
//! Each of our runs is a child process (`xtask bench-worker`), so its peak resident memory
//! (`VmHWM`) and its process settings are its own: build, one warm-up step, one step to
//! calibrate the iteration count (a repeat lasts at least `--min-repeat-s`), then `--repeats`
//! timed repeats, whose median is the run's ms per step. Modes (`--mode`): `user` is what a
//! program that adds rnn-core gets (no allocator call, no RAYON_NUM_THREADS: rayon's one thread
//! per core); `tuned` calls `rnn_core::allocator::retain_freed_memory` and runs at each
//! `--threads` count. The `user-program` row runs the separate crate `benches/user-program`
//! (built here in xtask's profile), a user's `main` with no tuning at all.
//!
//! PyTorch (`benches/torch/rnn_workloads.py`, run by `--python`) measures the same workloads
//! with the same protocol: its defaults against our user mode, each `--torch-threads` count
//! with flush-to-zero against our tuned mode. Round k runs each workload: ours (every mode
//! and thread count), then PyTorch (every setting), before the next workload; `--rounds`
//! rounds. The table and the JSON's summary come from [`report`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

mod paired;
mod report;
mod user_program;

/// Flags of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run, comma-separated (default: all; see `--list`).
    #[arg(long, value_delimiter = ',')]
    pub workload: Vec<String>,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    pub device: Option<String>,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timed repeats per workload (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
    /// Minimum seconds per timed repeat (a finite number > 0).
    #[arg(long, default_value_t = 0.5, value_parser = positive_seconds)]
    pub min_repeat_s: f64,
    /// Skip PyTorch even when it is installed.
    #[arg(long)]
    pub no_torch: bool,
    /// PyTorch's thread counts in tuned mode (with flush-to-zero; its fastest is compared),
    /// comma-separated. User mode runs PyTorch's defaults.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2], value_parser = clap::value_parser!(u32).range(1..))]
    pub torch_threads: Vec<u32>,
    /// Our thread counts in tuned mode (RAYON_NUM_THREADS of the worker; burn's CPU backends
    /// use rayon), comma-separated; the fastest is compared. User mode sets none.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2], value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Vec<u32>,
    /// Alternating rounds (ours, PyTorch, ours, ...): each ratio is the median of the rounds'
    /// ratios, with their min and max.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// The Python that runs the PyTorch script (it needs `torch`).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Print the README's performance table generated from this bench JSON (no run).
    #[arg(long, value_name = "JSON")]
    pub markdown: Option<PathBuf>,
    /// With `--markdown`: also write the table into this README between its
    /// `<!-- bench:begin JSON -->` and `<!-- bench:end -->` markers.
    #[arg(long, requires = "markdown")]
    pub readme: Option<PathBuf>,
    /// User mode: also time each workload on one thread, interleaved with rayon's default in
    /// the same process (`bench/paired.rs`): the JSON and the table then say whether the
    /// default is at least as fast as one thread, free of the machine's drift.
    #[arg(long)]
    pub against_one_thread: bool,
    /// Tuned mode only: leave glibc's allocator settings alone instead of calling
    /// `rnn_core::allocator::retain_freed_memory` (which `cargo xtask mnist` also applies).
    #[arg(long)]
    pub system_allocator: bool,
    /// Which settings our workloads run under: `user` (what a program that adds rnn-core gets:
    /// no allocator call, no RAYON_NUM_THREADS, so rayon's default of one thread per core),
    /// `tuned` (the allocator call and each `--threads` count) or `both`.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    pub mode: ModeArg,
    /// List the workloads and exit.
    #[arg(long)]
    pub list: bool,
}

/// Flags of the hidden `bench-worker` subcommand (one workload, one process).
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The workload.
    #[arg(long)]
    pub workload: String,
    /// Backend name.
    #[arg(long)]
    pub device: Option<String>,
    /// Timed repeats (at least 1: the median of none does not exist).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
    /// Minimum seconds per repeat (a finite number > 0).
    #[arg(long, value_parser = positive_seconds)]
    pub min_repeat_s: f64,
    /// `user`: no allocator call; `tuned`: `retain_freed_memory` unless `--system-allocator`.
    /// The threads come from the environment (the parent sets or removes RAYON_NUM_THREADS).
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Tuned mode: leave glibc's allocator settings alone.
    #[arg(long)]
    pub system_allocator: bool,
    /// Also time the workload on one thread, interleaved with the default threads in this
    /// process (`bench/paired.rs`), and add the pairs' ratio to the row.
    #[arg(long)]
    pub against_one_thread: bool,
}

/// The settings one run of our workload has.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A user's program: no allocator call, rayon's default thread count.
    User,
    /// The harness's tuning: the allocator call and a chosen thread count.
    Tuned,
}

impl Mode {
    /// The name in the JSON rows and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::User => "user",
            Mode::Tuned => "tuned",
        }
    }

    /// Whether a worker in this mode calls `retain_freed_memory` (and so the allocator it runs
    /// with: `true` for tuned without `--system-allocator`).
    pub fn retains_freed_memory(self, system_allocator: bool) -> bool {
        self == Mode::Tuned && !system_allocator
    }
}

/// `--mode`: one of the two, or both.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Only the user's settings.
    User,
    /// Only the harness's tuning.
    Tuned,
    /// User first, then tuned, for each workload.
    Both,
}

impl ModeArg {
    /// The modes to run, in order.
    pub fn modes(self) -> Vec<Mode> {
        match self {
            ModeArg::User => vec![Mode::User],
            ModeArg::Tuned => vec![Mode::Tuned],
            ModeArg::Both => vec![Mode::User, Mode::Tuned],
        }
    }
}

/// A finite number of seconds > 0 and at most a day (a longer repeat is a typo, and an
/// infinite one would never end).
fn positive_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("`{s}` is not a number: {e}"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err(format!("expected seconds in (0, 86400], got {s}"))
    }
}

fn device(name: Option<&str>) -> anyhow::Result<burn::tensor::Device> {
    match name {
        Some(name) => rnn_core::device::device_from_name(name).context("--device"),
        None => rnn_core::device::default_device().context("BURN_DEVICE"),
    }
}

/// Peak resident set of this process in MiB (Linux `VmHWM`), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Page faults of this process so far (Linux `/proc/self/stat`: minor + major), if known.
fn page_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name's closing parenthesis: state, ppid, pgrp, session,
    // tty_nr, tpgid, flags, minflt, cminflt, majflt.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(7)?.parse::<u64>().ok()? + fields.get(9)?.parse::<u64>().ok()?)
}

/// Runs one workload and prints one JSON line.
pub fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    let device = device(args.device.as_deref())?;
    device.seed(0);
    let mut w = rnn_bench::suite::build(&args.workload, &device).map_err(anyhow::Error::msg)?;
    let v = w.step(); // warm-up
    anyhow::ensure!(v.is_finite(), "{}: warm-up gave {v}", args.workload);
    let t0 = Instant::now();
    w.step();
    let once = t0.elapsed().as_secs_f64();
    let iters = ((args.min_repeat_s / once.max(1e-6)) as usize).max(1);
    let mut per = Vec::new();
    let faults_before = page_faults();
    for _ in 0..args.repeats {
        let t0 = Instant::now();
        for _ in 0..iters {
            w.step();
        }
        per.push(t0.elapsed().as_secs_f64() * 1e3 / iters as f64);
    }
    let faults = faults_before.zip(page_faults()).map(|(a, b)| {
        let steps = (args.repeats as usize * iters) as f64;
        b.saturating_sub(a) as f64 / steps
    });
    let mut sorted = per.clone();
    sorted.sort_by(f64::total_cmp);
    let mut row = json!({
        "workload": args.workload,
        "device": rnn_core::device::device_name(&device),
        "ms_per_step": sorted[sorted.len() / 2],
        "min_ms": sorted[0],
        "max_ms": sorted[sorted.len() - 1],
        "iters_per_repeat": iters,
        "peak_rss_mib": peak_rss_mib(),
        "page_faults_per_step": faults,
        "mode": args.mode.name(),
        "threads": rayon::current_num_threads(),
        "allocator": if args.mode.retains_freed_memory(args.system_allocator) {
            "retain_freed_memory"
        } else {
            "system"
        },
    });
    if args.against_one_thread {
        // Blocks of ~50 ms, as many pairs as the timed repeats' seconds would fill.
        let block = ((0.05 / once.max(1e-6)) as usize).max(1);
        let pairs = ((f64::from(args.repeats) * args.min_repeat_s / 0.05) as usize).max(8);
        let p = paired::run(&args.workload, &device, block, pairs)?;
        row["paired"] = json!({
            "pairs": pairs,
            "iters_per_block": block,
            "default_ms": report::median(&p.default_ms),
            "one_thread_ms": report::median(&p.one_thread_ms),
            "one_thread_over_default": report::spread(&p.ratios()),
        });
    }
    println!("{row}");
    Ok(())
}

/// Runs `xtask bench-worker` for one workload in `mode` (RAYON_NUM_THREADS set to
/// `n_threads`, or removed) and returns its JSON row.
fn run_worker(
    args: &BenchArgs,
    exe: &Path,
    workload: &str,
    mode: Mode,
    n_threads: Option<u32>,
) -> anyhow::Result<Value> {
    let mut cmd = Command::new(exe);
    match n_threads {
        Some(n) => cmd.env("RAYON_NUM_THREADS", n.to_string()),
        None => cmd.env_remove("RAYON_NUM_THREADS"),
    };
    cmd.args(["bench-worker", "--workload", workload])
        .args(["--mode", mode.name()])
        .args(["--repeats", &args.repeats.to_string()])
        .args(["--min-repeat-s", &args.min_repeat_s.to_string()]);
    if let Some(d) = &args.device {
        cmd.args(["--device", d]);
    }
    if args.system_allocator {
        cmd.arg("--system-allocator");
    }
    if args.against_one_thread && mode == Mode::User {
        cmd.arg("--against-one-thread");
    }
    let out = cmd.output().context("running bench-worker")?;
    anyhow::ensure!(
        out.status.success(),
        "workload {workload} ({} mode) failed:\n{}",
        mode.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).with_context(|| format!("bench-worker output: {line}"))
}

/// `python -c 'import torch'` succeeds.
fn torch_available(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The workloads `--workload` names (all of the suite and `user-program` when empty); the
/// error lists the known names.
fn chosen_specs(names: &[String]) -> anyhow::Result<Vec<rnn_bench::suite::Spec>> {
    let mut specs = rnn_bench::suite::specs();
    specs.push(user_program::spec(&specs)?);
    if names.is_empty() {
        return Ok(specs);
    }
    names
        .iter()
        .map(|name| {
            specs
                .iter()
                .find(|s| &s.name == name)
                .cloned()
                .with_context(|| {
                    format!(
                        "--workload: unknown `{name}`; expected one of: {}",
                        specs
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

/// Runs the suite in rounds, prints the table, writes JSON.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(json) = &args.markdown {
        return report::print_markdown(json, args.readme.as_deref());
    }
    if args.list {
        for s in chosen_specs(&[])? {
            println!("{:<18} {}", s.name, s.about);
        }
        return Ok(());
    }
    let chosen = chosen_specs(&args.workload)?;
    let device_name = rnn_core::device::device_name(&device(args.device.as_deref())?);
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let modes = args.mode.modes();
    let user_exe = match chosen.iter().any(|s| s.name == user_program::NAME) {
        true if modes.contains(&Mode::User) => Some(user_program::build(&exe)?),
        _ => None,
    };
    let torch = if args.no_torch {
        println!("PyTorch: skipped (--no-torch)");
        false
    } else if !torch_available(&args.python) {
        println!(
            "PyTorch: not installed (`{} -c 'import torch'` fails; see --python): no ratios",
            args.python.display()
        );
        false
    } else {
        true
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut runs = Vec::new();
    for round in 1..=args.rounds {
        for spec in &chosen {
            let is_user_program = spec.name == user_program::NAME;
            // The user program has no tuned form: it is a user's main.
            let spec_modes: Vec<Mode> = modes
                .iter()
                .copied()
                .filter(|&m| !is_user_program || m == Mode::User)
                .collect();
            if spec_modes.is_empty() {
                eprintln!("bench: {} runs in user mode only; skipped", spec.name);
                continue;
            }
            for &mode in &spec_modes {
                let threads: Vec<Option<u32>> = match mode {
                    Mode::User => vec![None],
                    Mode::Tuned => args.threads.iter().copied().map(Some).collect(),
                };
                for n_threads in threads {
                    eprintln!(
                        "bench: round {round}/{}: {} on {device_name}, {} mode, threads {}",
                        args.rounds,
                        spec.name,
                        mode.name(),
                        n_threads.map_or("rayon's default".to_string(), |n| n.to_string())
                    );
                    let mut row = match &user_exe {
                        Some(user) if is_user_program => user_program::run(args, user)?,
                        _ => run_worker(args, &exe, &spec.name, mode, n_threads)?,
                    };
                    let ms = row["ms_per_step"].as_f64().context("ms_per_step")?;
                    row["side"] = json!("ours");
                    row["round"] = json!(round);
                    row["steps_per_s"] = json!(1e3 / ms);
                    row["gflops"] = json!(spec.flops / (ms * 1e-3) / 1e9);
                    runs.push(row);
                }
            }
            if torch {
                for mut row in run_torch(args, &spec.name, &spec_modes)? {
                    row["side"] = json!("torch");
                    row["round"] = json!(round);
                    // PyTorch's defaults face our user mode, its tuned settings our tuned one.
                    row["mode"] = json!(if row["setting"] == "default" {
                        "user"
                    } else {
                        "tuned"
                    });
                    runs.push(row);
                }
            }
        }
    }
    let workloads: Vec<Value> = chosen
        .iter()
        .map(|s| json!({ "workload": s.name, "about": s.about, "flops": s.flops }))
        .collect();
    let doc = json!({
        "format": report::FORMAT,
        "command": std::iter::once("cargo xtask".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        "started_utc": report::utc_stamp(started),
        "machine": report::machine(),
        "device": device_name,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "min_repeat_s": args.min_repeat_s,
        "workloads": workloads,
        "runs": runs,
    });
    let summary = report::summarize(&doc)?;
    let mut doc = doc;
    doc["summary"] = json!(summary);
    print!("{}", report::markdown(&doc)?);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    Ok(())
}

/// PyTorch's runs of one workload: its defaults when `modes` has user, each `--torch-threads`
/// count when it has tuned; one JSON row each.
fn run_torch(args: &BenchArgs, workload: &str, modes: &[Mode]) -> anyhow::Result<Vec<Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/torch/rnn_workloads.py");
    let mut settings = Vec::new();
    if modes.contains(&Mode::User) {
        settings.push("default".to_string());
    }
    if modes.contains(&Mode::Tuned) {
        settings.extend(args.torch_threads.iter().map(u32::to_string));
    }
    eprintln!(
        "bench: PyTorch {workload} (settings {})",
        settings.join(",")
    );
    let out = Command::new(&args.python)
        .arg(&script)
        .args(["--workloads", workload])
        .args(["--threads", &settings.join(",")])
        .args(["--repeats", &args.repeats.to_string()])
        .args(["--min-repeat-s", &args.min_repeat_s.to_string()])
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("torch output: {l}")))
        .collect()
}
