//! A gated recurrent unit (TF's `GRUCell`, or PyTorch's `nn.GRU` with `reset_after`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use super::{check_finite, check_shape, check_size, kernel_sizes};
use crate::fused::{self, CellWeights};
use crate::{RnnCell, RnnError, SequencePlan};

/// Configuration of a [`GruCell`]: `GruCellConfig::new(n_inputs, n_neurons)`.
#[derive(Config, Debug)]
pub struct GruCellConfig {
    /// I, input features per step.
    pub n_inputs: usize,
    /// H, the number of units (state and output size).
    pub n_neurons: usize,
    /// `false` (TF 1.x `GRUCell`): the reset gate scales `h` before its matmul,
    /// `n = tanh(x W_xn + (r ⊙ h) W_hn + b_n)`. `true` (PyTorch, cuDNN): after it,
    /// `n = tanh(x W_xn + b_n + r ⊙ (h W_hn + b_hn))`.
    #[config(default = false)]
    pub reset_after: bool,
    /// Initialiser of the kernels (Glorot-uniform over TF's fans).
    #[config(default = "Initializer::XavierUniform { gain: 1.0 }")]
    pub initializer: Initializer,
    /// Initial value of the reset and update gates' bias (TF's `GRUCell`: 1.0).
    #[config(default = 1.0)]
    pub gate_bias: f64,
}

/// A GRU cell. Gates `r` (reset) and `z` (update, TF's `u`) `= σ(x W_x + h W_h + b)`;
/// candidate `n` as [`GruCellConfig::reset_after`] says; `h' = z ⊙ h + (1 − z) ⊙ n`.
#[derive(Module, Debug)]
pub struct GruCell {
    /// Input kernel `[I, 3H]`, blocks `r, z, n`.
    pub wx: Param<Tensor<2>>,
    /// Recurrent kernel of the gates `[H, 2H]`, blocks `r, z`.
    pub wh_gates: Param<Tensor<2>>,
    /// Recurrent kernel of the candidate `[H, H]`.
    pub wh_candidate: Param<Tensor<2>>,
    /// Bias `[3H]`, blocks `r, z, n` (PyTorch's `b_ih + b_hh` for `r, z`; `b_in` for `n`).
    pub bias: Param<Tensor<1>>,
    /// With `reset_after`: the candidate's recurrent bias `b_hn [H]`, inside the reset.
    pub bias_hn: Option<Param<Tensor<1>>>,
}

impl GruCellConfig {
    /// Builds the cell on `device`: `wx [I, 3H]`, `wh_gates [H, 2H]`, `wh_candidate [H, H]`,
    /// `bias [3H]` (and `bias_hn [H]` with `reset_after`). Fails when `n_inputs` or
    /// `n_neurons` is 0 or `gate_bias` is not finite.
    pub fn init(&self, device: &Device) -> Result<GruCell, RnnError> {
        check_size("n_inputs", self.n_inputs)?;
        check_size("n_neurons", self.n_neurons)?;
        check_finite("gate_bias", self.gate_bias)?;
        // TF's GRUCell has two kernels over [x, h]: gates [I + H, 2H] and candidate [I + H, H],
        // each Glorot-initialised with its own fans.
        let (i, h) = (self.n_inputs, self.n_neurons);
        let fan_in = Some(i + h);
        let kernel = |rows: usize, cols: usize| -> Tensor<2> {
            self.initializer
                .init_with([rows, cols], fan_in, Some(cols), device)
                .val()
                .detach()
        };
        let wx = Tensor::cat(vec![kernel(i, 2 * h), kernel(i, h)], 1);
        let bias = Tensor::cat(
            vec![
                Tensor::full([2 * h], self.gate_bias, device),
                Tensor::zeros([h], device),
            ],
            0,
        );
        GruCell::from_weights(
            wx,
            kernel(h, 2 * h),
            kernel(h, h),
            bias,
            self.reset_after.then(|| Tensor::zeros([h], device)),
        )
    }
}

