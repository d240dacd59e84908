//! The fused basic-RNN sequence on backend primitives (`B::float_*`): forward and hand-written
//! BPTT backward. These run on every backend (flex, ndarray, wgpu); the flex backend has a faster
//! CPU version in `fused/flex.rs`.
//!
//! Notation: `x [B, T, I]`, `h0 [B, H]`, `wx [I, H]`, `wh [H, H]`, `b [H]`,
//! `z_t = x_t wx + h_{t-1} wh + b`, `h_t = act(z_t)`, outputs `hs [B, T, H]` (batch-major).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Shape, Slice, TensorMetadata};

use crate::Activation;

/// What the backward needs, kept by the forward (reference-counted primitives, no copies).
///
/// The layout is the kernel's own: the generic kernels keep `x [B, T, I]` and `hs [B, T, H]`
/// (`time_major: false`); the flex kernel keeps time-major buffers, `x [T*B, I]` and
/// `hs [T+1, B, H]` with `h0` in slot 0 (`time_major: true`), so that `Hprev` and every step
/// are contiguous slices.
#[derive(Debug, Clone)]
pub struct SavedSequence<B: Backend> {
    /// The inputs, kept only when `wx` needs a gradient.
    pub x: Option<FloatTensor<B>>,
    /// `h0 [B, H]`, kept only when `wh` needs a gradient (it is the first `h_{t-1}`); `None`
    /// when time-major (it is slot 0 of `hs`).
    pub h0: Option<FloatTensor<B>>,
    /// `wx [I, H]`, kept only when `x` needs a gradient.
    pub wx: Option<FloatTensor<B>>,
    /// `wh [H, H]` (the dh recurrence always needs it).
    pub wh: FloatTensor<B>,
    /// The outputs (see the layouts above): act'(z_t) is computed from `h_t` for all four
    /// activations.
    pub hs: FloatTensor<B>,
    /// The activation.
    pub activation: Activation,
    /// Which layout (see above).
    pub time_major: bool,
}

impl<B: Backend> SavedSequence<B> {
    /// What the generic backward needs of a generic forward: `x [B, T, I]`, `h0`, `wx`, `wh`,
    /// `hs [B, T, H]`, each input only when a gradient needs it.
    pub fn batch_major(
        [x, h0, wx, wh, hs]: [FloatTensor<B>; 5],
        activation: Activation,
        needs: Needs,
    ) -> Self {
        Self {
            x: needs.wx.then_some(x),
            h0: needs.wh.then_some(h0),
            wx: needs.x.then_some(wx),
            wh,
            hs,
            activation,
            time_major: false,
        }
    }
}

/// Which of the five inputs `(x, h0, wx, wh, b)` need a gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// `x [B, T, I]`.
    pub x: bool,
    /// `h0 [B, H]`.
    pub h0: bool,
    /// `wx [I, H]`.
    pub wx: bool,
    /// `wh [H, H]`.
    pub wh: bool,
    /// `b [H]`.
    pub b: bool,
}

/// The gradients of the five inputs, each present when it was needed, shaped like its input.
#[derive(Debug)]
pub struct SequenceGrads<B: Backend> {
    /// `dx [B, T, I]`.
    pub x: Option<FloatTensor<B>>,
    /// `dh0 [B, H]`.
    pub h0: Option<FloatTensor<B>>,
    /// `dwx [I, H]`.
    pub wx: Option<FloatTensor<B>>,
    /// `dwh [H, H]`.
    pub wh: Option<FloatTensor<B>>,
    /// `db [H]`.
    pub b: Option<FloatTensor<B>>,
}

/// A range as a burn `Slice` (shared with `lstm/kernels.rs`, `gru/kernels.rs`).
pub(crate) fn sl(r: core::ops::Range<usize>) -> Slice {
    Slice::from(r)
}

/// Step `s` of a batch-major `[B, T, H]` tensor as `[B, H]` (a view where the backend allows).
pub(crate) fn step<B: Backend>(t: &FloatTensor<B>, s: usize) -> FloatTensor<B> {
    let [bs, _, h] = t.shape().dims::<3>();
    B::float_reshape(
        B::float_slice(t.clone(), &[sl(0..bs), sl(s..s + 1), sl(0..h)]),
        Shape::new([bs, h]),
    )
}

/// `1 - v`.
pub(crate) fn one_minus<B: Backend>(v: FloatTensor<B>) -> FloatTensor<B> {
    B::float_add_scalar(B::float_neg(v), 1.0f64.into())
}

/// `y (1 - y)`, the sigmoid's derivative from its output.
pub(crate) fn sigmoid_slope<B: Backend>(y: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(y.clone(), one_minus::<B>(y))
}

/// `1 - y^2`, tanh's derivative from its output.
pub(crate) fn tanh_slope<B: Backend>(y: FloatTensor<B>) -> FloatTensor<B> {
    one_minus::<B>(B::float_mul(y.clone(), y))
}

/// `act(z)`, `[B, H] -> [B, H]`.
pub(crate) fn activate<B: Backend>(z: FloatTensor<B>, activation: Activation) -> FloatTensor<B> {
    match activation {
        Activation::Tanh => B::float_tanh(z),
        Activation::Relu => B::relu(z),
        Activation::Sigmoid => B::sigmoid(z),
        Activation::Identity => z,
    }
}

