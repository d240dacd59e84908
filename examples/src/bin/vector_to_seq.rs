//! Vector to sequence: a digit drawn row by row from its label. The one-hot label and a small
//! noise vector set the decoder's initial state (one dense layer, tanh, to a GRU's state); the
//! decoder emits the 28 rows of 28 pixels (a projection to 28 logits, sigmoid), each step
//! reading the row above (zeros before the first). Trained on MNIST with teacher forcing (the
//! true row above), Adam, per-pixel binary cross-entropy; at generation each step reads the
//! sigmoid of its own previous output (greedy feedback through `rnn_core::Decoder`).
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
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use clap::Parser;
use rnn_core::{
    Decoder, GruCell, GruCellConfig, OutputProjectionWrapper, OutputProjectionWrapperConfig,
};
use rnn_data::{Downloader, MNIST_DIR_ENV, Mnist, MnistSplit, resolve_data_dir};
use rnn_train::adam_tf1;

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
    #[arg(long, default_value_t = 0.003)]
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
    /// Where the figure goes.
    #[arg(long, default_value = "target/examples/vector_to_seq")]
    out: PathBuf,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    device: Option<String>,
}

/// Rows per image (the decoder's steps) and pixels per row.
const ROWS: usize = 28;
const COLS: usize = 28;
const N_CLASSES: usize = 10;
/// Generated digits per class in the grid.
const PER_CLASS: usize = 10;
/// Each pixel drawn as a `SCALE x SCALE` square, digits `GAP` pixels apart.
const SCALE: u32 = 2;
const GAP: u32 = 2;
/// Test images per evaluation batch.
const EVAL_BATCH: usize = 1000;

/// `[label one-hot ‖ noise] -> tanh -> h_0`, then a GRU over rows projected to 28 logits.
#[derive(Module, Debug)]
struct DigitWriter {
    /// `[10 + noise, H]`.
    init: Linear,
    /// GRU `28 -> H`, projected to 28 logits per row.
    cell: OutputProjectionWrapper<GruCell>,
}

impl DigitWriter {
    fn new(n_neurons: usize, n_noise: usize, device: &Device) -> anyhow::Result<Self> {
        let gru = GruCellConfig::new(COLS, n_neurons).init(device)?;
        Ok(Self {
            init: LinearConfig::new(N_CLASSES + n_noise, n_neurons).init(device),
            cell: OutputProjectionWrapperConfig::new(COLS).init(gru, device)?,
        })
    }

    /// `code [B, 10 + noise]` -> the decoder's initial state `[B, H]`.
    fn initial_state(&self, code: Tensor<2>) -> Tensor<2> {
        self.init.forward(code).tanh()
    }

    /// Teacher forcing: logits `[B, 28, 28]` of each row given the true rows above.
    fn logits(&self, code: Tensor<2>, images: Tensor<3>) -> anyhow::Result<Tensor<3>> {
        let [b, _, _] = images.dims();
        let above = Tensor::cat(
            vec![
                Tensor::zeros([b, 1, COLS], &images.device()),
                images.narrow(1, 0, ROWS - 1),
            ],
            1,
        );
        let state = self.initial_state(code);
        Ok(Decoder::teacher_forced(above, ROWS)
            .run(&self.cell, Some(state))?
            .outputs)
    }

    /// Greedy generation: pixels `[B, 28, 28]` in `[0, 1]`, each row from the one it drew above.
    fn draw(&self, code: Tensor<2>) -> anyhow::Result<Tensor<3>> {
        let [b, _] = code.dims();
        let first = Tensor::zeros([b, COLS], &code.device());
        let state = self.initial_state(code);
        let decoded = Decoder::greedy(first, ROWS)
            .with_feedback(|z| burn::tensor::activation::sigmoid(z.clone()))
            .run(&self.cell, Some(state))?;
        Ok(burn::tensor::activation::sigmoid(decoded.outputs))
    }
}

/// Mean binary cross-entropy of `logits` against `targets` in `[0, 1]` (same shape), in the
/// stable form `max(z, 0) - z y + ln(1 + e^-|z|)`.
fn bce_with_logits(logits: Tensor<3>, targets: Tensor<3>) -> Tensor<1> {
    let stable = logits.clone().abs().neg().exp().log1p();
    (logits.clone().clamp_min(0.0) - logits * targets + stable).mean()
}

