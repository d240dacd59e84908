//! The cell trait: one time step of a recurrent network.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Device, Tensor};

use crate::{RnnState, SequencePlan};

/// One time step of a recurrent network, as TF 1.x's `RNNCell.__call__(inputs, state)`.
///
/// A cell is a burn [`Module`] (its weights train and save like any other) that maps
/// `(input [B, I], state) -> (output [B, O], new state)`. The unrolls
/// ([`static_rnn`](crate::static_rnn), [`dynamic_rnn`](crate::dynamic_rnn)) own everything
/// about sequences: lengths, padding, the loop. A new cell is one `impl` of this trait; see
/// `examples/src/bin/custom_cell.rs` for a user's own cell.
///
/// One optional hook, [`fused_sequence`](RnnCell::fused_sequence), lets a cell run a whole
/// sequence at once. Hoisting work out of the time loop through ordinary autodiff ops measured
/// slower on burn 0.22 (a grad-tracked slice of a hoisted result costs a full-size zeros +
/// slice_assign in backward at every step, ARCHITECTURE.md). It pays when the whole sequence is
/// one op with a hand-written backward ([`crate::fused`]): one graph node instead of several per
/// step, no per-step slice gradients, the input projection and every weight gradient as one big
/// matmul over all steps, and only the `dh` recurrence left in the backward's time loop.
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

    /// The whole sequence at once, when the cell has a fused path; `None` (the default) means
    /// "use [`step`](RnnCell::step) per time step". Shapes: `inputs [B, T, I]`, `state` of batch
    /// B (checked by the caller) -> `outputs [B, T, O]` in input time and the final state.
    ///
    /// It must give what the per-step loop gives under `plan` (TF's `sequence_length`: zero
    /// outputs past each length, the state after each example's last valid step; `reverse`:
    /// each example read backwards within its length), with gradients to `inputs`, `state` and
    /// the weights. When [`plan.is_last_output_only()`](SequencePlan::is_last_output_only),
    /// `outputs` may be `[B, 1, O]`: each example's last valid output (input time `len - 1`;
    /// zeros for length 0), which spares the kernel writing all T (the driver takes the last
    /// valid step itself from a `[B, T, O]` answer). The sequence driver
    /// ([`dynamic_rnn`](crate::dynamic_rnn) and the other unrolls) calls it; a `None` costs
    /// nothing (arguments are only borrowed).
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &Self::State,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, Self::State)> {
        let _ = (inputs, state, plan);
        None
    }
}
