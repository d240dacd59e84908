//! The book's forecasting training as an rnn-train [`Task`]: `iterations` Adam steps on fresh
//! random windows of the series (`next_batch(batch_size, n_steps)`), the batch MSE printed
//! every `print_every` iterations, and an honest final figure: the MSE of the trained model,
//! with dropout off, on windows it has never seen. [`rnn_train::fit`] runs it (one loop for
//! every task of the project): an "epoch" is a block of `print_every` iterations
//! ([`crate::blocks`]), after which
//! the model is evaluated on the unseen windows, checkpointed and its metrics written into
//! `out_dir` (`metrics.csv`: `test_accuracy` holds that MSE).
//!
//! The loss is checked for NaN at every iteration (one scalar readback per step), so a
//! diverging run stops at the iteration that diverged, and the weights are checked at every
//! checkpoint, so a model with a NaN weight is never returned (nor saved). The readback costs
//! nothing measurable on the CPU backends: the book's `forecast`, five interleaved runs each on
//! the loaded 2-core machine, 2.00-2.58 ms per iteration checking every iteration against
//! 1.84-2.51 ms checking every 100th (medians 2.20 and 2.13).

use std::cell::RefCell;
use std::path::PathBuf;

use burn::tensor::Device;
use rnn_data::{SineBatch, TimeSeries};
use rnn_train::{StepOutput, Steps, Task, TrainError, fit, mse_over_steps};

use crate::blocks::Blocks;
use crate::series_model::SeriesModel;

/// The loop's settings (the book's values by default, see [`SeriesTraining::book`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesTraining {
    /// Adam steps (the book: 1500).
    pub iterations: usize,
    /// Windows per batch (50).
    pub batch_size: usize,
    /// Steps per window (20).
    pub n_steps: usize,
    /// Adam's learning rate (0.001; the dropout listing: 0.01).
    pub learning_rate: f64,
    /// Seed of the window generator (the model's initial weights and the dropout masks come
    /// from the caller's device seed; the task does not reseed the device).
    pub seed: u64,
    /// Print the batch MSE every this many iterations (100); also the block of iterations
    /// between evaluations and checkpoints.
    pub print_every: usize,
    /// Where the checkpoints and `metrics.csv`/`metrics.json` go.
    pub out_dir: PathBuf,
}

impl SeriesTraining {
    /// The book's settings: 1500 iterations, batch 50, 20 steps, `learning_rate`, seed 42,
    /// printing every 100; checkpoints into `out_dir`.
    pub fn book(learning_rate: f64, out_dir: PathBuf) -> Self {
        Self {
            iterations: 1500,
            batch_size: 50,
            n_steps: 20,
            learning_rate,
            seed: 42,
            print_every: 100,
            out_dir,
        }
    }
}

/// What training produced.
#[derive(Debug)]
pub struct Trained<M> {
    /// The model after the last step (still on the autodiff device).
    pub model: M,
    /// `(iteration, batch MSE)` at every printed iteration.
    pub curve: Vec<(usize, f32)>,
    /// MSE of `model.valid()` over [`EVAL_WINDOWS`] fresh windows.
    pub eval_mse: f32,
}

/// Windows in the final evaluation.
pub const EVAL_WINDOWS: usize = 1000;

/// The forecaster as a [`Task`]: batches of windows `[B, n_steps, 1]` and their targets, MSE
/// over all steps, evaluation by [`evaluate_mse`] on the plain device.
pub struct SeriesTask<'r, M> {
    config: SeriesTraining,
    blocks: Blocks,
    /// The model to train (taken by [`Task::model`]).
    model: RefCell<Option<M>>,
    /// The training windows, drawn in order across blocks.
    windows: RefCell<TimeSeries>,
    /// `(iteration, MSE)` printed so far.
    curve: RefCell<Vec<(usize, f32)>>,
    report: RefCell<Box<dyn FnMut(usize, f32) + 'r>>,
    eval_device: Device,
}

