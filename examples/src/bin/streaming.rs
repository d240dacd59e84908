//! Stateful streaming (Keras' `stateful=True`): the book's forecaster (a relu RNN of 100 units
//! with an `OutputProjectionWrapper`, trained on windows of 20 steps) reads long series that
//! arrive 20 values at a time. `rnn_core::StatefulRnn` keeps each stream's state from one chunk
//! to the next, so the predictions equal those of one long `dynamic_rnn` run over the whole
//! series; the binary prints the largest difference, the wall time of each way, and what is
//! lost by starting every chunk from a zero state instead.
//!
//! The model is trained first (the book's 1500 iterations, ~5 s; saved to `--out`), or
//! restored from a file `forecast` or this binary saved (`--model`).
//!
//! Run: `cargo run -p examples --bin streaming [-- --steps 1000 --chunk 20 --streams 4]`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use examples::model_file::{restore_model, save_model};
use examples::series_model::ProjectedRnn;
use examples::series_training::{SeriesTraining, train_series};
use rnn_core::{StatefulRnn, dynamic_rnn};
use rnn_data::time_series::{RESOLUTION, time_series};

/// A long series fed to a stateful RNN in chunks, against one long run.
#[derive(Parser)]
struct Args {
    /// Steps of each long series.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Steps per chunk fed to the stateful runner (the last one may be shorter).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    chunk: u32,
    /// Streams run side by side (series starting 0.7 apart in time).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    streams: u32,
    /// Restore this model file (from `forecast` or `streaming`) instead of training.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training iterations (when not restoring).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Units of the relu cell (of the model file too, when restoring).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    neurons: u32,
    /// Seed of the weights and of the training windows.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the trained model goes [default: target/examples/streaming].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    device: Option<String>,
}

