//! TF's `OutputProjectionWrapper`: a dense layer on each step's output.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear};
use burn::tensor::{Device, Tensor};

use crate::{RnnCell, SequencePlan};

/// Configuration of an [`OutputProjectionWrapper`]: the projected size (TF's `output_size`).
#[derive(Config, Debug)]
pub struct OutputProjectionWrapperConfig {
    /// O, the output size after projection.
    pub output_size: usize,
    /// Initialiser of the `[H, O]` kernel (TF's default, Glorot-uniform); the bias starts at 0.
    #[config(default = "Initializer::XavierUniform { gain: 1.0 }")]
    pub initializer: Initializer,
}

/// A cell whose every output goes through `y = out W + b` (`[B, H] -> [B, O]`); the state is
/// the inner cell's, untouched.
#[derive(Module, Debug)]
pub struct OutputProjectionWrapper<C: RnnCell> {
    /// The wrapped cell.
    pub cell: C,
    /// The projection: weight `[H, O]`, bias `[O]`.
    pub projection: Linear,
}

impl OutputProjectionWrapperConfig {
    /// Wraps `cell`, creating the projection on `device`.
    pub fn init<C: RnnCell>(&self, cell: C, device: &Device) -> OutputProjectionWrapper<C> {
        let h = cell.output_size();
        let weight = self.initializer.init_with(
            [h, self.output_size],
            Some(h),
            Some(self.output_size),
            device,
        );
        let bias = Initializer::Zeros.init([self.output_size], device);
        OutputProjectionWrapper {
            cell,
            projection: Linear {
                weight,
                bias: Some(bias),
            },
        }
    }
}

impl<C: RnnCell> RnnCell for OutputProjectionWrapper<C> {
    type State = C::State;

    fn input_size(&self) -> usize {
        self.cell.input_size()
    }

    fn output_size(&self) -> usize {
        self.projection.weight.shape()[1]
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> C::State {
        self.cell.zero_state(batch_size, device)
    }

    fn step(&self, input: Tensor<2>, state: C::State) -> (Tensor<2>, C::State) {
        let (out, state) = self.cell.step(input, state);
        (self.projection.forward(out), state)
    }

    /// The inner cell's fused sequence, then the projection as one `[B*T, H] x [H, O]` matmul
    /// (`[B, T, I]` -> `[B, T, O]`), zeroed past each length (a projection of a zero output is
    /// its bias; TF zeroes the wrapper's outputs). `None` when the inner cell has no fused path.
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &C::State,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, C::State)> {
        let (outputs, state) = self.cell.fused_sequence(inputs, state, plan)?;
        let [b, t, h] = outputs.dims();
        let projected = self
            .projection
            .forward(outputs.reshape([b * t, h]))
            .reshape([b, t, self.output_size()]);
        let projected = match plan.valid_mask(t, &projected.device()) {
            Some(mask) => projected * mask,
            None => projected,
        };
        Some((projected, state))
    }
}
