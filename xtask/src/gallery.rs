//! `cargo xtask gallery`: regenerates the README's figures. Builds the plotting binaries of
//! `examples` with the workspace's features (`cargo build --workspace`, the build `cargo test
//! --workspace` shares), runs each at the book's settings, keeps each one's printed output
//! beside its figure, and copies both into `docs/gallery/`; `--only` runs some of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// Flags of `cargo xtask gallery`.
#[derive(clap::Args, Debug)]
pub struct GalleryArgs {
    /// Where the figures and outputs go (relative to the workspace root).
    #[arg(long, default_value = "docs/gallery")]
    pub out: PathBuf,
    /// Run only these entries, by name: time_series, forecast, forecast_no_wrapper, creative,
    /// dropout, encoder_decoder, vector_to_seq [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME]")]
    pub only: Vec<String>,
}

/// One gallery entry: its name (of the PNG and the text in `docs/gallery/`), the binary, and
/// the arguments before `--out`.
type Run = (&'static str, &'static str, &'static [&'static str]);

/// `(name, binary, extra arguments)` of every run; creative reads the forecast's model, so it
/// comes after it.
const RUNS: &[Run] = &[
    ("time_series", "time_series", &[]),
    ("forecast", "forecast", &[]),
    ("forecast_no_wrapper", "forecast", &["--no-wrapper"]),
    ("creative", "creative", &[]),
    ("dropout", "dropout", &[]),
    ("encoder_decoder", "encoder_decoder", &[]),
    ("vector_to_seq", "vector_to_seq", &[]),
];

/// The runs `only` names, in [`RUNS`]' order (all of them when `only` is empty); an unknown
/// name is an error listing the known ones.
fn select(only: &[String]) -> anyhow::Result<Vec<Run>> {
    if let Some(bad) = only
        .iter()
        .find(|n| !RUNS.iter().any(|r| r.0 == n.as_str()))
    {
        let known: Vec<&str> = RUNS.iter().map(|r| r.0).collect();
        anyhow::bail!(
            "--only: no gallery entry `{bad}` (expected some of {})",
            known.join(", ")
        );
    }
    Ok(RUNS
        .iter()
        .filter(|r| only.is_empty() || only.iter().any(|n| n == r.0))
        .copied()
        .collect())
}

/// The executables a `cargo build --message-format=json` printed, by binary name.
fn executables(json_lines: &str) -> HashMap<String, PathBuf> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect()
}

/// Builds `bins` with the workspace's features; their executables by name.
fn build(root: &Path, bins: &[&str]) -> anyhow::Result<HashMap<String, PathBuf>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root).args([
        "build",
        "--workspace",
        "--message-format=json-render-diagnostics",
    ]);
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    eprintln!(
        "gallery: cargo build --workspace --bin {}",
        bins.join(" --bin ")
    );
    let output = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo build")?;
    anyhow::ensure!(output.status.success(), "cargo build failed");
    let found = executables(&String::from_utf8_lossy(&output.stdout));
    for bin in bins {
        anyhow::ensure!(
            found.contains_key(*bin),
            "cargo build named no executable `{bin}`"
        );
    }
    Ok(found)
}

/// Runs the selected binaries (every one without `--only`) and copies `<name>.png` and
/// `<name>.txt` (its stdout) into `args.out`.
pub fn run(args: &GalleryArgs) -> anyhow::Result<()> {
    let runs = select(&args.only)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    let work = root.join("target").join("gallery");
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let model = work.join("forecast").join("model.bpk");
    if runs.iter().any(|r| r.1 == "creative") && !runs.iter().any(|r| r.0 == "forecast") {
        anyhow::ensure!(
            model.is_file(),
            "creative reads the forecast's model {}, which no earlier run wrote: add forecast to \
             --only",
            model.display()
        );
    }
    let mut bins: Vec<&str> = runs.iter().map(|r| r.1).collect();
    bins.dedup();
    let exes = build(&root, &bins)?;
    for (name, bin, extra) in runs {
        let dir = work.join(name);
        let mut cmd = Command::new(&exes[bin]);
        cmd.current_dir(&root).args(extra).arg("--out").arg(&dir);
        if bin == "creative" {
            cmd.arg("--model").arg(&model);
        }
        eprintln!("gallery: {name}");
        let output = cmd.output().with_context(|| format!("running {bin}"))?;
        anyhow::ensure!(
            output.status.success(),
            "{bin} {extra:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let png = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "png"))
            .with_context(|| format!("{bin} wrote no PNG into {}", dir.display()))?;
        std::fs::copy(&png, out.join(format!("{name}.png")))
            .with_context(|| format!("copying {}", png.display()))?;
        // Paths in the output are made relative to the workspace, so the file is the same on
        // every machine.
        let text =
            String::from_utf8_lossy(&output.stdout).replace(&format!("{}/", root.display()), "");
        std::fs::write(out.join(format!("{name}.txt")), text)?;
        println!("{}", out.join(format!("{name}.png")).display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(runs: &[Run]) -> Vec<&str> {
        runs.iter().map(|r| r.0).collect()
    }

    #[test]
    fn only_selects_entries_in_run_order_and_refuses_unknown_names() {
        assert_eq!(select(&[]).unwrap().len(), RUNS.len());
        let only = ["vector_to_seq".to_string(), "encoder_decoder".to_string()];
        assert_eq!(
            names(&select(&only).unwrap()),
            ["encoder_decoder", "vector_to_seq"]
        );
        let only = ["forecast_no_wrapper".to_string()];
        let runs = select(&only).unwrap();
        assert_eq!(runs[0].1, "forecast");
        assert_eq!(runs[0].2, ["--no-wrapper"]);
        let err = select(&["seq2seq".to_string()]).unwrap_err().to_string();
        assert!(
            err.starts_with("--only: no gallery entry `seq2seq` (expected some of time_series,"),
            "{err}"
        );
    }

    #[test]
    fn the_built_executables_are_read_from_cargos_messages() {
        let json = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"examples"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"encoder_decoder"},"executable":"/t/debug/encoder_decoder"}
not json
{"reason":"build-finished","success":true}"#;
        let exes = executables(json);
        assert_eq!(exes.len(), 1);
        assert_eq!(
            exes["encoder_decoder"],
            PathBuf::from("/t/debug/encoder_decoder")
        );
    }
}