/// Time between the starts of two streams.
const STREAM_OFFSET: f64 = 0.7;
/// Predictions of stream 0 printed (so two runs can be compared by eye or by a test).
const SHOWN: usize = 5;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (steps, chunk, streams) = (
        args.steps as usize,
        args.chunk as usize,
        args.streams as usize,
    );
    let neurons = args.neurons as usize;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/examples/streaming"));
    let mut config = SeriesTraining::book(0.001, out.join("training"));
    config.iterations = args.iterations as usize;
    config.seed = args.seed;
    let limit = examples::memory::limit(None, "");
    examples::memory::check(
        &format!("--neurons {neurons}"),
        &examples::memory::series_estimate(1, args.neurons, config.batch_size, config.n_steps),
        &limit,
        "--neurons",
    )?;
    // One long run keeps the cell's and the projection's outputs, [B, T, H] and [B, T, 1],
    // the chunked run the same again; the series and its predictions on the host.
    let floats = |h: u128| (streams as u128) * (steps as u128) * h;
    examples::memory::check(
        &format!("--streams {streams} --steps {steps} --neurons {neurons}"),
        &examples::memory::Estimate::new(
            0,
            1,
            floats(neurons as u128 + 1).saturating_mul(2),
            floats(4).saturating_mul(4),
        ),
        &limit,
        "--streams, --steps or --neurons",
    )?;
    let device = examples::device(args.device.as_deref())?;
    let model = match &args.model {
        Some(path) => {
            let model = restore_model(ProjectedRnn::new(neurons, &device)?, path, "--model")?;
            println!(
                "restored {} (relu BasicRnnCell({neurons}) + OutputProjectionWrapper(1))",
                path.display()
            );
            model
        }
        None => train(&args, &config, &device)?,
    };

    let series = long_series(streams, steps);
    let x = Tensor::<3>::from_data(
        TensorData::new(series.clone(), [streams, steps, 1]),
        &device,
    );
    println!(
        "{streams} series of {steps} steps (t from 0.0, 0.7, ... in steps of {RESOLUTION}), \
         fed in chunks of {chunk} and in one run, on {}",
        rnn_core::device::device_name(&device)
    );

    // Warm-up: the first call of a process pays one-time costs (allocations, thread pool).
    dynamic_rnn(
        &model.cell,
        x.clone().narrow(1, 0, chunk.min(steps)),
        None,
        None,
    )?;

    let start = Instant::now();
    let mut runner = StatefulRnn::new(model.cell.clone(), streams, &device)?;
    let mut outputs = Vec::new();
    for begin in (0..steps).step_by(chunk) {
        let len = chunk.min(steps - begin);
        outputs.push(runner.run(x.clone().narrow(1, begin, len))?);
    }
    let n_chunks = outputs.len();
    let chunked = host(Tensor::cat(outputs, 1))?;
    let chunked_time = start.elapsed();

    let start = Instant::now();
    let (long, _) = dynamic_rnn(&model.cell, x.clone(), None, None)?;
    let long = host(long)?;
    let long_time = start.elapsed();

    // What the runner saves: every chunk from a zero state, as a stateless model would run.
    let mut restarted = Vec::new();
    for begin in (0..steps).step_by(chunk) {
        let len = chunk.min(steps - begin);
        restarted.push(dynamic_rnn(&model.cell, x.clone().narrow(1, begin, len), None, None)?.0);
    }
    let restarted = host(Tensor::cat(restarted, 1))?;

    println!(
        "first predictions of stream 0: {:.4?}",
        &chunked[..SHOWN.min(steps)]
    );
    println!(
        "max |chunked - one run| = {:.3e} over {} predictions",
        max_abs_diff(&chunked, &long),
        chunked.len()
    );
    println!(
        "max |each chunk from a zero state - one run| = {:.3e} (without the kept state)",
        max_abs_diff(&restarted, &long)
    );
    println!(
        "one-step-ahead MSE, streamed: {:.4}; each chunk from zero: {:.4}",
        next_value_mse(&chunked, &series, streams, steps),
        next_value_mse(&restarted, &series, streams, steps)
    );
    println!(
        "wall time: {n_chunks} chunks {:.2} ms ({:.3} ms per chunk), one run {:.2} ms",
        chunked_time.as_secs_f64() * 1e3,
        chunked_time.as_secs_f64() * 1e3 / n_chunks as f64,
        long_time.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Trains the book's forecaster on the autodiff twin of `device`, saves it to `--out`, and
/// returns it on `device` (dropout-free, so `valid()` only moves it off the graph).
fn train(args: &Args, config: &SeriesTraining, device: &Device) -> anyhow::Result<ProjectedRnn> {
    let out = config
        .out_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    examples::check_out_dir(&out)?;
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    let model = ProjectedRnn::new(args.neurons as usize, &train_device)?;
    let start = Instant::now();
    let trained = train_series(model, config, &train_device, |_, _| {})?;
    println!(
        "trained relu BasicRnnCell({}) + OutputProjectionWrapper(1): {} iterations in {:.1} s, \
         MSE on unseen windows {:.4}",
        args.neurons,
        config.iterations,
        start.elapsed().as_secs_f64(),
        trained.eval_mse
    );
    let path = out.join("model.bpk");
    save_model(&trained.model, &path)?;
    println!("saved: {}", path.display());
    Ok(trained.model.valid())
}

/// `streams` series of `steps` values, stream s starting at `t = s * STREAM_OFFSET`, row-major
/// `[streams * steps]` (the `[B, T, 1]` input's layout).
fn long_series(streams: usize, steps: usize) -> Vec<f32> {
    (0..streams)
        .flat_map(|s| {
            (0..steps)
                .map(move |i| time_series(s as f64 * STREAM_OFFSET + i as f64 * RESOLUTION) as f32)
        })
        .collect()
}

/// A tensor's values on the host, row-major.
fn host(t: Tensor<3>) -> anyhow::Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("reading the predictions back")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// MSE of each prediction against the series' next value (the last step has none).
fn next_value_mse(pred: &[f32], series: &[f32], streams: usize, steps: usize) -> f64 {
    let mut sum = 0.0;
    let mut n = 0usize;
    for s in 0..streams {
        for i in 0..steps.saturating_sub(1) {
            let e = (pred[s * steps + i] - series[s * steps + i + 1]) as f64;
            sum += e * e;
            n += 1;
        }
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}
