//! Sequence to sequence on the chapter's series: an encoder reads a window of 20 values, its
//! final state starts a decoder that emits the next 10 (teacher forcing in training: each step
//! reads the true previous value; at test time its own outputs are fed back, through
//! `rnn_core::Decoder`); the model and its training task are `examples::seq2seq`, trained by
//! `rnn_train::fit` (checkpoints and `metrics.csv` in `--out/encoder_decoder/`: every 100
//! iterations, the greedy forecast's MSE on the unseen windows). Beside it, the book's one-step
//! forecaster (a relu `BasicRNNCell` with an `OutputProjectionWrapper`), trained in the same run
//! with the same budget (iterations, batch, Adam; `--out/forecaster/`), forecasts 10 steps by
//! feeding its predictions back into its 20-value window 10 times.
//!
//! Prints the MSE over the 10 future steps on unseen windows of both, of the untrained
//! encoder-decoder and of repeating the last seen value, and draws both forecasts against the
//! truth for a few windows into `--out/encoder_decoder.png`.
//!
//! Run: `cargo run -p examples --bin encoder_decoder [-- --iterations 1500]`

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use clap::Parser;
use examples::generate::grow;
use examples::plot::{BLUE, GREEN, Panel, RED, Series, Style, figure};
use examples::seq2seq::{EncoderDecoderTask, EncoderDecoderTraining, N_IN, N_OUT, Windows};
use examples::series_model::ProjectedRnn;
use examples::series_training::{SeriesTraining, train_series};
use rnn_data::time_series::RESOLUTION;
use rnn_train::{Steps, Task, fit, mse_over_steps};

/// An encoder-decoder against the iterated one-step forecaster, 10 steps ahead.
#[derive(Parser)]
struct Args {
    /// Training iterations (each model; one batch each).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Windows per batch.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Units of each relu cell (encoder, decoder, forecaster).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    neurons: u32,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.001, value_parser = rnn_train::args::positive_f64)]
    lr: f64,
    /// Unseen windows in the evaluation.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    eval_windows: u32,
    /// Seed of the weights and of the training and evaluation windows.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the figure, the checkpoints and the metrics go.
    #[arg(long, default_value = "target/examples/encoder_decoder")]
    out: PathBuf,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    device: Option<String>,
}

