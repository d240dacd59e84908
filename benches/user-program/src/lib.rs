//! The book's MNIST training step (chapter 14: 28 rows of 28 pixels through a tanh
//! `BasicRnnCell(150)`, dense 10 on the last output, softmax cross-entropy, Adam 0.001, batch
//! 150) written as a user of rnn-core and rnn-train writes it, with no tuning: no allocator
//! call, no thread setting. `cargo xtask bench` runs its binary as the `user-program` row,
//! beside the suite's tuned `mnist-train` (the same step in the harness's worker).
//!
//! The inputs are synthetic: one fixed batch of standard-normal "images" `[150, 28, 28]` and
//! uniform labels in `0..10`, drawn once (the time of a step does not depend on the pixels).

#![warn(missing_docs)]

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor};
use rnn_core::{BasicRnnCell, BasicRnnCellConfig, RnnError};
use rnn_train::{SequenceClassifier, TrainError, adam_tf1, sparse_softmax_cross_entropy};

/// Batch size of the book's MNIST training (B).
pub const BATCH: usize = 150;
/// Steps per sequence (T, the image's rows) and inputs per step (I, its columns).
pub const ROWS: usize = 28;
/// Units of the recurrent cell (H).
pub const UNITS: usize = 150;
/// The book's learning rate.
pub const LEARNING_RATE: f64 = 1e-3;

/// The model, Adam's state and one fixed batch: images `[B, T, I]` = `[150, 28, 28]`, labels
/// `[B]`, on an autodiff device.
pub struct MnistTraining {
    model: Option<SequenceClassifier<BasicRnnCell>>,
    optim: ModuleOptimizer,
    images: Tensor<3>,
    labels: Tensor<1, Int>,
}

impl MnistTraining {
    /// Builds the model and draws the batch on an autodiff version of `device`.
    pub fn new(device: &Device) -> Result<Self, RnnError> {
        let device = device.clone().autodiff();
        let cell = BasicRnnCellConfig::new(ROWS, UNITS).init(&device)?;
        Ok(Self {
            model: Some(SequenceClassifier::new(cell, 10, &device)),
            optim: adam_tf1().init(),
            images: Tensor::random([BATCH, ROWS, ROWS], Distribution::Normal(0.0, 1.0), &device),
            labels: Tensor::random([BATCH], Distribution::Uniform(0.0, 10.0), &device),
        })
    }

    /// One training step: forward, loss, backward, Adam. Returns the loss before the update.
    /// It reads back one weight after the update, so the step's whole work is done when it
    /// returns, on a lazy backend too.
    pub fn step(&mut self) -> Result<f32, TrainError> {
        let logits = self.model().forward(self.images.clone())?;
        let loss = sparse_softmax_cross_entropy(logits, self.labels.clone())?;
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), self.model());
        // Nothing fails between taking the model and putting it back.
        let model = self
            .model
            .take()
            .expect("the model is present between steps");
        let model = self.optim.step(LEARNING_RATE, model, grads);
        let _ = model
            .dense
            .weight
            .val()
            .narrow(0, 0, 1)
            .narrow(1, 0, 1)
            .into_scalar::<f32>();
        self.model = Some(model);
        Ok(value)
    }

    fn model(&self) -> &SequenceClassifier<BasicRnnCell> {
        self.model
            .as_ref()
            .expect("the model is present between steps")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_steps_give_a_finite_falling_loss() {
        let device = rnn_core::device::default_device().unwrap();
        device.seed(0);
        let mut training = MnistTraining::new(&device).unwrap();
        let losses: Vec<f32> = (0..6).map(|_| training.step().unwrap()).collect();
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        // Untrained: about ln 10 = 2.30 (random labels, small logits).
        assert!((1.5..3.5).contains(&losses[0]), "{losses:?}");
        assert!(
            losses[5] < losses[0],
            "Adam lowers the loss on its batch: {losses:?}"
        );
    }
}
