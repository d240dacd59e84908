//! The fused LSTM sequence on the flex CPU backend, on raw `f32` buffers.
//!
//! Same maths and same matmuls as [`super::kernels`], on time-major buffers the kernel owns,
//! every product written or accumulated in place ([`crate::fused::gemm`]), the gates, `c_t`
//! and `h_t` computed in one pass per step (vectorised sigmoid/tanh,
//! [`crate::fused::activation`]). One `[T+2, B, H]` buffer
//! holds `h_0..h_T` and then `c_T`: the op's output `[B, T + 1, H]` is a view of its slots
//! `1..T+2`, and `Hprev` for the weight gradient is slots `0..T`, read in place. The backward
//! builds a time-major `dA [T*B, 4H]` in one pass per step, flushing values below
//! [`FLUSH_BELOW`] to zero (also the carried `dc`, which decays by `f` at every step).

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use super::kernels::{LstmGrads, LstmNeeds, SavedLstm};
use crate::fused::activation::{sigmoid_inplace, tanh_inplace};
use crate::fused::flex::{
    FLUSH_BELOW, batch_major, column_sums, contiguous, tensor, time_major, values,
};
use crate::fused::gemm::{Mat, matmul_into};

#[inline(always)]
fn flush(v: f32) -> f32 {
    if v.abs() < FLUSH_BELOW { 0.0 } else { v }
}

