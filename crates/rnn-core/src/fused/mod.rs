//! The fused whole-sequence path: one op for all T steps of one cell, with a hand-written
//! backward (BPTT by hand), instead of several autodiff nodes per step. One kernel family
//! serves every cell, every length pattern and both directions:
//!
//! - `layout.rs`: TF's `sequence_length` and `reverse_sequence` as a packing of the batch
//!   (sorted by length; step `t` is one block of the rows still running);
//! - `kernel.rs`: the time loop, input projection, buffers, weight-gradient GEMMs and the
//!   subnormal flush, generic over a cell's [`kernel::Gates`];
//! - `basic.rs`, `lstm.rs`, `gru.rs`, `ln_lstm.rs`: each cell's gate maths (one step forward
//!   and backward) and weight layout;
//! - `op.rs`: the burn backend extension and the one graph node;
//! - `gemm.rs` (products into the kernel's own buffers), `activation.rs` (vectorised
//!   tanh/sigmoid).
//!
//! The kernels run on host `f32` buffers: the flex backend (burn's CPU backend, rnn-core's
//! default). Other backends and dtypes take the per-step path of the sequence driver
//! ([`crate::unroll`]); [`sequence`] returns `None` for them. Users do not call this module:
//! the cells' [`RnnCell::fused_sequence`](crate::RnnCell::fused_sequence) does, and the
//! driver calls that.

mod activation;
mod basic;
mod gemm;
mod gru;
#[cfg(feature = "flex")]
mod kept;
mod kernel;
mod layout;
mod linear;
mod ln_lstm;
mod lstm;
#[cfg(feature = "flex")]
mod op;
mod pool;
mod rows;
mod workspace;

use std::sync::Arc;

use burn::tensor::{DType, Tensor};

use crate::{Activation, SequencePlan};
use layout::Layout;

/// Which cell, with its non-tensor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SpecCell {
    /// The basic cell.
    Basic(basic::Basic),
    /// The LSTM (states `h`, `c`).
    Lstm(lstm::Lstm),
    /// The GRU (either form).
    Gru(gru::Gru),
    /// The layer-normalised LSTM (states `h`, `c`; the norms' gains and shifts in `b2`).
    LnLstm(ln_lstm::LnLstm),
}

/// Everything about one call that is not a tensor.
#[derive(Debug, Clone)]
pub struct Spec {
    pub(crate) cell: SpecCell,
    pub(crate) layout: Arc<Layout>,
    /// I and H.
    pub(crate) i: usize,
    pub(crate) h: usize,
}

impl SpecCell {
    /// S, the cell's state tensors.
    fn states(self) -> usize {
        match self {
            SpecCell::Lstm(_) | SpecCell::LnLstm(_) => 2,
            _ => 1,
        }
    }

    /// G, the gate blocks of its weights.
    fn gates(self) -> usize {
        match self {
            SpecCell::Basic(_) => 1,
            SpecCell::Lstm(_) | SpecCell::LnLstm(_) => 4,
            SpecCell::Gru(_) => 3,
        }
    }

    /// The length of the second bias `b2` for H units (0: the cell has none).
    fn b2_len(self, h: usize) -> usize {
        match self {
            SpecCell::Gru(g) if g.reset_after => h,
            SpecCell::LnLstm(_) => 10 * h,
            _ => 0,
        }
    }
}

impl Spec {
    pub(crate) fn states(&self) -> usize {
        self.cell.states()
    }

    pub(crate) fn gates(&self) -> usize {
        self.cell.gates()
    }

    pub(crate) fn has_b2(&self) -> bool {
        self.b2_len() > 0
    }

    /// The length of the second bias (0: none).
    pub(crate) fn b2_len(&self) -> usize {
        self.cell.b2_len(self.h)
    }
}

/// A cell's weights as the kernel family reads them: `wx [I, G*H]`, `wh [H, G*H]`,
/// `b [G*H]`, and a second bias: GRU's `b_hn [H]` in the reset_after form, the layer-normalised
/// LSTM's gains and shifts `[10H]`.
pub(crate) struct CellWeights {
    pub cell: SpecCell,
    pub wx: Tensor<2>,
    pub wh: Tensor<2>,
    pub b: Tensor<1>,
    pub b2: Option<Tensor<1>>,
}

