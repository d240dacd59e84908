//! The fused GRU sequence on backend primitives (`B::float_*`): forward and hand-written BPTT
//! backward. These run on every backend (flex, ndarray, wgpu); the flex backend has a faster CPU
//! version in `fused/gru/flex.rs` that keeps the same [`SavedGru`] layout.
//!
//! Notation: `x [B, T, I]`, `h0 [B, H]`, `wx [I, 3H]` (blocks `r, z, n`), `wh_gates [H, 2H]`
//! (`r, z`), `wh_candidate [H, H]`, `bias [3H]`, `bias_hn [H]` (reset_after form only), outputs
//! `hs [B, T, H]`. Per step, with `h = h_{t-1}` and `xp_t = x_t wx + bias = [xr, xz, xn]`:
//! `[r, z] = σ([xr, xz] + h wh_gates)`, TF form `n = tanh(xn + (r ⊙ h) wh_candidate)`,
//! reset_after form `n = tanh(xn + r ⊙ hn)` with `hn = h wh_candidate + bias_hn`,
//! `h_t = n + z ⊙ (h − n)`.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Shape, TensorMetadata};

use crate::fused::kernels::{one_minus, sigmoid_slope, sl, step};

/// The seven inputs of one fused GRU sequence (backend primitives; shapes in the module doc).
#[derive(Debug, Clone)]
pub struct GruInputs<B: Backend> {
    /// `x [B, T, I]`.
    pub x: FloatTensor<B>,
    /// `h0 [B, H]`.
    pub h0: FloatTensor<B>,
    /// `wx [I, 3H]`, blocks `r, z, n`.
    pub wx: FloatTensor<B>,
    /// `wh_gates [H, 2H]`, blocks `r, z`.
    pub wh_gates: FloatTensor<B>,
    /// `wh_candidate [H, H]`.
    pub wh_candidate: FloatTensor<B>,
    /// `bias [3H]`, blocks `r, z, n`.
    pub bias: FloatTensor<B>,
    /// `bias_hn [H]`: present selects the reset_after form.
    pub bias_hn: Option<FloatTensor<B>>,
}

/// Which of the seven inputs need a gradient (`bias_hn` is false in the TF form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GruNeeds {
    /// `x [B, T, I]`.
    pub x: bool,
    /// `h0 [B, H]`.
    pub h0: bool,
    /// `wx [I, 3H]`.
    pub wx: bool,
    /// `wh_gates [H, 2H]`.
    pub wh_gates: bool,
    /// `wh_candidate [H, H]`.
    pub wh_candidate: bool,
    /// `bias [3H]`.
    pub bias: bool,
    /// `bias_hn [H]`.
    pub bias_hn: bool,
}

/// What the backward needs, kept by the forward; one time-major layout for the generic and the
/// flex kernels (row `s * B + b` is example `b` at step `s`), so either backward reads either
/// forward's state.
#[derive(Debug, Clone)]
pub struct SavedGru<B: Backend> {
    /// `x [T*B, I]` time-major, kept only when `wx` needs a gradient.
    pub x: Option<FloatTensor<B>>,
    /// `wx [I, 3H]`, kept only when `x` needs a gradient.
    pub wx: Option<FloatTensor<B>>,
    /// `[wh_gates | wh_candidate]`, `[H, 3H]` (the dh recurrence always needs it).
    pub wh: FloatTensor<B>,
    /// `[T+1, B, H]`: `h0` in slot 0, `h_t` in slot `t + 1` (slots `0..T` are `Hprev`).
    pub hs: FloatTensor<B>,
    /// The reset gate `r`, `[T*B, H]`.
    pub r: FloatTensor<B>,
    /// The update gate `z`, `[T*B, H]`.
    pub z: FloatTensor<B>,
    /// The candidate `n`, `[T*B, H]`.
    pub n: FloatTensor<B>,
    /// `[T*B, H]`: reset_after form `hn = h wh_candidate + bias_hn` (always kept); TF form
    /// `r ⊙ h`, the input of `wh_candidate`'s gradient, kept only when it needs one.
    pub extra: Option<FloatTensor<B>>,
    /// Which form (see the module doc).
    pub reset_after: bool,
}

