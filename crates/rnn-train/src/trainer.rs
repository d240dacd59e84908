//! The training loop the examples and `cargo xtask mnist` share: epochs of batches, burn's
//! Adam (TF 1.x defaults), optional clipping, a progress bar with loss and speed, the seed's
//! per-epoch line, metrics as CSV/JSON, an atomic checkpoint per epoch, resume, and a stop on a
//! non-finite loss that keeps the last good checkpoint.
//!
//! Why not burn-train's `Learner`: its loop owns the forward pass per batch and its own metric
//! printing and dashboard, while this project needs the seed's printing (train accuracy of the
//! last batch, test accuracy per epoch), truncated BPTT steps that carry state between chunks,
//! and global-norm clipping that burn's per-tensor clipping does not give. The loop below is
//! small and keeps burn's pieces where they fit: the optimiser, `GradientsParams`, the record
//! format.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::{self, TrainingState};
use crate::metrics::{EpochMetrics, write_metrics};
use crate::{TrainError, adam_tf1, clip_by_global_norm, clip_by_value};

/// Gradient clipping applied before each optimiser step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clip {
    /// Each gradient element clamped to `[-c, c]`.
    Value(f32),
    /// All gradients scaled together so that their global norm is at most `c`.
    GlobalNorm(f32),
}

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainerConfig {
    /// Epochs to reach (a resumed run continues up to this many).
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seeds the device's RNG at every epoch (`seed + epoch`), so a resumed run repeats an
    /// uninterrupted one.
    pub seed: u64,
    /// Where `metrics.csv`, `metrics.json` and `checkpoints/` go.
    pub out_dir: PathBuf,
    /// Continue from `out_dir/checkpoints/latest` when there is one.
    pub resume: bool,
    /// Clipping, if any.
    pub clip: Option<Clip>,
    /// Draw a progress bar (off in tests).
    pub progress: bool,
}

/// What a training step returns: the loss to differentiate (`[1]`) and how many of its
/// `count` examples were classified right (0 for regression).
pub struct StepOutput {
    /// The loss, `[1]`, on an autodiff device.
    pub loss: Tensor<1>,
    /// Examples classified correctly.
    pub correct: usize,
    /// Examples in the batch.
    pub count: usize,
}

/// The result of [`fit`].
pub struct Fitted<M> {
    /// The trained model.
    pub model: M,
    /// Every epoch's metrics, including those of a resumed run's earlier epochs.
    pub history: Vec<EpochMetrics>,
    /// The last checkpoint written (or loaded).
    pub checkpoint: Option<PathBuf>,
}

fn progress_bar(show: bool, len: usize, epoch: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} loss {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(epoch.to_string());
    bar
}

fn seed_for_epoch(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_add(epoch as u64)
}

/// Trains `model` for `config.epochs`.
///
/// - `device`: the autodiff device the model lives on (seeded each epoch).
/// - `epoch_batches(epoch)`: that epoch's training batches, shuffled as the caller likes (use
///   the epoch in the shuffle seed for resumable runs).
/// - `train_step(&model, batch)`: the forward pass and loss.
/// - `evaluate(&model.valid())`: test accuracy with gradients off.
pub fn fit<M, B, I>(
    config: &TrainerConfig,
    model: M,
    device: &Device,
    mut epoch_batches: impl FnMut(usize) -> Result<I, TrainError>,
    mut train_step: impl FnMut(&M, B) -> Result<StepOutput, TrainError>,
    mut evaluate: impl FnMut(&M) -> Result<f64, TrainError>,
) -> Result<Fitted<M>, TrainError>
where
    M: Module,
    I: ExactSizeIterator<Item = B>,
{
    if config.epochs == 0 {
        return Err(TrainError::invalid("epochs", "at least 1", 0));
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return Err(TrainError::invalid(
            "learning_rate",
            "a finite number > 0",
            config.learning_rate,
        ));
    }
    let ckpt_dir = config.out_dir.join("checkpoints");
    let mut optim = adam_tf1().init();
    let mut model = model;
    let mut state = TrainingState {
        epochs_done: 0,
        global_step: 0,
        seed: config.seed,
        history: Vec::new(),
    };
    let mut last_checkpoint = None;
    if config.resume
        && let Some(path) = checkpoint::latest(&ckpt_dir)?
    {
        let (m, o, s) = checkpoint::load(&path, model, optim)?;
        if s.seed != config.seed {
            return Err(TrainError::invalid(
                "seed",
                format!(
                    "{} (the seed of the checkpoint being resumed, {})",
                    s.seed,
                    path.display()
                ),
                config.seed,
            ));
        }
        (model, optim, state) = (m, o, s);
        last_checkpoint = Some(path);
    }

    for epoch in state.epochs_done..config.epochs {
        device.seed(seed_for_epoch(config.seed, epoch));
        let batches = epoch_batches(epoch)?;
        let bar = progress_bar(config.progress, batches.len(), epoch);
        let started = Instant::now();
        let (mut loss_sum, mut n_batches, mut correct, mut count) =
            (0.0f64, 0usize, 0usize, 0usize);
        let mut last_batch_accuracy = 0.0;
        for (step, batch) in batches.enumerate() {
            let out = train_step(&model, batch)?;
            let loss_value = out.loss.clone().into_scalar::<f32>();
            if !loss_value.is_finite() {
                bar.abandon();
                return Err(TrainError::NonFiniteLoss {
                    value: loss_value,
                    epoch,
                    step,
                    checkpoint: last_checkpoint
                        .as_deref()
                        .map_or_else(|| "none".to_string(), |p: &Path| p.display().to_string()),
                });
            }
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            let grads = match config.clip {
                None => grads,
                Some(Clip::Value(c)) => clip_by_value(grads, &model, c)?,
                Some(Clip::GlobalNorm(c)) => clip_by_global_norm(grads, &model, c)?.0,
            };
            model = optim.step(config.learning_rate, model, grads);
            state.global_step += 1;
            loss_sum += loss_value as f64;
            n_batches += 1;
            correct += out.correct;
            count += out.count;
            last_batch_accuracy = out.correct as f64 / out.count.max(1) as f64;
            bar.set_message(format!("{loss_value:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        let eval_started = Instant::now();
        let test_accuracy = evaluate(&model.valid())?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / n_batches.max(1) as f64,
            train_batch_accuracy: last_batch_accuracy,
            train_accuracy: correct as f64 / count.max(1) as f64,
            test_accuracy,
            train_seconds,
            eval_seconds: eval_started.elapsed().as_secs_f64(),
        };
        println!("{}", metrics.seed_line());
        state.history.push(metrics);
        state.epochs_done = epoch + 1;
        last_checkpoint = Some(checkpoint::save(&ckpt_dir, &model, &optim, &state)?);
        write_metrics(&config.out_dir, &state.history)?;
    }
    Ok(Fitted {
        model,
        history: state.history,
        checkpoint: last_checkpoint,
    })
}
