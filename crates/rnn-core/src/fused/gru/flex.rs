//! The fused GRU sequence on the flex CPU backend, on raw `f32` buffers.
//!
//! Same maths, same matmuls and same saved layout ([`SavedGru`], time-major) as
//! [`super::kernels`], on buffers the kernel owns, every product written or accumulated in
//! place by [`crate::fused::gemm::matmul_into`] (column blocks and transposes are strided
//! views, never copies), every element-wise step one pass written by hand over the step's
//! `[B, H]` planes, with the vectorised sigmoid/tanh of `fused/activation.rs`. Forward: before
//! the loop the input projection `x wx + bias` by two GEMMs into a time-major `[T*B, 2H]`
//! buffer (`xr, xz`) and into the saved `n [T*B, H]` itself (`xn`). Per step, TF form: the
//! gate GEMM `h wh_gates` accumulated onto the step's `[xr, xz]`, one pass for `r, z`, then
//! `(r ⊙ h) wh_candidate` accumulated onto the step's `xn` and tanh in place; reset_after form:
//! one GEMM `h [wh_gates | wh_candidate]` into a step buffer, one pass for `r, z, hn` and `n`.
//! `h_t` goes to slot `t` of one `[T+1, B, H]` buffer whose slot 0 is `h0`; the output
//! `[B, T, H]` is a view of it. Backward: per step one pass for `da_z, da_n` (and `dm, da_r` in
//! the reset_after form), written into the time-major `dA [T*B, 3H]`, and the recurrent
//! GEMM(s) against transposed views of `wh`'s column blocks, into buffers reused every step;
//! then one GEMM per weight reading `X`, `Hprev` and `dA`'s column blocks in place. No
//! allocation inside either time loop. Backward values below [`FLUSH_BELOW`] are flushed to
//! zero, as in the basic cell's kernel.

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use super::kernels::{GruGrads, GruInputs, GruNeeds, SavedGru};
use crate::fused::activation::{sigmoid_inplace, tanh_inplace};
use crate::fused::flex::{
    FLUSH_BELOW, batch_major, column_sums, contiguous, tensor, time_major, values,
};
use crate::fused::gemm::{Mat, matmul_into};

#[inline(always)]
fn flush(v: f32) -> f32 {
    if v.abs() < FLUSH_BELOW { 0.0 } else { v }
}

/// `[a | b]` for `a [H, 2H]`, `b [H, H]`: `[H, 3H]`.
fn concat_cols(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let [h, h2] = a.shape().dims::<2>();
    let (a, b) = (contiguous(a), contiguous(b));
    let (av, bv) = (values(&a), values(&b));
    let mut out = Vec::with_capacity(h * (h2 + h));
    for k in 0..h {
        out.extend_from_slice(&av[k * h2..][..h2]);
        out.extend_from_slice(&bv[k * h..][..h]);
    }
    tensor(out, [h, h2 + h])
}

/// `rows` copies of `row`, one after the other.
fn repeat_rows(row: &[f32], rows: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * row.len()];
    for r in out.chunks_exact_mut(row.len()) {
        r.copy_from_slice(row);
    }
    out
}

