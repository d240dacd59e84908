//! Three ways to unroll a basic cell over `[B, T, I]`, same maths, different work per step.

use burn::tensor::Tensor;
use rnn_core::{BasicRnnCell, RnnCell, dynamic_rnn, static_rnn};

/// How the unroll is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnrollVariant {
    /// `dynamic_rnn`: every step's input projected with one `[T*B, I]·[I, H]` matmul before the
    /// loop, each step slices it; outputs stacked once at the end.
    Dynamic,
    /// `static_rnn` over `T` slices of the input: `x_t W_x` is a matmul per step (the input
    /// slices carry no gradient); outputs stacked once at the end.
    PerStepProjection,
    /// Like `Dynamic`, but each step's output written into a `[B, T, H]` zeros tensor with
    /// `slice_assign` (as burn's `nn::Rnn` does).
    SliceAssign,
}

impl UnrollVariant {
    /// All variants, in a fixed order.
    pub const ALL: [UnrollVariant; 3] = [Self::Dynamic, Self::PerStepProjection, Self::SliceAssign];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic (hoisted matmul, stack)",
            Self::PerStepProjection => "per-step input matmul, stack",
            Self::SliceAssign => "hoisted matmul, slice_assign",
        }
    }

    /// Runs `cell` over `inputs [B, T, I]` from a zero state: `(outputs [B, T, H], h_T [B, H])`.
    pub fn unroll(self, cell: &BasicRnnCell, inputs: Tensor<3>) -> (Tensor<3>, Tensor<2>) {
        let [b, t, i] = inputs.dims();
        match self {
            Self::Dynamic => dynamic_rnn(cell, inputs, None, None).expect("valid workload"),
            Self::PerStepProjection => {
                let steps = inputs.iter_dim(1).map(|x| x.reshape([b, i])).collect();
                let (outs, h) = static_rnn(cell, steps, None, None).expect("valid workload");
                (Tensor::stack(outs, 1), h)
            }
            Self::SliceAssign => {
                let device = inputs.device();
                let h_size = cell.output_size();
                let pre = cell.precompute(inputs.swap_dims(0, 1));
                let mut h = cell.zero_state(b, &device);
                let mut outputs = Tensor::<3>::zeros([b, t, h_size], &device);
                for (k, x) in pre.iter_dim(0).enumerate() {
                    let (out, state) = cell.step_precomputed(x.reshape([b, h_size]), h);
                    outputs = outputs
                        .slice_assign([0..b, k..k + 1, 0..h_size], out.reshape([b, 1, h_size]));
                    h = state;
                }
                (outputs, h)
            }
        }
    }
}