impl CellWeights {
    /// The basic cell's.
    pub fn basic(activation: Activation, wx: Tensor<2>, wh: Tensor<2>, b: Tensor<1>) -> Self {
        let cell = SpecCell::Basic(basic::Basic(activation));
        Self::new(cell, wx, wh, b, None)
    }

    /// The LSTM's (gate blocks `i, f, g, o`).
    pub fn lstm(forget_bias: f32, wx: Tensor<2>, wh: Tensor<2>, b: Tensor<1>) -> Self {
        Self::new(SpecCell::Lstm(lstm::Lstm { forget_bias }), wx, wh, b, None)
    }

    /// The GRU's: `wh = [wh_gates | wh_candidate]`; `b_hn` selects the reset_after form.
    pub fn gru(wx: Tensor<2>, wh: Tensor<2>, b: Tensor<1>, b_hn: Option<Tensor<1>>) -> Self {
        let reset_after = b_hn.is_some();
        Self::new(SpecCell::Gru(gru::Gru { reset_after }), wx, wh, b, b_hn)
    }

    /// The layer-normalised LSTM's (gate blocks `i, f, g, o`; no bias, the family's `b` is a
    /// zero placeholder): `norm [10H]` = the gains of the gates' and the memory's norms
    /// (`i, f, g, o, c`), then their shifts in the same order.
    pub fn ln_lstm(
        forget_bias: f32,
        epsilon: f32,
        wx: Tensor<2>,
        wh: Tensor<2>,
        norm: Tensor<1>,
    ) -> Self {
        let cell = SpecCell::LnLstm(ln_lstm::LnLstm {
            forget_bias,
            epsilon,
        });
        let b = Tensor::zeros([wh.dims()[1]], &wh.device());
        Self::new(cell, wx, wh, b, Some(norm))
    }

    fn new(
        cell: SpecCell,
        wx: Tensor<2>,
        wh: Tensor<2>,
        b: Tensor<1>,
        b2: Option<Tensor<1>>,
    ) -> Self {
        Self {
            cell,
            wx,
            wh,
            b,
            b2,
        }
    }
}

/// Whether `t` lives on the flex backend (directly or under autodiff).
#[cfg(feature = "flex")]
fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    device_on_flex(&t.device())
}

