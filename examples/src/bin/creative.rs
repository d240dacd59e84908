//! Creative RNN: restores the model `forecast` saved and grows new sequences from a seed, each
//! new value the model's prediction for the step after the last 20 (the book's loop). Two
//! seeds, as the book's two-panel figure: 20 zeros, and 20 real values of the series (the
//! book's `t = 30 + 0.1 i`, just past the training range).
//!
//! Run (after `forecast`): `cargo run -p examples --bin creative [-- --model FILE --steps 300]`

use std::path::PathBuf;

use clap::Parser;
use examples::chapter_figures::{creative_figure, creative_seed};
use examples::generate::grow;
use examples::model_file::restore_model;
use examples::series_model::ProjectedRnn;

/// Generating new sequences with the trained forecaster.
#[derive(Parser)]
struct Args {
    /// The model `forecast` saved (same --neurons).
    #[arg(long, default_value = "target/examples/forecast/model.bpk")]
    model: PathBuf,
    /// Units of its relu cell.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    neurons: u32,
    /// Values to generate after each seed (at most 1,000,000: each is one forward pass).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    steps: u32,
    /// Where the figure goes.
    #[arg(long, default_value = "target/examples/creative")]
    out: PathBuf,
    /// Backend: flex, ndarray or wgpu (as compiled in).
    #[arg(long)]
    device: Option<String>,
}

const N_STEPS: usize = 20;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Inference: the weights once, a few [2, 20, H] activations, and the two grown sequences.
    let h = args.neurons as u128;
    let estimate = examples::memory::Estimate::new(
        examples::memory::recurrent_parameters(1, 1, h, 1) + h + 1,
        1,
        2 * N_STEPS as u128 * h * 2,
        2 * (N_STEPS as u128 + args.steps as u128) * 4,
    );
    examples::memory::check(
        &format!("--neurons {} --steps {}", args.neurons, args.steps),
        &estimate,
        &examples::memory::limit(None, ""),
        "--neurons or --steps",
    )?;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&args.out)?;
    let model = restore_model(
        ProjectedRnn::new(args.neurons as usize, &device)?,
        &args.model,
        "--model",
    )?;
    println!("restored {}", args.model.display());
    let zeros = vec![0.0; N_STEPS];
    let seed = creative_seed(N_STEPS);
    let grown = grow(
        &model,
        &[zeros, seed],
        N_STEPS,
        args.steps as usize,
        &device,
    )?;
    for (name, seq) in ["from 20 zeros", "from the series at t = 30.0 .. 31.9"]
        .iter()
        .zip(&grown)
    {
        let new = &seq[N_STEPS..];
        let (lo, hi) = new
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        println!(
            "{name}: {} values generated, range [{lo:.2}, {hi:.2}], first five {:.3?}",
            new.len(),
            &new[..new.len().min(5)]
        );
    }
    let path = args.out.join("creative.png");
    creative_figure(
        &path,
        N_STEPS,
        &[
            ("Creative RNN: seed of 20 zeros", &grown[0]),
            ("Creative RNN: seed from the series", &grown[1]),
        ],
    )?;
    println!("figure: {}", path.display());
    Ok(())
}
