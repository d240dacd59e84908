//! `cargo xtask mnist`: the book's MNIST sequence classifier. Each image is read as 28 time
//! steps of 28 pixels by a recurrent cell (basic tanh of 150 units by default); a dense layer
//! of 10 logits sits on the last output; Adam (lr 0.001, TF 1.x defaults), batch 150, sparse
//! softmax cross-entropy. Prints the seed's line each epoch, writes metrics, checkpoints and a
//! PNG learning curve.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use rnn_core::{BasicRnnCellConfig, GruCellConfig, LstmCellConfig, MultiRnnCell, RnnCell};
use rnn_data::{BatchOptions, Downloader, Mnist, MnistSplit, resolve_data_dir};
use rnn_train::{
    EpochMetrics, SequenceClassifier, StepOutput, TrainError, TrainerConfig, count_correct, fit,
    sparse_softmax_cross_entropy,
};

use examples::plot::{BLUE, LegendAt, Panel, RED, Series, Style, figure};

/// The cell reading the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CellKind {
    /// `BasicRnnCell` (tanh), the book's choice.
    Basic,
    /// `LstmCell`.
    Lstm,
    /// `GruCell`.
    Gru,
}

/// Flags of `cargo xtask mnist`.
#[derive(Debug, Clone, Args)]
pub struct MnistArgs {
    /// Epochs to train (the book passes 0.97 test accuracy around epoch 7; here the default
    /// run ends above it, see the README).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub epochs: u64,
    /// Examples per batch.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub batch_size: u64,
    /// Units per recurrent layer (the book's n_neurons).
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u64).range(1..=8192))]
    pub hidden: u64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.001, value_parser = positive_f64)]
    pub lr: f64,
    /// The recurrent cell.
    #[arg(long, value_enum, default_value_t = CellKind::Basic)]
    pub cell: CellKind,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub layers: u64,
    /// Backend: flex, ndarray or wgpu (those compiled in); default: BURN_DEVICE, else the build's first.
    #[arg(long)]
    pub device: Option<String>,
    /// Where the four MNIST files are (else $MNIST_DIR, else ~/.cache/rnn-rs/mnist); missing files are downloaded.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Output directory for metrics, checkpoints and the learning curve.
    #[arg(long, default_value = "target/mnist")]
    pub out: PathBuf,
    /// Seed of the weights, the shuffling and the device RNG.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Continue from the last checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Train on the first N training images only (a quick check; the test set stays whole).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub train_limit: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Threads of burn's CPU kernels (rayon) [default: 1 when --hidden <= 256, measured faster
    /// on the 2-core machine (`cargo xtask bench --threads 1,2`); else one per core; an
    /// explicit RAYON_NUM_THREADS is kept].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
}

fn positive_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("`{s}` is not a number: {e}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("expected a finite number > 0, got {s}"))
    }
}

/// What a run ends with (read by the tests; the binary prints it).
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Summary {
    pub history: Vec<EpochMetrics>,
    pub checkpoint: PathBuf,
    pub plot: PathBuf,
}

