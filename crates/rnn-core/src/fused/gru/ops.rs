//! The fused GRU sequence as a burn backend extension: two ops (the TF form, and the
//! reset_after form with its extra `bias_hn` input), routed to the tensors' backend, and on an
//! autodiff device ONE graph node whose backward is the hand-written BPTT of
//! [`super::kernels`] (or `fused/gru/flex.rs` on the flex backend).
//!
//! Two ops rather than one with an optional input: burn 0.22's extension macro converts only
//! plain tensor arguments to the backend's primitives (an `Option` of one passes through
//! unconverted), and a graph node's parents are a fixed-size array. Both ops share the kernels
//! (`bias_hn: Option` in [`GruInputs`]) and one node type, generic over its parent count (6 or
//! 7).
#![allow(deprecated)] // the macro names `burn::backend::NdArray`, deprecated in burn 0.22

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};

use super::kernels::{self, GruGrads, GruInputs, GruNeeds, SavedGru};

/// The per-backend kernels of the fused GRU sequence. The default bodies are the generic
/// primitive versions ([`kernels::forward`], [`kernels::backward`]); the flex backend overrides
/// both with its raw-buffer CPU kernel.
pub trait GruKernels: Backend {
    /// Forward: `inputs` (shapes in [`GruInputs`]) -> `hs [B, T, H]`, and, when `needs` is
    /// given (an autodiff forward), what the backward will need of it.
    fn gru_forward(
        inputs: GruInputs<Self>,
        needs: Option<GruNeeds>,
    ) -> (FloatTensor<Self>, Option<SavedGru<Self>>) {
        kernels::forward::<Self>(inputs, needs)
    }

    /// Backward: the gradients that `needs` asks for, from the saved forward and the upstream
    /// gradient `dhs [B, T, H]`.
    fn gru_backward(
        saved: SavedGru<Self>,
        dhs: FloatTensor<Self>,
        needs: GruNeeds,
    ) -> GruGrads<Self> {
        kernels::backward::<Self>(saved, dhs, needs)
    }
}

/// The backend extension: the GRU sequence routed by the runtime backend of its inputs (flex,
/// ndarray, wgpu, and each of them under autodiff). Shapes: `x [B, T, I]`, `h0 [B, H]`,
/// `wx [I, 3H]`, `wh_gates [H, 2H]`, `wh_candidate [H, H]`, `bias [3H]`, `bias_hn [H]` ->
/// `hs [B, T, H]`.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub trait FusedGruBackend: GruKernels {
    /// The TF form: `n = tanh(x wx_n + b_n + (r ⊙ h) wh_candidate)`.
    fn gru_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh_gates: FloatTensor<Self>,
        wh_candidate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = GruInputs {
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn: None,
        };
        Self::gru_forward(inputs, None).0
    }

    /// The reset_after form: `n = tanh(x wx_n + b_n + r ⊙ (h wh_candidate + bias_hn))`.
    fn gru_sequence_reset_after(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh_gates: FloatTensor<Self>,
        wh_candidate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = GruInputs {
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn: Some(bias_hn),
        };
        Self::gru_forward(inputs, None).0
    }
}

#[cfg(feature = "flex")]
impl GruKernels for burn::backend::Flex {
    fn gru_forward(
        inputs: GruInputs<Self>,
        needs: Option<GruNeeds>,
    ) -> (FloatTensor<Self>, Option<SavedGru<Self>>) {
        let GruInputs {
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn,
        } = &inputs;
        let mut all = vec![x, h0, wx, wh_gates, wh_candidate, bias];
        all.extend(bias_hn.as_ref());
        if crate::fused::flex::all_f32(&all) {
            super::flex::forward(inputs, needs)
        } else {
            kernels::forward::<Self>(inputs, needs)
        }
    }

    fn gru_backward(
        saved: SavedGru<Self>,
        dhs: FloatTensor<Self>,
        needs: GruNeeds,
    ) -> GruGrads<Self> {
        if crate::fused::flex::all_f32(&[&dhs, &saved.hs, &saved.wh]) {
            super::flex::backward(saved, dhs, needs)
        } else {
            kernels::backward::<Self>(saved, dhs, needs)
        }
    }
}
#[cfg(feature = "flex")]
impl FusedGruBackend for burn::backend::Flex {}

#[cfg(feature = "ndarray")]
impl GruKernels for burn::backend::NdArray {}
#[cfg(feature = "ndarray")]
impl FusedGruBackend for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl GruKernels for burn::backend::Cube {}
#[cfg(feature = "wgpu")]
impl FusedGruBackend for burn::backend::Cube {}

