//! The unrolls: a cell over a sequence. `static_unroll` (TF's `static_rnn`: a `Vec` of steps),
//! `dynamic` (TF's `dynamic_rnn`: one `[B, T, I]` tensor), and `lengths`, TF's
//! `sequence_length` contract that both share.

pub mod dynamic;
pub mod lengths;
pub mod static_unroll;

use burn::tensor::{Device, Tensor};

use crate::{RnnCell, RnnError, RnnState};

/// The initial state: the given one after checking its batch size, else the cell's zero state.
pub(crate) fn resolve_initial_state<C: RnnCell>(
    cell: &C,
    initial_state: Option<C::State>,
    batch_size: usize,
    device: &Device,
) -> Result<C::State, RnnError> {
    match initial_state {
        Some(state) => {
            if state.batch_size() != batch_size {
                return Err(RnnError::invalid(
                    "initial_state",
                    format!("a state of batch size {batch_size} (the batch of `inputs`)"),
                    format!("batch size {}", state.batch_size()),
                ));
            }
            for t in state.tensors() {
                let dims = t.dims();
                if dims[0] != batch_size {
                    return Err(RnnError::invalid(
                        "initial_state",
                        format!("every tensor of shape [{batch_size}, _]"),
                        format!("{dims:?}"),
                    ));
                }
            }
            Ok(state)
        }
        None => Ok(cell.zero_state(batch_size, device)),
    }
}

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