/// Runs `cargo xtask mnist` with `args`.
pub fn run(args: &MnistArgs) -> anyhow::Result<Summary> {
    let threads = args.threads.map(|n| n as usize).or_else(|| {
        let env_set = std::env::var_os("RAYON_NUM_THREADS").is_some();
        (!env_set && args.hidden <= 256).then_some(1)
    });
    if let Some(n) = threads
        && rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .is_err()
        && args.threads.is_some()
    {
        eprintln!("warning: --threads {n}: the thread pool had already started; keeping it");
    }
    let device = match &args.device {
        Some(name) => rnn_core::device::device_from_name(name).context("--device")?,
        None => rnn_core::device::default_device().context("BURN_DEVICE")?,
    };
    if args.resume && !args.out.join("checkpoints").join("latest").is_file() {
        anyhow::bail!(
            "--resume: no checkpoint in {} (expected {}/checkpoints/latest)",
            args.out.display(),
            args.out.display()
        );
    }
    let data_dir = resolve_data_dir(args.data_dir.as_deref())?;
    let mut mnist =
        Mnist::load_or_download(&data_dir, &Downloader::default()).context("loading MNIST")?;
    if let Some(n) = args.train_limit {
        mnist.train = first(&mnist.train, n as usize)?;
    }
    println!(
        "MNIST from {}: {} training and {} test images; {} {:?} layer(s) of {} on {} ({} thread(s))",
        data_dir.display(),
        mnist.train.len(),
        mnist.test.len(),
        args.layers,
        args.cell,
        args.hidden,
        rnn_core::device::device_name(&device),
        rayon::current_num_threads()
    );
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    let (h, layers) = (args.hidden as usize, args.layers as usize);
    let sizes = |k: usize| if k == 0 { 28 } else { h };
    let history = match args.cell {
        CellKind::Basic => train(
            args,
            &mnist,
            &train_device,
            (0..layers)
                .map(|k| BasicRnnCellConfig::new(sizes(k), h).init(&train_device))
                .collect::<Result<_, _>>()?,
        )?,
        CellKind::Lstm => train(
            args,
            &mnist,
            &train_device,
            (0..layers)
                .map(|k| LstmCellConfig::new(sizes(k), h).init(&train_device))
                .collect::<Result<_, _>>()?,
        )?,
        CellKind::Gru => train(
            args,
            &mnist,
            &train_device,
            (0..layers)
                .map(|k| GruCellConfig::new(sizes(k), h).init(&train_device))
                .collect::<Result<_, _>>()?,
        )?,
    };
    let (history, checkpoint) = history;
    let plot = args.out.join("learning_curve.png");
    plot_history(&plot, &history)?;
    let last = history.last().context("no epoch ran")?;
    println!(
        "final test accuracy: {:.4} (epoch {})",
        last.test_accuracy, last.epoch
    );
    let best = history
        .iter()
        .max_by(|a, b| a.test_accuracy.total_cmp(&b.test_accuracy))
        .expect("non-empty");
    println!(
        "best test accuracy:  {:.4} (epoch {})",
        best.test_accuracy, best.epoch
    );
    let metrics = args.out.join("metrics.csv");
    println!("metrics:        {} (and metrics.json)", metrics.display());
    println!("checkpoint:     {}", checkpoint.display());
    println!("learning curve: {}", plot.display());
    Ok(Summary {
        history,
        checkpoint,
        plot,
    })
}

/// The first `n` examples of `split`.
fn first(split: &MnistSplit, n: usize) -> anyhow::Result<MnistSplit> {
    let n = n.min(split.len());
    Ok(MnistSplit::new(
        split.pixels()[..n * 28 * 28].to_vec(),
        split.labels()[..n].to_vec(),
    )?)
}

fn train<C: RnnCell>(
    args: &MnistArgs,
    mnist: &Mnist,
    device: &Device,
    cells: Vec<C>,
) -> anyhow::Result<(Vec<EpochMetrics>, PathBuf)> {
    let model = SequenceClassifier::new(MultiRnnCell::new(cells)?, 10, device);
    let config = TrainerConfig {
        epochs: args.epochs as usize,
        learning_rate: args.lr,
        seed: args.seed,
        out_dir: args.out.clone(),
        resume: args.resume,
        clip: None,
        progress: !args.quiet,
    };
    let options = BatchOptions::new(args.batch_size as usize).seed(args.seed);
    let eval_device = device.clone().inner();
    let fitted = fit(
        &config,
        model,
        device,
        |epoch| {
            mnist
                .train
                .batches(&options, epoch as u64, device)
                .map_err(|e| TrainError::Data(e.to_string()))
        },
        |m, batch| {
            let count = batch.len();
            let logits = m.forward(batch.images)?;
            let correct = count_correct(logits.clone(), batch.labels.clone());
            Ok(StepOutput {
                loss: sparse_softmax_cross_entropy(logits, batch.labels)?,
                correct,
                count,
            })
        },
        |m| {
            let mut correct = 0;
            for batch in mnist
                .test
                .in_order(1000, &eval_device)
                .map_err(|e| TrainError::Data(e.to_string()))?
            {
                correct += count_correct(m.forward(batch.images)?, batch.labels);
            }
            Ok(correct as f64 / mnist.test.len() as f64)
        },
    )?;
    Ok((
        fitted.history,
        fitted.checkpoint.context("a checkpoint was written")?,
    ))
}

