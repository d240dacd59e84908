//! TF 1.x's bidirectional RNNs: one cell reads each sequence forward, another backward within
//! each example's own length (padding never enters a reversed sequence), both through the one
//! sequence driver, so both take the fused path.

use burn::tensor::{Int, Tensor};

use super::driver::{SequencePlan, resolve_initial_state, run_planned};
use super::static_unroll::{stack_steps, unstack_steps};
use crate::{RnnCell, RnnError};

/// A bidirectional run's result: `((outputs_fw, outputs_bw), (state_fw, state_bw))`.
pub type BidirectionalOutput<Sf, Sb> = ((Tensor<3>, Tensor<3>), (Sf, Sb));

/// TF's `bidirectional_dynamic_rnn`: `cell_fw` over `inputs [B, T, I]` forward, `cell_bw`
/// over each example reversed within its length.
///
/// - `initial_state_fw`, `initial_state_bw`: batch B and each cell's state sizes, or `None`.
/// - `sequence_length`: `[B]`, each in `0..=T` (as [`dynamic_rnn`](crate::dynamic_rnn)).
///
/// Returns `((outputs_fw [B, T, O_fw], outputs_bw [B, T, O_bw]), (state_fw, state_bw))`: the
/// backward outputs re-aligned to input time (`outputs_bw[b, t]` is the backward cell's output
/// after reading steps `len[b] - 1` down to `t`), both zero past each length; `state_bw` is the
/// backward cell's state after reading step 0. Concatenate the outputs on dim 2 for TF's usual
/// `[B, T, O_fw + O_bw]`.
pub fn bidirectional_dynamic_rnn<Cf: RnnCell, Cb: RnnCell>(
    cell_fw: &Cf,
    cell_bw: &Cb,
    inputs: Tensor<3>,
    initial_state_fw: Option<Cf::State>,
    initial_state_bw: Option<Cb::State>,
    sequence_length: Option<Tensor<1, Int>>,
) -> Result<BidirectionalOutput<Cf::State, Cb::State>, RnnError> {
    let dims = inputs.dims();
    super::check_features("inputs", &dims, cell_fw.input_size(), "[B, T, I]")?;
    super::check_features("inputs", &dims, cell_bw.input_size(), "[B, T, I]")?;
    let [batch, steps, _] = dims;
    let device = inputs.device();
    let backward = SequencePlan::new(sequence_length, batch, steps, true)?;
    let state_fw = resolve_initial_state(cell_fw, initial_state_fw, batch, &device)?;
    let state_bw = resolve_initial_state(cell_bw, initial_state_bw, batch, &device)?;
    let (out_fw, state_fw) = run_planned(cell_fw, inputs.clone(), state_fw, &backward.forward());
    let (out_bw, state_bw) = run_planned(cell_bw, inputs, state_bw, &backward);
    Ok(((out_fw, out_bw), (state_fw, state_bw)))
}

/// TF's `static_bidirectional_rnn`: as [`bidirectional_dynamic_rnn`] over T steps `[B, I]`;
/// returns the T outputs `[B, O_fw + O_bw]` (forward and backward concatenated) and both
/// final states.
#[allow(clippy::type_complexity)]
pub fn static_bidirectional_rnn<Cf: RnnCell, Cb: RnnCell>(
    cell_fw: &Cf,
    cell_bw: &Cb,
    inputs: Vec<Tensor<2>>,
    initial_state_fw: Option<Cf::State>,
    initial_state_bw: Option<Cb::State>,
    sequence_length: Option<Tensor<1, Int>>,
) -> Result<(Vec<Tensor<2>>, Cf::State, Cb::State), RnnError> {
    let stacked = stack_steps(cell_fw, inputs)?;
    let batch = stacked.dims()[0];
    let ((fw, bw), (state_fw, state_bw)) = bidirectional_dynamic_rnn(
        cell_fw,
        cell_bw,
        stacked,
        initial_state_fw,
        initial_state_bw,
        sequence_length,
    )?;
    let outputs = Tensor::cat(vec![fw, bw], 2);
    Ok((unstack_steps(outputs, batch), state_fw, state_bw))
}

/// TF's `stack_bidirectional_dynamic_rnn`: layer k runs `cells_fw[k]` and `cells_bw[k]` as
/// [`bidirectional_dynamic_rnn`] over the previous layer's concatenated outputs (layer 0 over
/// `inputs [B, T, I]`).
///
/// - `cells_fw`, `cells_bw`: one pair per layer (at least one, the same count); layer k > 0
///   reads `O_fw + O_bw` of layer k - 1.
/// - `initial_states_fw`, `initial_states_bw`: one state per layer, or `None` for zeros.
///
/// Returns `(outputs [B, T, O_fw + O_bw] of the last layer, states_fw, states_bw)`, one final
/// state per layer and direction.
#[allow(clippy::type_complexity)]
pub fn stack_bidirectional_dynamic_rnn<C: RnnCell>(
    cells_fw: &[C],
    cells_bw: &[C],
    inputs: Tensor<3>,
    initial_states_fw: Option<Vec<C::State>>,
    initial_states_bw: Option<Vec<C::State>>,
    sequence_length: Option<Tensor<1, Int>>,
) -> Result<(Tensor<3>, Vec<C::State>, Vec<C::State>), RnnError> {
    let layers = cells_fw.len();
    if layers == 0 || cells_bw.len() != layers {
        return Err(RnnError::invalid(
            "cells_bw",
            format!("{layers} cell(s), one per forward cell (at least one)"),
            format!("{} cell(s)", cells_bw.len()),
        ));
    }
    for (name, states) in [
        (
            "initial_states_fw",
            initial_states_fw.as_ref().map(Vec::len),
        ),
        (
            "initial_states_bw",
            initial_states_bw.as_ref().map(Vec::len),
        ),
    ] {
        if let Some(n) = states.filter(|&n| n != layers) {
            return Err(RnnError::invalid(
                name,
                format!("{layers} state(s), one per layer"),
                format!("{n} state(s)"),
            ));
        }
    }
    let mut init_fw = initial_states_fw.map(Vec::into_iter);
    let mut init_bw = initial_states_bw.map(Vec::into_iter);
    let mut x = inputs;
    let (mut states_fw, mut states_bw) = (Vec::new(), Vec::new());
    for (fw, bw) in cells_fw.iter().zip(cells_bw) {
        let s_fw = init_fw.as_mut().and_then(Iterator::next);
        let s_bw = init_bw.as_mut().and_then(Iterator::next);
        let ((out_fw, out_bw), (s_fw, s_bw)) =
            bidirectional_dynamic_rnn(fw, bw, x, s_fw, s_bw, sequence_length.clone())?;
        x = Tensor::cat(vec![out_fw, out_bw], 2);
        states_fw.push(s_fw);
        states_bw.push(s_bw);
    }
    Ok((x, states_fw, states_bw))
}
