//! A layer-normalised LSTM cell (TF 1.x's `tf.contrib.rnn.LayerNormBasicLSTMCell` with
//! `layer_norm=True`), state `(c, h)`.
//!
//! TF's cell also has `dropout_keep_prob` (dropout on the candidate `g`, "recurrent dropout
//! without memory loss"); it is left out here: wrap the cell in a
//! [`DropoutWrapper`](crate::DropoutWrapper) for dropout on inputs, outputs or state.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use super::{check_finite, check_shape, check_size, init_kernels, kernel_sizes};
use crate::fused::{self, CellWeights};
use crate::{LstmState, RnnCell, RnnError, SequencePlan};

/// TF 1.x's layer-norm epsilon: `tf.contrib.layers.layer_norm` (which
/// `LayerNormBasicLSTMCell` calls) uses `variance_epsilon = 1e-12`. Not the default: see
/// [`DEFAULT_LAYER_NORM_EPSILON`].
pub const TF_LAYER_NORM_EPSILON: f64 = 1e-12;

/// The default epsilon, `1e-3`, as TF's successor of the cell (TF Addons'
/// `LayerNormLSTMCell`, `norm_epsilon=1e-3`) and Keras' `LayerNormalization`.
///
/// With TF 1.x's `1e-12` the cell does not train on MNIST: the top rows of a digit are zero,
/// so from a zero state every gate's pre-activation block is 0, its variance 0, and the norm's
/// backward multiplies the gradient by `1/sqrt(1e-12) = 1e6` at each such step; a few zero
/// rows overflow `f32` and the first Adam step writes NaN into the weights. `1e-3` bounds that
/// factor at ~32 per step (test `leading_zero_steps_keep_the_default_gradient_finite`).
pub const DEFAULT_LAYER_NORM_EPSILON: f64 = 1e-3;

/// Configuration of a [`LayerNormLstmCell`]: `LayerNormLstmCellConfig::new(n_inputs, n_neurons)`.
#[derive(Config, Debug)]
pub struct LayerNormLstmCellConfig {
    /// I, input features per step.
    pub n_inputs: usize,
    /// H, the number of units (size of `c`, `h` and the output).
    pub n_neurons: usize,
    /// Added to the forget gate after its layer norm (TF's default 1.0).
    #[config(default = 1.0)]
    pub forget_bias: f64,
    /// Initial value of every layer-norm gain (TF's `norm_gain`, default 1.0).
    #[config(default = 1.0)]
    pub norm_gain: f64,
    /// Initial value of every layer-norm shift (TF's `norm_shift`, default 0.0).
    #[config(default = 0.0)]
    pub norm_shift: f64,
    /// Added to the variance before its square root ([`DEFAULT_LAYER_NORM_EPSILON`] by
    /// default; [`TF_LAYER_NORM_EPSILON`] for TF 1.x's exact cell).
    #[config(default = 1e-3)]
    pub epsilon: f64,
    /// Initialiser of the kernels (Glorot-uniform over TF's `[I + H, 4H]` kernel).
    #[config(default = "Initializer::XavierUniform { gain: 1.0 }")]
    pub initializer: Initializer,
}

/// The layer-norm parameters of a [`LayerNormLstmCell`], for
/// [`from_weights`](LayerNormLstmCell::from_weights).
#[derive(Debug, Clone)]
pub struct LayerNormWeights {
    /// The gains of the four gates' layer norms `[4H]` (blocks `i, f, g, o`).
    pub gate_gain: Tensor<1>,
    /// The shifts of the four gates' layer norms `[4H]` (blocks `i, f, g, o`).
    pub gate_shift: Tensor<1>,
    /// The gain of the new memory's layer norm `[H]`.
    pub state_gain: Tensor<1>,
    /// The shift of the new memory's layer norm `[H]`.
    pub state_shift: Tensor<1>,
}

