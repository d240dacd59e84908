//! The fused GRU sequence on the flex CPU backend, on raw `f32` buffers.
//!
//! Same maths, same matmuls and same saved layout ([`SavedGru`], time-major) as
//! [`super::kernels`], but every element-wise step is one pass written by hand over the
//! step's `[B, H]` planes, with the vectorised sigmoid/tanh of `fused/activation.rs`. Forward:
//! `xp = x wx + bias` once (`[T*B, 3H]`); per step the recurrent GEMM(s), then passes that
//! append the step's `r, z, n` (activated in place) and `h_t` to the saved buffers, `h_t` to
//! one `[T+1, B, H]` buffer whose slot 0 is `h0`; the output `[B, T, H]` is a view of it.
//! Backward: per step one pass for `da_z, da_n` (and `dm, da_r` in the reset_after form),
//! written into the time-major `dA [T*B, 3H]`, and the recurrent GEMM(s) against a
//! contiguous `wh^T`; then one GEMM per weight reading `X`, `Hprev` and `dA`'s column blocks
//! in place (burn-flex's GEMM takes strided views). Backward values below [`FLUSH_BELOW`] are
//! flushed to zero, as in the basic cell's kernel.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Shape, TensorMetadata};
use burn::tensor::TensorData;

use super::kernels::{GruGrads, GruInputs, GruNeeds, SavedGru};
use crate::fused::activation::{sigmoid_inplace, tanh_inplace};
use crate::fused::flex::{FLUSH_BELOW, contiguous, owned, tensor, time_major, values};

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

/// Appends one step's gates, `[B, H]` planes, to `r` and `z` and applies the sigmoid:
/// `r = σ(xr + g_r)`, `z = σ(xz + g_z)`, from `xs [B, 3H]` and the recurrent product `g`
/// whose rows are `stride` long.
fn push_gates(r: &mut Vec<f32>, z: &mut Vec<f32>, xs: &[f32], g: &[f32], h: usize, stride: usize) {
    let (h3, o) = (3 * h, r.len());
    for (x_row, g_row) in xs.chunks_exact(h3).zip(g.chunks_exact(stride)) {
        r.extend(x_row[..h].iter().zip(&g_row[..h]).map(|(a, b)| a + b));
        z.extend(
            x_row[h..2 * h]
                .iter()
                .zip(&g_row[h..2 * h])
                .map(|(a, b)| a + b),
        );
    }
    sigmoid_inplace(&mut r[o..]);
    sigmoid_inplace(&mut z[o..]);
}

