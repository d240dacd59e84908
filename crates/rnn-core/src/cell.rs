//! The cell trait: one time step of a recurrent network.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Device, Tensor};

use crate::RnnState;

/// One time step of a recurrent network, as TF 1.x's `RNNCell.__call__(inputs, state)`.
///
/// A cell is a burn [`Module`] (its weights train and save like any other) that maps
/// `(input [B, I], state) -> (output [B, O], new state)`. The unrolls
/// ([`static_rnn`](crate::static_rnn), [`dynamic_rnn`](crate::dynamic_rnn)) own everything
/// about sequences: lengths, padding, the loop. A new cell is one `impl` of this trait; see
/// `examples/src/bin/custom_cell.rs` for a user's own cell.
///
/// There is deliberately no hook to hoist work out of the time loop (e.g. one matmul for every
/// step's input): on burn 0.22 it measured slower, because a grad-tracked slice of the hoisted
/// result costs a full-size zeros + slice_assign in backward at every step (ARCHITECTURE.md).
pub trait RnnCell: Module + ModuleDisplay {
    /// What the cell carries between steps.
    type State: RnnState;

    /// I, the number of input features per step.
    fn input_size(&self) -> usize;

    /// O, the number of output features per step.
    fn output_size(&self) -> usize;

    /// The all-zeros state for a batch of `batch_size` (TF's `cell.zero_state`).
    fn zero_state(&self, batch_size: usize, device: &Device) -> Self::State;

    /// One step. Shapes: `input [B, I]`, state of batch B -> `output [B, O]`, state of batch B.
    fn step(&self, input: Tensor<2>, state: Self::State) -> (Tensor<2>, Self::State);
}
