//! The unrolls: a cell over a sequence. `driver` is the one place that runs a sequence
//! (initial state, lengths, direction, fused or per-step); `dynamic` (TF's `dynamic_rnn`: one
//! `[B, T, I]` tensor), `static_unroll` (TF's `static_rnn`: a `Vec` of steps) and
//! `bidirectional` (TF's bidirectional and stacked bidirectional RNNs) are thin callers of it;
//! `lengths` is TF's `sequence_length` contract, checked once; `stateful` keeps B streams'
//! state across calls (Keras' `stateful=True`) on top of `dynamic`; `decoder` runs a cell step
//! by step with each input given or fed back from the previous output (TF's `raw_rnn`).

pub mod bidirectional;
pub mod decoder;
pub mod driver;
pub mod dynamic;
pub mod lengths;
pub mod stateful;
pub mod static_unroll;

use burn::tensor::Tensor;

use crate::RnnError;

/// Checks one step's input against the cell: `[B, I]` with I = `cell.input_size()`.
pub(crate) fn check_features(
    arg: &'static str,
    dims: &[usize],
    n_inputs: usize,
    shape: &str,
) -> Result<(), RnnError> {
    let features = dims[dims.len() - 1];
    if features != n_inputs {
        return Err(RnnError::invalid(
            arg,
            format!("{shape} with I = {n_inputs} (the cell's input_size)"),
            format!("{dims:?}"),
        ));
    }
    if dims.contains(&0) {
        return Err(RnnError::invalid(
            arg,
            format!("{shape} with no zero dimension"),
            format!("{dims:?}"),
        ));
    }
    Ok(())
}

/// `out` with rows `b` where `valid[b]` is false set to zero. `[B, O] -> [B, O]`.
pub(crate) fn zero_finished(
    out: Tensor<2>,
    valid: &burn::tensor::Tensor<1, burn::tensor::Bool>,
) -> Tensor<2> {
    let mask = crate::state::expand_rows(valid, &out);
    out.clone().mask_where(mask.bool_not(), out.zeros_like())
}
