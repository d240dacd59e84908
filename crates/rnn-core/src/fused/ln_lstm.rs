//! The layer-normalised LSTM's part of the kernel family (TF's `LayerNormBasicLSTMCell`).
//! `a = x_t W_x + h_{t-1} W_h` (the family's bias is a zero placeholder), gate blocks
//! `i, f, g, o`; per block and row `LN(z) = gain ẑ + shift`, `ẑ = (z - mean) r`,
//! `r = 1 / sqrt(mean((z - mean)^2) + ε)`; `i, f, o = σ(·)` (`forget_bias` added to `f`'s),
//! `g = tanh(·)`; `c_t = LN_c(f c_{t-1} + i g)`, `h_t = o tanh(c_t)`. States: `h` (0), `c` (1).
//!
//! The second bias `b2 [10H]` holds the norms' parameters: gains `[i, f, g, o, c]` (5H) then
//! shifts in the same order (5H). The forward leaves the activated gates in `a` and the
//! centred blocks `z - mean` (the four gates', then the memory's) in `extra` (X = 5); `r` is
//! recomputed from them (2H flops a block, the same arithmetic as the forward, so the same
//! value). Backward per row: `dc = dc_next + dh o (1 - tanh^2 c_t)`, through `LN_c`
//! (`dv = r (dŷ - mean(dŷ) - ẑ mean(dŷ ẑ))`, `dŷ = gain dy`) to `du`; the gates' `dy = [du g
//! i(1-i), du c_{t-1} f(1-f), du i (1-g^2), dh tanh(c_t) o(1-o)]`, each through its `LN` to
//! `dA`; `dc_prev = du f`, `dh_prev = dA W_h^T`. `dextra` keeps each norm's output gradient
//! `dy` (the gates' and `dc`), from which [`Gates::wh_grad`] sums the gains' (`Σ dy ẑ`) and
//! shifts' (`Σ dy`) gradients over all rows.

use super::activation::{sigmoid_inplace, tanh_inplace};
use super::kernel::{Bwd, Fwd, Gates, WhGrad, flush, recurrent_weight_grad};

/// TF's `LayerNormBasicLSTMCell` (gates in PyTorch's order). `W_h [H, 4H]`, `b2 [10H]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LnLstm {
    /// Added to the forget gate's normalised pre-activation.
    pub forget_bias: f32,
    /// Added to each variance.
    pub epsilon: f32,
}

/// Layer norms per row: the four gates and the new memory.
const NORMS: usize = 5;

impl LnLstm {
    /// `r = 1 / sqrt(mean(v^2) + ε)` of a centred block `v [H]`.
    fn rstd(&self, centred: &[f32]) -> f32 {
        let var = centred.iter().map(|v| v * v).sum::<f32>() / centred.len() as f32;
        1.0 / (var + self.epsilon).sqrt()
    }

    /// Centres `v [H]` in place (`v - mean(v)`) and returns its `r`.
    fn centre(&self, v: &mut [f32]) -> f32 {
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        v.iter_mut().for_each(|x| *x -= mean);
        self.rstd(v)
    }

    /// The gradient of a layer norm's input from its output's `dy [H]`, given the centred
    /// input `centred [H]` and `gain [H]`, into `dz [H]`:
    /// `r (dŷ - mean(dŷ) - ẑ mean(dŷ ẑ))`, `dŷ = gain dy`, `ẑ = centred r`.
    fn backward_norm(&self, centred: &[f32], dy: &[f32], gain: &[f32], dz: &mut [f32]) {
        let r = self.rstd(centred);
        let n = centred.len() as f32;
        let (mut sum, mut dot) = (0.0f32, 0.0f32);
        for ((c, d), g) in centred.iter().zip(dy).zip(gain) {
            let dhat = d * g;
            sum += dhat;
            dot += dhat * c * r;
        }
        let (mean, mean_dot) = (sum / n, dot / n);
        for (((z, c), d), g) in dz.iter_mut().zip(centred).zip(dy).zip(gain) {
            *z = r * (d * g - mean - c * r * mean_dot);
        }
    }
}

impl Gates for LnLstm {
    const G: usize = 4;
    const S: usize = 2;
    const X: usize = NORMS;

    fn scratch(&self, n: usize, h: usize) -> usize {
        n * h + h
    }

