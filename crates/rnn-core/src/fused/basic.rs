//! The basic cell's part of the kernel family: `h_t = act(x_t W_x + b + h_{t-1} W_h)`.

use super::activation::activate_inplace;
use super::kernel::{Bwd, Fwd, Gates, flush};
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

    fn forward(&self, mut s: Fwd<'_>) {
        s.add_recurrent();
        activate_inplace(s.a, self.0);
        let [h_new, _] = s.new;
        h_new.copy_from_slice(s.a);
    }

    fn backward(&self, mut s: Bwd<'_>) {
        // Generic, so each derivative inlines into its loop and vectorises.
        fn apply(da: &mut [f32], dh: &[f32], y: &[f32], deriv: impl Fn(f32) -> f32) {
            for ((d, g), y) in da.iter_mut().zip(dh).zip(y) {
                *d = flush(g * deriv(*y));
            }
        }
        let (dh, y) = (s.dh, s.new[0]);
        match self.0 {
            Activation::Tanh => apply(s.da, dh, y, |y| 1.0 - y * y),
            Activation::Sigmoid => apply(s.da, dh, y, |y| y * (1.0 - y)),
            Activation::Relu => apply(s.da, dh, y, |y| if y > 0.0 { 1.0 } else { 0.0 }),
            Activation::Identity => apply(s.da, dh, y, |_| 1.0),
        }
        s.recurrent_grad();
    }
}