impl<M: SeriesModel> Task for SeriesTask<'_, M> {
    type Model = M;
    type Batch = SineBatch;

    fn model(&self, _device: &Device) -> Result<M, TrainError> {
        self.model
            .borrow_mut()
            .take()
            .ok_or_else(|| TrainError::invalid("model", "a model not trained yet", "none left"))
    }

    fn batches(
        &self,
        epoch: usize,
        device: &Device,
    ) -> Result<impl ExactSizeIterator<Item = SineBatch>, TrainError> {
        let c = &self.config;
        let n = self.blocks.iterations(epoch).len();
        let mut windows = self.windows.borrow_mut();
        (0..n)
            .map(|_| windows.next_batch(c.batch_size, c.n_steps, device))
            .collect::<Result<Vec<_>, _>>()
            .map(Vec::into_iter)
            .map_err(TrainError::data)
    }

    fn step(&self, model: &M, batch: SineBatch) -> Result<StepOutput, TrainError> {
        let outputs = model
            .predict(batch.inputs)
            .map_err(|e| TrainError::Model(e.into()))?;
        Ok(StepOutput {
            loss: mse_over_steps(outputs, batch.targets, &Steps::All)?,
            correct: 0,
            count: self.config.batch_size,
        })
    }

    fn evaluate(&self, model: &M) -> Result<f64, TrainError> {
        let c = &self.config;
        evaluate_mse(model, c.n_steps, c.seed ^ 0x5eed, &self.eval_device)
            .map(f64::from)
            .map_err(|e| TrainError::Model(e.into()))
    }

    fn evaluation_name(&self) -> &'static str {
        "MSE on 1000 unseen windows"
    }

    fn after_step(&self, global_step: usize, loss: f32) {
        if global_step.is_multiple_of(self.config.print_every) {
            self.curve.borrow_mut().push((global_step, loss));
            let mut report = self.report.borrow_mut();
            (**report)(global_step, loss);
        }
    }

    fn epoch_line(&self, _: &rnn_train::EpochMetrics) -> Option<String> {
        None
    }

    /// The caller seeded the device before building the model; the training continues that
    /// stream (the dropout masks), as the book's run does.
    fn seeds_device(&self) -> bool {
        false
    }
}

/// Trains `model` (on the autodiff `device`) as `config` says, through [`fit`];
/// `report(iteration, mse)` is called at every printed iteration (the book prints
/// `0 \tMSE: 13.9`). Fails when a setting is 0, when the loss stops being finite (naming the
/// iteration's block and step; checked every iteration), or when the weights are not all
/// finite at a checkpoint.
pub fn train_series<M: SeriesModel>(
    model: M,
    config: &SeriesTraining,
    device: &Device,
    report: impl FnMut(usize, f32),
) -> anyhow::Result<Trained<M>> {
    let blocks = Blocks::new(config.iterations, config.print_every, "print_every")?;
    anyhow::ensure!(
        device.is_autodiff(),
        "train_series needs an autodiff device (got a plain one)"
    );
    let task = SeriesTask {
        config: config.clone(),
        blocks,
        model: RefCell::new(Some(model)),
        windows: RefCell::new(TimeSeries::new(config.seed)),
        curve: RefCell::new(Vec::new()),
        report: RefCell::new(Box::new(report)),
        eval_device: device.clone().inner(),
    };
    let trainer = blocks.trainer(config.learning_rate, config.seed, config.out_dir.clone());
    let fitted = fit(&trainer, &task, device)?;
    let eval_mse = fitted.history.last().map_or(f64::NAN, |m| m.test_accuracy) as f32;
    Ok(Trained {
        model: fitted.model,
        curve: task.curve.into_inner(),
        eval_mse,
    })
}

/// MSE of `model` (use `model.valid()`) over [`EVAL_WINDOWS`] windows of `n_steps` drawn with
/// `seed`, on the plain `device`.
pub fn evaluate_mse<M: SeriesModel>(
    model: &M,
    n_steps: usize,
    seed: u64,
    device: &Device,
) -> anyhow::Result<f32> {
    let batch = TimeSeries::new(seed).next_batch(EVAL_WINDOWS, n_steps, device)?;
    let outputs = model.predict(batch.inputs)?;
    Ok(mse_over_steps(outputs, batch.targets, &Steps::All)?.into_scalar::<f32>())
}

#[cfg(test)]
mod tests {
    use burn::module::Module;

    use super::*;
    use crate::series_model::ProjectedRnn;

    #[test]
    fn a_short_run_lowers_the_error_and_settings_are_checked() {
        let device = rnn_core::device::default_device().unwrap().autodiff();
        device.seed(7);
        let model = ProjectedRnn::new(32, &device).unwrap();
        let before = evaluate_mse(&model.valid(), 20, 1, &device.clone().inner()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut config = SeriesTraining::book(0.01, out.path().to_path_buf());
        config.iterations = 150;
        config.print_every = 50;
        let mut printed = Vec::new();
        let trained = train_series(model, &config, &device, |i, _| printed.push(i)).unwrap();
        assert_eq!(printed, [0, 50, 100]);
        assert_eq!(
            trained.curve.iter().map(|c| c.0).collect::<Vec<_>>(),
            [0, 50, 100]
        );
        // Three blocks of 50: three evaluations in the metrics, the last one returned.
        let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(
            trained.eval_mse < before / 2.0,
            "150 steps should at least halve the error: {before} -> {}",
            trained.eval_mse
        );

        config.iterations = 0;
        let err = train_series(trained.model, &config, &device, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("--iterations"), "{err}");
    }
}
