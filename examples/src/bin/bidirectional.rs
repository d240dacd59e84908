//! A bidirectional LSTM reading MNIST row by row, over sequences of different lengths: every
//! image is cropped to its first k rows (k drawn per example from `--min-rows..=28`, seeded),
//! passed as `sequence_length` (TF's `bidirectional_dynamic_rnn`). The forward LSTM reads rows
//! 0..k, the backward one rows k-1..0 (never the padding); a dense layer classifies the two
//! final `h`. Prints the test accuracy on cropped and on whole images after each epoch.
//!
//! Run: `cargo run -p examples --release --bin bidirectional [-- --epochs 2 --hidden 64]`
//! (MNIST from `--data-dir`, else `MNIST_DIR`, else `~/.cache/rnn-rs/mnist`, downloaded when
//! missing).

use std::path::PathBuf;

use anyhow::Context;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Parser;
use rnn_core::{LstmCell, LstmCellConfig, bidirectional_dynamic_rnn};
use rnn_data::{BatchOptions, Downloader, Mnist, MnistSplit, prepare_data_dir};
use rnn_train::{adam_tf1, count_correct, sparse_softmax_cross_entropy};

/// Flags.
#[derive(Parser, Debug)]
struct Args {
    /// Training epochs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Units of each direction's LSTM.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    hidden: u32,
    /// Batch size.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..=60000))]
    batch_size: u32,
    /// The shortest crop, in rows (1..=28).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=28))]
    min_rows: u32,
    /// Use only the first N training images.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=60000))]
    train_limit: Option<u32>,
    /// Use only the first N test images.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
    test_limit: Option<u32>,
    /// Learning rate (Adam).
    #[arg(long, default_value_t = 1e-3, value_parser = rnn_train::args::positive_f64)]
    lr: f64,
    /// Seed of the weights, the shuffles and the crops.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// MNIST directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Backend: flex, ndarray or wgpu (as compiled in).
    #[arg(long)]
    device: Option<String>,
}

/// Two LSTMs, one per direction, and a dense layer on both final `h` (`[B, 2H] -> [B, 10]`).
#[derive(Module, Debug)]
struct BiLstmClassifier {
    fw: LstmCell,
    bw: LstmCell,
    dense: Linear,
}

impl BiLstmClassifier {
    /// Logits `[B, 10]` for images `[B, 28, 28]` read up to `lengths [B]`.
    fn forward(&self, images: Tensor<3>, lengths: Tensor<1, Int>) -> anyhow::Result<Tensor<2>> {
        let (_, (fw, bw)) =
            bidirectional_dynamic_rnn(&self.fw, &self.bw, images, None, None, Some(lengths))?;
        Ok(self.dense.forward(Tensor::cat(vec![fw.h, bw.h], 1)))
    }
}

/// Per-example crop lengths in `min..=28`, from a seeded LCG: `[B]`.
fn crops(n: usize, min: u32, seed: u64, device: &Device) -> Tensor<1, Int> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let span = (28 - min + 1) as u64;
    let v: Vec<i64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (min as u64 + (state >> 33) % span) as i64
        })
        .collect();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = examples::device(args.device.as_deref())?;
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    let data_dir =
        prepare_data_dir(args.data_dir.as_deref(), &Downloader::default()).context("--data-dir")?;
    let mut mnist = Mnist::load(&data_dir).context("loading MNIST")?;
    if let Some(n) = args.train_limit {
        let n = n as usize;
        let pixels = mnist.train.pixels()[..n * 28 * 28].to_vec();
        mnist.train = MnistSplit::new(pixels, mnist.train.labels()[..n].to_vec())?;
    }
    let n_train = mnist.train.len();
    let n_test = args
        .test_limit
        .map_or(mnist.test.len(), |n| (n as usize).min(mnist.test.len()));
    let h = args.hidden as usize;
    let mut model = BiLstmClassifier {
        fw: LstmCellConfig::new(28, h).init(&train_device)?,
        bw: LstmCellConfig::new(28, h).init(&train_device)?,
        dense: LinearConfig::new(2 * h, 10).init(&train_device),
    };
    let mut optim = adam_tf1().init();
    let options = BatchOptions::new(args.batch_size as usize).seed(args.seed);
    println!(
        "bidirectional LSTM {h}+{h} on {n_train} MNIST images cropped to {}..=28 rows (test: {n_test})",
        args.min_rows
    );
    let test_indices: Vec<usize> = (0..n_test).collect();
    let eval_device = device.clone();
    for epoch in 0..args.epochs {
        let (mut loss_sum, mut steps) = (0.0f64, 0usize);
        for (k, batch) in mnist
            .train
            .batches(&options, epoch as u64, &train_device)?
            .enumerate()
        {
            let seed = args.seed ^ ((epoch as u64) << 32) ^ k as u64;
            let lengths = crops(batch.len(), args.min_rows, seed, &train_device);
            let logits = model.forward(batch.images, lengths)?;
            let loss = sparse_softmax_cross_entropy(logits, batch.labels)?;
            loss_sum += loss.clone().into_scalar::<f32>() as f64;
            steps += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(args.lr, model, grads);
        }
        let valid = model.valid();
        let (mut cropped, mut whole) = (0, 0);
        for chunk in test_indices.chunks(1000) {
            let batch = mnist.test.batch(chunk, &eval_device)?;
            let n = chunk.len();
            let lengths = crops(
                n,
                args.min_rows,
                args.seed + 7 + chunk[0] as u64,
                &eval_device,
            );
            let logits = valid.forward(batch.images.clone(), lengths)?;
            cropped += count_correct(logits, batch.labels.clone())?;
            let full = Tensor::<1, Int>::full([n], 28, &eval_device);
            whole += count_correct(valid.forward(batch.images, full)?, batch.labels)?;
        }
        println!(
            "epoch {epoch}: train loss {:.4}, test accuracy cropped {:.4}, whole images {:.4}",
            loss_sum / steps.max(1) as f64,
            cropped as f64 / n_test as f64,
            whole as f64 / n_test as f64
        );
    }
    Ok(())
}
