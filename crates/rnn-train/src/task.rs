//! What [`crate::fit`] trains: a [`Task`] says how to build the model, which batches make an
//! epoch, what one batch's loss is, and how the trained model is evaluated. A training
//! program is then a task and a [`crate::TrainerConfig`]; the loop (progress, checkpoints,
//! resume, NaN stops, metrics) is written once, in [`crate::fit`].
//!
//! The tasks of this project: [`crate::mnist::MnistTask`] (the book's MNIST classifier, any
//! cell, any depth) here; in `examples`, the forecaster (`examples::series_training`), the
//! encoder-decoder (`examples::seq2seq`) and the digit writer (`examples::digit_writer`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::TrainError;
use crate::metrics::EpochMetrics;

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

/// A training problem for [`crate::fit`].
///
/// Every method takes `&self`: a task holds its data and settings, not the training's state
/// (that is the model, the optimiser and the epoch, which `fit` owns and checkpoints). A task
/// that draws batches from a generator keeps it in a `RefCell`.
pub trait Task {
    /// The model trained (its parameters are checkpointed).
    type Model: Module;
    /// One training batch (e.g. images `[B, 28, 28]` and labels `[B]`).
    type Batch;

    /// The untrained model on the autodiff `device`; `fit` seeds the device with the run's
    /// seed just before, and a resumed run loads its checkpoint into this model.
    fn model(&self, device: &Device) -> Result<Self::Model, TrainError>;

    /// Epoch `epoch`'s training batches (from 0), on the autodiff `device`. Use the epoch in
    /// the shuffle's seed so a resumed run sees the batches an uninterrupted one saw.
    fn batches(
        &self,
        epoch: usize,
        device: &Device,
    ) -> Result<impl ExactSizeIterator<Item = Self::Batch>, TrainError>;

    /// The forward pass and loss of one batch ([`StepOutput`]).
    fn step(&self, model: &Self::Model, batch: Self::Batch) -> Result<StepOutput, TrainError>;

    /// The evaluation figure after each epoch, on `model` in evaluation mode (`model.valid()`:
    /// plain device, no gradients, no dropout): test accuracy for a classifier, an error for a
    /// regression; it is [`EpochMetrics::test_accuracy`] (named by [`Task::evaluation_name`]).
    fn evaluate(&self, model: &Self::Model) -> Result<f64, TrainError>;

    /// What [`Task::evaluate`] measures, for printing (default `"test accuracy"`).
    fn evaluation_name(&self) -> &'static str {
        "test accuracy"
    }

    /// Called after every step with the run's step count (from 0, counted across epochs and
    /// resumes) and the step's loss (before the update); default: nothing. The forecaster
    /// prints the book's `0 \tMSE: 13.9` here.
    fn after_step(&self, global_step: usize, loss: f32) {
        let _ = (global_step, loss);
    }

    /// Whether [`crate::fit`] seeds the device RNG: with the run's seed before building the
    /// model and with `seed + epoch` at every epoch, which a resumed run needs to repeat an
    /// uninterrupted one (default `true`). `false` leaves the RNG to the caller (a run that is
    /// never resumed, e.g. the forecaster, which keeps the book run's random stream: weights
    /// drawn after the caller's seed, dropout masks after them).
    fn seeds_device(&self) -> bool {
        true
    }

    /// The line printed after each epoch; default: the seed's
    /// [`EpochMetrics::seed_line`] (`0 Train accuracy: 0.94 Test accuracy: 0.93`). `None`
    /// prints nothing.
    fn epoch_line(&self, metrics: &EpochMetrics) -> Option<String> {
        Some(metrics.seed_line())
    }
}