/// Forward, `hs [B, T, H]` (a batch-major view of a time-major buffer), and with `needs` what
/// the backward keeps. Without `needs` the gate buffers hold one step only.
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
    let [bs, t, _] = x.shape().dims::<3>();
    let h = wh_candidate.shape().dims::<2>()[0];
    let (n, h2, h3) = (bs * h, 2 * h, 3 * h);
    let reset_after = bias_hn.is_some();
    let saving = needs.is_some();
    let keep_extra = reset_after || needs.is_some_and(|d| d.wh_candidate);
    let x_tm = time_major(&x);
    let mut xp = owned(Flex::float_matmul(x_tm.clone(), wx.clone()));
    {
        let b = contiguous(&bias);
        let bv = values(&b);
        for row in xp.storage_mut::<f32>()[..t * bs * h3].chunks_exact_mut(h3) {
            for (v, b) in row.iter_mut().zip(bv) {
                *v += b;
            }
        }
    }
    let xp_v = values(&xp);
    let wh = (reset_after || saving).then(|| concat_cols(&wh_gates, &wh_candidate));
    let b_hn = bias_hn.map(|b| contiguous(&b));
    // Filled step by step (no zero fill); without `needs` the gate buffers hold one step.
    let cap = if saving { t * n } else { n };
    let mut all = Vec::with_capacity((t + 1) * n);
    all.extend_from_slice(values(&contiguous(&h0)));
    let (mut r_all, mut z_all, mut n_all) = (
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
    );
    let mut extra_all = Vec::with_capacity(if keep_extra { cap } else { 0 });
    let mut hprev = h0;
    for s in 0..t {
        if !saving {
            for v in [&mut r_all, &mut z_all, &mut n_all, &mut extra_all] {
                v.clear();
            }
        }
        let o = r_all.len();
        let xs = &xp_v[s * bs * h3..][..bs * h3];
        let hp = &all[s * n..(s + 1) * n];
        match (&wh, &b_hn) {
            (Some(wh), Some(b_hn)) => {
                // One GEMM: h [wh_gates | wh_candidate]; hn = its last block + bias_hn.
                let m = Flex::float_matmul(hprev, wh.clone());
                let mv = values(&m);
                push_gates(&mut r_all, &mut z_all, xs, mv, h, h3);
                let bhn = values(b_hn);
                for (b, (x_row, m_row)) in xs.chunks_exact(h3).zip(mv.chunks_exact(h3)).enumerate()
                {
                    extra_all.extend(m_row[h2..].iter().zip(bhn).map(|(m, c)| m + c));
                    let hn_row = &extra_all[o + b * h..][..h];
                    let r_row = &r_all[o + b * h..][..h];
                    let pre = x_row[h2..].iter().zip(r_row).zip(hn_row);
                    n_all.extend(pre.map(|((x, r), v)| x + r * v));
                }
            }
            _ => {
                // Two dependent GEMMs: h wh_gates, then (r ⊙ h) wh_candidate.
                let g = Flex::float_matmul(hprev, wh_gates.clone());
                push_gates(&mut r_all, &mut z_all, xs, values(&g), h, h2);
                let rh: Vec<f32> = r_all[o..].iter().zip(hp).map(|(a, b)| a * b).collect();
                if keep_extra {
                    extra_all.extend_from_slice(&rh);
                }
                let q = Flex::float_matmul(tensor(rh, [bs, h]), wh_candidate.clone());
                for (x_row, q_row) in xs.chunks_exact(h3).zip(values(&q).chunks_exact(h)) {
                    n_all.extend(x_row[h2..].iter().zip(q_row).map(|(x, q)| x + q));
                }
            }
        }
        tanh_inplace(&mut n_all[o..]);
        let zn = z_all[o..].iter().zip(&n_all[o..]);
        let h_new: Vec<f32> = zn.zip(hp).map(|((z, n), h)| n + z * (h - n)).collect();
        all.extend_from_slice(&h_new);
        hprev = tensor(h_new, [bs, h]);
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
/// `drh r` in the TF form) to the previous step, `rec` the recurrent GEMM's part of `dh_next`.
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
    let [hs, dhs, r, z, n] = [&hs, &dhs, &r, &z, &n].map(contiguous);
    let extra = extra.map(|e| contiguous(&e));
    let (hs_v, dhs_v) = (values(&hs), values(&dhs));
    let (r_v, z_v, n_v) = (values(&r), values(&z), values(&n));
    let ex_v = extra.as_ref().map(values);
    // `wh^T [3H, H]` copied contiguous once (burn-flex's GEMM reads a transposed view, but
    // ~15% slower at these sizes); its row blocks are then contiguous too.
    let wh_t = Flex::float_transpose(wh).to_contiguous();
    let (whg_t, whn_t) = (wh_t.narrow(0, 0, h2), wh_t.narrow(0, h2, h));
    let mut da_all = vec![0.0f32; t * bs * h3];
    let mut dm_all = vec![0.0f32; if reset_after { t * nn } else { 0 }];
    let zeros = vec![0.0f32; nn];
    let mut direct = vec![0.0f32; nn];
    let mut rec: Option<FlexTensor> = None;
    for s in (0..t).rev() {
        let o = s * nn;
        let (rs, zs, ns, hp) = (
            &r_v[o..o + nn],
            &z_v[o..o + nn],
            &n_v[o..o + nn],
            &hs_v[o..o + nn],
        );
        let rec_c = rec.take().map(|m| contiguous(&m));
        let recv: &[f32] = rec_c.as_ref().map_or(&zeros[..], values);
        let da = &mut da_all[s * bs * h3..][..bs * h3];
        let recur = s > 0 || needs.h0;
        // dh = dH_t + dh_next; da_z, da_n; direct = dh z.
        for b in 0..bs {
            let k = b * h;
            let dh_row = &dhs_v[(b * t + s) * h..][..h];
            let (dir, rec_row) = (&mut direct[k..k + h], &recv[k..k + h]);
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
            // dm = da_n r, da_r = da_n hn r (1 - r); one GEMM [da_r, da_z, dm] wh^T.
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
                let mut g = Vec::with_capacity(bs * h3);
                for (da_row, dm_row) in da.chunks_exact(h3).zip(dm.chunks_exact(h)) {
                    g.extend_from_slice(&da_row[..h2]);
                    g.extend_from_slice(dm_row);
                }
                rec = Some(Flex::float_matmul(tensor(g, [bs, h3]), wh_t.clone()));
            }
        } else {
            // drh = da_n wh_candidate^T; da_r = drh h r (1 - r); direct += drh r; then
            // [da_r, da_z] wh_gates^T.
            let mut dn = Vec::with_capacity(nn);
            for da_row in da.chunks_exact(h3) {
                dn.extend_from_slice(&da_row[h2..]);
            }
            let drh = Flex::float_matmul(tensor(dn, [bs, h]), whn_t.clone());
            let dv = values(&drh);
            for b in 0..bs {
                let k = b * h;
                let (d_row, r_row, hp_row) = (&dv[k..k + h], &rs[k..k + h], &hp[k..k + h]);
                let (dir, dr) = (&mut direct[k..k + h], &mut da[b * h3..][..h]);
                for j in 0..h {
                    let (d, rv) = (d_row[j], r_row[j]);
                    dr[j] = flush(d * hp_row[j] * rv * (1.0 - rv));
                    dir[j] += d * rv;
                }
            }
            if recur {
                let mut g = Vec::with_capacity(bs * h2);
                for da_row in da.chunks_exact(h3) {
                    g.extend_from_slice(&da_row[..h2]);
                }
                rec = Some(Flex::float_matmul(tensor(g, [bs, h2]), whg_t.clone()));
            }
        }
        for v in direct.iter_mut() {
            *v = flush(*v);
        }
    }
    let h0_grad = needs.h0.then(|| {
        let rec = contiguous(&rec.expect("the last step's GEMM when h0 needs a gradient"));
        let dh0 = direct
            .iter()
            .zip(values(&rec))
            .map(|(a, b)| a + b)
            .collect();
        tensor(dh0, [bs, h])
    });

    let da = tensor(da_all, [t * bs, h3]);
    let hprev_t = || Flex::float_transpose(hs.narrow(0, 0, t).reshape(Shape::new([t * bs, h])));
    let wh_gates = needs
        .wh_gates
        .then(|| Flex::float_matmul(hprev_t(), da.narrow(1, 0, h2)));
    let dm = reset_after.then(|| tensor(dm_all, [t * bs, h]));
    let wh_candidate = needs.wh_candidate.then(|| match &dm {
        Some(dm) => Flex::float_matmul(hprev_t(), dm.clone()),
        None => {
            let rh = extra.expect("r ⊙ h kept when wh_candidate needs a gradient");
            Flex::float_matmul(Flex::float_transpose(rh), da.narrow(1, h2, h))
        }
    });
    let bias_hn = dm
        .filter(|_| needs.bias_hn)
        .map(|dm| Flex::float_reshape(Flex::float_sum_dim(dm, 0), Shape::new([h])));
    let wx_grad = needs.wx.then(|| {
        let x_tm = x.expect("x kept when wx needs a gradient");
        Flex::float_matmul(Flex::float_transpose(x_tm), da.clone())
    });
    let bias = needs
        .bias
        .then(|| Flex::float_reshape(Flex::float_sum_dim(da.clone(), 0), Shape::new([h3])));
    let x_grad = needs.x.then(|| {
        let wx = wx.expect("wx kept when x needs a gradient");
        let i = wx.shape().dims::<2>()[0];
        let dx = Flex::float_matmul(da, Flex::float_transpose(wx));
        contiguous(&dx.reshape(Shape::new([t, bs, i])).transpose(0, 1))
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