/// Forward: `[B, T + 1, H]` (`h_1..h_T`, then `c_T`; a batch-major view of a time-major
/// buffer), and with `keep` what the backward needs. Before the loop: the bias in every step's
/// slot of a `[T, B, 4H]` gate buffer and `x_t wx` added by one `[T*B, I] x [I, 4H]` GEMM.
/// Per step: the recurrent GEMM adds `h_{t-1} wh` onto slot `t`; per row sigmoid on the `i, f`
/// and `o` blocks and tanh on `g` in place (the buffer ends up holding the activated gates the
/// backward needs); `c_t = f c_{t-1} + i g` and `h_t = o tanh(c_t)` in one pass each. No
/// allocation inside the loop.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    x: FlexTensor,
    h0: FlexTensor,
    c0: FlexTensor,
    wx: FlexTensor,
    wh: FlexTensor,
    b: FlexTensor,
    forget_bias: f32,
    keep: Option<LstmNeeds>,
) -> (FlexTensor, Option<SavedLstm<Flex>>) {
    let [bs, t, i] = x.shape().dims::<3>();
    let h = wh.shape().dims::<2>()[0];
    let (n, w) = (bs * h, 4 * h);
    let x_tm = time_major(&x);
    let (wx_c, wh_c, b_c) = (contiguous(&wx), contiguous(&wh), contiguous(&b));
    let mut bias = values(&b_c).to_vec();
    for v in &mut bias[h..2 * h] {
        *v += forget_bias;
    }
    let mut gates = vec![0.0f32; t * bs * w];
    for row in gates.chunks_exact_mut(w) {
        row.copy_from_slice(&bias);
    }
    matmul_into(
        &mut gates,
        Mat::new(values(&x_tm), t * bs, i),
        Mat::new(values(&wx_c), i, w),
        true,
    );
    let whv = values(&wh_c);
    // Slots: h_0, h_1..h_T, c_T.
    let mut hs = vec![0.0f32; (t + 2) * n];
    hs[..n].copy_from_slice(values(&contiguous(&h0)));
    // c_0..c_T when the backward needs them; otherwise only the running c.
    let mut cs = vec![0.0f32; if keep.is_some() { (t + 1) * n } else { n }];
    cs[..n].copy_from_slice(values(&contiguous(&c0)));
    for s in 0..t {
        let a = &mut gates[s * bs * w..(s + 1) * bs * w];
        let (h_before, h_after) = hs.split_at_mut((s + 1) * n);
        let h_new = &mut h_after[..n];
        matmul_into(
            a,
            Mat::new(&h_before[s * n..], bs, h),
            Mat::new(whv, h, w),
            true,
        );
        for row in a.chunks_exact_mut(w) {
            sigmoid_inplace(&mut row[..2 * h]);
            tanh_inplace(&mut row[2 * h..3 * h]);
            sigmoid_inplace(&mut row[3 * h..]);
        }
        let (c_prev, c_new): (Option<&[f32]>, &mut [f32]) = if keep.is_some() {
            let (before, after) = cs.split_at_mut((s + 1) * n);
            (Some(&before[s * n..]), &mut after[..n])
        } else {
            // In place: each element reads its own c_{t-1} before writing c_t.
            (None, &mut cs[..])
        };
        for (r, g_row) in a.chunks_exact(w).enumerate() {
            let (ig, fg, gg) = (&g_row[..h], &g_row[h..2 * h], &g_row[2 * h..3 * h]);
            let c_out = &mut c_new[r * h..(r + 1) * h];
            match c_prev {
                Some(c_prev) => {
                    let cp = &c_prev[r * h..(r + 1) * h];
                    for ((((c, i), f), g), cp) in c_out.iter_mut().zip(ig).zip(fg).zip(gg).zip(cp) {
                        *c = f * cp + i * g;
                    }
                }
                None => {
                    for (((c, i), f), g) in c_out.iter_mut().zip(ig).zip(fg).zip(gg) {
                        *c = f * *c + i * g;
                    }
                }
            }
        }
        // h_t = o tanh(c_t), with tanh(c_t) computed in h_t's own slot.
        h_new.copy_from_slice(c_new);
        tanh_inplace(h_new);
        for (h_row, g_row) in h_new.chunks_exact_mut(h).zip(a.chunks_exact(w)) {
            for (hv, o) in h_row.iter_mut().zip(&g_row[3 * h..]) {
                *hv *= o;
            }
        }
    }
    let c_last = if keep.is_some() {
        &cs[t * n..]
    } else {
        &cs[..n]
    };
    hs[(t + 1) * n..].copy_from_slice(c_last);
    let hs = FlexTensor::from_data(TensorData::new(hs, [t + 2, bs, h]));
    let out = hs.narrow(0, 1, t + 1).transpose(0, 1);
    let saved = keep.map(|needs| SavedLstm {
        x: needs.wx.then_some(x_tm),
        hprev: needs.wh.then_some(hs),
        cs: FlexTensor::from_data(TensorData::new(cs, [t + 1, bs, h])),
        gates: FlexTensor::from_data(TensorData::new(gates, [t, bs, w])),
        wx: needs.x.then_some(wx),
        wh,
        time_major: true,
    });
    (out, saved)
}

