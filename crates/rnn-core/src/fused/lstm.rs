//! The LSTM's part of the kernel family. Gate blocks `i, f, g, o` of
//! `a = x_t W_x + b + h_{t-1} W_h` (plus `forget_bias` on `f`); `c_t = σ(f) c_{t-1} + σ(i)
//! tanh(g)`, `h_t = σ(o) tanh(c_t)`. States: `h` (0) and `c` (1). The forward leaves the
//! activated gates in `a`; per step of the backward `dc = dc_next + dh o (1 - tanh^2 c_t)`,
//! `dA = [dc g i(1-i), dc c_{t-1} f(1-f), dc i (1-g^2), dh tanh(c_t) o(1-o)]`,
//! `dc_prev = dc f`, `dh_prev = dA W_h^T`.

use super::activation::{sigmoid_inplace, tanh_inplace};
use super::kernel::{Bwd, Fwd, Gates, flush};

/// TF's `BasicLSTMCell` (gates in PyTorch's order). `W_h [H, 4H]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lstm {
    /// Added to the forget gate's pre-activation.
    pub forget_bias: f32,
}

impl Gates for Lstm {
    const G: usize = 4;
    const S: usize = 2;
    const X: usize = 0;

    fn scratch(&self, n: usize, h: usize) -> usize {
        n * h
    }

    fn forward(&self, mut s: Fwd<'_>) {
        s.add_recurrent();
        let Fwd {
            h, a, prev, new, ..
        } = s;
        let w = 4 * h;
        let [h_new, c_new] = new;
        for ((row, c_out), c_prev) in a
            .chunks_exact_mut(w)
            .zip(c_new.chunks_exact_mut(h))
            .zip(prev[1].chunks_exact(h))
        {
            if self.forget_bias != 0.0 {
                row[h..2 * h]
                    .iter_mut()
                    .for_each(|v| *v += self.forget_bias);
            }
            sigmoid_inplace(&mut row[..2 * h]);
            tanh_inplace(&mut row[2 * h..3 * h]);
            sigmoid_inplace(&mut row[3 * h..]);
            let (i, f, g) = (&row[..h], &row[h..2 * h], &row[2 * h..3 * h]);
            for j in 0..h {
                c_out[j] = f[j] * c_prev[j] + i[j] * g[j];
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
        let (n, h, w) = (s.n, s.h, 4 * s.h);
        let (dh, a, prev) = (s.dh, s.a, s.prev);
        let tc = &mut s.scratch[..n * h];
        tc.copy_from_slice(s.new[1]);
        tanh_inplace(tc);
        let [_, dc_carry] = &mut s.carry;
        let da = &mut *s.da;
        for r in 0..n {
            let (g_row, da_row) = (&a[r * w..][..w], &mut da[r * w..][..w]);
            let k = r * h;
            for j in 0..h {
                let (i, f, g, o) = (g_row[j], g_row[h + j], g_row[2 * h + j], g_row[3 * h + j]);
                let (d, t) = (dh[k + j], tc[k + j]);
                let dc = dc_carry[k + j] + d * o * (1.0 - t * t);
                da_row[j] = flush(dc * g * i * (1.0 - i));
                da_row[h + j] = flush(dc * prev[1][k + j] * f * (1.0 - f));
                da_row[2 * h + j] = flush(dc * i * (1.0 - g * g));
                da_row[3 * h + j] = flush(d * t * o * (1.0 - o));
                dc_carry[k + j] = flush(dc * f);
            }
        }
        s.recurrent_grad();
    }
}