/// Forward, `hs [B, T, H]` (a batch-major view of a time-major buffer), and with `needs` what
/// the backward keeps. Without `needs` the `r, z` (and `extra`) buffers hold one step only;
/// `n` always has every step (it first holds the input projection `xn`).
pub(crate) fn forward(
    inputs: GruInputs<Flex>,
    needs: Option<GruNeeds>,
) -> (FlexTensor, Option<SavedGru<Flex>>) {
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
    let (n, h2, h3) = (bs * h, 2 * h, 3 * h);
    let reset_after = bias_hn.is_some();
    let saving = needs.is_some();
    let keep_extra = reset_after || needs.is_some_and(|d| d.wh_candidate);
    let x_tm = time_major(&x);
    let (wx_c, bias_c) = (contiguous(&wx), contiguous(&bias));
    let (xv, wxv, bv) = (values(&x_tm), values(&wx_c), values(&bias_c));
    // The input projection: `[xr, xz] [T*B, 2H]`, and `xn [T*B, H]` in `n`'s own buffer.
    let mut xg = repeat_rows(&bv[..h2], t * bs);
    let x_mat = Mat::new(xv, t * bs, i);
    matmul_into(&mut xg, x_mat, Mat::strided(wxv, i, h2, h3, 1), true);
    let mut n_all = repeat_rows(&bv[h2..], t * bs);
    let wx_n = Mat::strided(&wxv[h2..], i, h, h3, 1);
    matmul_into(&mut n_all, x_mat, wx_n, true);
    let wh = (reset_after || saving).then(|| concat_cols(&wh_gates, &wh_candidate));
    let (whg_c, whn_c) = (contiguous(&wh_gates), contiguous(&wh_candidate));
    let b_hn = bias_hn.map(|b| contiguous(&b));
    let cap = if saving { t * n } else { n };
    let mut all = vec![0.0f32; (t + 1) * n];
    all[..n].copy_from_slice(values(&contiguous(&h0)));
    let (mut r_all, mut z_all) = (vec![0.0f32; cap], vec![0.0f32; cap]);
    // reset_after: `hn`; TF: `r ⊙ h` (one step's scratch unless kept).
    let extra_steps = saving && keep_extra;
    let mut extra_all = vec![0.0f32; if extra_steps { t * n } else { n }];
    // reset_after: the step's product `h [wh_gates | wh_candidate]`.
    let mut m = vec![0.0f32; if reset_after { bs * h3 } else { 0 }];
    for s in 0..t {
        let o = if saving { s * n } else { 0 };
        let oe = if extra_steps { s * n } else { 0 };
        let (r, z) = (&mut r_all[o..o + n], &mut z_all[o..o + n]);
        let ex = &mut extra_all[oe..oe + n];
        let xgs = &mut xg[s * bs * h2..(s + 1) * bs * h2];
        let ns = &mut n_all[s * n..(s + 1) * n];
        let (prev, cur) = all.split_at_mut((s + 1) * n);
        let (hp, h_new) = (&prev[s * n..], &mut cur[..n]);
        let hp_mat = Mat::new(hp, bs, h);
        match (&wh, &b_hn) {
            (Some(wh), Some(b_hn)) => {
                // One GEMM: h [wh_gates | wh_candidate]; hn = its last block + bias_hn;
                // n = xn + r hn.
                matmul_into(&mut m, hp_mat, Mat::new(values(wh), h, h3), false);
                let bhn = values(b_hn);
                for (k, (x_row, m_row)) in xgs.chunks_exact(h2).zip(m.chunks_exact(h3)).enumerate()
                {
                    let k = k * h;
                    let (rr, zr, er) = (&mut r[k..k + h], &mut z[k..k + h], &mut ex[k..k + h]);
                    for ((o, x), v) in rr.iter_mut().zip(&x_row[..h]).zip(&m_row[..h]) {
                        *o = x + v;
                    }
                    for ((o, x), v) in zr.iter_mut().zip(&x_row[h..]).zip(&m_row[h..h2]) {
                        *o = x + v;
                    }
                    for ((o, v), c) in er.iter_mut().zip(&m_row[h2..]).zip(bhn) {
                        *o = v + c;
                    }
                }
                sigmoid_inplace(r);
                sigmoid_inplace(z);
                for ((nv, rv), hv) in ns.iter_mut().zip(r.iter()).zip(ex.iter()) {
                    *nv += rv * hv;
                }
            }
            _ => {
                // Two dependent GEMMs: h wh_gates onto [xr, xz], then (r ⊙ h) wh_candidate
                // onto xn.
                matmul_into(xgs, hp_mat, Mat::new(values(&whg_c), h, h2), true);
                for (k, g_row) in xgs.chunks_exact(h2).enumerate() {
                    r[k * h..][..h].copy_from_slice(&g_row[..h]);
                    z[k * h..][..h].copy_from_slice(&g_row[h..]);
                }
                sigmoid_inplace(r);
                sigmoid_inplace(z);
                for ((o, rv), hv) in ex.iter_mut().zip(r.iter()).zip(hp) {
                    *o = rv * hv;
                }
                let rh = Mat::new(ex, bs, h);
                matmul_into(ns, rh, Mat::new(values(&whn_c), h, h), true);
            }
        }
        tanh_inplace(ns);
        for (((o, zv), nv), hv) in h_new.iter_mut().zip(z.iter()).zip(ns.iter()).zip(hp) {
            *o = nv + zv * (hv - nv);
        }
    }
    let all = FlexTensor::from_data(TensorData::new(all, [t + 1, bs, h]));
    let out = all.narrow(0, 1, t).transpose(0, 1);
    let saved = needs.map(|needs| SavedGru {
        x: needs.wx.then_some(x_tm),
        wx: needs.x.then_some(wx),
        wh: wh.expect("concatenated when saving"),
        hs: all,
        r: tensor(r_all, [t * bs, h]),
        z: tensor(z_all, [t * bs, h]),
        n: tensor(n_all, [t * bs, h]),
        extra: keep_extra.then(|| tensor(extra_all, [t * bs, h])),
        reset_after,
    });
    (out, saved)
}