/// Hand-written BPTT on the forward's time-major buffers; the same gradients as
/// [`super::kernels::backward`]. `dout [B, T + 1, H]` is batch-major. The loop reuses one
/// `dh_next`, one `dc_next` and one `tanh(c_t)` buffer: no allocation per step.
pub(crate) fn backward(
    saved: SavedLstm<Flex>,
    dout: FlexTensor,
    needs: LstmNeeds,
) -> LstmGrads<Flex> {
    let SavedLstm {
        x,
        hprev,
        cs,
        gates,
        wx,
        wh,
        ..
    } = saved;
    let [bs, t1, h] = dout.shape().dims::<3>();
    let (t, n, w) = (t1 - 1, bs * h, 4 * h);
    let (cs, gates, dout, wh) = (
        contiguous(&cs),
        contiguous(&gates),
        contiguous(&dout),
        contiguous(&wh),
    );
    let (cs_v, gates_v, dout_v, whv) = (values(&cs), values(&gates), values(&dout), values(&wh));
    let mut dc_next = vec![0.0f32; n];
    for (r, dc) in dc_next.chunks_exact_mut(h).enumerate() {
        dc.copy_from_slice(&dout_v[(r * t1 + t) * h..][..h]);
    }
    let mut da_all = vec![0.0f32; t * bs * w];
    let mut tc = vec![0.0f32; n];
    let mut dh_next = vec![0.0f32; n];
    let mut have_next = false;
    for s in (0..t).rev() {
        tc.copy_from_slice(&cs_v[(s + 1) * n..(s + 2) * n]);
        tanh_inplace(&mut tc);
        let c_prev = &cs_v[s * n..(s + 1) * n];
        let g_s = &gates_v[s * bs * w..(s + 1) * bs * w];
        let da = &mut da_all[s * bs * w..(s + 1) * bs * w];
        for r in 0..bs {
            let dh_row = &dout_v[(r * t1 + s) * h..][..h];
            let next_row = &dh_next[r * h..(r + 1) * h];
            let g_row = &g_s[r * w..(r + 1) * w];
            let (ig, fg, gg, og) = (
                &g_row[..h],
                &g_row[h..2 * h],
                &g_row[2 * h..3 * h],
                &g_row[3 * h..],
            );
            let (tc_row, cp_row) = (&tc[r * h..(r + 1) * h], &c_prev[r * h..(r + 1) * h]);
            let dc_row = &mut dc_next[r * h..(r + 1) * h];
            let (da_i, rest) = da[r * w..(r + 1) * w].split_at_mut(h);
            let (da_f, rest) = rest.split_at_mut(h);
            let (da_g, da_o) = rest.split_at_mut(h);
            for j in 0..h {
                let dh = if have_next {
                    dh_row[j] + next_row[j]
                } else {
                    dh_row[j]
                };
                let (i, f, g, o, tcv) = (ig[j], fg[j], gg[j], og[j], tc_row[j]);
                let dc = dc_row[j] + dh * o * (1.0 - tcv * tcv);
                da_i[j] = flush(dc * g * i * (1.0 - i));
                da_f[j] = flush(dc * cp_row[j] * f * (1.0 - f));
                da_g[j] = flush(dc * i * (1.0 - g * g));
                da_o[j] = flush(dh * tcv * o * (1.0 - o));
                dc_row[j] = flush(dc * f);
            }
        }
        if s > 0 || needs.h0 {
            matmul_into(
                &mut dh_next,
                Mat::new(da, bs, w),
                Mat::new(whv, h, w).t(),
                false,
            );
            have_next = true;
        }
    }
    let da = Mat::new(&da_all, t * bs, w);
    let wh_grad = needs.wh.then(|| {
        let hs = contiguous(&hprev.expect("h kept when wh needs a gradient"));
        let mut g = vec![0.0f32; h * w];
        matmul_into(
            &mut g,
            Mat::new(&values(&hs)[..t * n], t * bs, h).t(),
            da,
            false,
        );
        tensor(g, [h, w])
    });
    let wx_grad = needs.wx.then(|| {
        let x_tm = contiguous(&x.expect("x kept when wx needs a gradient"));
        let i = x_tm.shape().dims::<2>()[1];
        let mut g = vec![0.0f32; i * w];
        matmul_into(&mut g, Mat::new(values(&x_tm), t * bs, i).t(), da, false);
        tensor(g, [i, w])
    });
    let b_grad = needs.b.then(|| column_sums(&da_all, w));
    let x_grad = needs.x.then(|| {
        let wx = contiguous(&wx.expect("wx kept when x needs a gradient"));
        let i = wx.shape().dims::<2>()[0];
        let mut dx = vec![0.0f32; t * bs * i];
        matmul_into(&mut dx, da, Mat::new(values(&wx), i, w).t(), false);
        batch_major(&dx, t, bs, i)
    });
    LstmGrads {
        x: x_grad,
        h0: (needs.h0 && have_next).then(|| tensor(dh_next, [bs, h])),
        c0: needs.c0.then(|| tensor(dc_next, [bs, h])),
        wx: wx_grad,
        wh: wh_grad,
        b: b_grad,
    }
}
