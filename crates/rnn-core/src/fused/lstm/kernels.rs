//! The fused LSTM sequence on backend primitives (`B::float_*`): forward and hand-written BPTT
//! backward, on every backend (flex, ndarray, wgpu); flex has a faster CPU version in
//! `fused/lstm/flex.rs`.
//!
//! Notation: `x [B, T, I]`, `h0, c0 [B, H]`, `wx [I, 4H]`, `wh [H, 4H]`, `b [4H]` (gate
//! blocks `i, f, g, o`), `fb` the forget bias. Per step `a_t = x_t wx + h_{t-1} wh + b`,
//! `i, f, o = σ(a_i), σ(a_f + fb), σ(a_o)`, `g = tanh(a_g)`, `c_t = f c_{t-1} + i g`,
//! `h_t = o tanh(c_t)`. The op's output is `[B, T + 1, H]`: slots `0..T` are `h_1..h_T`, slot
//! `T` is `c_T` (one output carries the final memory, so one graph node serves both).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Shape, TensorMetadata};

use crate::fused::kernels::{sigmoid_slope, sl, step, tanh_slope};

/// Which of the six inputs `(x, h0, c0, wx, wh, b)` need a gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmNeeds {
    /// `x [B, T, I]`.
    pub x: bool,
    /// `h0 [B, H]`.
    pub h0: bool,
    /// `c0 [B, H]`.
    pub c0: bool,
    /// `wx [I, 4H]`.
    pub wx: bool,
    /// `wh [H, 4H]`.
    pub wh: bool,
    /// `b [4H]`.
    pub b: bool,
}

/// What the backward needs, kept by the forward (reference-counted primitives, no copies).
///
/// Generic kernels (`time_major: false`): `x [B, T, I]`, `hprev [B, T, H]` (`h_0..h_{T-1}`),
/// `cs [B, T + 1, H]` (`c_0..c_T`), `gates [B, T, 4H]` (the activated `i, f, g, o`). The flex
/// kernel (`time_major: true`): `x [T*B, I]`, `hs [T+1, B, H]` (`h_0..h_T`), `cs [T+1, B, H]`,
/// `gates [T, B, 4H]`, so that every step and `Hprev` are contiguous slices.
#[derive(Debug, Clone)]
pub struct SavedLstm<B: Backend> {
    /// The inputs, kept only when `wx` needs a gradient.
    pub x: Option<FloatTensor<B>>,
    /// The previous hidden states (layouts above), kept only when `wh` needs a gradient.
    pub hprev: Option<FloatTensor<B>>,
    /// The memories `c_0..c_T` (layouts above).
    pub cs: FloatTensor<B>,
    /// The activated gates `i, f, g, o` of every step (layouts above).
    pub gates: FloatTensor<B>,
    /// `wx [I, 4H]`, kept only when `x` needs a gradient.
    pub wx: Option<FloatTensor<B>>,
    /// `wh [H, 4H]` (the dh recurrence always needs it).
    pub wh: FloatTensor<B>,
    /// Which layout (see above).
    pub time_major: bool,
}

/// The gradients of the six inputs, each present when it was needed, shaped like its input.
#[derive(Debug)]
pub struct LstmGrads<B: Backend> {
    /// `dx [B, T, I]`.
    pub x: Option<FloatTensor<B>>,
    /// `dh0 [B, H]`.
    pub h0: Option<FloatTensor<B>>,
    /// `dc0 [B, H]`.
    pub c0: Option<FloatTensor<B>>,
    /// `dwx [I, 4H]`.
    pub wx: Option<FloatTensor<B>>,
    /// `dwh [H, 4H]`.
    pub wh: Option<FloatTensor<B>>,
    /// `db [4H]`.
    pub b: Option<FloatTensor<B>>,
}

/// Columns `k*h..(k+1)*h` (gate block `k`) of a `[B, 4H]` tensor.
fn block<B: Backend>(t: &FloatTensor<B>, k: usize, h: usize) -> FloatTensor<B> {
    let bs = t.shape().dims::<2>()[0];
    B::float_slice(t.clone(), &[sl(0..bs), sl(k * h..(k + 1) * h)])
}

