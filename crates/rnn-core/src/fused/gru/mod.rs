//! The fused whole-sequence path of the GRU cell: one op for all T steps, with a hand-written
//! backward (BPTT by hand) instead of one autodiff node per op per step.
//!
//! [`gru_sequence`] runs [`GruCell::step`](crate::GruCell)'s maths for every step and returns
//! all `h_t` as `[B, T, H]`. On an autodiff device it records one graph node; its backward runs
//! only the `dh` recurrence per step (two recurrent matmuls per step in the TF form, one in the
//! reset_after form) and then one matmul per weight over all steps ([`kernels::backward`] has
//! the formulas). It is a burn backend extension ([`ops::FusedGruBackend`], one op per form):
//! generic primitive kernels ([`kernels`]) on every backend, a raw-buffer CPU kernel on flex.
//!
//! Users do not call it directly: [`RnnCell::fused_sequence`](crate::RnnCell::fused_sequence)
//! exposes it for [`GruCell`](crate::GruCell), and through it the wrappers and
//! [`dynamic_rnn`](crate::dynamic_rnn) without `sequence_length`.

#[cfg(feature = "flex")]
mod flex;
pub mod kernels;
pub mod ops;

use burn::tensor::Tensor;

use ops::FusedGruBackend;

/// The GRU over a whole sequence in one op: `x [B, T, I]`, `h0 [B, H]`, `wx [I, 3H]` (blocks
/// `r, z, n`), `wh_gates [H, 2H]` (`r, z`), `wh_candidate [H, H]`, `bias [3H]`, and
/// `bias_hn [H]` for the reset_after form -> `hs [B, T, H]`; `hs[:, -1] = h0`,
/// `[r, z] = σ(x_t wx[:, :2H] + bias[:2H] + h wh_gates)` with `h = hs[:, t-1]`,
/// `n = tanh(x_t wx[:, 2H:] + bias[2H:] + (r ⊙ h) wh_candidate)` (no `bias_hn`, TF) or
/// `n = tanh(x_t wx[:, 2H:] + bias[2H:] + r ⊙ (h wh_candidate + bias_hn))` (reset_after),
/// `hs[:, t] = n + z ⊙ (h − n)`. Gradients flow to every tracked input.
pub fn gru_sequence(
    x: Tensor<3>,
    h0: Tensor<2>,
    wx: Tensor<2>,
    wh_gates: Tensor<2>,
    wh_candidate: Tensor<2>,
    bias: Tensor<1>,
    bias_hn: Option<Tensor<1>>,
) -> Tensor<3> {
    type D = burn::backend::Dispatch;
    let (x, h0, wx) = (x.into_dispatch(), h0.into_dispatch(), wx.into_dispatch());
    let (wh_gates, wh_candidate) = (wh_gates.into_dispatch(), wh_candidate.into_dispatch());
    let bias = bias.into_dispatch();
    Tensor::from_dispatch(match bias_hn {
        None => <D as FusedGruBackend>::gru_sequence(x, h0, wx, wh_gates, wh_candidate, bias),
        Some(bias_hn) => <D as FusedGruBackend>::gru_sequence_reset_after(
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn.into_dispatch(),
        ),
    })
}
