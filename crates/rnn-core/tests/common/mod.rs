//! Helpers the gradient tests share (`gradient_check.rs`, `fused.rs`, `fused_lstm.rs`,
//! `fused_gru.rs`).

pub mod cases;

use burn::module::{ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};
use rnn_core::RnnCell;

/// A tensor's values, row-major.
pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().try_into_vec_as::<f32>().unwrap()
}

/// Adds `delta` to element `index` of the `target`-th float parameter (visit order).
struct Perturb {
    target: usize,
    index: usize,
    delta: f32,
    seen: usize,
}

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let hit = self.seen == self.target;
        self.seen += 1;
        if !hit {
            return param;
        }
        let (index, delta) = (self.index, self.delta);
        param.map(|t| {
            let dev = t.device();
            let shape = t.shape();
            let mut v = values(&t);
            v[index] += delta;
            Tensor::from_data(TensorData::new(v, shape), &dev).require_grad()
        })
    }
}

/// `cell` with element `index` of its `target`-th float parameter moved by `delta`.
pub fn perturbed<C: RnnCell>(cell: &C, target: usize, index: usize, delta: f32) -> C {
    cell.clone().map(&mut Perturb {
        target,
        index,
        delta,
        seen: 0,
    })
}
