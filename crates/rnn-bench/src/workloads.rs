//! The workloads: the book's MNIST classifier step and its forecasting step.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Int, Tensor};
use rnn_core::{Activation, BasicRnnCell, BasicRnnCellConfig};

use crate::UnrollVariant;

/// One forward + backward pass of the book's MNIST model: `[B, 28, 28]` images through a tanh
/// `BasicRnnCell(28, H)`, a dense layer of 10 logits on the final state, softmax cross-entropy.
pub struct MnistStep {
    cell: BasicRnnCell,
    dense: Linear,
    images: Tensor<3>,
    labels: Tensor<1, Int>,
}

impl MnistStep {
    /// A workload of `batch` random images (28 steps of 28 pixels) and `n_neurons` units on an
    /// autodiff version of `device`.
    pub fn new(batch: usize, n_neurons: usize, device: &Device) -> Self {
        let device = device.clone().autodiff();
        Self {
            cell: BasicRnnCellConfig::new(28, n_neurons)
                .init(&device)
                .unwrap(),
            dense: LinearConfig::new(n_neurons, 10).init(&device),
            images: Tensor::random([batch, 28, 28], Distribution::Uniform(0.0, 1.0), &device),
            labels: Tensor::<1, Int>::random([batch], Distribution::Uniform(0.0, 10.0), &device),
        }
    }

    /// Forward and backward once; returns the loss (read back, so the work is finished).
    pub fn run(&self, variant: UnrollVariant) -> f32 {
        let (_, h) = variant.unroll(&self.cell, self.images.clone());
        let logits = self.dense.forward(h);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, self.labels.clone());
        let grads = loss.backward();
        let g = self.cell.wh.val().grad(&grads).expect("gradient of W_h");
        let _ = g.sum().into_scalar::<f32>();
        loss.into_scalar::<f32>()
    }

    /// Forward only, off autodiff (inference): the logits' sum, read back.
    pub fn infer(&self, variant: UnrollVariant) -> f32 {
        let cell = self.cell.valid();
        let (_, h) = variant.unroll(&cell, self.images.clone().inner());
        self.dense.valid().forward(h).sum().into_scalar::<f32>()
    }
}

/// One forward + backward pass of the book's forecaster: `[B, T, 1]` windows through a relu
/// `BasicRnnCell(1, H)`, a dense layer to 1 on every step's output, MSE over all steps.
pub struct ForecastStep {
    cell: BasicRnnCell,
    dense: Linear,
    inputs: Tensor<3>,
    targets: Tensor<3>,
}

impl ForecastStep {
    /// `batch` random windows of `n_steps` on an autodiff version of `device`.
    pub fn new(batch: usize, n_steps: usize, n_neurons: usize, device: &Device) -> Self {
        let device = device.clone().autodiff();
        Self {
            cell: BasicRnnCellConfig::new(1, n_neurons)
                .with_activation(Activation::Relu)
                .init(&device)
                .unwrap(),
            dense: LinearConfig::new(n_neurons, 1).init(&device),
            inputs: Tensor::random([batch, n_steps, 1], Distribution::Normal(0.0, 1.0), &device),
            targets: Tensor::random([batch, n_steps, 1], Distribution::Normal(0.0, 1.0), &device),
        }
    }

    /// Forward and backward once; returns the loss.
    pub fn run(&self, variant: UnrollVariant) -> f32 {
        let (outputs, _) = variant.unroll(&self.cell, self.inputs.clone());
        let predictions = self.dense.forward(outputs);
        let loss = MseLoss::new().forward(predictions, self.targets.clone(), Reduction::Mean);
        let grads = loss.backward();
        let g = self.cell.wh.val().grad(&grads).expect("gradient of W_h");
        let _ = g.sum().into_scalar::<f32>();
        loss.into_scalar::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unroll_gives_the_same_loss() {
        let device = rnn_core::device::default_device().unwrap();
        let mnist = MnistStep::new(8, 16, &device);
        let forecast = ForecastStep::new(4, 20, 16, &device);
        let m: Vec<f32> = UnrollVariant::ALL.iter().map(|&v| mnist.run(v)).collect();
        let f: Vec<f32> = UnrollVariant::ALL
            .iter()
            .map(|&v| forecast.run(v))
            .collect();
        for v in [&m, &f] {
            assert!(v.iter().all(|x| x.is_finite()));
            assert!(v.iter().all(|x| (x - v[0]).abs() < 1e-5), "{v:?}");
        }
    }
}
