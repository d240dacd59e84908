//! The fused whole-sequence paths: one op for all T steps, with a hand-written backward (BPTT
//! by hand) instead of one autodiff node per op per step. This module holds the basic RNN
//! cell's; [`lstm`] and [`gru`] follow the same plan for the LSTM and GRU cells, and share
//! `gemm.rs` (products into the CPU kernels' own buffers) and `activation.rs` (vectorised
//! tanh/sigmoid) on flex.
//!
//! [`basic_rnn_sequence`] computes `h_t = act(x_t W_x + h_{t-1} W_h + b)` for every step and
//! returns all `h_t` as `[B, T, H]`. On an autodiff device it records one graph node; its
//! backward runs only the `dh` recurrence per step (`dz_t = (dH_t + dh_next) * act'(z_t)`,
//! `dh_next = dz_t W_h^T`) and then one matmul per weight over all steps (`dW_x = X^T dZ`,
//! `dW_h = Hprev^T dZ`, `db = sum dZ`, `dx = dZ W_x^T`). It is a burn backend extension
//! ([`ops::FusedRnnBackend`]): generic primitive kernels ([`kernels`]) on every backend, a
//! raw-buffer CPU kernel with a vectorised activation on flex.
//!
//! Users do not call it directly: [`RnnCell::fused_sequence`](crate::RnnCell::fused_sequence)
//! exposes it for [`BasicRnnCell`](crate::BasicRnnCell) (and through
//! [`OutputProjectionWrapper`](crate::OutputProjectionWrapper) and
//! [`MultiRnnCell`](crate::MultiRnnCell)), and [`dynamic_rnn`](crate::dynamic_rnn) takes it
//! when there is no `sequence_length`.

mod activation;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod gemm;
pub mod gru;
pub mod kernels;
pub mod lstm;
pub mod ops;

use burn::tensor::Tensor;

use crate::Activation;
use ops::FusedRnnBackend;

/// The last step of a sequence's outputs: `[B, T, H] -> [B, H]` (the final `h` of the basic,
/// LSTM and GRU cells' fused paths).
pub(crate) fn last_step(outputs: &Tensor<3>) -> Tensor<2> {
    let [b, t, h] = outputs.dims();
    outputs.clone().narrow(1, t - 1, 1).reshape([b, h])
}

/// The basic RNN over a whole sequence in one op: `x [B, T, I]`, `h0 [B, H]`, `wx [I, H]`,
/// `wh [H, H]`, `b [H]` -> `hs [B, T, H]`, `hs[:, t] = act(x[:, t] wx + hs[:, t-1] wh + b)`
/// (`hs[:, -1] = h0`). Gradients flow to every tracked input.
pub fn basic_rnn_sequence(
    x: Tensor<3>,
    h0: Tensor<2>,
    wx: Tensor<2>,
    wh: Tensor<2>,
    b: Tensor<1>,
    activation: Activation,
) -> Tensor<3> {
    Tensor::from_dispatch(
        <burn::backend::Dispatch as FusedRnnBackend>::basic_rnn_sequence(
            x.into_dispatch(),
            h0.into_dispatch(),
            wx.into_dispatch(),
            wh.into_dispatch(),
            b.into_dispatch(),
            activation,
        ),
    )
}