/// A layer-normalised LSTM cell. Gates in PyTorch's order `i, f, g, o` (TF's is `i, j, f, o`,
/// `j` = `g`), with `LN_k(v) = gain_k (v - mean(v)) / sqrt(var(v) + ε) + shift_k` over the H
/// units of one block of one example (biased variance):
///
/// - `[zi, zf, zg, zo] = x W_x + h W_h` (no bias: the shifts play its part, as in TF);
/// - `i = σ(LN_i(zi))`, `f = σ(LN_f(zf) + forget_bias)`, `g = tanh(LN_g(zg))`,
///   `o = σ(LN_o(zo))`;
/// - `c' = LN_c(f c + i g)` (the normalised memory is the new state, as in TF);
/// - `h' = o tanh(c')`; output `h'`.
///
/// The state is an [`LstmState`] `(c, h)`. TF's `dropout_keep_prob` is left out (see the
/// module docs).
#[derive(Module, Debug)]
pub struct LayerNormLstmCell {
    /// Input kernel `[I, 4H]`, gate blocks `i, f, g, o`.
    pub wx: Param<Tensor<2>>,
    /// Recurrent kernel `[H, 4H]`.
    pub wh: Param<Tensor<2>>,
    /// Gains of the gates' layer norms `[4H]`.
    pub gate_gain: Param<Tensor<1>>,
    /// Shifts of the gates' layer norms `[4H]`.
    pub gate_shift: Param<Tensor<1>>,
    /// Gain of the memory's layer norm `[H]`.
    pub state_gain: Param<Tensor<1>>,
    /// Shift of the memory's layer norm `[H]`.
    pub state_shift: Param<Tensor<1>>,
    /// Added to the forget gate after its layer norm.
    #[module(skip)]
    pub forget_bias: f64,
    /// Added to each variance.
    #[module(skip)]
    pub epsilon: f64,
}

/// Refuses an epsilon that is not a finite number > 0 (0 divides by zero on a constant block).
fn check_epsilon(value: f64) -> Result<(), RnnError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(RnnError::invalid("epsilon", "a finite number > 0", value));
    }
    Ok(())
}

impl LayerNormLstmCellConfig {
    /// Builds the cell on `device`: `wx [I, 4H]`, `wh [H, 4H]`, gains `[4H]`, `[H]` at
    /// `norm_gain`, shifts `[4H]`, `[H]` at `norm_shift`. Fails when `n_inputs` or `n_neurons`
    /// is 0, `forget_bias`, `norm_gain` or `norm_shift` is not finite, or `epsilon` is not a
    /// finite number > 0.
    pub fn init(&self, device: &Device) -> Result<LayerNormLstmCell, RnnError> {
        check_size("n_inputs", self.n_inputs)?;
        check_size("n_neurons", self.n_neurons)?;
        check_finite("forget_bias", self.forget_bias)?;
        check_finite("norm_gain", self.norm_gain)?;
        check_finite("norm_shift", self.norm_shift)?;
        check_epsilon(self.epsilon)?;
        let h = self.n_neurons;
        let (wx, wh) = init_kernels(&self.initializer, self.n_inputs, h, 4, device);
        let gain = Initializer::Constant {
            value: self.norm_gain,
        };
        let shift = Initializer::Constant {
            value: self.norm_shift,
        };
        Ok(LayerNormLstmCell {
            wx,
            wh,
            gate_gain: gain.init([4 * h], device),
            gate_shift: shift.init([4 * h], device),
            state_gain: gain.init([h], device),
            state_shift: shift.init([h], device),
            forget_bias: self.forget_bias,
            epsilon: self.epsilon,
        })
    }
}

impl LayerNormLstmCell {
    /// A cell holding the given weights: `wx [I, 4H]`, `wh [H, 4H]` (gates i, f, g, o) with I
    /// and H at least 1, and `norm` (`[4H]`, `[4H]`, `[H]`, `[H]`). Fails, naming the argument,
    /// when a shape disagrees with `wx`'s, `forget_bias` is not finite or `epsilon` is not a
    /// finite number > 0.
    pub fn from_weights(
        wx: Tensor<2>,
        wh: Tensor<2>,
        norm: LayerNormWeights,
        forget_bias: f64,
        epsilon: f64,
    ) -> Result<Self, RnnError> {
        let (_, h) = kernel_sizes(&wx.dims(), 4, "[I, 4H]")?;
        check_shape("wh", &wh.dims(), &[h, 4 * h], "[H, 4H]", h)?;
        let LayerNormWeights {
            gate_gain,
            gate_shift,
            state_gain,
            state_shift,
        } = norm;
        check_shape("gate_gain", &gate_gain.dims(), &[4 * h], "[4H]", h)?;
        check_shape("gate_shift", &gate_shift.dims(), &[4 * h], "[4H]", h)?;
        check_shape("state_gain", &state_gain.dims(), &[h], "[H]", h)?;
        check_shape("state_shift", &state_shift.dims(), &[h], "[H]", h)?;
        check_finite("forget_bias", forget_bias)?;
        check_epsilon(epsilon)?;
        let param1 = |t: Tensor<1>| Param::from_tensor(t.detach());
        Ok(Self {
            wx: Param::from_tensor(wx.detach()),
            wh: Param::from_tensor(wh.detach()),
            gate_gain: param1(gate_gain),
            gate_shift: param1(gate_shift),
            state_gain: param1(state_gain),
            state_shift: param1(state_shift),
            forget_bias,
            epsilon,
        })
    }
}

