//! The fused whole-sequence path of the LSTM cell: one op for all T steps, with a hand-written
//! backward (BPTT by hand), as [`crate::fused`] does for the basic cell.
//!
//! Forward: one `[B*T, I] x [I, 4H]` matmul for every step's input projection, then per step
//! one `[B, H] x [H, 4H]` matmul and the gates. Backward: per step only the recurrence
//! (`dc`, the four gate gradients `da_t`, `dh_next = da_t W_h^T`), then one matmul per weight
//! over all steps (`dW_x = X^T dA`, `dW_h = Hprev^T dA`, `db = sum dA`, `dx = dA W_x^T`). The
//! op returns `[B, T + 1, H]` (`h_1..h_T` and then `c_T`) so that one graph node carries the
//! gradients of the outputs and of the final memory; [`lstm_sequence`] splits it.
//!
//! Users do not call it directly: [`LstmCell`](crate::LstmCell)'s
//! [`RnnCell::fused_sequence`](crate::RnnCell::fused_sequence) does, and through it
//! [`dynamic_rnn`](crate::dynamic_rnn) without lengths, wrappers and stacks.

#[cfg(feature = "flex")]
mod flex;
pub mod kernels;
pub mod ops;

use burn::tensor::Tensor;

use ops::FusedLstmBackend;

/// The LSTM over a whole sequence in one op: `x [B, T, I]` (T >= 1), `h0, c0 [B, H]`,
/// `wx [I, 4H]`, `wh [H, 4H]`, `b [4H]` (gate blocks `i, f, g, o`), `forget_bias` added to
/// the forget gate -> `(hs [B, T, H], c_T [B, H])`; `h_T` is `hs[:, T - 1]`. Gradients flow to
/// every tracked input, from both outputs.
pub fn lstm_sequence(
    x: Tensor<3>,
    h0: Tensor<2>,
    c0: Tensor<2>,
    wx: Tensor<2>,
    wh: Tensor<2>,
    b: Tensor<1>,
    forget_bias: f32,
) -> (Tensor<3>, Tensor<2>) {
    let [bs, t, _] = x.dims();
    let h = wh.dims()[0];
    let out: Tensor<3> = Tensor::from_dispatch(
        <burn::backend::Dispatch as FusedLstmBackend>::lstm_sequence(
            x.into_dispatch(),
            h0.into_dispatch(),
            c0.into_dispatch(),
            wx.into_dispatch(),
            wh.into_dispatch(),
            b.into_dispatch(),
            forget_bias,
        ),
    );
    let c_last = out.clone().narrow(1, t, 1).reshape([bs, h]);
    (out.narrow(1, 0, t), c_last)
}