fn plot_history(path: &Path, history: &[EpochMetrics]) -> anyhow::Result<()> {
    let series = |name, color, f: fn(&EpochMetrics) -> f64| {
        let points = history.iter().map(|m| (m.epoch as f64, f(m))).collect();
        let style = if history.len() <= 40 {
            Style::LineWithPoints {
                width: 2,
                radius: 3,
            }
        } else {
            Style::Line { width: 2 }
        };
        Series::new(name, points, color, style)
    };
    let panel = Panel::new("MNIST row by row: accuracy per epoch", "epoch", "accuracy")
        .with(series("train (whole epoch)", BLUE, |m| m.train_accuracy))
        .with(series("test", RED, |m| m.test_accuracy))
        .legend(Some(LegendAt::LowerRight));
    figure(path, 800, 500, &[panel])
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MnistArgs,
    }

    fn parse(flags: &[&str]) -> Result<MnistArgs, String> {
        Cli::try_parse_from(std::iter::once("mnist").chain(flags.iter().copied()))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn impossible_flags_are_rejected_before_any_work() {
        for (flags, needle) in [
            (&["--epochs", "0"][..], "--epochs"),
            (&["--threads", "0"][..], "--threads"),
            (&["--batch-size", "0"][..], "--batch-size"),
            (&["--lr=-1"][..], "--lr"),
            (&["--lr", "nan"][..], "--lr"),
            (&["--cell", "rnn"][..], "--cell"),
            (&["--layers", "0"][..], "--layers"),
        ] {
            let err = parse(flags).unwrap_err();
            assert!(err.contains(needle), "{flags:?}: {err}");
        }
        let args = parse(&["--device", "tpu", "--quiet"]).unwrap();
        let err = run(&args).unwrap_err();
        assert!(format!("{err:#}").contains("`tpu`"), "{err:#}");
    }

    /// A short real training: one epoch over 10,000 images (200 steps of 50, lr 0.002), tested
    /// on the full test set; far above chance (0.1). Measured: 0.835 with seed 42 (seeds 1 and
    /// 2 gave 0.819 and 0.861).
    #[test]
    fn a_short_real_training_beats_chance_by_far() {
        let out = tempfile::tempdir().unwrap();
        let flags = [
            "--epochs",
            "1",
            "--train-limit",
            "10000",
            "--batch-size",
            "50",
            "--lr",
            "0.002",
            "--quiet",
        ];
        let mut args = parse(&flags).unwrap();
        args.out = out.path().to_path_buf();
        args.data_dir = Some(mnist_dir());
        let summary = run(&args).unwrap();
        let acc = summary.history[0].test_accuracy;
        assert!(
            acc >= 0.8,
            "test accuracy {acc} after one epoch on 3000 images"
        );
        let png = std::fs::read(&summary.plot).unwrap();
        assert!(
            png.len() > 1000 && png.starts_with(b"\x89PNG"),
            "a real PNG"
        );
        assert!(summary.checkpoint.join("model.bpk").is_file());
    }

    /// The real MNIST where the command itself finds it ($MNIST_DIR, else
    /// ~/.cache/rnn-rs/mnist; what is missing is downloaded). No data fails the test.
    fn mnist_dir() -> PathBuf {
        rnn_data::prepare_data_dir(None, &Downloader::default())
            .unwrap_or_else(|e| panic!("this test needs the real MNIST: {e}"))
    }
}