/// Hand-written BPTT on the saved time-major buffers; the same gradients as
/// [`super::kernels::backward`] (which has the formulas). `direct` carries `dh z` (plus
/// `drh r` in the TF form) to the previous step, `rec` the recurrent GEMMs' part of `dh_next`;
/// both, and the TF form's `drh`, are one buffer each, reused every step.
pub(crate) fn backward(saved: SavedGru<Flex>, dhs: FlexTensor, needs: GruNeeds) -> GruGrads<Flex> {
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
    let (t, nn, h2, h3) = (t1 - 1, bs * h, 2 * h, 3 * h);
    let [hs, dhs, r, z, n, wh] = [&hs, &dhs, &r, &z, &n, &wh].map(contiguous);
    let extra = extra.map(|e| contiguous(&e));
    let (hs_v, dhs_v, whv) = (values(&hs), values(&dhs), values(&wh));
    let (r_v, z_v, n_v) = (values(&r), values(&z), values(&n));
    let ex_v = extra.as_ref().map(values);
    // `wh_gates^T [2H, H]` and `wh_candidate^T [H, H]`: transposed views of `wh [H, 3H]`.
    let whg_t = Mat::strided(whv, h, h2, h3, 1).t();
    let whn_t = Mat::strided(&whv[h2..], h, h, h3, 1).t();
    let mut da_all = vec![0.0f32; t * bs * h3];
    let mut dm_all = vec![0.0f32; if reset_after { t * nn } else { 0 }];
    let mut direct = vec![0.0f32; nn];
    // Zero until the first (last in time) step's GEMM writes it.
    let mut rec = vec![0.0f32; nn];
    let mut drh = vec![0.0f32; if reset_after { 0 } else { nn }];
    for s in (0..t).rev() {
        let o = s * nn;
        let (rs, zs, ns, hp) = (
            &r_v[o..o + nn],
            &z_v[o..o + nn],
            &n_v[o..o + nn],
            &hs_v[o..o + nn],
        );
        let da = &mut da_all[s * bs * h3..][..bs * h3];
        let recur = s > 0 || needs.h0;
        // dh = dH_t + dh_next; da_z, da_n; direct = dh z.
        for b in 0..bs {
            let k = b * h;
            let dh_row = &dhs_v[(b * t + s) * h..][..h];
            let (dir, rec_row) = (&mut direct[k..k + h], &rec[k..k + h]);
            let (z_row, n_row, hp_row) = (&zs[k..k + h], &ns[k..k + h], &hp[k..k + h]);
            let (_, dz_dn) = da[b * h3..][..h3].split_at_mut(h);
            let (dz, dn) = dz_dn.split_at_mut(h);
            for j in 0..h {
                let dh = dh_row[j] + dir[j] + rec_row[j];
                let (zv, nv) = (z_row[j], n_row[j]);
                dz[j] = flush(dh * (hp_row[j] - nv) * zv * (1.0 - zv));
                dn[j] = flush(dh * (1.0 - zv) * (1.0 - nv * nv));
                dir[j] = dh * zv;
            }
        }
        if reset_after {
            // dm = da_n r, da_r = da_n hn r (1 - r); rec = [da_r, da_z] wh_gates^T
            // + dm wh_candidate^T.
            let hn = &ex_v.expect("hn kept in reset_after form")[o..o + nn];
            let dm = &mut dm_all[o..o + nn];
            for b in 0..bs {
                let k = b * h;
                let (r_row, hn_row, dm_row) = (&rs[k..k + h], &hn[k..k + h], &mut dm[k..k + h]);
                let (dr, rest) = da[b * h3..][..h3].split_at_mut(h2);
                let dn = &rest[..h];
                for j in 0..h {
                    let rv = r_row[j];
                    dm_row[j] = flush(dn[j] * rv);
                    dr[j] = flush(dn[j] * hn_row[j] * rv * (1.0 - rv));
                }
            }
            if recur {
                matmul_into(&mut rec, Mat::strided(da, bs, h2, h3, 1), whg_t, false);
                matmul_into(&mut rec, Mat::new(dm, bs, h), whn_t, true);
            }
        } else {
            // drh = da_n wh_candidate^T; da_r = drh h r (1 - r); direct += drh r; then
            // rec = [da_r, da_z] wh_gates^T.
            matmul_into(
                &mut drh,
                Mat::strided(&da[h2..], bs, h, h3, 1),
                whn_t,
                false,
            );
            for b in 0..bs {
                let k = b * h;
                let (d_row, r_row, hp_row) = (&drh[k..k + h], &rs[k..k + h], &hp[k..k + h]);
                let (dir, dr) = (&mut direct[k..k + h], &mut da[b * h3..][..h]);
                for j in 0..h {
                    let (d, rv) = (d_row[j], r_row[j]);
                    dr[j] = flush(d * hp_row[j] * rv * (1.0 - rv));
                    dir[j] += d * rv;
                }
            }
            if recur {
                matmul_into(&mut rec, Mat::strided(da, bs, h2, h3, 1), whg_t, false);
            }
        }
        for v in direct.iter_mut() {
            *v = flush(*v);
        }
    }
    let h0_grad = needs.h0.then(|| {
        let dh0 = direct.iter().zip(&rec).map(|(a, b)| a + b).collect();
        tensor(dh0, [bs, h])
    });

    let rows = t * bs;
    let da = Mat::new(&da_all, rows, h3);
    let hprev_t = Mat::new(&hs_v[..t * nn], rows, h).t();
    let wh_gates = needs.wh_gates.then(|| {
        let mut g = vec![0.0f32; h * h2];
        matmul_into(
            &mut g,
            hprev_t,
            Mat::strided(&da_all, rows, h2, h3, 1),
            false,
        );
        tensor(g, [h, h2])
    });
    let wh_candidate = needs.wh_candidate.then(|| {
        let (lhs, rhs) = if reset_after {
            (hprev_t, Mat::new(&dm_all, rows, h))
        } else {
            let rh = ex_v.expect("r ⊙ h kept when wh_candidate needs a gradient");
            let da_n = Mat::strided(&da_all[h2..], rows, h, h3, 1);
            (Mat::new(rh, rows, h).t(), da_n)
        };
        let mut g = vec![0.0f32; h * h];
        matmul_into(&mut g, lhs, rhs, false);
        tensor(g, [h, h])
    });
    let bias_hn = (reset_after && needs.bias_hn).then(|| column_sums(&dm_all, h));
    let wx_grad = needs.wx.then(|| {
        let x_tm = contiguous(&x.expect("x kept when wx needs a gradient"));
        let i = x_tm.shape().dims::<2>()[1];
        let mut g = vec![0.0f32; i * h3];
        matmul_into(&mut g, Mat::new(values(&x_tm), rows, i).t(), da, false);
        tensor(g, [i, h3])
    });
    let bias = needs.bias.then(|| column_sums(&da_all, h3));
    let x_grad = needs.x.then(|| {
        let wx = contiguous(&wx.expect("wx kept when x needs a gradient"));
        let i = wx.shape().dims::<2>()[0];
        let mut dx = vec![0.0f32; rows * i];
        matmul_into(&mut dx, da, Mat::new(values(&wx), i, h3).t(), false);
        batch_major(&dx, t, bs, i)
    });
    GruGrads {
        x: x_grad,
        h0: h0_grad,
        wx: wx_grad,
        wh_gates,
        wh_candidate,
        bias,
        bias_hn,
    }
}