/// Windows drawn in the figure.
const N_SHOWN: usize = 3;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let neurons = args.neurons as usize;
    let batch_size = args.batch_size as usize;
    // Three relu cells of the forecaster's size.
    let estimate = examples::memory::series_estimate(3, args.neurons, batch_size, N_IN + N_OUT);
    examples::memory::check(
        &format!("--neurons {} --batch-size {batch_size}", args.neurons),
        &estimate,
        &examples::memory::limit(None, ""),
        "--neurons or --batch-size",
    )?;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&args.out)?;
    let task = EncoderDecoderTask::new(
        EncoderDecoderTraining {
            iterations: args.iterations as usize,
            batch_size,
            neurons,
            learning_rate: args.lr,
            seed: args.seed,
            eval_windows: args.eval_windows as usize,
            print_every: 100,
            out_dir: args.out.join("encoder_decoder"),
        },
        &device,
    )?;
    let train_device = device.clone().autodiff();
    println!(
        "on {}: relu cells of {neurons} units, {} iterations of batches of {batch_size}, Adam {}",
        rnn_core::device::device_name(&device),
        args.iterations,
        args.lr
    );

    // The model `fit` starts from: it seeds the device with the seed, then builds the task's
    // model (its weights drawn at once).
    train_device.seed(args.seed);
    let untrained = task.model(&train_device)?;
    let start = std::time::Instant::now();
    let seq2seq = fit(&task.trainer(), &task, &train_device)?.model;
    println!(
        "encoder-decoder trained in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let mut config = SeriesTraining::book(args.lr, args.out.join("forecaster"));
    config.iterations = args.iterations as usize;
    config.batch_size = batch_size;
    config.seed = args.seed;
    // The forecaster from the same seed, as `forecast` trains it (its weights drawn at its
    // first step; the training does not reseed).
    train_device.seed(args.seed);
    let forecaster = ProjectedRnn::new(neurons, &train_device)?;
    let start = std::time::Instant::now();
    let forecaster = train_series(forecaster, &config, &train_device, |_, _| {})?;
    println!(
        "one-step forecaster trained in {:.1} s (its one-step MSE on unseen windows: {:.4})",
        start.elapsed().as_secs_f64(),
        forecaster.eval_mse
    );

    // The task's unseen windows: another seed than training's.
    let test = task.test();
    let (past, future) = task.test_tensors();
    let seq2seq_pred = seq2seq.valid().forecast(past.clone())?;
    let untrained_pred = untrained.valid().forecast(past.clone())?;
    let seeds: Vec<Vec<f32>> = test.past.chunks(N_IN).map(<[f32]>::to_vec).collect();
    let grown = grow(&forecaster.model.valid(), &seeds, N_IN, N_OUT, &device)?;
    let iterated: Vec<f32> = grown.iter().flat_map(|s| s[N_IN..].to_vec()).collect();
    let iterated_pred = Tensor::<3>::from_data(
        TensorData::new(iterated.clone(), [test.batch, N_OUT, 1]),
        &device,
    );
    let last_value = past.narrow(1, N_IN - 1, 1).repeat_dim(1, N_OUT);
    let mse = |pred: Tensor<3>| -> anyhow::Result<f32> {
        Ok(mse_over_steps(pred, future.clone(), &Steps::All)?.into_scalar::<f32>())
    };
    println!(
        "MSE over the {N_OUT} future steps, {} unseen windows:",
        test.batch
    );
    let seq2seq_host = host(&seq2seq_pred)?;
    for (name, pred) in [
        ("encoder-decoder", seq2seq_pred),
        ("iterated one-step forecaster", iterated_pred),
        ("last value repeated", last_value),
        ("untrained encoder-decoder", untrained_pred),
    ] {
        println!("  {name}: {:.5}", mse(pred)?);
    }

    let path = args.out.join("encoder_decoder.png");
    draw(&path, test, &seq2seq_host, &iterated)?;
    println!("figure: {}", path.display());
    Ok(())
}

fn host(t: &Tensor<3>) -> anyhow::Result<Vec<f32>> {
    Ok(t.to_data().try_into_vec_as::<f32>()?)
}

/// One panel per shown window: the 20 values read (line), the 10 true future values
/// (circles) and both forecasts.
fn draw(path: &Path, test: &Windows, seq2seq: &[f32], iterated: &[f32]) -> anyhow::Result<()> {
    let panels: Vec<Panel> = (0..N_SHOWN.min(test.batch))
        .map(|b| {
            let t0 = test.starts[b];
            let at = |k: usize| t0 + k as f64 * RESOLUTION;
            let points = |values: &[f32], first: usize| -> Vec<(f64, f64)> {
                values
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (at(first + k), v as f64))
                    .collect()
            };
            let future = |v: &[f32]| v[b * N_OUT..(b + 1) * N_OUT].to_vec();
            Panel::new(
                &format!("Window at t = {t0:.1}"),
                "Time",
                if b == 0 { "Value" } else { "" },
            )
            .with(Series::new(
                "read by the encoder",
                points(&test.past[b * N_IN..(b + 1) * N_IN], 0),
                BLUE,
                Style::Line { width: 3 },
            ))
            .with(Series::new(
                "truth",
                points(&future(&test.future), N_IN),
                BLUE,
                Style::Circles { radius: 6 },
            ))
            .with(Series::new(
                "encoder-decoder",
                points(&future(seq2seq), N_IN),
                RED,
                Style::LineWithPoints {
                    width: 2,
                    radius: 3,
                },
            ))
            .with(Series::new(
                "one-step forecaster x10",
                points(&future(iterated), N_IN),
                GREEN,
                Style::LineWithPoints {
                    width: 2,
                    radius: 3,
                },
            ))
            .legend((b == 0).then_some(examples::plot::LegendAt::LowerLeft))
        })
        .collect();
    Ok(figure(path, 560, 420, &panels)?)
}
