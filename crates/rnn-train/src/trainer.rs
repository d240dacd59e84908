//! The training loop the examples and `cargo xtask mnist` share: epochs of batches, burn's
//! Adam (TF 1.x defaults), optional clipping, a progress bar with loss and speed, the seed's
//! per-epoch line, metrics as CSV/JSON, an atomic checkpoint per epoch, resume, and a stop on a
//! non-finite loss, non-finite gradients (with global-norm clipping) or non-finite weights
//! (checked before every checkpoint) that keeps the last good checkpoint.
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
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::{self, TrainingState};
use crate::metrics::{EpochMetrics, write_metrics};
use crate::task::Task;
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
    /// What shapes the model and its training, `(name, value)`, named as the user gives them
    /// (`("--hidden", "150")`, `("--lr", "0.001")`, ...): recorded in every checkpoint, and a
    /// resume whose list differs in any name or value is refused before any weights load
    /// ([`TrainError::ResumeMismatch`] names the first). The seed is always checked.
    pub hyper_parameters: Vec<(String, String)>,
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

/// Trains `task`'s model for `config.epochs` on the autodiff `device`.
///
/// The device is seeded with `config.seed` (unless [`Task::seeds_device`] says no) and the
/// model built ([`Task::model`]); with
/// `config.resume`, the latest checkpoint in `config.out_dir` is loaded into it (after its
/// hyper-parameters are checked). Each epoch seeds the device with `seed + epoch` (same
/// condition), trains on
/// [`Task::batches`] ([`Task::step`], Adam with TF 1.x defaults, `config.clip`), evaluates
/// ([`Task::evaluate`] on `model.valid()`), prints [`Task::epoch_line`], writes a checkpoint
/// and the metrics.
///
/// Before the first step the output directory is created and probed for writing (an
/// unwritable one fails now, not after an epoch), and what a killed run left there (temporary
/// checkpoint directories and files) is removed ([`checkpoint::clean_stale`]).
///
/// Stops with an error, the last good checkpoint kept, when a step's loss is not finite
/// ([`TrainError::NonFiniteLoss`], one readback of the loss per step), when the gradients'
/// global norm is not finite under [`Clip::GlobalNorm`] ([`TrainError::NonFiniteGradients`]),
/// or when the weights are not all finite at the end of an epoch
/// ([`TrainError::NonFiniteWeights`]: that checkpoint is not written). Without global-norm
/// clipping a NaN gradient shows as a NaN loss at the next step, or in the weights' check.
pub fn fit<T: Task>(
    config: &TrainerConfig,
    task: &T,
    device: &Device,
) -> Result<Fitted<T::Model>, TrainError> {
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
    checkpoint::probe_writable(&ckpt_dir, "output directory")?;
    checkpoint::clean_stale(&ckpt_dir);
    checkpoint::clean_stale(&config.out_dir);
    let mut optim = adam_tf1().init();
    if task.seeds_device() {
        device.seed(config.seed);
    }
    let mut model = task.model(device)?;
    let mut state = TrainingState {
        epochs_done: 0,
        global_step: 0,
        seed: config.seed,
        history: Vec::new(),
        hyper_parameters: config.hyper_parameters.clone(),
    };
    let mut last_checkpoint = None;
    if config.resume
        && let Some((path, _)) =
            checkpoint::resume_point(&ckpt_dir, config.seed, &config.hyper_parameters)?
    {
        let (m, o, s) = checkpoint::load(&path, model, optim)?;
        (model, optim, state) = (m, o, s);
        state.hyper_parameters = config.hyper_parameters.clone();
        last_checkpoint = Some(path);
    }
    let last_good = |last: &Option<PathBuf>| {
        last.as_deref()
            .map_or_else(|| "none".to_string(), |p: &Path| p.display().to_string())
    };

    for epoch in state.epochs_done..config.epochs {
        if task.seeds_device() {
            device.seed(seed_for_epoch(config.seed, epoch));
        }
        let batches = task.batches(epoch, device)?;
        let bar = progress_bar(config.progress, batches.len(), epoch);
        let started = Instant::now();
        let (mut loss_sum, mut n_batches, mut correct, mut count) =
            (0.0f64, 0usize, 0usize, 0usize);
        let mut last_batch_accuracy = 0.0;
        for (step, batch) in batches.enumerate() {
            let out = task.step(&model, batch)?;
            let loss_value = out.loss.clone().into_scalar::<f32>();
            task.after_step(state.global_step, loss_value);
            if !loss_value.is_finite() {
                bar.abandon();
                return Err(TrainError::NonFiniteLoss {
                    value: loss_value,
                    epoch,
                    step,
                    checkpoint: last_good(&last_checkpoint),
                });
            }
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            let grads = match config.clip {
                None => grads,
                Some(Clip::Value(c)) => clip_by_value(grads, &model, c)?,
                Some(Clip::GlobalNorm(c)) => match clip_by_global_norm(grads, &model, c) {
                    Ok((grads, _)) => grads,
                    Err(TrainError::NonFiniteGradients { norm, .. }) => {
                        bar.abandon();
                        return Err(TrainError::NonFiniteGradients {
                            norm,
                            context: format!(
                                " at epoch {epoch}, step {step}; training stopped (last good \
                                 checkpoint: {})",
                                last_good(&last_checkpoint)
                            ),
                        });
                    }
                    Err(e) => return Err(e),
                },
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
        let test_accuracy = task.evaluate(&model.valid())?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / n_batches.max(1) as f64,
            train_batch_accuracy: last_batch_accuracy,
            train_accuracy: correct as f64 / count.max(1) as f64,
            test_accuracy,
            train_seconds,
            eval_seconds: eval_started.elapsed().as_secs_f64(),
        };
        if let Some(line) = task.epoch_line(&metrics) {
            println!("{line}");
        }
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