/// `gain (v - mean) / sqrt(var + epsilon) + shift` over the last axis of `v [B, K, H]`
/// (`gain`, `shift`: `[K * H]`, one block of H per k).
fn layer_norm(v: Tensor<3>, gain: Tensor<1>, shift: Tensor<1>, epsilon: f64) -> Tensor<3> {
    let [_, k, h] = v.dims();
    let centred = v.clone() - v.mean_dim(2);
    let var = centred.clone().square().mean_dim(2);
    let normed = centred / (var + epsilon).sqrt();
    normed * gain.reshape([1, k, h]) + shift.reshape([1, k, h])
}

impl RnnCell for LayerNormLstmCell {
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
        let [b, _] = input.dims();
        let h = self.output_size();
        let z = input.matmul(self.wx.val()) + state.h.matmul(self.wh.val());
        let gates = layer_norm(
            z.reshape([b, 4, h]),
            self.gate_gain.val(),
            self.gate_shift.val(),
            self.epsilon,
        );
        let [i, f, g, o]: [Tensor<2>; 4] = gates
            .reshape([b, 4 * h])
            .chunk(4, 1)
            .try_into()
            .expect("4 gate blocks");
        let f = if self.forget_bias != 0.0 {
            f + self.forget_bias
        } else {
            f
        };
        let c = sigmoid(f) * state.c + sigmoid(i) * g.tanh();
        let c = layer_norm(
            c.reshape([b, 1, h]),
            self.state_gain.val(),
            self.state_shift.val(),
            self.epsilon,
        )
        .reshape([b, h]);
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
        let norm = Tensor::cat(
            vec![
                self.gate_gain.val(),
                self.state_gain.val(),
                self.gate_shift.val(),
                self.state_shift.val(),
            ],
            0,
        );
        let w = CellWeights::ln_lstm(
            self.forget_bias as f32,
            self.epsilon as f32,
            self.wx.val(),
            self.wh.val(),
            norm,
        );
        let init = [state.h.clone(), state.c.clone()];
        let (outputs, states) = fused::sequence(w, inputs, &init, plan)?;
        let [h, c]: [Tensor<2>; 2] = states.try_into().ok()?;
        Some((outputs, LstmState { c, h }))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::*;
    use crate::test_util::{assert_close, device};

    fn zeros1(n: usize) -> Tensor<1> {
        Tensor::zeros([n], &device())
    }

    fn norm(h: usize) -> LayerNormWeights {
        LayerNormWeights {
            gate_gain: zeros1(4 * h),
            gate_shift: zeros1(4 * h),
            state_gain: zeros1(h),
            state_shift: zeros1(h),
        }
    }

    #[test]
    fn config_refuses_bad_sizes_and_scalars() {
        let dev = device();
        let err = |c: LayerNormLstmCellConfig| c.init(&dev).unwrap_err().to_string();
        assert_eq!(
            err(LayerNormLstmCellConfig::new(0, 4)),
            "`n_inputs`: expected at least 1, got 0"
        );
        assert_eq!(
            err(LayerNormLstmCellConfig::new(3, 0)),
            "`n_neurons`: expected at least 1, got 0"
        );
        assert_eq!(
            err(LayerNormLstmCellConfig::new(3, 4).with_norm_gain(f64::NAN)),
            "`norm_gain`: expected a finite number, got NaN"
        );
        assert_eq!(
            err(LayerNormLstmCellConfig::new(3, 4).with_norm_shift(f64::INFINITY)),
            "`norm_shift`: expected a finite number, got inf"
        );
        assert_eq!(
            err(LayerNormLstmCellConfig::new(3, 4).with_epsilon(0.0)),
            "`epsilon`: expected a finite number > 0, got 0"
        );
        let cell = LayerNormLstmCellConfig::new(3, 4)
            .with_norm_gain(0.5)
            .with_norm_shift(0.25)
            .init(&dev)
            .unwrap();
        assert_eq!(cell.wx.dims(), [3, 16]);
        assert_eq!(cell.wh.dims(), [4, 16]);
        assert_eq!(cell.epsilon, DEFAULT_LAYER_NORM_EPSILON);
        assert_close(&cell.gate_gain.val(), &Tensor::full([16], 0.5, &dev), 0.0);
        assert_close(&cell.state_shift.val(), &Tensor::full([4], 0.25, &dev), 0.0);
    }

