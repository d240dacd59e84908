//! `cargo xtask bench`: the benchmark table of rnn-bench's suite against PyTorch, measured side
//! by side in one run.
//!
//! Each workload runs in its own child process (`xtask bench-worker`), so its peak resident
//! memory (`VmHWM`) is its own: build, one warm-up step, one step to calibrate the iteration
//! count (a repeat lasts at least `--min-repeat-s`), then `--repeats` timed repeats; the
//! median is reported. When `python3 -c 'import torch'` works, `benches/torch/rnn_workloads.py`
//! measures the same workloads with the same protocol at 1 and 2 threads (flush-to-zero on),
//! and the table shows PyTorch's faster setting and the ratio torch / ours (> 1: we are
//! faster).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

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
    /// PyTorch thread counts to try (its fastest is compared).
    #[arg(long, default_value = "1,2")]
    pub torch_threads: String,
    /// Our thread counts to run each workload at (RAYON_NUM_THREADS of the worker; burn's CPU
    /// backends use rayon), comma-separated [default: rayon's default, one per core].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Vec<u32>,
    /// Run our workloads with glibc's default allocator settings instead of
    /// `rnn_core::allocator::retain_freed_memory` (which `cargo xtask mnist` also applies).
    #[arg(long)]
    pub system_allocator: bool,
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
    /// Leave glibc's allocator settings alone.
    #[arg(long)]
    pub system_allocator: bool,
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
    for _ in 0..args.repeats {
        let t0 = Instant::now();
        for _ in 0..iters {
            w.step();
        }
        per.push(t0.elapsed().as_secs_f64() * 1e3 / iters as f64);
    }
    let mut sorted = per.clone();
    sorted.sort_by(f64::total_cmp);
    let row = json!({
        "workload": args.workload,
        "device": rnn_core::device::device_name(&device),
        "ms_per_step": sorted[sorted.len() / 2],
        "min_ms": sorted[0],
        "max_ms": sorted[sorted.len() - 1],
        "iters_per_repeat": iters,
        "peak_rss_mib": peak_rss_mib(),
        "allocator": if args.system_allocator { "system" } else { "retain_freed_memory" },
    });
    println!("{row}");
    Ok(())
}

fn torch_available() -> bool {
    Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the suite, prints the table, writes JSON.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let specs = rnn_bench::suite::specs();
    if args.list {
        for s in &specs {
            println!("{:<18} {}", s.name, s.about);
        }
        return Ok(());
    }
    let chosen: Vec<_> = if args.workload.is_empty() {
        specs.clone()
    } else {
        args.workload
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
            .collect::<anyhow::Result<_>>()?
    };
    let device_name = rnn_core::device::device_name(&device(args.device.as_deref())?);
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut rows = Vec::new();
    let threads: Vec<Option<u32>> = if args.threads.is_empty() {
        vec![None]
    } else {
        args.threads.iter().copied().map(Some).collect()
    };
    for spec in &chosen {
        for &n_threads in &threads {
            eprintln!(
                "bench: {} on {device_name}, threads {n_threads:?}",
                spec.name
            );
            let mut cmd = Command::new(&exe);
            match n_threads {
                Some(n) => cmd.env("RAYON_NUM_THREADS", n.to_string()),
                None => cmd.env_remove("RAYON_NUM_THREADS"),
            };
            cmd.args(["bench-worker", "--workload", &spec.name])
                .args(["--repeats", &args.repeats.to_string()])
                .args(["--min-repeat-s", &args.min_repeat_s.to_string()]);
            if let Some(d) = &args.device {
                cmd.args(["--device", d]);
            }
            if args.system_allocator {
                cmd.arg("--system-allocator");
            }
            let out = cmd.output().context("running bench-worker")?;
            anyhow::ensure!(
                out.status.success(),
                "workload {} failed:\n{}",
                spec.name,
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout);
            let mut row: Value = serde_json::from_str(line.trim())
                .with_context(|| format!("bench-worker output: {line}"))?;
            let ms = row["ms_per_step"].as_f64().context("ms_per_step")?;
            row["steps_per_s"] = json!(1e3 / ms);
            row["gflops"] = json!(spec.flops / (ms * 1e-3) / 1e9);
            row["about"] = json!(spec.about);
            row["threads"] = json!(n_threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                |n| n as usize
            ));
            rows.push(row);
        }
    }
    let torch = if args.no_torch {
        println!("PyTorch: skipped (--no-torch)");
        None
    } else if !torch_available() {
        println!("PyTorch: not installed (`python3 -c 'import torch'` fails): no ratios");
        None
    } else {
        Some(run_torch(args, &chosen)?)
    };
    if let Some(torch) = &torch {
        for row in &mut rows {
            let name = row["workload"].as_str().unwrap_or_default().to_string();
            let best = torch
                .iter()
                .filter(|t| t["workload"] == name.as_str())
                .min_by(|a, b| {
                    a["ms_per_step"]
                        .as_f64()
                        .unwrap_or(f64::MAX)
                        .total_cmp(&b["ms_per_step"].as_f64().unwrap_or(f64::MAX))
                });
            if let Some(best) = best {
                let t_ms = best["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                let ours = row["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                row["torch_ms_per_step"] = json!(t_ms);
                row["torch_threads"] = best["threads"].clone();
                row["torch_version"] = best["torch"].clone();
                row["ratio_torch_over_ours"] = json!(t_ms / ours);
            }
        }
    }
    print_table(&rows);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&rows)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    Ok(())
}

fn run_torch(args: &BenchArgs, chosen: &[rnn_bench::suite::Spec]) -> anyhow::Result<Vec<Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/torch/rnn_workloads.py");
    let names: Vec<&str> = chosen.iter().map(|s| s.name.as_str()).collect();
    eprintln!("bench: PyTorch ({} threads)", args.torch_threads);
    let out = Command::new("python3")
        .arg(&script)
        .args(["--workloads", &names.join(",")])
        .args(["--threads", &args.torch_threads])
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

fn print_table(rows: &[Value]) {
    println!(
        "| workload | device (threads) | ms/step (min..max) | steps/s | GFLOP/s | peak RSS MiB | PyTorch ms/step (threads) | torch / ours |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let torch = match r.get("torch_ms_per_step") {
            Some(t) => format!(
                "{:.2} ({})",
                t.as_f64().unwrap_or(f64::NAN),
                r["torch_threads"]
            ),
            None => "-".into(),
        };
        let ratio = r
            .get("ratio_torch_over_ours")
            .and_then(Value::as_f64)
            .map_or("-".into(), |x| format!("{x:.2}"));
        println!(
            "| {} | {} ({}) | {:.2} ({:.2}..{:.2}) | {:.1} | {:.1} | {:.0} | {torch} | {ratio} |",
            r["workload"].as_str().unwrap_or("?"),
            r["device"].as_str().unwrap_or("?"),
            r["threads"],
            f("ms_per_step"),
            f("min_ms"),
            f("max_ms"),
            f("steps_per_s"),
            f("gflops"),
            f("peak_rss_mib"),
        );
    }
}
