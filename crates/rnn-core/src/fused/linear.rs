//! A projection `y = x W + b` over every output of a sequence (the
//! [`OutputProjectionWrapper`](crate::OutputProjectionWrapper)'s `Linear` on the fused path):
//! the maths of its one graph node ([`super::op`]), in the kernels' kept buffers.
//!
//! burn's `Linear` backward made the input's gradient `[N, H]` with flex's `empty`, a fresh
//! zeroed allocation that is then copied into an aligned one; freed at the end of the step, it
//! was page-faulted in again by the next: 91% of `deep3-t20`'s page faults per step. Here the
//! gradient comes from, and returns to, the workspace.

use super::gemm::{Mat, matmul_into};
use super::kernel::{column_sums, transpose_into};
use super::workspace::{give, take};

/// `x [N, H] W [H, O] + b [O]` -> `[N, O]`.
pub(crate) fn forward(x: &[f32], w: &[f32], b: &[f32], n: usize, h: usize) -> Vec<f32> {
    let o = b.len();
    let mut y = take(n * o);
    for row in y.chunks_exact_mut(o) {
        row.copy_from_slice(b);
    }
    matmul_into(&mut y, Mat::new(x, n, h), Mat::new(w, h, o), true);
    y
}

/// The gradients `dx [N, H]`, `dW [H, O]`, `db [O]` from `dy [N, O]`, each when `needs` asks.
pub(crate) fn backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (n, h, o): (usize, usize, usize),
    needs: [bool; 3],
) -> [Option<Vec<f32>>; 3] {
    let dy_mat = Mat::new(dy, n, o);
    let dx = needs[0].then(|| {
        let mut w_t = take(o * h);
        transpose_into(w, h, o, &mut w_t);
        let mut dx = take(n * h);
        matmul_into(&mut dx, dy_mat, Mat::new(&w_t, o, h), false);
        give([w_t]);
        dx
    });
    let dw = needs[1].then(|| {
        let mut dw = take(h * o);
        matmul_into(&mut dw, Mat::new(x, n, h).t(), dy_mat, false);
        dw
    });
    let db = needs[2].then(|| column_sums(dy, o));
    [dx, dw, db]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the sums written out, with O = 1 (the forecasters') and O = 3.
    #[test]
    fn forward_and_backward_match_the_sums() {
        for o in [1, 3] {
            let (n, h) = (5, 4);
            let f = |k: usize, s: f32| ((k as f32) * s).sin();
            let x: Vec<f32> = (0..n * h).map(|k| f(k, 0.7)).collect();
            let w: Vec<f32> = (0..h * o).map(|k| f(k, 1.3)).collect();
            let b: Vec<f32> = (0..o).map(|k| f(k, 2.1)).collect();
            let dy: Vec<f32> = (0..n * o).map(|k| f(k, 0.4)).collect();
            let y = forward(&x, &w, &b, n, h);
            let [dx, dw, db] = backward(&x, &w, &dy, (n, h, o), [true; 3]);
            let (dx, dw, db) = (dx.unwrap(), dw.unwrap(), db.unwrap());
            let close = |a: f32, e: f32| assert!((a - e).abs() <= 1e-5, "{a} vs {e}");
            for r in 0..n {
                for j in 0..o {
                    let e = b[j] + (0..h).map(|k| x[r * h + k] * w[k * o + j]).sum::<f32>();
                    close(y[r * o + j], e);
                }
                for k in 0..h {
                    let e = (0..o).map(|j| dy[r * o + j] * w[k * o + j]).sum::<f32>();
                    close(dx[r * h + k], e);
                }
            }
            for k in 0..h {
                for j in 0..o {
                    let e = (0..n).map(|r| x[r * h + k] * dy[r * o + j]).sum::<f32>();
                    close(dw[k * o + j], e);
                }
            }
            for j in 0..o {
                close(db[j], (0..n).map(|r| dy[r * o + j]).sum::<f32>());
            }
        }
    }
}