    #[test]
    fn from_weights_checks_every_shape_against_wx() {
        let dev = device();
        let err = |r: Result<LayerNormLstmCell, RnnError>| r.unwrap_err().to_string();
        let wx = || Tensor::zeros([3, 16], &dev);
        let wh = || Tensor::zeros([4, 16], &dev);
        assert_eq!(
            err(LayerNormLstmCell::from_weights(
                Tensor::zeros([3, 10], &dev),
                wh(),
                norm(4),
                1.0,
                1e-5
            )),
            "`wx`: expected [I, 4H] with I >= 1 and H >= 1, columns a multiple of 4, got [3, 10]"
        );
        let mut bad = norm(4);
        bad.gate_shift = zeros1(12);
        assert_eq!(
            err(LayerNormLstmCell::from_weights(wx(), wh(), bad, 1.0, 1e-5)),
            "`gate_shift`: expected [16] ([4H], H = 4 from the columns of `wx`), got [12]"
        );
        let mut bad = norm(4);
        bad.state_gain = zeros1(16);
        assert_eq!(
            err(LayerNormLstmCell::from_weights(wx(), wh(), bad, 1.0, 1e-5)),
            "`state_gain`: expected [4] ([H], H = 4 from the columns of `wx`), got [16]"
        );
        assert_eq!(
            err(LayerNormLstmCell::from_weights(
                wx(),
                wh(),
                norm(4),
                1.0,
                f64::NAN
            )),
            "`epsilon`: expected a finite number > 0, got NaN"
        );
        assert!(LayerNormLstmCell::from_weights(wx(), wh(), norm(4), 1.0, 1e-5).is_ok());
    }

