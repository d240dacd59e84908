//! Vector to sequence: a digit drawn row by row from its label. The one-hot label and a small
//! noise vector set the decoder's initial state (one dense layer, tanh, to a GRU's state); the
//! decoder emits the 28 rows of 28 pixels (a projection to 28 logits, sigmoid), each step
//! reading the row above (zeros before the first). Trained on MNIST with teacher forcing (the
//! true row above), Adam, per-pixel binary cross-entropy; at generation each step reads the
//! sigmoid of its own previous output (greedy feedback through `rnn_core::Decoder`). The model
//! and its training task are `examples::digit_writer`, trained by `rnn_train::fit`
//! (checkpoints and `metrics.csv` in `--out`: every 500 iterations, the test loss below).
//!
//! Prints the per-pixel binary cross-entropy (teacher-forced, the model's likelihood) on the
//! test set before and after training, and writes `--out/vector_to_seq.png`: a grid of
//! generated digits, one row per class, 10 noise draws each.
//!
//! MNIST comes from `--data-dir`, else `MNIST_DIR`, else the user cache (downloaded and
//! checked there when missing); a `--data-dir` or `MNIST_DIR` that does not exist is refused.
//!
//! Run: `cargo run -p examples --bin vector_to_seq [-- --iterations 2000]`

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;
use clap::Parser;
use examples::digit_writer::{COLS, DigitWriterTask, DigitWriting, N_CLASSES, ROWS, codes};
use rnn_data::{Downloader, MNIST_DIR_ENV, Mnist, resolve_data_dir};
use rnn_train::{Task, fit};

/// Drawing digits row by row from their labels.
#[derive(Parser)]
struct Args {
    /// Training iterations (one batch each).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Images per batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    batch_size: u32,
    /// Units of the GRU cell.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=16_384))]
    neurons: u32,
    /// Size of the noise vector beside the one-hot label.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=1_000))]
    noise: u32,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.003, value_parser = rnn_train::args::positive_f64)]
    lr: f64,
    /// Test images in the loss (the first N of the test set).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    test_limit: u32,
    /// Seed of the weights, the batches and the noise.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the four MNIST files are [default: $MNIST_DIR, else the user cache].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the figure, the checkpoints and the metrics go.
    #[arg(long, default_value = "target/examples/vector_to_seq")]
    out: PathBuf,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    device: Option<String>,
}

/// Generated digits per class in the grid.
const PER_CLASS: usize = 10;
/// Each pixel drawn as a `SCALE x SCALE` square, digits `GAP` pixels apart.
const SCALE: u32 = 2;
const GAP: u32 = 2;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (neurons, n_noise) = (args.neurons as usize, args.noise as usize);
    let batch_size = args.batch_size as usize;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&args.out)?;
    let data_dir = data_dir(args.data_dir.as_deref())?;
    let mnist = Mnist::load_or_download(&data_dir, &Downloader::default())
        .with_context(|| format!("loading MNIST from {}", data_dir.display()))?;
    let train_device = device.clone().autodiff();
    println!(
        "on {}: GRU({neurons}) decoder from [one-hot label, {n_noise} noise values], {} \
         iterations of {batch_size} images, Adam {}",
        rnn_core::device::device_name(&device),
        args.iterations,
        args.lr
    );

    // The test images' noise is drawn as the task is built, from its own seed; the untrained
    // model is the one `fit` starts from (it seeds the device with the seed, then builds the
    // task's model).
    train_device.seed(args.seed ^ 0x7e57);
    let limit = args.test_limit as usize;
    let task = DigitWriterTask::new(
        DigitWriting {
            iterations: args.iterations as usize,
            batch_size,
            neurons,
            noise: n_noise,
            learning_rate: args.lr,
            seed: args.seed,
            test_limit: limit,
            print_every: 100,
            eval_every: 500,
            out_dir: args.out.clone(),
        },
        &mnist,
        &device,
    )?;
    train_device.seed(args.seed);
    let before = task.evaluate(&task.model(&train_device)?.valid())?;
    println!("untrained: test per-pixel binary cross-entropy {before:.5} ({limit} images)");
    let start = std::time::Instant::now();
    let fitted = fit(&task.trainer(), &task, &train_device)?;
    let evaluating: f64 = fitted.history.iter().map(|m| m.eval_seconds).sum();
    println!(
        "trained in {:.1} s ({evaluating:.1} s of it on the {} evaluations)",
        start.elapsed().as_secs_f64(),
        fitted.history.len()
    );
    let after = fitted.history.last().map_or(f64::NAN, |m| m.test_accuracy);
    println!("trained: test per-pixel binary cross-entropy {after:.5} ({limit} images)");

    let labels: Vec<u8> = (0..N_CLASSES as u8)
        .flat_map(|l| std::iter::repeat_n(l, PER_CLASS))
        .collect();
    let pixels = fitted
        .model
        .valid()
        .draw(codes(&labels, n_noise, &device))?;
    let path = args.out.join("vector_to_seq.png");
    write_grid(&path, &pixels.to_data().try_into_vec_as::<f32>()?)?;
    println!(
        "figure: {} ({PER_CLASS} digits per class, one row per class)",
        path.display()
    );
    Ok(())
}

/// Where MNIST is read from: `--data-dir`, else `MNIST_DIR`, else the user cache; a directory
/// named by the flag or the variable must exist.
fn data_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = resolve_data_dir(flag)?;
    let named = flag.is_some() || std::env::var_os(MNIST_DIR_ENV).is_some_and(|v| !v.is_empty());
    anyhow::ensure!(
        !named || dir.is_dir(),
        "{} {}: no such directory (expected one holding the four MNIST files, or an empty one \
         to download them into)",
        if flag.is_some() {
            "--data-dir".to_string()
        } else {
            format!("${MNIST_DIR_ENV}")
        },
        dir.display()
    );
    Ok(dir)
}

/// `pixels`: `[10 * PER_CLASS, 28, 28]` in `[0, 1]`, drawn white on black, one row per class.
fn write_grid(path: &Path, pixels: &[f32]) -> anyhow::Result<()> {
    rnn_plot::image_grid(path, pixels, [ROWS, COLS], PER_CLASS, SCALE, GAP)?;
    Ok(())
}
