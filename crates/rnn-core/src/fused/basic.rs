//! The basic cell's part of the kernel family: `h_t = act(x_t W_x + b + h_{t-1} W_h)`.

use super::activation::activate_inplace;
use super::gemm::{Mat, matmul_into};
use super::kernel::{Bwd, Fwd, Gates, WhGrad, flush};
use crate::Activation;

/// TF's `BasicRNNCell` with its activation. `W_h [H, H]`; the backward reads `act'` from `h_t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Basic(pub Activation);

impl Gates for Basic {
    const G: usize = 1;
    const S: usize = 1;
    const X: usize = 0;

    fn scratch(&self, _: usize, _: usize) -> usize {
        0
    }

    fn forward(&self, s: Fwd<'_>) {
        let Fwd {
            n,
            h,
            a,
            prev,
            new,
            wh,
            ..
        } = s;
        matmul_into(a, Mat::new(prev[0], n, h), Mat::new(wh, h, h), true);
        activate_inplace(a, self.0);
        let [h_new, _] = new;
        h_new.copy_from_slice(a);
    }

    fn backward(&self, s: Bwd<'_>) {
        let Bwd {
            n,
            h,
            dh,
            carry,
            da,
            new,
            wh,
            ..
        } = s;
        let apply = |da: &mut [f32], deriv: fn(f32) -> f32| {
            for ((d, g), y) in da.iter_mut().zip(dh).zip(new[0]) {
                *d = flush(g * deriv(*y));
            }
        };
        match self.0 {
            Activation::Tanh => apply(da, |y| 1.0 - y * y),
            Activation::Sigmoid => apply(da, |y| y * (1.0 - y)),
            Activation::Relu => apply(da, |y| if y > 0.0 { 1.0 } else { 0.0 }),
            Activation::Identity => apply(da, |_| 1.0),
        }
        let [dh_prev, _] = carry;
        matmul_into(dh_prev, Mat::new(da, n, h), Mat::new(wh, h, h).t(), false);
    }

    fn wh_grad(&self, g: WhGrad<'_>) -> (Vec<f32>, Vec<f32>) {
        let mut dwh = vec![0.0f32; g.h * g.h];
        let hprev = Mat::new(g.hprev, g.rows, g.h).t();
        matmul_into(&mut dwh, hprev, Mat::new(g.da, g.rows, g.h), false);
        (dwh, Vec::new())
    }
}
