//! Forecasting the series with a relu RNN of 100 units and an `OutputProjectionWrapper` to one
//! output (the book's model): MSE, Adam 0.001, batches of 50 windows of 20 steps, 1500
//! iterations printing the MSE every 100. The trained model is saved (burn's recorder),
//! restored into a freshly built model (as the book restores in a new session), and predicts
//! the test instance; the figure shows instance, target and prediction.
//!
//! `--no-wrapper` builds the book's other model: the plain relu cell, its outputs stacked to
//! `[B * 20, 100]`, one dense layer to `[B * 20, 1]`, reshaped back to `[B, 20, 1]`.
//!
//! Run: `cargo run -p examples --bin forecast [--features wgpu] [-- --no-wrapper]`

use std::path::PathBuf;

use clap::Parser;
use examples::chapter_figures::{predict_test_instance, testing_figure};
use examples::model_file::{restore_model, save_model};
use examples::series_model::{ProjectedRnn, SeriesModel, relu_rnn_with_dense};
use examples::series_training::{EVAL_WINDOWS, SeriesTraining, train_series};

/// Forecasting the time series one step ahead.
#[derive(Parser)]
struct Args {
    /// Dense layer over the stacked outputs instead of an OutputProjectionWrapper.
    #[arg(long)]
    no_wrapper: bool,
    /// Training iterations.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.001, value_parser = rnn_train::args::positive_f64)]
    lr: f64,
    /// Units of the relu cell.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    neurons: u32,
    /// Seed of the weights and of the training windows.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the model, the figure, the checkpoints and metrics.csv go [default: target/examples/forecast, or
    /// target/examples/forecast_no_wrapper with --no-wrapper].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    device: Option<String>,
}

const N_STEPS: usize = 20;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let neurons = args.neurons as usize;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.no_wrapper {
            "target/examples/forecast_no_wrapper"
        } else {
            "target/examples/forecast"
        })
    });
    let mut config = SeriesTraining::book(args.lr, out.clone());
    config.iterations = args.iterations as usize;
    config.seed = args.seed;
    examples::memory::check(
        &format!("--neurons {neurons}"),
        &examples::memory::series_estimate(1, args.neurons, config.batch_size, N_STEPS),
        &examples::memory::limit(None, ""),
        "--neurons",
    )?;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&out)?;
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    println!(
        "{} on {}: relu BasicRnnCell({neurons}), {} iterations, batch {}, Adam {}",
        if args.no_wrapper {
            "dense layer over the stacked outputs"
        } else {
            "OutputProjectionWrapper"
        },
        rnn_core::device::device_name(&device),
        config.iterations,
        config.batch_size,
        config.learning_rate
    );
    if args.no_wrapper {
        let model = relu_rnn_with_dense(neurons, &train_device)?;
        run(model, &config, &train_device, &out, || {
            relu_rnn_with_dense(neurons, &device).expect("the training model's sizes")
        })
    } else {
        let model = ProjectedRnn::new(neurons, &train_device)?;
        run(model, &config, &train_device, &out, || {
            ProjectedRnn::new(neurons, &device).expect("the training model's sizes")
        })
    }
}

fn run<M: SeriesModel>(
    model: M,
    config: &SeriesTraining,
    train_device: &burn::tensor::Device,
    out: &std::path::Path,
    fresh: impl Fn() -> M,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let trained = train_series(model, config, train_device, |i, mse| {
        println!("{i} \tMSE: {mse}");
    })?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "trained in {seconds:.1} s ({:.2} ms per iteration)",
        seconds * 1e3 / config.iterations as f64
    );
    println!(
        "MSE after {} iterations, {EVAL_WINDOWS} unseen windows: {:.4} (the book: ~0.04; \
         target <= 0.1: {})",
        config.iterations,
        trained.eval_mse,
        if trained.eval_mse <= 0.1 {
            "met"
        } else {
            "NOT met"
        }
    );
    let path = out.join("model.bpk");
    save_model(&trained.model, &path)?;
    println!("saved: {}", path.display());
    drop(trained);

    // As the book's new tf.Session: a freshly built model, its weights from the file.
    let model = restore_model(fresh(), &path, "model file")?;
    let device = train_device.clone().inner();
    let (y_pred, mse) = predict_test_instance(&model, N_STEPS, &device)?;
    println!("restored {}; y_pred on the test instance:", path.display());
    println!("{y_pred:.3?}");
    println!("test instance MSE: {mse:.4}");
    let figure = out.join("forecast.png");
    testing_figure(&figure, "Testing the model", &y_pred)?;
    println!("figure: {}", figure.display());
    Ok(())
}
