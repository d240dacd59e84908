//! TF's `OutputProjectionWrapper`: a dense layer on each step's output.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear};
use burn::tensor::{Device, Tensor};

use crate::{RnnCell, RnnError, SequencePlan};

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
    /// Wraps `cell` (output `[B, H]`), creating the projection on `device`: weight `[H, O]`,
    /// bias `[O]`. Fails when `output_size` (O) is 0.
    pub fn init<C: RnnCell>(
        &self,
        cell: C,
        device: &Device,
    ) -> Result<OutputProjectionWrapper<C>, RnnError> {
        if self.output_size == 0 {
            return Err(RnnError::invalid("output_size", "at least 1", 0));
        }
        let h = cell.output_size();
        let weight = self.initializer.init_with(
            [h, self.output_size],
            Some(h),
            Some(self.output_size),
            device,
        );
        let bias = Initializer::Zeros.init([self.output_size], device);
        Ok(OutputProjectionWrapper {
            cell,
            projection: Linear {
                weight,
                bias: Some(bias),
            },
        })
    }
}

impl<C: RnnCell> OutputProjectionWrapper<C> {
    /// Wraps `cell` (output `[B, H]`) with a given projection: weight `[H, O]` with O at least
    /// 1, bias `[O]` or none. Fails, naming `projection.weight` or `projection.bias`, when a
    /// shape disagrees.
    pub fn new(cell: C, projection: Linear) -> Result<Self, RnnError> {
        let h = cell.output_size();
        let weight = projection.weight.dims();
        if weight[0] != h || weight[1] == 0 {
            return Err(RnnError::invalid(
                "projection.weight",
                format!("[{h}, O] with O >= 1 (H = {h}, the cell's output_size)"),
                format!("{weight:?}"),
            ));
        }
        if let Some(bias) = &projection.bias
            && bias.dims() != [weight[1]]
        {
            return Err(RnnError::invalid(
                "projection.bias",
                format!("[{}] (O, the columns of `projection.weight`)", weight[1]),
                format!("{:?}", bias.dims()),
            ));
        }
        Ok(Self { cell, projection })
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
        let flat = outputs.reshape([b * t, h]);
        // The fused projection (one node over kept buffers) when the inner cell ran fused on
        // flex; burn's Linear otherwise (no bias, or another backend).
        let fused = self.projection.bias.as_ref().and_then(|bias| {
            crate::fused::linear(flat.clone(), self.projection.weight.val(), bias.val())
        });
        let projected = fused
            .unwrap_or_else(|| self.projection.forward(flat))
            .reshape([b, t, self.output_size()]);
        let projected = match plan.valid_mask(t, &projected.device()) {
            Some(mask) => projected * mask,
            None => projected,
        };
        Some((projected, state))
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::tensor::Tensor;

    use super::*;
    use crate::BasicRnnCellConfig;
    use crate::test_util::device;

    #[test]
    fn a_projection_of_size_zero_or_of_the_wrong_shape_is_refused() {
        let dev = device();
        let cell = || BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
        let err = OutputProjectionWrapperConfig::new(0)
            .init(cell(), &dev)
            .unwrap_err();
        assert_eq!(err.to_string(), "`output_size`: expected at least 1, got 0");
        assert_eq!(
            OutputProjectionWrapperConfig::new(1)
                .init(cell(), &dev)
                .unwrap()
                .output_size(),
            1
        );

        let linear = |w: [usize; 2], b: usize| Linear {
            weight: Param::from_tensor(Tensor::zeros(w, &dev)),
            bias: Some(Param::from_tensor(Tensor::zeros([b], &dev))),
        };
        let err = OutputProjectionWrapper::new(cell(), linear([4, 2], 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`projection.weight`: expected [3, O] with O >= 1 (H = 3, the cell's output_size), got [4, 2]"
        );
        let err = OutputProjectionWrapper::new(cell(), linear([3, 0], 0)).unwrap_err();
        assert!(err.to_string().contains("got [3, 0]"), "{err}");
        let err = OutputProjectionWrapper::new(cell(), linear([3, 2], 5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`projection.bias`: expected [2] (O, the columns of `projection.weight`), got [5]"
        );
        let ok = OutputProjectionWrapper::new(cell(), linear([3, 2], 2)).unwrap();
        assert_eq!(ok.output_size(), 2);
    }
}
