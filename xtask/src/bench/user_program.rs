//! The `user-program` row: the separate crate `benches/user-program` (`rnn-user-program`), a
//! user's `main` that runs the `mnist-train` step with no tuning, built in xtask's profile and
//! run as a child process.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::{Value, json};

use super::BenchArgs;

/// The row's name (PyTorch's script runs `mnist-train`'s model for it).
pub const NAME: &str = "user-program";

/// The row's spec: `mnist-train`'s size (the program runs the same step).
pub fn spec(suite: &[rnn_bench::suite::Spec]) -> anyhow::Result<rnn_bench::suite::Spec> {
    let mnist = suite
        .iter()
        .find(|s| s.name == "mnist-train")
        .context("the suite has no `mnist-train` for the user program's size")?;
    Ok(rnn_bench::suite::Spec {
        name: NAME.to_string(),
        about: "benches/user-program: mnist-train's step in a separate crate's main, no tuning"
            .to_string(),
        ..mnist.clone()
    })
}

/// Builds `rnn-user-program` with cargo into xtask's own target directory and profile (the
/// directory of `xtask_exe`) and returns the binary's path.
pub fn build(xtask_exe: &Path) -> anyhow::Result<PathBuf> {
    let dir = xtask_exe
        .parent()
        .context("the xtask binary has no directory")?;
    let target = dir
        .parent()
        .context("the xtask binary is not in a target directory")?;
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => anyhow::bail!("no profile directory above {}", xtask_exe.display()),
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: building rnn-user-program ({profile} profile)");
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "rnn-user-program",
            "--profile",
            profile,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .context("running cargo to build rnn-user-program")?;
    anyhow::ensure!(status.success(), "building rnn-user-program failed");
    Ok(dir.join(format!("rnn-user-program{}", std::env::consts::EXE_SUFFIX)))
}

/// Runs the program once with the harness's protocol (`--repeats`, `--min-repeat-s`) and
/// returns its row. The child gets no RAYON_NUM_THREADS: it runs as a user's program would.
pub fn run(args: &BenchArgs, exe: &Path) -> anyhow::Result<Value> {
    let mut cmd = Command::new(exe);
    cmd.env_remove("RAYON_NUM_THREADS")
        .args(["--repeats", &args.repeats.to_string()])
        .args(["--min-repeat-s", &args.min_repeat_s.to_string()]);
    if let Some(d) = &args.device {
        cmd.env("BURN_DEVICE", d);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed:\n{}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let mut row: Value = serde_json::from_str(line.trim())
        .with_context(|| format!("rnn-user-program output: {line}"))?;
    row["workload"] = json!(NAME);
    row["mode"] = json!("user");
    row["allocator"] = json!("system");
    Ok(row)
}