/// `dh * act'(z)` from the output `h = act(z)`, `[B, H]`.
fn activation_grad<B: Backend>(
    dh: FloatTensor<B>,
    h: FloatTensor<B>,
    activation: Activation,
) -> FloatTensor<B> {
    match activation {
        Activation::Tanh => B::float_mul(
            dh,
            B::float_add_scalar(B::float_neg(B::float_mul(h.clone(), h)), 1.0f64.into()),
        ),
        Activation::Relu => B::relu_backward(h, dh),
        Activation::Sigmoid => B::sigmoid_backward(h, dh),
        Activation::Identity => dh,
    }
}

/// Forward over the whole sequence: `hs [B, T, H]`. Ops: one `[B*T, I] x [I, H]` matmul and a
/// bias add before the loop; per step a `[B, H] x [H, H]` matmul, an add, the activation; one
/// concatenation at the end.
pub fn forward<B: Backend>(
    x: FloatTensor<B>,
    h0: FloatTensor<B>,
    wx: FloatTensor<B>,
    wh: FloatTensor<B>,
    b: FloatTensor<B>,
    activation: Activation,
) -> FloatTensor<B> {
    let [bs, t, i] = x.shape().dims::<3>();
    let h = wh.shape().dims::<2>()[1];
    let xp = B::float_add(
        B::float_matmul(B::float_reshape(x, Shape::new([bs * t, i])), wx),
        B::float_reshape(b, Shape::new([1, h])),
    );
    let xp = B::float_reshape(xp, Shape::new([bs, t, h]));
    let mut hprev = h0;
    let mut outs = Vec::with_capacity(t);
    for s in 0..t {
        let z = B::float_add(step::<B>(&xp, s), B::float_matmul(hprev, wh.clone()));
        let hn = activate::<B>(z, activation);
        outs.push(B::float_reshape(hn.clone(), Shape::new([bs, 1, h])));
        hprev = hn;
    }
    B::float_cat(outs, 1)
}

/// Hand-written BPTT. `dhs [B, T, H]` is the upstream gradient of the outputs. Per step only
/// the recurrence: `dz_t = (dH_t + dh_next) * act'(z_t)`, `dh_next = dz_t wh^T`; then one matmul
/// per weight over all steps: `dwx = X^T dZ`, `dwh = Hprev^T dZ`, `db = sum dZ`,
/// `dx = dZ wx^T`, `dh0 = dh_next` after step 0.
pub fn backward<B: Backend>(
    saved: SavedSequence<B>,
    dhs: FloatTensor<B>,
    needs: Needs,
) -> SequenceGrads<B> {
    let SavedSequence {
        x,
        h0,
        wx,
        wh,
        hs,
        activation,
        time_major,
    } = saved;
    assert!(
        !time_major,
        "the generic backward reads batch-major saved tensors"
    );
    let [bs, t, h] = hs.shape().dims::<3>();
    let wh_t = B::float_transpose(wh);
    let mut dzs = Vec::with_capacity(t);
    let mut dh_next: Option<FloatTensor<B>> = None;
    for s in (0..t).rev() {
        let mut dh = step::<B>(&dhs, s);
        if let Some(n) = dh_next.take() {
            dh = B::float_add(dh, n);
        }
        let dz = activation_grad::<B>(dh, step::<B>(&hs, s), activation);
        if s > 0 || needs.h0 {
            dh_next = Some(B::float_matmul(dz.clone(), wh_t.clone()));
        }
        dzs.push(B::float_reshape(dz, Shape::new([bs, 1, h])));
    }
    dzs.reverse();
    let dz = B::float_reshape(B::float_cat(dzs, 1), Shape::new([bs * t, h]));

    let wh_grad = needs.wh.then(|| {
        let h0 = h0.expect("h0 kept when wh needs a gradient");
        let mut prev = vec![B::float_reshape(h0, Shape::new([bs, 1, h]))];
        if t > 1 {
            prev.push(B::float_slice(
                hs.clone(),
                &[sl(0..bs), sl(0..t - 1), sl(0..h)],
            ));
        }
        let hprev = B::float_reshape(B::float_cat(prev, 1), Shape::new([bs * t, h]));
        B::float_matmul(B::float_transpose(hprev), dz.clone())
    });
    let wx_grad = needs.wx.then(|| {
        let x = x.expect("x kept when wx needs a gradient");
        let i = x.shape().dims::<3>()[2];
        let x2 = B::float_reshape(x, Shape::new([bs * t, i]));
        B::float_matmul(B::float_transpose(x2), dz.clone())
    });
    let b_grad = needs
        .b
        .then(|| B::float_reshape(B::float_sum_dim(dz.clone(), 0), Shape::new([h])));
    let x_grad = needs.x.then(|| {
        let wx = wx.expect("wx kept when x needs a gradient");
        let i = wx.shape().dims::<2>()[0];
        let dx = B::float_matmul(dz, B::float_transpose(wx));
        B::float_reshape(dx, Shape::new([bs, t, i]))
    });
    SequenceGrads {
        x: x_grad,
        h0: if needs.h0 { dh_next } else { None },
        wx: wx_grad,
        wh: wh_grad,
        b: b_grad,
    }
}
