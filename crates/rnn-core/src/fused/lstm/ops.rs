//! The fused LSTM sequence as a burn backend extension: one op for the whole sequence, routed
//! to the tensors' backend, and on an autodiff device ONE graph node whose backward is the
//! hand-written BPTT of [`super::kernels`] (or `fused/lstm/flex.rs` on the flex backend).
#![allow(deprecated)] // the macro names `burn::backend::NdArray`, deprecated in burn 0.22

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};

use super::kernels::{self, LstmGrads, LstmNeeds, SavedLstm};

/// The per-backend kernels of the fused LSTM sequence. The default bodies are the generic
/// primitive versions ([`kernels::forward`], [`kernels::backward`]); flex overrides both with
/// its raw-buffer CPU kernel.
pub trait LstmKernels: Backend {
    /// Forward: `x [B, T, I]`, `h0, c0 [B, H]`, `wx [I, 4H]`, `wh [H, 4H]`, `b [4H]` ->
    /// `[B, T + 1, H]` (`h_1..h_T`, then `c_T`), and, when `keep` is given (an autodiff
    /// forward), what the backward will need of it.
    #[allow(clippy::too_many_arguments)]
    fn lstm_forward(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        forget_bias: f32,
        keep: Option<LstmNeeds>,
    ) -> (FloatTensor<Self>, Option<SavedLstm<Self>>) {
        kernels::forward::<Self>(x, h0, c0, wx, wh, b, forget_bias, keep)
    }

    /// Backward: the gradients of `(x, h0, c0, wx, wh, b)` that `needs` asks for, from the
    /// saved forward and the upstream gradient `dout [B, T + 1, H]`.
    fn lstm_backward(
        saved: SavedLstm<Self>,
        dout: FloatTensor<Self>,
        needs: LstmNeeds,
    ) -> LstmGrads<Self> {
        kernels::backward::<Self>(saved, dout, needs)
    }
}

/// The backend extension: `lstm_sequence` routed by the runtime backend of its inputs (flex,
/// ndarray, wgpu, and each of them under autodiff).
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub trait FusedLstmBackend: LstmKernels {
    /// The LSTM over a whole sequence: `x [B, T, I]`, `h0, c0 [B, H]`, `wx [I, 4H]`,
    /// `wh [H, 4H]`, `b [4H]` -> `[B, T + 1, H]` (`h_1..h_T`, then `c_T`).
    fn lstm_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        forget_bias: f32,
    ) -> FloatTensor<Self> {
        Self::lstm_forward(x, h0, c0, wx, wh, b, forget_bias, None).0
    }
}

#[cfg(feature = "flex")]
impl LstmKernels for burn::backend::Flex {
    fn lstm_forward(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        forget_bias: f32,
        keep: Option<LstmNeeds>,
    ) -> (FloatTensor<Self>, Option<SavedLstm<Self>>) {
        if crate::fused::flex::all_f32(&[&x, &h0, &c0, &wx, &wh, &b]) {
            super::flex::forward(x, h0, c0, wx, wh, b, forget_bias, keep)
        } else {
            kernels::forward::<Self>(x, h0, c0, wx, wh, b, forget_bias, keep)
        }
    }

    fn lstm_backward(
        saved: SavedLstm<Self>,
        dout: FloatTensor<Self>,
        needs: LstmNeeds,
    ) -> LstmGrads<Self> {
        if saved.time_major {
            super::flex::backward(saved, dout, needs)
        } else {
            kernels::backward::<Self>(saved, dout, needs)
        }
    }
}
#[cfg(feature = "flex")]
impl FusedLstmBackend for burn::backend::Flex {}

#[cfg(feature = "ndarray")]
impl LstmKernels for burn::backend::NdArray {}
#[cfg(feature = "ndarray")]
impl FusedLstmBackend for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl LstmKernels for burn::backend::Cube {}
#[cfg(feature = "wgpu")]
impl FusedLstmBackend for burn::backend::Cube {}

// The routing type and the autodiff decorator need the supertrait; their kernels are never
// called (the extension routes to the concrete backend, and `Autodiff` calls its inner one).
impl LstmKernels for Dispatch {}
impl<B: Backend, C: CheckpointStrategy> LstmKernels for Autodiff<B, C> {}

/// The graph node of one fused LSTM sequence.
#[derive(Debug)]
struct FusedLstmBackward;

impl<B: LstmKernels> Backward<B, 6> for FusedLstmBackward {
    type State = SavedLstm<B>;

    fn backward(self, ops: Ops<Self::State, 6>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [n_x, n_h0, n_c0, n_wx, n_wh, n_b] = ops.parents;
        let needs = LstmNeeds {
            x: n_x.is_some(),
            h0: n_h0.is_some(),
            c0: n_c0.is_some(),
            wx: n_wx.is_some(),
            wh: n_wh.is_some(),
            b: n_b.is_some(),
        };
        let dout = grads.consume::<B>(&ops.node);
        let g = B::lstm_backward(ops.state, dout, needs);
        for (node, grad) in [
            (n_x, g.x),
            (n_h0, g.h0),
            (n_c0, g.c0),
            (n_wx, g.wx),
            (n_wh, g.wh),
            (n_b, g.b),
        ] {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: FusedLstmBackend, C: CheckpointStrategy> FusedLstmBackend for Autodiff<B, C> {
    fn lstm_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        forget_bias: f32,
    ) -> FloatTensor<Self> {
        // Which inputs need a gradient decides what the forward keeps for the backward.
        let needs = LstmNeeds {
            x: x.is_tracked(),
            h0: h0.is_tracked(),
            c0: c0.is_tracked(),
            wx: wx.is_tracked(),
            wh: wh.is_tracked(),
            b: b.is_tracked(),
        };
        // Guards first (burn 0.22), then the inner primitives.
        let (x, gx) = x.into_parts();
        let (h0, gh0) = h0.into_parts();
        let (c0, gc0) = c0.into_parts();
        let (wx, gwx) = wx.into_parts();
        let (wh, gwh) = wh.into_parts();
        let (b, gb) = b.into_parts();
        match FusedLstmBackward
            .prepare::<C>([gx, gh0, gc0, gwx, gwh, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, saved) = B::lstm_forward(x, h0, c0, wx, wh, b, forget_bias, Some(needs));
                prep.finish(saved.expect("saved when needs are given"), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::lstm_sequence(x, h0, c0, wx, wh, b, forget_bias))
            }
        }
    }
}
