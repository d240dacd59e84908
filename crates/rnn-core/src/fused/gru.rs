//! The GRU's part of the kernel family, both forms. `a = x_t W_x + b = [xr, xz, xn]`,
//! `W_h = [W_hg | W_hn]` (`[H, 2H]` gates, `[H, H]` candidate), `h = h_{t-1}`:
//! `[r, z] = σ([xr, xz] + h W_hg)`; TF form `n = tanh(xn + (r ⊙ h) W_hn)` (two dependent
//! products per step; `extra` keeps `r ⊙ h`); reset_after form (PyTorch's, cuDNN's)
//! `n = tanh(xn + r ⊙ hn)`, `hn = h W_hn + b_hn` (one product `h W_h` per step; `extra`
//! keeps `hn`, `dextra` its gradient `da_n r`); `h_t = n + z ⊙ (h − n)`. The forward leaves
//! `r, z, n` in `a`.

use super::activation::{sigmoid_inplace, tanh_inplace};
use super::gemm::{Mat, matmul_into, matmul_into_rows};
use super::kernel::{Bwd, Fwd, Gates, WhGrad, column_sums, flush};

/// TF's `GRUCell` (`reset_after: false`) or PyTorch's `nn.GRU` (`true`, with `b_hn`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gru {
    /// Which form.
    pub reset_after: bool,
}

impl Gates for Gru {
    const G: usize = 3;
    const S: usize = 1;
    const X: usize = 1;

    fn scratch(&self, n: usize, h: usize) -> usize {
        if self.reset_after { 3 * n * h } else { n * h }
    }

    fn forward(&self, s: Fwd<'_>) {
        let Fwd {
            n,
            h,
            a,
            prev,
            new,
            extra,
            wh,
            b2,
            scratch,
        } = s;
        let (h2, h3, hp) = (2 * h, 3 * h, prev[0]);
        let whg = Mat::strided(wh, h, h2, h3, 1);
        let whn = Mat::strided(&wh[h2..], h, h, h3, 1);
        if self.reset_after {
            let m = &mut scratch[..n * h3];
            matmul_into(m, Mat::new(hp, n, h), Mat::new(wh, h, h3), false);
            for ((row, m_row), hn) in a
                .chunks_exact_mut(h3)
                .zip(m.chunks_exact(h3))
                .zip(extra.chunks_exact_mut(h))
            {
                row[..h2]
                    .iter_mut()
                    .zip(&m_row[..h2])
                    .for_each(|(v, m)| *v += m);
                sigmoid_inplace(&mut row[..h2]);
                for j in 0..h {
                    hn[j] = m_row[h2 + j] + b2[j];
                    row[h2 + j] += row[j] * hn[j];
                }
                tanh_inplace(&mut row[h2..]);
            }
        } else {
            matmul_into_rows(a, h3, Mat::new(hp, n, h), whg, true);
            for ((row, rh), h_row) in a
                .chunks_exact_mut(h3)
                .zip(extra.chunks_exact_mut(h))
                .zip(hp.chunks_exact(h))
            {
                sigmoid_inplace(&mut row[..h2]);
                for j in 0..h {
                    rh[j] = row[j] * h_row[j];
                }
            }
            matmul_into_rows(&mut a[h2..], h3, Mat::new(extra, n, h), whn, true);
            for row in a.chunks_exact_mut(h3) {
                tanh_inplace(&mut row[h2..]);
            }
        }
        let [h_new, _] = new;
        for ((out, row), h_row) in h_new
            .chunks_exact_mut(h)
            .zip(a.chunks_exact(h3))
            .zip(hp.chunks_exact(h))
        {
            for j in 0..h {
                let (z, nv) = (row[h + j], row[h2 + j]);
                out[j] = nv + z * (h_row[j] - nv);
            }
        }
    }

    fn backward(&self, s: Bwd<'_>) {
        let Bwd {
            n,
            h,
            dh,
            carry,
            da,
            dextra,
            a,
            prev,
            extra,
            wh_t,
            scratch,
            ..
        } = s;
        let (h2, h3, hp) = (2 * h, 3 * h, prev[0]);
        let [dh_prev, _] = carry;
        // da_z, da_n; dh_prev starts as the direct path dh z.
        for r in 0..n {
            let (row, da_row, k) = (&a[r * h3..][..h3], &mut da[r * h3..][..h3], r * h);
            for j in 0..h {
                let (z, nv, d) = (row[h + j], row[h2 + j], dh[k + j]);
                da_row[h + j] = flush(d * (hp[k + j] - nv) * z * (1.0 - z));
                da_row[h2 + j] = flush(d * (1.0 - z) * (1.0 - nv * nv));
                dh_prev[k + j] = d * z;
            }
        }
        let whg_t = Mat::new(&wh_t[..h2 * h], h2, h);
        let whn_t = Mat::new(&wh_t[h2 * h..], h, h);
        if self.reset_after {
            // dm = da_n r (the gradient of hn), da_r = da_n hn r (1 - r).
            for r in 0..n {
                let (row, da_row, k) = (&a[r * h3..][..h3], &mut da[r * h3..][..h3], r * h);
                for j in 0..h {
                    let (rv, dn) = (row[j], da_row[h2 + j]);
                    dextra[k + j] = flush(dn * rv);
                    da_row[j] = flush(dn * extra[k + j] * rv * (1.0 - rv));
                }
            }
            matmul_into(dh_prev, Mat::new(dextra, n, h), whn_t, true);
        } else {
            // drh = da_n W_hn^T; da_r = drh h r (1 - r); dh_prev += drh r.
            let drh = &mut scratch[..n * h];
            matmul_into(drh, Mat::strided(&da[h2..], n, h, h3, 1), whn_t, false);
            for r in 0..n {
                let (row, da_row, k) = (&a[r * h3..][..h3], &mut da[r * h3..][..h3], r * h);
                for j in 0..h {
                    let (rv, d) = (row[j], drh[k + j]);
                    da_row[j] = flush(d * hp[k + j] * rv * (1.0 - rv));
                    dh_prev[k + j] += d * rv;
                }
            }
        }
        matmul_into(dh_prev, Mat::strided(da, n, h2, h3, 1), whg_t, true);
        dh_prev.iter_mut().for_each(|v| *v = flush(*v));
    }

    fn wh_grad(&self, g: WhGrad<'_>) -> (Vec<f32>, Vec<f32>) {
        let (h, rows) = (g.h, g.rows);
        let (h2, h3) = (2 * h, 3 * h);
        // The two products below overwrite columns 0..2H and 2H..3H of every row.
        let mut dwh = super::workspace::take(h * h3);
        let hprev = Mat::new(g.hprev, rows, h).t();
        let da_gates = Mat::strided(g.da, rows, h2, h3, 1);
        matmul_into_rows(&mut dwh, h3, hprev, da_gates, false);
        let (lhs, rhs) = if self.reset_after {
            (hprev, Mat::new(g.dextra, rows, h))
        } else {
            let da_n = Mat::strided(&g.da[h2..], rows, h, h3, 1);
            (Mat::new(g.extra, rows, h).t(), da_n)
        };
        matmul_into_rows(&mut dwh[h2..], h3, lhs, rhs, false);
        let db2 = if self.reset_after {
            column_sums(g.dextra, h)
        } else {
            Vec::new()
        };
        (dwh, db2)
    }
}
