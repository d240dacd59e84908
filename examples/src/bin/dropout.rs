//! Dropout: three tanh `BasicRnnCell(100)` layers, each behind a `DropoutWrapper` keeping
//! inputs with probability 0.5 while training (1.0 when testing), in a `MultiRnnCell`, a dense
//! layer over the stacked outputs; MSE, Adam 0.01, 1500 iterations printing the training MSE
//! every 100. Saved, restored into a fresh model, and tested on the test instance with dropout
//! off.
//!
//! Run: `cargo run -p examples --bin dropout [-- --iterations 1500 --keep-prob 0.5]`

use std::path::PathBuf;

use clap::Parser;
use examples::chapter_figures::{predict_test_instance, testing_figure};
use examples::model_file::{restore_model, save_model};
use examples::series_model::dropout_stack;
use examples::series_training::{EVAL_WINDOWS, SeriesTraining, train_series};

/// A deep RNN with dropout on the series.
#[derive(Parser)]
struct Args {
    /// Training iterations.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Input keep probability while training (1.0: no dropout; testing always uses 1.0).
    #[arg(long, default_value_t = 0.5)]
    keep_prob: f64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = rnn_train::args::positive_f64)]
    lr: f64,
    /// Layers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    layers: u32,
    /// Units per layer.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    neurons: u32,
    /// Seed of the weights, the dropout masks and the training windows.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the model, the figure, the checkpoints and metrics.csv go.
    #[arg(long, default_value = "target/examples/dropout")]
    out: PathBuf,
    /// Backend: flex, ndarray or wgpu (as compiled in).
    #[arg(long)]
    device: Option<String>,
}

const N_STEPS: usize = 20;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = SeriesTraining::book(args.lr, args.out.clone());
    config.iterations = args.iterations as usize;
    config.seed = args.seed;
    examples::memory::check(
        &format!("--layers {} --neurons {}", args.layers, args.neurons),
        &examples::memory::series_estimate(args.layers, args.neurons, config.batch_size, N_STEPS),
        &examples::memory::limit(None, ""),
        "--layers or --neurons",
    )?;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&args.out)?;
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    let (layers, neurons) = (args.layers as usize, args.neurons as usize);
    let model = dropout_stack(layers, neurons, args.keep_prob, &train_device)
        .map_err(|e| anyhow::anyhow!("--keep-prob: {e}"))?;
    println!(
        "{layers} x BasicRnnCell({neurons}) with input keep {} on {}: {} iterations, batch {}, \
         Adam {}",
        args.keep_prob,
        rnn_core::device::device_name(&device),
        config.iterations,
        config.batch_size,
        config.learning_rate
    );
    let start = std::time::Instant::now();
    let trained = train_series(model, &config, &train_device, |i, mse| {
        println!("{i} Training MSE: {mse}");
    })?;
    println!("trained in {:.1} s", start.elapsed().as_secs_f64());
    println!(
        "MSE with dropout off, {EVAL_WINDOWS} unseen windows: {:.4}",
        trained.eval_mse
    );
    let path = args.out.join("model.bpk");
    save_model(&trained.model, &path)?;
    println!("saved: {}", path.display());

    // Testing: a fresh model (keep probability 1.0: no autodiff device), weights from the file.
    let fresh = dropout_stack(layers, neurons, args.keep_prob, &device)?;
    let model = restore_model(fresh, &path, "model file")?;
    let (y_pred, mse) = predict_test_instance(&model, N_STEPS, &device)?;
    println!("restored {}; y_pred on the test instance:", path.display());
    println!("{y_pred:.3?}");
    println!("test instance MSE: {mse:.4}");
    let figure = args.out.join("dropout.png");
    testing_figure(&figure, "Testing the model (dropout)", &y_pred)?;
    println!("figure: {}", figure.display());
    Ok(())
}
