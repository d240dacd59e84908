//! The generated series `t sin(t) / 3 + 2 sin(5t)`: one random training batch printed as the
//! book prints it (`np.c_[X_batch[0], y_batch[0]]`: inputs beside targets one step later), and
//! the section's two-panel figure (the whole curve with a training instance; the instance
//! with its targets).
//!
//! Run: `cargo run -p examples --bin time_series [-- --out DIR]`

use std::path::PathBuf;

use clap::Parser;
use examples::chapter_figures::time_series_figure;
use rnn_data::TimeSeries;

/// The generated time series and a training instance.
#[derive(Parser)]
struct Args {
    /// Where the figure goes.
    #[arg(long, default_value = "target/examples/time_series")]
    out: PathBuf,
    /// Steps per window.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..300))]
    n_steps: u32,
    /// Seed of the window generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    examples::check_out_dir(&args.out)?;
    let n_steps = args.n_steps as usize;
    let w = TimeSeries::new(args.seed).next_windows(1, n_steps)?;
    println!(
        "X_batch, y_batch = next_batch(1, {n_steps}): window from t = {:.3}",
        w.starts[0]
    );
    println!("   X_batch     y_batch");
    for (x, y) in w.inputs.iter().zip(&w.targets) {
        println!("{x:10.5}  {y:10.5}");
    }
    let path = args.out.join("time_series.png");
    time_series_figure(&path, n_steps)?;
    println!("figure: {}", path.display());
    Ok(())
}
