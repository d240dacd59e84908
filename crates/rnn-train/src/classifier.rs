//! The book's sequence classifier: a recurrent cell read over the whole sequence, a dense
//! layer of logits on its last output (for a basic cell, its final state).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use rnn_core::{RnnCell, static_rnn};

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
    ///
    /// A cell with a fused whole-sequence path ([`RnnCell::fused_sequence`]: basic cells, their
    /// projections and stacks) runs it, and its last step is sliced out (one node for the whole
    /// sequence with a hand-written backward; measured faster than the per-step loop, see
    /// ARCHITECTURE.md). Other cells go through `static_rnn`, dropping the other outputs: no
    /// `[B, T, O]` stack forward and no full-size slice gradient in backward, which the
    /// per-step `dynamic_rnn` followed by a slice of its last step would cost.
    pub fn forward(&self, inputs: Tensor<3>) -> Result<Tensor<2>, TrainError> {
        let [b, t, i] = inputs.dims();
        if t > 0 && i == self.cell.input_size() && b > 0 {
            let zero = self.cell.zero_state(b, &inputs.device());
            if let Some((outputs, _)) = self.cell.fused_sequence(&inputs, &zero) {
                let last = outputs
                    .narrow(1, t - 1, 1)
                    .reshape([b, self.cell.output_size()]);
                return Ok(self.dense.forward(last));
            }
        }
        let steps = inputs.iter_dim(1).map(|x| x.reshape([b, i])).collect();
        let (mut outputs, _) = static_rnn(&self.cell, steps, None, None)?;
        let last = outputs.pop().expect("static_rnn rejects an empty sequence");
        Ok(self.dense.forward(last))
    }
}