    /// Two steps of B2 I2 H3 against the definition written out in f64 on the host.
    #[test]
    fn two_steps_match_the_definition_by_hand() {
        let dev = device();
        let (b, i, h) = (2usize, 2usize, 3usize);
        let val = |k: usize, s: f64| ((k as f64 * 0.37 + s).sin() * 0.8) as f32;
        let vec = |n: usize, s: f64| (0..n).map(|k| val(k, s)).collect::<Vec<f32>>();
        let wx = vec(i * 4 * h, 0.1);
        let wh = vec(h * 4 * h, 0.2);
        let gains: Vec<f32> = vec(5 * h, 0.3).iter().map(|v| 1.0 + v).collect();
        let shifts = vec(5 * h, 0.4);
        let xs = [vec(b * i, 0.5), vec(b * i, 0.6)];
        let (h0, c0) = (vec(b * h, 0.7), vec(b * h, 0.8));
        let (fb, eps) = (1.0f64, 1e-3f64);

        let t1 =
            |v: &[f32], n: usize| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [n]), &dev);
        let t2 = |v: &[f32], r: usize, c: usize| {
            Tensor::<2>::from_data(TensorData::new(v.to_vec(), [r, c]), &dev)
        };
        let cell = LayerNormLstmCell::from_weights(
            t2(&wx, i, 4 * h),
            t2(&wh, h, 4 * h),
            LayerNormWeights {
                gate_gain: t1(&gains[..4 * h], 4 * h),
                gate_shift: t1(&shifts[..4 * h], 4 * h),
                state_gain: t1(&gains[4 * h..], h),
                state_shift: t1(&shifts[4 * h..], h),
            },
            fb,
            eps,
        )
        .unwrap();
        let mut state = LstmState {
            c: t2(&c0, b, h),
            h: t2(&h0, b, h),
        };
        // The reference: the same maths in f64.
        let f = |v: f32| v as f64;
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let ln = |v: &[f64], k: usize| -> Vec<f64> {
            let mean = v.iter().sum::<f64>() / h as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / h as f64;
            (0..h)
                .map(|j| {
                    f(gains[k * h + j]) * (v[j] - mean) / (var + eps).sqrt() + f(shifts[k * h + j])
                })
                .collect()
        };
        let (mut hr, mut cr): (Vec<f64>, Vec<f64>) = (
            h0.iter().map(|&v| f(v)).collect(),
            c0.iter().map(|&v| f(v)).collect(),
        );
        for x in &xs {
            let (mut hn, mut cn) = (vec![0.0; b * h], vec![0.0; b * h]);
            for r in 0..b {
                let z = |q: usize, j: usize| {
                    let col = q * h + j;
                    (0..i)
                        .map(|k| f(x[r * i + k]) * f(wx[k * 4 * h + col]))
                        .sum::<f64>()
                        + (0..h)
                            .map(|k| hr[r * h + k] * f(wh[k * 4 * h + col]))
                            .sum::<f64>()
                };
                let gate = |q: usize| ln(&(0..h).map(|j| z(q, j)).collect::<Vec<_>>(), q);
                let (gi, gf, gg, go) = (gate(0), gate(1), gate(2), gate(3));
                let u: Vec<f64> = (0..h)
                    .map(|j| cr[r * h + j] * sig(gf[j] + fb) + sig(gi[j]) * gg[j].tanh())
                    .collect();
                let c = ln(&u, 4);
                for j in 0..h {
                    cn[r * h + j] = c[j];
                    hn[r * h + j] = c[j].tanh() * sig(go[j]);
                }
            }
            (hr, cr) = (hn, cn);
            let (out, next) = cell.step(t2(x, b, i), state);
            state = next;
            let expect = |v: &[f64]| t2(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), b, h);
            assert_close(&out, &expect(&hr), 1e-5);
            assert_close(&state.h, &expect(&hr), 1e-5);
            assert_close(&state.c, &expect(&cr), 1e-5);
        }
    }
}

#[cfg(test)]
mod zero_rows {
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::dynamic_rnn;
    use crate::test_util::{device, values};

    /// The gradient of `wx` after a sequence whose first `zeros` steps are all zero (as the
    /// top rows of an MNIST digit), from a zero state: fused on flex, per step elsewhere.
    fn wx_gradient(epsilon: f64, zeros: usize) -> Vec<f32> {
        let dev = device().autodiff();
        dev.seed(3);
        let (b, t, i, h) = (32, 28, 28, 64);
        let cell = LayerNormLstmCellConfig::new(i, h)
            .with_epsilon(epsilon)
            .init(&dev)
            .unwrap();
        let x = Tensor::<3>::random([b, t, i], Distribution::Uniform(0.0, 1.0), &dev);
        let mask = Tensor::<3>::cat(
            vec![
                Tensor::zeros([b, zeros, i], &dev),
                Tensor::ones([b, t - zeros, i], &dev),
            ],
            1,
        );
        let (outputs, _) = dynamic_rnn(&cell, x * mask, None, None).unwrap();
        let weights = Tensor::<3>::random([b, t, h], Distribution::Normal(0.0, 1.0), &dev);
        let grads = (outputs * weights).sum().backward();
        values(&cell.wx.grad(&grads).unwrap())
    }

    /// With TF's epsilon a block of zero pre-activations (zero input, zero state) has variance
    /// 0, and the norm's backward multiplies by `1/sqrt(1e-12) = 1e6` at every such step: a
    /// few zero rows overflow the gradient. The default epsilon keeps it finite.
    #[test]
    fn leading_zero_steps_keep_the_default_gradient_finite() {
        let default = LayerNormLstmCellConfig::new(1, 1).epsilon;
        assert_eq!(default, DEFAULT_LAYER_NORM_EPSILON);
        let g = wx_gradient(default, 8);
        assert!(g.iter().all(|v| v.is_finite()), "default epsilon {default}");
        assert!(g.iter().any(|v| *v != 0.0));
        let tf = wx_gradient(TF_LAYER_NORM_EPSILON, 8);
        assert!(
            tf.iter().any(|v| !v.is_finite()),
            "the premise: TF's epsilon overflows on 8 zero steps"
        );
    }
}
