//! Four ways to unroll a basic cell over `[B, T, I]`, same maths, different work per step.

use burn::tensor::Tensor;
use rnn_core::{BasicRnnCell, RnnCell, dynamic_rnn};

/// How the unroll is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnrollVariant {
    /// `dynamic_rnn` as shipped: without lengths it takes the cell's fused whole-sequence path
    /// (`RnnCell::fused_sequence`, one op with a hand-written BPTT backward).
    Fused,
    /// `dynamic_rnn`'s per-step loop (its path with lengths, and for cells without a fused
    /// path): `x_t W_x` is a matmul per step on a slice of the input (which carries no
    /// gradient); outputs stacked once at the end.
    Dynamic,
    /// Every step's input projected with one `[T*B, I]·[I, H]` matmul before the loop, each
    /// step slicing it (a grad-tracked slice); outputs stacked once at the end.
    HoistedProjection,
    /// Like `Dynamic`, but each step's output written into a `[B, T, H]` zeros tensor with
    /// `slice_assign` (as burn's `nn::Rnn` does).
    SliceAssign,
}

impl UnrollVariant {
    /// All variants, in a fixed order.
    pub const ALL: [UnrollVariant; 4] = [
        Self::Fused,
        Self::Dynamic,
        Self::HoistedProjection,
        Self::SliceAssign,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fused => "fused sequence (dynamic_rnn without lengths)",
            Self::Dynamic => "per-step loop (per-step input matmul, stack)",
            Self::HoistedProjection => "hoisted input matmul, stack",
            Self::SliceAssign => "per-step input matmul, slice_assign",
        }
    }

    /// Runs `cell` over `inputs [B, T, I]` from a zero state: `(outputs [B, T, H], h_T [B, H])`.
    pub fn unroll(self, cell: &BasicRnnCell, inputs: Tensor<3>) -> (Tensor<3>, Tensor<2>) {
        let [b, t, i] = inputs.dims();
        match self {
            Self::Fused => dynamic_rnn(cell, inputs, None, None).expect("valid workload"),
            Self::Dynamic => {
                let device = inputs.device();
                let mut h = cell.zero_state(b, &device);
                let mut outs = Vec::with_capacity(t);
                for x in inputs.iter_dim(1) {
                    let (out, state) = cell.step(x.reshape([b, i]), h);
                    outs.push(out);
                    h = state;
                }
                (Tensor::stack(outs, 1), h)
            }
            Self::HoistedProjection => {
                let device = inputs.device();
                let h_size = cell.output_size();
                let flat = inputs.swap_dims(0, 1).reshape([t * b, i]);
                let xw = (flat.matmul(cell.wx.val()) + cell.bias.val().unsqueeze_dim::<2>(0))
                    .reshape([t, b, h_size]);
                let mut h = cell.zero_state(b, &device);
                let mut outs = Vec::with_capacity(t);
                for x in xw.iter_dim(0) {
                    h = cell
                        .activation
                        .apply(x.reshape([b, h_size]) + h.matmul(cell.wh.val()));
                    outs.push(h.clone());
                }
                (Tensor::stack(outs, 1), h)
            }
            Self::SliceAssign => {
                let device = inputs.device();
                let h_size = cell.output_size();
                let mut h = cell.zero_state(b, &device);
                let mut outputs = Tensor::<3>::zeros([b, t, h_size], &device);
                for (k, x) in inputs.iter_dim(1).enumerate() {
                    let (out, state) = cell.step(x.reshape([b, i]), h);
                    outputs = outputs
                        .slice_assign([0..b, k..k + 1, 0..h_size], out.reshape([b, 1, h_size]));
                    h = state;
                }
                (outputs, h)
            }
        }
    }
}