/// `[B, 10 + n_noise]`: each label one-hot, then standard normal noise (the device's seeded
/// RNG).
fn codes(labels: &[u8], n_noise: usize, device: &Device) -> Tensor<2> {
    let b = labels.len();
    let mut onehot = vec![0.0f32; b * N_CLASSES];
    for (row, &l) in labels.iter().enumerate() {
        onehot[row * N_CLASSES + l as usize] = 1.0;
    }
    let onehot = Tensor::from_data(TensorData::new(onehot, [b, N_CLASSES]), device);
    if n_noise == 0 {
        return onehot;
    }
    let noise = Tensor::random([b, n_noise], Distribution::Normal(0.0, 1.0), device);
    Tensor::cat(vec![onehot, noise], 1)
}

/// The examples `indices` of `split`: images `[B, 28, 28]` in `[0, 1]` and their labels.
fn batch(
    split: &MnistSplit,
    indices: &[usize],
    device: &Device,
) -> anyhow::Result<(Tensor<3>, Vec<u8>)> {
    let b = split.batch(indices, device)?;
    let labels = indices
        .iter()
        .map(|&i| split.label(i))
        .collect::<Result<_, _>>()?;
    Ok((b.images, labels))
}

/// Per-pixel BCE over the first `limit` test images, teacher-forced.
fn test_loss(
    model: &DigitWriter,
    test: &MnistSplit,
    limit: usize,
    n_noise: usize,
    device: &Device,
) -> anyhow::Result<f64> {
    let mut total = 0.0;
    let indices: Vec<usize> = (0..limit.min(test.len())).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let (images, labels) = batch(test, chunk, device)?;
        let logits = model.logits(codes(&labels, n_noise, device), images.clone())?;
        total += bce_with_logits(logits, images).into_scalar::<f32>() as f64 * chunk.len() as f64;
    }
    Ok(total / indices.len() as f64)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.lr.is_finite() && args.lr > 0.0,
        "--lr: expected a finite number > 0, got {}",
        args.lr
    );
    let (neurons, n_noise) = (args.neurons as usize, args.noise as usize);
    let batch_size = args.batch_size as usize;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&args.out)?;
    let data_dir = data_dir(args.data_dir.as_deref())?;
    let mnist = Mnist::load_or_download(&data_dir, &Downloader::default())
        .with_context(|| format!("loading MNIST from {}", data_dir.display()))?;
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    println!(
        "on {}: GRU({neurons}) decoder from [one-hot label, {n_noise} noise values], {} \
         iterations of {batch_size} images, Adam {}",
        rnn_core::device::device_name(&device),
        args.iterations,
        args.lr
    );

    let mut model = DigitWriter::new(neurons, n_noise, &train_device)?;
    let limit = args.test_limit as usize;
    let before = test_loss(&model.valid(), &mnist.test, limit, n_noise, &device)?;
    println!("untrained: test per-pixel binary cross-entropy {before:.5} ({limit} images)");
    let start = std::time::Instant::now();
    let mut optim = adam_tf1().init();
    let per_epoch = mnist.train.len() / batch_size;
    let mut order = Vec::new();
    for iteration in 0..args.iterations as usize {
        let (epoch, k) = (iteration / per_epoch.max(1), iteration % per_epoch.max(1));
        if k == 0 {
            order = mnist.train.epoch_order(true, args.seed, epoch as u64);
        }
        let (images, labels) = batch(
            &mnist.train,
            &order[k * batch_size..(k + 1) * batch_size],
            &train_device,
        )?;
        let logits = model.logits(codes(&labels, n_noise, &train_device), images.clone())?;
        let loss = bce_with_logits(logits, images);
        let value = loss.clone().into_scalar::<f32>();
        anyhow::ensure!(
            value.is_finite(),
            "the training loss became {value} at iteration {iteration}: lower --lr"
        );
        if iteration % 100 == 0 {
            println!("{iteration} \ttraining BCE: {value:.5}");
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(args.lr, model, grads);
    }
    println!("trained in {:.1} s", start.elapsed().as_secs_f64());
    let model = model.valid();
    let after = test_loss(&model, &mnist.test, limit, n_noise, &device)?;
    println!("trained: test per-pixel binary cross-entropy {after:.5} ({limit} images)");

    let labels: Vec<u8> = (0..N_CLASSES as u8)
        .flat_map(|l| std::iter::repeat_n(l, PER_CLASS))
        .collect();
    let pixels = model.draw(codes(&labels, n_noise, &device))?;
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