fn unsqueeze1<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let [bs, w] = t.shape().dims::<2>();
    B::float_reshape(t, Shape::new([bs, 1, w]))
}

/// Forward over the whole sequence (`T >= 1`): `[B, T + 1, H]` (`h_1..h_T`, then `c_T`), and with
/// `keep` the saved tensors for the backward. Ops: one `[B*T, I] x [I, 4H]` matmul and a bias
/// add before the loop; per step one `[B, H] x [H, 4H]` matmul, the gates, `c_t`, `h_t`.
#[allow(clippy::too_many_arguments)]
pub fn forward<B: Backend>(
    x: FloatTensor<B>,
    h0: FloatTensor<B>,
    c0: FloatTensor<B>,
    wx: FloatTensor<B>,
    wh: FloatTensor<B>,
    b: FloatTensor<B>,
    forget_bias: f32,
    keep: Option<LstmNeeds>,
) -> (FloatTensor<B>, Option<SavedLstm<B>>) {
    let [bs, t, i] = x.shape().dims::<3>();
    let h = wh.shape().dims::<2>()[0];
    let xp = B::float_add(
        B::float_matmul(
            B::float_reshape(x.clone(), Shape::new([bs * t, i])),
            wx.clone(),
        ),
        B::float_reshape(b, Shape::new([1, 4 * h])),
    );
    let xp = B::float_reshape(xp, Shape::new([bs, t, 4 * h]));
    let (mut hprev, mut cprev) = (h0.clone(), c0.clone());
    let mut hs = Vec::with_capacity(t + 1);
    let mut cs = vec![unsqueeze1::<B>(c0)];
    let mut gates = Vec::with_capacity(t);
    for s in 0..t {
        let a = B::float_add(step::<B>(&xp, s), B::float_matmul(hprev, wh.clone()));
        let ig = B::sigmoid(block::<B>(&a, 0, h));
        let mut af = block::<B>(&a, 1, h);
        if forget_bias != 0.0 {
            af = B::float_add_scalar(af, (forget_bias as f64).into());
        }
        let fg = B::sigmoid(af);
        let gg = B::float_tanh(block::<B>(&a, 2, h));
        let og = B::sigmoid(block::<B>(&a, 3, h));
        let c = B::float_add(
            B::float_mul(fg.clone(), cprev),
            B::float_mul(ig.clone(), gg.clone()),
        );
        let hn = B::float_mul(og.clone(), B::float_tanh(c.clone()));
        if keep.is_some() {
            gates.push(unsqueeze1::<B>(B::float_cat(vec![ig, fg, gg, og], 1)));
            cs.push(unsqueeze1::<B>(c.clone()));
        }
        hs.push(unsqueeze1::<B>(hn.clone()));
        hprev = hn;
        cprev = c;
    }
    let hs_out = B::float_cat(hs, 1);
    let out = B::float_cat(vec![hs_out.clone(), unsqueeze1::<B>(cprev)], 1);
    let saved = keep.map(|needs| {
        let hprev = needs.wh.then(|| {
            let mut prev = vec![unsqueeze1::<B>(h0)];
            if t > 1 {
                prev.push(B::float_slice(hs_out, &[sl(0..bs), sl(0..t - 1), sl(0..h)]));
            }
            B::float_cat(prev, 1)
        });
        SavedLstm {
            x: needs.wx.then_some(x),
            hprev,
            cs: B::float_cat(cs, 1),
            gates: B::float_cat(gates, 1),
            wx: needs.x.then_some(wx),
            wh,
            time_major: false,
        }
    });
    (out, saved)
}

