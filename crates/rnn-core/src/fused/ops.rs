//! The fused sequence as a burn backend extension: one op for the whole sequence, routed to the
//! tensors' backend, and on an autodiff device ONE graph node whose backward is the hand-written
//! BPTT of [`super::kernels`] (or `fused/flex.rs` on the flex backend).
#![allow(deprecated)] // the macro names `burn::backend::NdArray`, deprecated in burn 0.22

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};

use super::kernels::{self, Needs, SavedSequence, SequenceGrads};
use crate::Activation;

/// The per-backend kernels of the fused basic-RNN sequence. The default bodies are the generic
/// primitive versions ([`kernels::forward`], [`kernels::backward`]); the flex backend overrides
/// both with its raw-buffer CPU kernel.
pub trait BasicRnnKernels: Backend {
    /// Forward: `x [B, T, I]`, `h0 [B, H]`, `wx [I, H]`, `wh [H, H]`, `b [H]` -> `hs [B, T, H]`,
    /// and, when `needs` is given (an autodiff forward), what the backward will need of it.
    fn basic_rnn_forward(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        activation: Activation,
        needs: Option<Needs>,
    ) -> (FloatTensor<Self>, Option<SavedSequence<Self>>) {
        let Some(needs) = needs else {
            return (kernels::forward::<Self>(x, h0, wx, wh, b, activation), None);
        };
        let kept = [x.clone(), h0.clone(), wx.clone(), wh.clone()];
        let hs = kernels::forward::<Self>(x, h0, wx, wh, b, activation);
        let [x, h0, wx, wh] = kept;
        let saved = SavedSequence::batch_major([x, h0, wx, wh, hs.clone()], activation, needs);
        (hs, Some(saved))
    }

    /// Backward: the gradients of `(x, h0, wx, wh, b)` that `needs` asks for, from the saved
    /// forward and the upstream gradient `dhs [B, T, H]`.
    fn basic_rnn_backward(
        saved: SavedSequence<Self>,
        dhs: FloatTensor<Self>,
        needs: Needs,
    ) -> SequenceGrads<Self> {
        kernels::backward::<Self>(saved, dhs, needs)
    }
}

/// The backend extension: `basic_rnn_sequence` routed by the runtime backend of its inputs
/// (flex, ndarray, wgpu, and each of them under autodiff).
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub trait FusedRnnBackend: BasicRnnKernels {
    /// `h_t = act(x_t wx + h_{t-1} wh + b)` for every step: `x [B, T, I]`, `h0 [B, H]`,
    /// `wx [I, H]`, `wh [H, H]`, `b [H]` -> `hs [B, T, H]`.
    fn basic_rnn_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        Self::basic_rnn_forward(x, h0, wx, wh, b, activation, None).0
    }
}

#[cfg(feature = "flex")]
impl BasicRnnKernels for burn::backend::Flex {
    fn basic_rnn_forward(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        activation: Activation,
        needs: Option<Needs>,
    ) -> (FloatTensor<Self>, Option<SavedSequence<Self>>) {
        if super::flex::all_f32(&[&x, &h0, &wx, &wh, &b]) {
            super::flex::forward(x, h0, wx, wh, b, activation, needs)
        } else {
            let kept = [x.clone(), h0.clone(), wx.clone(), wh.clone()];
            let hs = kernels::forward::<Self>(x, h0, wx, wh, b, activation);
            let [x, h0, wx, wh] = kept;
            let saved = needs.map(|needs| {
                SavedSequence::batch_major([x, h0, wx, wh, hs.clone()], activation, needs)
            });
            (hs, saved)
        }
    }

    fn basic_rnn_backward(
        saved: SavedSequence<Self>,
        dhs: FloatTensor<Self>,
        needs: Needs,
    ) -> SequenceGrads<Self> {
        if saved.time_major {
            super::flex::backward(saved, dhs, needs)
        } else {
            kernels::backward::<Self>(saved, dhs, needs)
        }
    }
}
#[cfg(feature = "flex")]
impl FusedRnnBackend for burn::backend::Flex {}

#[cfg(feature = "ndarray")]
impl BasicRnnKernels for burn::backend::NdArray {}
#[cfg(feature = "ndarray")]
impl FusedRnnBackend for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl BasicRnnKernels for burn::backend::Cube {}
#[cfg(feature = "wgpu")]
impl FusedRnnBackend for burn::backend::Cube {}

// The routing type and the autodiff decorator need the supertrait; their kernels are never
// called (the extension routes to the concrete backend, and `Autodiff` calls its inner one).
impl BasicRnnKernels for Dispatch {}
impl<B: Backend, C: CheckpointStrategy> BasicRnnKernels for Autodiff<B, C> {}

/// The graph node of one fused sequence.
#[derive(Debug)]
struct FusedSequenceBackward;

impl<B: BasicRnnKernels> Backward<B, 5> for FusedSequenceBackward {
    type State = SavedSequence<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [n_x, n_h0, n_wx, n_wh, n_b] = ops.parents;
        let needs = Needs {
            x: n_x.is_some(),
            h0: n_h0.is_some(),
            wx: n_wx.is_some(),
            wh: n_wh.is_some(),
            b: n_b.is_some(),
        };
        let dhs = grads.consume::<B>(&ops.node);
        let g = B::basic_rnn_backward(ops.state, dhs, needs);
        for (node, grad) in [
            (n_x, g.x),
            (n_h0, g.h0),
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

impl<B: FusedRnnBackend, C: CheckpointStrategy> FusedRnnBackend for Autodiff<B, C> {
    fn basic_rnn_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        // Which inputs need a gradient decides what the forward keeps for the backward.
        let needs = Needs {
            x: x.is_tracked(),
            h0: h0.is_tracked(),
            wx: wx.is_tracked(),
            wh: wh.is_tracked(),
            b: b.is_tracked(),
        };
        // Guards first (burn 0.22), then the inner primitives.
        let (x, gx) = x.into_parts();
        let (h0, gh0) = h0.into_parts();
        let (wx, gwx) = wx.into_parts();
        let (wh, gwh) = wh.into_parts();
        let (b, gb) = b.into_parts();
        match FusedSequenceBackward
            .prepare::<C>([gx, gh0, gwx, gwh, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (hs, saved) = B::basic_rnn_forward(x, h0, wx, wh, b, activation, Some(needs));
                prep.finish(saved.expect("saved when needs are given"), hs)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::basic_rnn_sequence(x, h0, wx, wh, b, activation))
            }
        }
    }
}