/// The gradients of the seven inputs, each present when it was needed, shaped like its input.
#[derive(Debug)]
pub struct GruGrads<B: Backend> {
    /// `dx [B, T, I]`.
    pub x: Option<FloatTensor<B>>,
    /// `dh0 [B, H]`.
    pub h0: Option<FloatTensor<B>>,
    /// `dwx [I, 3H]`.
    pub wx: Option<FloatTensor<B>>,
    /// `dwh_gates [H, 2H]`.
    pub wh_gates: Option<FloatTensor<B>>,
    /// `dwh_candidate [H, H]`.
    pub wh_candidate: Option<FloatTensor<B>>,
    /// `dbias [3H]`.
    pub bias: Option<FloatTensor<B>>,
    /// `dbias_hn [H]`.
    pub bias_hn: Option<FloatTensor<B>>,
}

/// Rows `range` of a 2-D tensor.
fn rows<B: Backend>(t: &FloatTensor<B>, range: core::ops::Range<usize>) -> FloatTensor<B> {
    let c = t.shape().dims::<2>()[1];
    B::float_slice(t.clone(), &[sl(range), sl(0..c)])
}

/// Columns `start..start + len` of a 2-D tensor.
fn cols<B: Backend>(t: &FloatTensor<B>, start: usize, len: usize) -> FloatTensor<B> {
    let r = t.shape().dims::<2>()[0];
    B::float_slice(t.clone(), &[sl(0..r), sl(start..start + len)])
}

/// Forward over the whole sequence: `hs [B, T, H]`, and with `needs` (an autodiff forward) what
/// the backward keeps. One `[T*B, I] x [I, 3H]` matmul before the loop; per step the TF form
/// runs two dependent matmuls (`h wh_gates`, then `(r ⊙ h) wh_candidate`), the reset_after form
/// one (`h [wh_gates | wh_candidate]`).
pub fn forward<B: Backend>(
    inputs: GruInputs<B>,
    needs: Option<GruNeeds>,
) -> (FloatTensor<B>, Option<SavedGru<B>>) {
    let GruInputs {
        x,
        h0,
        wx,
        wh_gates,
        wh_candidate,
        bias,
        bias_hn,
    } = inputs;
    let [bs, t, i] = x.shape().dims::<3>();
    let h = wh_candidate.shape().dims::<2>()[0];
    let reset_after = bias_hn.is_some();
    let keep_extra = reset_after || needs.is_some_and(|d| d.wh_candidate);
    let x_tm = B::float_reshape(B::float_swap_dims(x, 0, 1), Shape::new([t * bs, i]));
    let xp = B::float_add(
        B::float_matmul(x_tm.clone(), wx.clone()),
        B::float_reshape(bias, Shape::new([1, 3 * h])),
    );
    let wh = (reset_after || needs.is_some())
        .then(|| B::float_cat(vec![wh_gates.clone(), wh_candidate.clone()], 1));
    let b_hn = bias_hn.map(|b| B::float_reshape(b, Shape::new([1, h])));
    let mut keep: [Vec<FloatTensor<B>>; 4] = Default::default();
    let mut hs = Vec::with_capacity(t + 1);
    hs.push(h0.clone());
    let mut hprev = h0;
    for s in 0..t {
        let xs = rows::<B>(&xp, s * bs..(s + 1) * bs);
        let (pre_gates, xn) = (cols::<B>(&xs, 0, 2 * h), cols::<B>(&xs, 2 * h, h));
        let (r, z, n, extra) = match (&b_hn, &wh) {
            (Some(b_hn), Some(wh)) => {
                let m = B::float_matmul(hprev.clone(), wh.clone());
                let gates = B::sigmoid(B::float_add(pre_gates, cols::<B>(&m, 0, 2 * h)));
                let (r, z) = (cols::<B>(&gates, 0, h), cols::<B>(&gates, h, h));
                let hn = B::float_add(cols::<B>(&m, 2 * h, h), b_hn.clone());
                let n = B::float_tanh(B::float_add(xn, B::float_mul(r.clone(), hn.clone())));
                (r, z, n, hn)
            }
            _ => {
                let g = B::float_matmul(hprev.clone(), wh_gates.clone());
                let gates = B::sigmoid(B::float_add(pre_gates, g));
                let (r, z) = (cols::<B>(&gates, 0, h), cols::<B>(&gates, h, h));
                let rh = B::float_mul(r.clone(), hprev.clone());
                let q = B::float_matmul(rh.clone(), wh_candidate.clone());
                (r, z, B::float_tanh(B::float_add(xn, q)), rh)
            }
        };
        let h_new = B::float_add(
            n.clone(),
            B::float_mul(z.clone(), B::float_sub(hprev, n.clone())),
        );
        if needs.is_some() {
            let [kr, kz, kn, ke] = &mut keep;
            kr.push(r);
            kz.push(z);
            kn.push(n);
            if keep_extra {
                ke.push(extra);
            }
        }
        hs.push(h_new.clone());
        hprev = h_new;
    }
    let all = B::float_reshape(B::float_cat(hs, 0), Shape::new([t + 1, bs, h]));
    let out = B::float_swap_dims(
        B::float_slice(all.clone(), &[sl(1..t + 1), sl(0..bs), sl(0..h)]),
        0,
        1,
    );
    let saved = needs.map(|needs| {
        let [r, z, n, extra] = keep.map(|v| (!v.is_empty()).then(|| B::float_cat(v, 0)));
        SavedGru {
            x: needs.wx.then_some(x_tm),
            wx: needs.x.then_some(wx),
            wh: wh.expect("concatenated when saving"),
            hs: all,
            r: r.expect("one step at least"),
            z: z.expect("one step at least"),
            n: n.expect("one step at least"),
            extra,
            reset_after,
        }
    });
    (out, saved)
}

