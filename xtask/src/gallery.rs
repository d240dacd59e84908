//! `cargo xtask gallery`: regenerates the README's figures. Runs each plotting binary of
//! `examples` at the book's settings (the same build as `cargo run -p examples`), keeps each
//! one's printed output beside its figure, and copies both into `docs/gallery/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// Flags of `cargo xtask gallery`.
#[derive(clap::Args, Debug)]
pub struct GalleryArgs {
    /// Where the figures and outputs go (relative to the workspace root).
    #[arg(long, default_value = "docs/gallery")]
    pub out: PathBuf,
}

/// `(name, binary, extra arguments)` of every run; creative reads the forecast's model, so it
/// comes after it.
const RUNS: &[(&str, &str, &[&str])] = &[
    ("time_series", "time_series", &[]),
    ("forecast", "forecast", &[]),
    ("forecast_no_wrapper", "forecast", &["--no-wrapper"]),
    ("creative", "creative", &[]),
    ("dropout", "dropout", &[]),
    ("encoder_decoder", "encoder_decoder", &[]),
    ("vector_to_seq", "vector_to_seq", &[]),
];

/// Runs every binary and copies `<name>.png` and `<name>.txt` (its stdout) into `args.out`.
pub fn run(args: &GalleryArgs) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    let work = root.join("target").join("gallery");
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let model = work.join("forecast").join("model.bpk");
    for (name, bin, extra) in RUNS {
        let dir = work.join(name);
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args(["run", "--quiet", "-p", "examples", "--bin", bin, "--"])
            .args(*extra)
            .arg("--out")
            .arg(&dir);
        if *bin == "creative" {
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
