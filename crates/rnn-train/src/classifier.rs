//! The book's sequence classifier: a recurrent cell read over the whole sequence, a dense
//! layer of logits on its last output (for a basic cell, its final state).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use rnn_core::{RnnCell, SequencePlan, run_with_plan};

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

    /// Logits `[B, n_classes]` for `inputs [B, T, I]`: the dense layer on the last output of
    /// the cell run by rnn-core's sequence driver (the fused path for the basic, LSTM and GRU
    /// cells, their projections and stacks).
    pub fn forward(&self, inputs: Tensor<3>) -> Result<Tensor<2>, TrainError> {
        self.forward_with_lengths(inputs, None)
    }

    /// As [`forward`](Self::forward) over padded sequences: `sequence_length [B]` (each in
    /// `0..=T`); each example's logits come from its last valid step's output (zeros for
    /// length 0, so the dense layer's bias).
    pub fn forward_with_lengths(
        &self,
        inputs: Tensor<3>,
        sequence_length: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<2>, TrainError> {
        let [b, t, _] = inputs.dims();
        let plan = SequencePlan::new(sequence_length, b, t, false)?.last_output_only();
        let (last, _) = run_with_plan(&self.cell, inputs, None, &plan)?;
        let o = last.dims()[2];
        Ok(self.dense.forward(last.reshape([b, o])))
    }
}
