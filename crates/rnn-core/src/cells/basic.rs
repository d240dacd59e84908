//! TF's `BasicRNNCell`: `h' = act(x W_x + h W_h + b)`, output = new state.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use super::{check_shape, check_size, init_kernels, kernel_sizes};
use crate::fused::{self, CellWeights};
use crate::{Activation, RnnCell, RnnError, SequencePlan};

/// Configuration of a [`BasicRnnCell`]: `BasicRnnCellConfig::new(n_inputs, n_neurons)`.
#[derive(Config, Debug)]
pub struct BasicRnnCellConfig {
    /// I, input features per step.
    pub n_inputs: usize,
    /// H, the number of neurons (state and output size).
    pub n_neurons: usize,
    /// The activation; TF's default tanh. The book's forecaster uses relu.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Initialiser of `W_x` and `W_h`; TF's default, Glorot-uniform over the `[I + H, H]` kernel.
    #[config(default = "Initializer::XavierUniform { gain: 1.0 }")]
    pub initializer: Initializer,
    /// Initialiser of the bias; TF's default, zeros.
    #[config(default = "Initializer::Zeros")]
    pub bias_initializer: Initializer,
}

/// A basic recurrent cell. State and output: `[B, H]`.
#[derive(Module, Debug)]
pub struct BasicRnnCell {
    /// Input kernel `[I, H]`.
    pub wx: Param<Tensor<2>>,
    /// Recurrent kernel `[H, H]`.
    pub wh: Param<Tensor<2>>,
    /// Bias `[H]`.
    pub bias: Param<Tensor<1>>,
    /// The activation.
    #[module(skip)]
    pub activation: Activation,
}

impl BasicRnnCellConfig {
    /// Builds the cell on `device` with freshly initialised weights: `wx [I, H]`, `wh [H, H]`,
    /// `bias [H]`. Fails when `n_inputs` or `n_neurons` is 0.
    pub fn init(&self, device: &Device) -> Result<BasicRnnCell, RnnError> {
        check_size("n_inputs", self.n_inputs)?;
        check_size("n_neurons", self.n_neurons)?;
        let (wx, wh) = init_kernels(&self.initializer, self.n_inputs, self.n_neurons, 1, device);
        let bias = self.bias_initializer.init([self.n_neurons], device);
        Ok(BasicRnnCell {
            wx,
            wh,
            bias,
            activation: self.activation,
        })
    }
}

impl BasicRnnCell {
    /// A cell holding the given weights: `wx [I, H]`, `wh [H, H]`, `bias [H]`, with I and
    /// H at least 1. Fails, naming the argument, when a shape disagrees with `wx`'s.
    pub fn from_weights(
        wx: Tensor<2>,
        wh: Tensor<2>,
        bias: Tensor<1>,
        activation: Activation,
    ) -> Result<Self, RnnError> {
        let (_, h) = kernel_sizes(&wx.dims(), 1, "[I, H]")?;
        check_shape("wh", &wh.dims(), &[h, h], "[H, H]", h)?;
        check_shape("bias", &bias.dims(), &[h], "[H]", h)?;
        Ok(Self {
            wx: Param::from_tensor(wx.detach()),
            wh: Param::from_tensor(wh.detach()),
            bias: Param::from_tensor(bias.detach()),
            activation,
        })
    }
}

impl RnnCell for BasicRnnCell {
    type State = Tensor<2>;

    fn input_size(&self) -> usize {
        self.wx.shape()[0]
    }

    fn output_size(&self) -> usize {
        self.wh.shape()[0]
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> Tensor<2> {
        fused::zeros([batch_size, self.output_size()], device)
    }

    fn step(&self, input: Tensor<2>, state: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let z = input.matmul(self.wx.val()) + state.matmul(self.wh.val());
        let h = self
            .activation
            .apply(z + self.bias.val().unsqueeze_dim::<2>(0));
        (h.clone(), h)
    }

    /// The fused sequence (the kernel family in `crate::fused`): `inputs [B, T, I]`,
    /// `state [B, H]` -> `outputs [B, T, H]`, final state `[B, H]`, under `plan`.
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &Tensor<2>,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, Tensor<2>)> {
        let w = CellWeights::basic(
            self.activation,
            self.wx.val(),
            self.wh.val(),
            self.bias.val(),
        );
        let (outputs, mut states) = fused::sequence(w, inputs, std::slice::from_ref(state), plan)?;
        Some((outputs, states.swap_remove(0)))
    }
}