/// Whether `device` is the flex backend's (directly or under autodiff).
#[cfg(feature = "flex")]
fn device_on_flex(device: &burn::tensor::Device) -> bool {
    use burn::backend::DispatchDevice;
    match device.as_dispatch().clone() {
        DispatchDevice::Flex(_) => true,
        DispatchDevice::Autodiff(d) => matches!(d.inner(), DispatchDevice::Flex(_)),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// One cell over `x [B, T, I]` from `init` (`[h0]`, or `[h0, c0]` for the LSTM, each `[B, H]`)
/// as `plan` says, on the fused path: `outputs [B, T, H]` in input time (zero past each
/// length; `[B, 1, H]`, each example's last valid output, when the plan asks for only that) and each state tensor's final value (the state after each example's last valid
/// step; the initial one for length 0). `None` when the tensors are not flex `f32`: the
/// caller runs the per-step loop.
#[cfg(feature = "flex")]
pub(crate) fn sequence(
    w: CellWeights,
    x: &Tensor<3>,
    init: &[Tensor<2>],
    plan: &SequencePlan,
) -> Option<(Tensor<3>, Vec<Tensor<2>>)> {
    let f32s = [x.dtype(), w.wx.dtype(), w.wh.dtype(), w.b.dtype()]
        .into_iter()
        .chain(w.b2.as_ref().map(Tensor::dtype))
        .chain(init.iter().map(Tensor::dtype))
        .all(|d| d == DType::F32);
    if !f32s || !on_flex(x) {
        return None;
    }
    let [batch, steps, i] = x.dims();
    let h = w.wh.dims()[0];
    // Shapes the kernel can run; anything else (a direct call with T = 0 or a state of other
    // sizes: the driver refuses those with a named error first) takes the per-step path.
    let (gates, states) = (w.cell.gates(), w.cell.states());
    let fits = batch > 0
        && steps > 0
        && i > 0
        && h > 0
        && w.wx.dims() == [i, gates * h]
        && w.wh.dims() == [h, gates * h]
        && w.b.dims() == [gates * h]
        && w.b2.as_ref().map_or(0, |b| b.dims()[0]) == w.cell.b2_len(h)
        && init.len() == states
        && init.iter().all(|s| s.dims() == [batch, h])
        && plan
            .host_lengths()
            .is_none_or(|l| l.len() == batch && l.iter().all(|&v| v <= steps));
    if !fits {
        return None;
    }
    let layout = Layout::new(batch, steps, plan.host_lengths(), plan.is_reverse())
        .last_output_only(plan.is_last_output_only());
    let out_t = layout.out_steps();
    let state_rows: Vec<usize> = (0..states).map(|s| layout.state_row(s, 0)).collect();
    let spec = Spec {
        cell: w.cell,
        layout: Arc::new(layout),
        i,
        h,
    };
    let device = x.device();
    let placeholder = || Tensor::<1>::zeros([1], &device).into_dispatch();
    let c0 = match init.get(1) {
        Some(c) => c.clone().into_dispatch(),
        None => placeholder(),
    };
    let b2 = match w.b2 {
        Some(b) => b.into_dispatch(),
        None => placeholder(),
    };
    let out: Tensor<2> =
        Tensor::from_dispatch(<burn::backend::Dispatch as op::FusedRnnBackend>::fused_rnn(
            x.clone().into_dispatch(),
            init[0].clone().into_dispatch(),
            c0,
            w.wx.into_dispatch(),
            w.wh.into_dispatch(),
            w.b.into_dispatch(),
            b2,
            spec,
        ));
    // Every part is a contiguous run of rows: no part or reshape below copies.
    let part = |start: usize, len: usize| -> Tensor<2> {
        Tensor::from_dispatch(
            <burn::backend::Dispatch as op::FusedRnnBackend>::fused_part(
                out.clone().into_dispatch(),
                start,
                len,
            ),
        )
    };
    let finals = state_rows.into_iter().map(|row| part(row, batch)).collect();
    Some((part(0, batch * out_t).reshape([batch, out_t, h]), finals))
}

/// `x [N, H] w [H, O] + b [O]` -> `[N, O]` as one graph node over kept buffers (a
/// projection of a sequence's outputs; the maths in `linear.rs`). `None` when the tensors are
/// not flex `f32` or the shapes disagree: the caller runs burn's `Linear`.
#[cfg(feature = "flex")]
pub(crate) fn linear(x: Tensor<2>, w: Tensor<2>, b: Tensor<1>) -> Option<Tensor<2>> {
    let f32s = [x.dtype(), w.dtype(), b.dtype()]
        .into_iter()
        .all(|d| d == DType::F32);
    let [n, h] = x.dims();
    let fits = n > 0 && h > 0 && w.dims()[0] == h && b.dims() == [w.dims()[1]] && b.dims()[0] > 0;
    if !f32s || !fits || !on_flex(&x) {
        return None;
    }
    Some(Tensor::from_dispatch(
        <burn::backend::Dispatch as op::FusedRnnBackend>::fused_linear(
            x.into_dispatch(),
            w.into_dispatch(),
            b.into_dispatch(),
        ),
    ))
}

/// A zero state `[B, H]`: on a flex device (plain or under autodiff) over a kept buffer, so a
/// call without an initial state makes no fresh allocation after the first (burn-flex's
/// `zeros` allocates a zeroed buffer and copies it into an aligned one: at `[64, 512]`, 32
/// page faults per call of `infer-h512-t28`); elsewhere `Tensor::zeros`.
pub(crate) fn zeros(shape: [usize; 2], device: &burn::tensor::Device) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if device_on_flex(device) {
        let values = workspace::zeroed(shape[0] * shape[1]);
        return Tensor::from_data(kept::data(values, shape.to_vec()), device);
    }
    Tensor::zeros(shape, device)
}

/// Without the flex backend there is no fused projection.
#[cfg(not(feature = "flex"))]
pub(crate) fn linear(_: Tensor<2>, _: Tensor<2>, _: Tensor<1>) -> Option<Tensor<2>> {
    None
}

/// Without the flex backend there is no fused path: the driver runs the per-step loop.
#[cfg(not(feature = "flex"))]
pub(crate) fn sequence(
    _: CellWeights,
    _: &Tensor<3>,
    _: &[Tensor<2>],
    _: &SequencePlan,
) -> Option<(Tensor<3>, Vec<Tensor<2>>)> {
    None
}
