//! A long short-term memory cell (TF's `BasicLSTMCell`), state `(c, h)`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Tensor};

use super::{check_finite, check_shape, check_size, init_kernels, kernel_sizes};
use crate::fused::{self, CellWeights};
use crate::{RnnCell, RnnError, RnnState, SequencePlan};

/// Configuration of an [`LstmCell`]: `LstmCellConfig::new(n_inputs, n_neurons)`.
#[derive(Config, Debug)]
pub struct LstmCellConfig {
    /// I, input features per step.
    pub n_inputs: usize,
    /// H, the number of units (size of `c`, `h` and the output).
    pub n_neurons: usize,
    /// Added to the forget gate's pre-activation (TF's `BasicLSTMCell` default 1.0, so that
    /// a fresh cell remembers). 0.0 gives PyTorch's `nn.LSTM`.
    #[config(default = 1.0)]
    pub forget_bias: f64,
    /// Initialiser of the kernels (Glorot-uniform over TF's `[I + H, 4H]` kernel).
    #[config(default = "Initializer::XavierUniform { gain: 1.0 }")]
    pub initializer: Initializer,
}

/// An LSTM cell. Gates in PyTorch's order `i, f, g, o` (TF's order is `i, j, f, o`, `j` = `g`):
/// `i, f, o = σ(·)`, `g = tanh(·)` of `x W_x + h W_h + b`; `c' = σ(f + forget_bias) c + i g`;
/// `h' = o tanh(c')`; output `h'`.
#[derive(Module, Debug)]
pub struct LstmCell {
    /// Input kernel `[I, 4H]`, gate blocks `i, f, g, o`.
    pub wx: Param<Tensor<2>>,
    /// Recurrent kernel `[H, 4H]`.
    pub wh: Param<Tensor<2>>,
    /// Bias `[4H]` (PyTorch's `b_ih + b_hh`).
    pub bias: Param<Tensor<1>>,
    /// Added to the forget gate.
    #[module(skip)]
    pub forget_bias: f64,
}

/// TF's `LSTMStateTuple(c, h)`: memory `c [B, H]` and hidden state `h [B, H]`.
#[derive(Debug, Clone)]
pub struct LstmState {
    /// The memory cell `[B, H]`.
    pub c: Tensor<2>,
    /// The hidden state and output `[B, H]`.
    pub h: Tensor<2>,
}

impl LstmState {
    /// `c` and `h` zero, each `[batch_size, h]`: the zero state of the LSTM cells.
    pub fn zeros(batch_size: usize, h: usize, device: &Device) -> Self {
        let zeros = fused::zeros([batch_size, h], device);
        Self {
            c: zeros.clone(),
            h: zeros,
        }
    }
}

impl RnnState for LstmState {
    fn batch_size(&self) -> usize {
        self.h.dims()[0]
    }

    fn select_rows(take_new: &Tensor<1, Bool>, new: Self, old: Self) -> Self {
        LstmState {
            c: Tensor::select_rows(take_new, new.c, old.c),
            h: Tensor::select_rows(take_new, new.h, old.h),
        }
    }

    fn detach(self) -> Self {
        LstmState {
            c: self.c.detach(),
            h: self.h.detach(),
        }
    }

    fn slice_batch(&self, range: core::ops::Range<usize>) -> Self {
        LstmState {
            c: self.c.slice_batch(range.clone()),
            h: self.h.slice_batch(range),
        }
    }

    fn tensors(&self) -> Vec<Tensor<2>> {
        vec![self.c.clone(), self.h.clone()]
    }

    /// Only `h`: TF's default state filter keeps the memory `c` free of dropout.
    fn map_droppable(self, f: &mut dyn FnMut(Tensor<2>) -> Tensor<2>) -> Self {
        LstmState {
            c: self.c,
            h: f(self.h),
        }
    }
}

impl LstmCellConfig {
    /// Builds the cell on `device`: `wx [I, 4H]`, `wh [H, 4H]`, `bias [4H]` (starting at zero).
    /// Fails when `n_inputs` or `n_neurons` is 0 or `forget_bias` is not finite.
    pub fn init(&self, device: &Device) -> Result<LstmCell, RnnError> {
        check_size("n_inputs", self.n_inputs)?;
        check_size("n_neurons", self.n_neurons)?;
        check_finite("forget_bias", self.forget_bias)?;
        let (wx, wh) = init_kernels(&self.initializer, self.n_inputs, self.n_neurons, 4, device);
        Ok(LstmCell {
            wx,
            wh,
            bias: Initializer::Zeros.init([4 * self.n_neurons], device),
            forget_bias: self.forget_bias,
        })
    }
}

impl LstmCell {
    /// A cell holding the given weights: `wx [I, 4H]`, `wh [H, 4H]`, `bias [4H]` (gates i, f, g, o),
    /// with I and H at least 1. Fails, naming the argument, when a shape disagrees with `wx`'s
    /// or `forget_bias` is not finite.
    pub fn from_weights(
        wx: Tensor<2>,
        wh: Tensor<2>,
        bias: Tensor<1>,
        forget_bias: f64,
    ) -> Result<Self, RnnError> {
        let (_, h) = kernel_sizes(&wx.dims(), 4, "[I, 4H]")?;
        check_shape("wh", &wh.dims(), &[h, 4 * h], "[H, 4H]", h)?;
        check_shape("bias", &bias.dims(), &[4 * h], "[4H]", h)?;
        check_finite("forget_bias", forget_bias)?;
        Ok(Self {
            wx: Param::from_tensor(wx.detach()),
            wh: Param::from_tensor(wh.detach()),
            bias: Param::from_tensor(bias.detach()),
            forget_bias,
        })
    }
}

impl RnnCell for LstmCell {
    type State = LstmState;

    fn input_size(&self) -> usize {
        self.wx.shape()[0]
    }

    fn output_size(&self) -> usize {
        self.wh.shape()[0]
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> LstmState {
        LstmState::zeros(batch_size, self.output_size(), device)
    }

    fn step(&self, input: Tensor<2>, state: LstmState) -> (Tensor<2>, LstmState) {
        let z = input.matmul(self.wx.val()) + self.bias.val().unsqueeze_dim::<2>(0);
        let xw = z;
        let gates = xw + state.h.matmul(self.wh.val());
        let [i, f, g, o]: [Tensor<2>; 4] = gates.chunk(4, 1).try_into().expect("4 gate blocks");
        let f = if self.forget_bias != 0.0 {
            f + self.forget_bias
        } else {
            f
        };
        let c = sigmoid(f) * state.c + sigmoid(i) * g.tanh();
        let h = sigmoid(o) * c.clone().tanh();
        (h.clone(), LstmState { c, h })
    }

    /// The fused sequence (the kernel family in `crate::fused`): `inputs [B, T, I]`,
    /// state `(c, h)` of `[B, H]` -> `outputs [B, T, H]`, final state `(c, h)`, under `plan`.
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &LstmState,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, LstmState)> {
        let w = CellWeights::lstm(
            self.forget_bias as f32,
            self.wx.val(),
            self.wh.val(),
            self.bias.val(),
        );
        let init = [state.h.clone(), state.c.clone()];
        let (outputs, states) = fused::sequence(w, inputs, &init, plan)?;
        let [h, c]: [Tensor<2>; 2] = states.try_into().ok()?;
        Some((outputs, LstmState { c, h }))
    }
}