impl GruCell {
    /// A cell holding the given weights: `wx [I, 3H]`, `wh_gates [H, 2H]`,
    /// `wh_candidate [H, H]`, `bias [3H]`, and `bias_hn [H]` to get `reset_after`, with I and H
    /// at least 1. Fails, naming the argument, when a shape disagrees with `wx`'s.
    pub fn from_weights(
        wx: Tensor<2>,
        wh_gates: Tensor<2>,
        wh_candidate: Tensor<2>,
        bias: Tensor<1>,
        bias_hn: Option<Tensor<1>>,
    ) -> Result<Self, RnnError> {
        let (_, h) = kernel_sizes(&wx.dims(), 3, "[I, 3H]")?;
        check_shape("wh_gates", &wh_gates.dims(), &[h, 2 * h], "[H, 2H]", h)?;
        check_shape("wh_candidate", &wh_candidate.dims(), &[h, h], "[H, H]", h)?;
        check_shape("bias", &bias.dims(), &[3 * h], "[3H]", h)?;
        if let Some(b) = &bias_hn {
            check_shape("bias_hn", &b.dims(), &[h], "[H]", h)?;
        }
        Ok(Self {
            wx: Param::from_tensor(wx.detach()),
            wh_gates: Param::from_tensor(wh_gates.detach()),
            wh_candidate: Param::from_tensor(wh_candidate.detach()),
            bias: Param::from_tensor(bias.detach()),
            bias_hn: bias_hn.map(|b| Param::from_tensor(b.detach())),
        })
    }

    /// Whether the reset gate acts after the candidate's recurrent matmul (PyTorch's form).
    pub fn reset_after(&self) -> bool {
        self.bias_hn.is_some()
    }
}

impl RnnCell for GruCell {
    type State = Tensor<2>;

    fn input_size(&self) -> usize {
        self.wx.shape()[0]
    }

    fn output_size(&self) -> usize {
        self.wh_candidate.shape()[0]
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> Tensor<2> {
        fused::zeros([batch_size, self.output_size()], device)
    }

    fn step(&self, input: Tensor<2>, state: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let xw = input.matmul(self.wx.val()) + self.bias.val().unsqueeze_dim::<2>(0);
        let h = state;
        let n_h = self.output_size();
        let x_gates = xw.clone().narrow(1, 0, 2 * n_h);
        let x_cand = xw.narrow(1, 2 * n_h, n_h);
        let gates = sigmoid(x_gates + h.clone().matmul(self.wh_gates.val()));
        let [r, z]: [Tensor<2>; 2] = gates.chunk(2, 1).try_into().expect("2 gate blocks");
        let candidate = match &self.bias_hn {
            Some(b_hn) => {
                let hn =
                    h.clone().matmul(self.wh_candidate.val()) + b_hn.val().unsqueeze_dim::<2>(0);
                (x_cand + r * hn).tanh()
            }
            None => (x_cand + (r * h.clone()).matmul(self.wh_candidate.val())).tanh(),
        };
        // h' = z h + (1 - z) n = n + z (h - n)
        let new_h = candidate.clone() + z * (h - candidate);
        (new_h.clone(), new_h)
    }

    /// The fused sequence (the kernel family in `crate::fused`), either form:
    /// `inputs [B, T, I]`, `state [B, H]` -> `outputs [B, T, H]`, final state `[B, H]`,
    /// under `plan`. The kernel reads `[wh_gates | wh_candidate]` as one `[H, 3H]` matrix.
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &Tensor<2>,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, Tensor<2>)> {
        let wh = Tensor::cat(vec![self.wh_gates.val(), self.wh_candidate.val()], 1);
        let b_hn = self.bias_hn.as_ref().map(|b| b.val());
        let w = CellWeights::gru(self.wx.val(), wh, self.bias.val(), b_hn);
        let (outputs, mut states) = fused::sequence(w, inputs, std::slice::from_ref(state), plan)?;
        Some((outputs, states.swap_remove(0)))
    }
}