/// Hand-written BPTT. `dout [B, T + 1, H]` is the upstream gradient of the output (`dh_t` in
/// slots `0..T`, `dc_T` in slot `T`). Per step only the recurrence:
/// `dh = dH_t + dh_next`, `dc = dc_next + dh o (1 - tanh²c_t)`,
/// `da = [dc g σ'_i, dc c_{t-1} σ'_f, dc i tanh'_g, dh tanh(c_t) σ'_o]`, `dc_next = dc f`,
/// `dh_next = da wh^T`; then one matmul per weight over all steps: `dwx = X^T dA`,
/// `dwh = Hprev^T dA`, `db = sum dA`, `dx = dA wx^T`.
pub fn backward<B: Backend>(
    saved: SavedLstm<B>,
    dout: FloatTensor<B>,
    needs: LstmNeeds,
) -> LstmGrads<B> {
    let SavedLstm {
        x,
        hprev,
        cs,
        gates,
        wx,
        wh,
        time_major,
    } = saved;
    assert!(
        !time_major,
        "the generic backward reads batch-major saved tensors"
    );
    let [bs, t1, h] = dout.shape().dims::<3>();
    let t = t1 - 1;
    let wh_t = B::float_transpose(wh);
    let mut dc_next = step::<B>(&dout, t);
    let mut dh_next: Option<FloatTensor<B>> = None;
    let mut das = Vec::with_capacity(t);
    for s in (0..t).rev() {
        let mut dh = step::<B>(&dout, s);
        if let Some(n) = dh_next.take() {
            dh = B::float_add(dh, n);
        }
        let gs = step::<B>(&gates, s);
        let (ig, fg, gg, og) = (
            block::<B>(&gs, 0, h),
            block::<B>(&gs, 1, h),
            block::<B>(&gs, 2, h),
            block::<B>(&gs, 3, h),
        );
        let tc = B::float_tanh(step::<B>(&cs, s + 1));
        let cprev = step::<B>(&cs, s);
        let dc = B::float_add(
            dc_next,
            B::float_mul(
                B::float_mul(dh.clone(), og.clone()),
                tanh_slope::<B>(tc.clone()),
            ),
        );
        let da_o = B::float_mul(B::float_mul(dh, tc), sigmoid_slope::<B>(og));
        let da_i = B::float_mul(
            B::float_mul(dc.clone(), gg.clone()),
            sigmoid_slope::<B>(ig.clone()),
        );
        let da_f = B::float_mul(
            B::float_mul(dc.clone(), cprev),
            sigmoid_slope::<B>(fg.clone()),
        );
        let da_g = B::float_mul(B::float_mul(dc.clone(), ig), tanh_slope::<B>(gg));
        dc_next = B::float_mul(dc, fg);
        let da = B::float_cat(vec![da_i, da_f, da_g, da_o], 1);
        if s > 0 || needs.h0 {
            dh_next = Some(B::float_matmul(da.clone(), wh_t.clone()));
        }
        das.push(unsqueeze1::<B>(da));
    }
    das.reverse();
    let da = B::float_reshape(B::float_cat(das, 1), Shape::new([bs * t, 4 * h]));
    let wh_grad = needs.wh.then(|| {
        let hprev = hprev.expect("hprev kept when wh needs a gradient");
        let hprev = B::float_reshape(hprev, Shape::new([bs * t, h]));
        B::float_matmul(B::float_transpose(hprev), da.clone())
    });
    let wx_grad = needs.wx.then(|| {
        let x = x.expect("x kept when wx needs a gradient");
        let i = x.shape().dims::<3>()[2];
        let x2 = B::float_reshape(x, Shape::new([bs * t, i]));
        B::float_matmul(B::float_transpose(x2), da.clone())
    });
    let b_grad = needs
        .b
        .then(|| B::float_reshape(B::float_sum_dim(da.clone(), 0), Shape::new([4 * h])));
    let x_grad = needs.x.then(|| {
        let wx = wx.expect("wx kept when x needs a gradient");
        let i = wx.shape().dims::<2>()[0];
        let dx = B::float_matmul(da, B::float_transpose(wx));
        B::float_reshape(dx, Shape::new([bs, t, i]))
    });
    LstmGrads {
        x: x_grad,
        h0: if needs.h0 { dh_next } else { None },
        c0: needs.c0.then_some(dc_next),
        wx: wx_grad,
        wh: wh_grad,
        b: b_grad,
    }
}
