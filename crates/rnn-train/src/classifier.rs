//! The book's sequence classifier: a recurrent cell read over the whole sequence, a dense
//! layer of logits on its last output (for a basic cell, its final state).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use rnn_core::{RnnCell, dynamic_rnn};

use crate::TrainError;

/// `logits = dense(last output of cell over inputs)`: `[B, T, I] -> [B, n_classes]`.
#[derive(Module, Debug)]
pub struct SequenceClassifier<C: RnnCell> {
    /// The recurrent part (a cell, a stack, a wrapper).
    pub cell: C,
    /// `[O, n_classes]` dense layer on the last step's output.
    pub dense: Linear,
}

impl<C: RnnCell> SequenceClassifier<C> {
    /// A classifier over `cell` with `n_classes` logits (Glorot-uniform weights, zero bias, as
    /// TF's `fully_connected`).
    pub fn new(cell: C, n_classes: usize, device: &Device) -> Self {
        let mut dense = LinearConfig::new(cell.output_size(), n_classes)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device);
        dense.bias = Some(Initializer::Zeros.init([n_classes], device));
        Self { cell, dense }
    }

    /// Logits `[B, n_classes]` for `inputs [B, T, I]`.
    pub fn forward(&self, inputs: Tensor<3>) -> Result<Tensor<2>, TrainError> {
        let [b, t, _] = inputs.dims();
        let (outputs, _) = dynamic_rnn(&self.cell, inputs, None, None)?;
        let last = outputs
            .narrow(1, t - 1, 1)
            .reshape([b, self.cell.output_size()]);
        Ok(self.dense.forward(last))
    }
}