// The routing type and the autodiff decorator need the supertrait; their kernels are never
// called (the extension routes to the concrete backend, and `Autodiff` calls its inner one).
impl GruKernels for Dispatch {}
impl<B: Backend, C: CheckpointStrategy> GruKernels for Autodiff<B, C> {}

/// The graph node of one fused GRU sequence; its parents are
/// `(x, h0, wx, wh_gates, wh_candidate, bias)` and, in the reset_after form, `bias_hn`.
#[derive(Debug)]
struct GruSequenceBackward;

impl<B: GruKernels, const N: usize> Backward<B, N> for GruSequenceBackward {
    type State = SavedGru<B>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let mut parents = ops.parents.into_iter();
        let mut next = || parents.next().flatten();
        let nodes = [next(), next(), next(), next(), next(), next(), next()];
        let [x, h0, wx, wh_gates, wh_candidate, bias, bias_hn] =
            nodes.each_ref().map(Option::is_some);
        let needs = GruNeeds {
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn,
        };
        let dhs = grads.consume::<B>(&ops.node);
        let g = B::gru_backward(ops.state, dhs, needs);
        let computed = [
            g.x,
            g.h0,
            g.wx,
            g.wh_gates,
            g.wh_candidate,
            g.bias,
            g.bias_hn,
        ];
        for (node, grad) in nodes.into_iter().zip(computed) {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

/// Records one sequence: `guards` of the `N` inputs (in [`GruSequenceBackward`]'s order).
fn record<B: FusedGruBackend, C: CheckpointStrategy, const N: usize>(
    guards: [NodeGuard; N],
    inputs: GruInputs<B>,
    needs: GruNeeds,
) -> FloatTensor<Autodiff<B, C>> {
    let prep = <GruSequenceBackward as Backward<B, N>>::prepare::<C>(GruSequenceBackward, guards);
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (hs, saved) = B::gru_forward(inputs, Some(needs));
            prep.finish(saved.expect("saved when needs are given"), hs)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::gru_forward(inputs, None).0),
    }
}

impl<B: FusedGruBackend, C: CheckpointStrategy> FusedGruBackend for Autodiff<B, C> {
    fn gru_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh_gates: FloatTensor<Self>,
        wh_candidate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // Which inputs need a gradient decides what the forward keeps for the backward.
        let needs = GruNeeds {
            x: x.is_tracked(),
            h0: h0.is_tracked(),
            wx: wx.is_tracked(),
            wh_gates: wh_gates.is_tracked(),
            wh_candidate: wh_candidate.is_tracked(),
            bias: bias.is_tracked(),
            bias_hn: false,
        };
        // Guards first (burn 0.22), then the inner primitives.
        let (x, gx) = x.into_parts();
        let (h0, gh0) = h0.into_parts();
        let (wx, gwx) = wx.into_parts();
        let (wh_gates, gwg) = wh_gates.into_parts();
        let (wh_candidate, gwc) = wh_candidate.into_parts();
        let (bias, gb) = bias.into_parts();
        let inputs = GruInputs {
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn: None,
        };
        record::<B, C, 6>([gx, gh0, gwx, gwg, gwc, gb], inputs, needs)
    }

    fn gru_sequence_reset_after(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh_gates: FloatTensor<Self>,
        wh_candidate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let needs = GruNeeds {
            x: x.is_tracked(),
            h0: h0.is_tracked(),
            wx: wx.is_tracked(),
            wh_gates: wh_gates.is_tracked(),
            wh_candidate: wh_candidate.is_tracked(),
            bias: bias.is_tracked(),
            bias_hn: bias_hn.is_tracked(),
        };
        let (x, gx) = x.into_parts();
        let (h0, gh0) = h0.into_parts();
        let (wx, gwx) = wx.into_parts();
        let (wh_gates, gwg) = wh_gates.into_parts();
        let (wh_candidate, gwc) = wh_candidate.into_parts();
        let (bias, gb) = bias.into_parts();
        let (bias_hn, gbn) = bias_hn.into_parts();
        let inputs = GruInputs {
            x,
            h0,
            wx,
            wh_gates,
            wh_candidate,
            bias,
            bias_hn: Some(bias_hn),
        };
        record::<B, C, 7>([gx, gh0, gwx, gwg, gwc, gb, gbn], inputs, needs)
    }
}