/// Hand-written BPTT; `dhs [B, T, H]` is the upstream gradient of the outputs. Per step, with
/// `dh = dH_t + dh_next`:
/// `da_n = dh (1 − z)(1 − n²)`, `da_z = dh (h − n) z (1 − z)`, `dh_next = dh z + …`;
/// TF form `drh = da_n wh_candidate^T`, `da_r = drh h r (1 − r)`,
/// `dh_next += drh r + [da_r, da_z] wh_gates^T` (two matmuls);
/// reset_after form `dm = da_n r`, `da_r = da_n hn r (1 − r)`,
/// `dh_next += [da_r, da_z, dm] [wh_gates | wh_candidate]^T` (one matmul).
/// Then, with `dA = [da_r, da_z, da_n]` `[T*B, 3H]` over all steps: `dwx = X^T dA`,
/// `dbias = sum dA`, `dx = dA wx^T`, `dwh_gates = Hprev^T dA[:, :2H]`, and
/// `dwh_candidate = (R ⊙ Hprev)^T dA[:, 2H:]` (TF) or `Hprev^T dM`, `dbias_hn = sum dM`
/// (reset_after).
pub fn backward<B: Backend>(
    saved: SavedGru<B>,
    dhs: FloatTensor<B>,
    needs: GruNeeds,
) -> GruGrads<B> {
    let SavedGru {
        x,
        wx,
        wh,
        hs,
        r,
        z,
        n,
        extra,
        reset_after,
    } = saved;
    let [t1, bs, h] = hs.shape().dims::<3>();
    let t = t1 - 1;
    let hs = B::float_reshape(hs, Shape::new([t1 * bs, h]));
    let wh_t = B::float_transpose(wh);
    let whg_t = rows::<B>(&wh_t, 0..2 * h);
    let whn_t = rows::<B>(&wh_t, 2 * h..3 * h);
    let mut das = Vec::with_capacity(t);
    let mut dms = Vec::with_capacity(t);
    let mut dh_next: Option<FloatTensor<B>> = None;
    for s in (0..t).rev() {
        let at = s * bs..(s + 1) * bs;
        let (r, z, n, hp) = (
            rows::<B>(&r, at.clone()),
            rows::<B>(&z, at.clone()),
            rows::<B>(&n, at.clone()),
            rows::<B>(&hs, at.clone()),
        );
        let mut dh = step::<B>(&dhs, s);
        if let Some(next) = dh_next.take() {
            dh = B::float_add(dh, next);
        }
        let one_minus_n2 = one_minus::<B>(B::float_mul(n.clone(), n.clone()));
        let da_n = B::float_mul(
            B::float_mul(dh.clone(), one_minus::<B>(z.clone())),
            one_minus_n2,
        );
        let da_z = B::float_mul(
            B::float_mul(dh.clone(), B::float_sub(hp.clone(), n)),
            sigmoid_slope::<B>(z.clone()),
        );
        let recur = s > 0 || needs.h0;
        let mut dhp = B::float_mul(dh, z);
        let da_r = if reset_after {
            let hn = rows::<B>(extra.as_ref().expect("hn kept in reset_after form"), at);
            let dm = B::float_mul(da_n.clone(), r.clone());
            let da_r = B::float_mul(B::float_mul(da_n.clone(), hn), sigmoid_slope::<B>(r));
            if recur {
                let d_rec = B::float_cat(vec![da_r.clone(), da_z.clone(), dm.clone()], 1);
                dhp = B::float_add(dhp, B::float_matmul(d_rec, wh_t.clone()));
            }
            dms.push(dm);
            da_r
        } else {
            let drh = B::float_matmul(da_n.clone(), whn_t.clone());
            let da_r = B::float_mul(B::float_mul(drh.clone(), hp), sigmoid_slope::<B>(r.clone()));
            if recur {
                let d_gates = B::float_cat(vec![da_r.clone(), da_z.clone()], 1);
                dhp = B::float_add(dhp, B::float_mul(drh, r));
                dhp = B::float_add(dhp, B::float_matmul(d_gates, whg_t.clone()));
            }
            da_r
        };
        das.push(B::float_cat(vec![da_r, da_z, da_n], 1));
        if recur {
            dh_next = Some(dhp);
        }
    }
    das.reverse();
    dms.reverse();
    let da = B::float_cat(das, 0);
    let hprev = || B::float_transpose(rows::<B>(&hs, 0..t * bs));
    let wh_gates = needs
        .wh_gates
        .then(|| B::float_matmul(hprev(), cols::<B>(&da, 0, 2 * h)));
    let dm = reset_after.then(|| B::float_cat(dms, 0));
    let wh_candidate = needs.wh_candidate.then(|| match &dm {
        Some(dm) => B::float_matmul(hprev(), dm.clone()),
        None => {
            let rh = extra.expect("r ⊙ h kept when wh_candidate needs a gradient");
            B::float_matmul(B::float_transpose(rh), cols::<B>(&da, 2 * h, h))
        }
    });
    let bias_hn = dm
        .filter(|_| needs.bias_hn)
        .map(|dm| B::float_reshape(B::float_sum_dim(dm, 0), Shape::new([h])));
    let wx_grad = needs.wx.then(|| {
        let x = x.expect("x kept when wx needs a gradient");
        B::float_matmul(B::float_transpose(x), da.clone())
    });
    let bias = needs
        .bias
        .then(|| B::float_reshape(B::float_sum_dim(da.clone(), 0), Shape::new([3 * h])));
    let x_grad = needs.x.then(|| {
        let wx = wx.expect("wx kept when x needs a gradient");
        let i = wx.shape().dims::<2>()[0];
        let dx = B::float_matmul(da, B::float_transpose(wx));
        B::float_swap_dims(B::float_reshape(dx, Shape::new([t, bs, i])), 0, 1)
    });
    GruGrads {
        x: x_grad,
        h0: if needs.h0 { dh_next } else { None },
        wx: wx_grad,
        wh_gates,
        wh_candidate,
        bias,
        bias_hn,
    }
}