    fn forward(&self, mut s: Fwd<'_>) {
        s.add_recurrent();
        let Fwd {
            h,
            a,
            prev,
            new,
            extra,
            b2,
            ..
        } = s;
        let (w, e) = (4 * h, NORMS * h);
        let (gain, shift) = b2.split_at(e);
        let [h_new, c_new] = new;
        for (((row, ext), c_out), c_prev) in a
            .chunks_exact_mut(w)
            .zip(extra.chunks_exact_mut(e))
            .zip(c_new.chunks_exact_mut(h))
            .zip(prev[1].chunks_exact(h))
        {
            for k in 0..4 {
                let (y, centred) = (&mut row[k * h..][..h], &mut ext[k * h..][..h]);
                centred.copy_from_slice(y);
                let r = self.centre(centred);
                let (g, b) = (&gain[k * h..][..h], &shift[k * h..][..h]);
                for j in 0..h {
                    y[j] = g[j] * centred[j] * r + b[j];
                }
            }
            if self.forget_bias != 0.0 {
                row[h..2 * h]
                    .iter_mut()
                    .for_each(|v| *v += self.forget_bias);
            }
            sigmoid_inplace(&mut row[..2 * h]);
            tanh_inplace(&mut row[2 * h..3 * h]);
            sigmoid_inplace(&mut row[3 * h..]);
            let (i, f, g) = (&row[..h], &row[h..2 * h], &row[2 * h..3 * h]);
            let u = &mut ext[4 * h..];
            for j in 0..h {
                u[j] = f[j] * c_prev[j] + i[j] * g[j];
            }
            let r = self.centre(u);
            let (g, b) = (&gain[4 * h..], &shift[4 * h..]);
            for j in 0..h {
                c_out[j] = g[j] * u[j] * r + b[j];
            }
        }
        h_new.copy_from_slice(c_new);
        tanh_inplace(h_new);
        for (h_row, row) in h_new.chunks_exact_mut(h).zip(a.chunks_exact(w)) {
            for (hv, o) in h_row.iter_mut().zip(&row[3 * h..]) {
                *hv *= o;
            }
        }
    }

    fn backward(&self, mut s: Bwd<'_>) {
        let (n, h) = (s.n, s.h);
        let (w, e) = (4 * h, NORMS * h);
        let (dh, a, prev, extra, gain) = (s.dh, s.a, s.prev, s.extra, &s.b2[..NORMS * h]);
        let (tc, du) = s.scratch.split_at_mut(n * h);
        let du = &mut du[..h];
        tc.copy_from_slice(s.new[1]);
        tanh_inplace(tc);
        let [_, dc_carry] = &mut s.carry;
        let (da, dextra) = (&mut *s.da, &mut *s.dextra);
        for r in 0..n {
            let (g_row, da_row) = (&a[r * w..][..w], &mut da[r * w..][..w]);
            let (ext, dy) = (&extra[r * e..][..e], &mut dextra[r * e..][..e]);
            let k = r * h;
            for j in 0..h {
                let (o, d, t) = (g_row[3 * h + j], dh[k + j], tc[k + j]);
                dy[4 * h + j] = dc_carry[k + j] + d * o * (1.0 - t * t);
                dy[3 * h + j] = d * t * o * (1.0 - o);
            }
            let (dy_gates, dc) = dy.split_at_mut(4 * h);
            self.backward_norm(&ext[4 * h..], dc, &gain[4 * h..], du);
            for j in 0..h {
                let (i, f, g) = (g_row[j], g_row[h + j], g_row[2 * h + j]);
                let d = du[j];
                dy_gates[j] = d * g * i * (1.0 - i);
                dy_gates[h + j] = d * prev[1][k + j] * f * (1.0 - f);
                dy_gates[2 * h + j] = d * i * (1.0 - g * g);
                dc_carry[k + j] = flush(d * f);
            }
            for q in 0..4 {
                let block = q * h..(q + 1) * h;
                let dz = &mut da_row[block.clone()];
                let (centred, g) = (&ext[block.clone()], &gain[block.clone()]);
                self.backward_norm(centred, &dy_gates[block], g, dz);
                dz.iter_mut().for_each(|v| *v = flush(*v));
            }
        }
        s.recurrent_grad();
    }

    /// `dW_h = Hprev^T dA` and `db2 = [Σ dy ẑ (gains, 5H), Σ dy (shifts, 5H)]` over all rows.
    fn wh_grad(&self, g: WhGrad<'_>) -> (Vec<f32>, Vec<f32>) {
        let dwh = recurrent_weight_grad(&g, Self::G);
        let (h, e) = (g.h, NORMS * g.h);
        let mut db2 = vec![0.0f32; 2 * e];
        let (dgain, dshift) = db2.split_at_mut(e);
        for (ext, dy) in g.extra.chunks_exact(e).zip(g.dextra.chunks_exact(e)) {
            for q in 0..NORMS {
                let block = q * h..(q + 1) * h;
                let centred = &ext[block.clone()];
                let r = self.rstd(centred);
                for (((dg, ds), d), c) in dgain[block.clone()]
                    .iter_mut()
                    .zip(&mut dshift[block.clone()])
                    .zip(&dy[block])
                    .zip(centred)
                {
                    *dg += d * c * r;
                    *ds += d;
                }
            }
        }
        (dwh, db2)
    }
}
