//! TF's `dynamic_rnn`: the cell run over a `[B, T, I]` tensor in one loop.

use burn::tensor::{Int, Tensor};

use super::lengths::SequenceLengths;
use super::{check_features, resolve_initial_state, zero_finished};
use crate::{RnnCell, RnnError, RnnState};

/// Runs `cell` over `inputs [B, T, I]`, as TF's `dynamic_rnn` (batch-major).
///
/// - `inputs`: `[B, T, I]`, I = `cell.input_size()`, no dimension zero.
/// - `initial_state`: batch B, or `None` for `cell.zero_state`.
/// - `sequence_length`: `[B]`, each in `0..=T`. Outputs of steps `t >= len[b]` are zero and
///   the state is carried through, so the returned state is the state after step `len[b] - 1`
///   (the initial state for length 0).
///
/// Returns `outputs [B, T, O]` and the final state.
///
/// Without `sequence_length`, a cell with a fused whole-sequence path
/// ([`RnnCell::fused_sequence`]: the basic, LSTM and GRU cells, and projection wrappers and
/// stacks of them) runs it: one op with a hand-written backward ([`crate::fused`]). Otherwise, and always with
/// lengths, each step calls `cell.step` on that step's slice of `inputs`. Measured on burn 0.22 (flex),
/// this beats projecting every step's input with one matmul before the loop, whose per-step
/// slices cost a full-size zeros + slice_assign each in backward (ARCHITECTURE.md). Masks are
/// built only for steps where some example has ended; steps past the longest length are not
/// computed at all.
pub fn dynamic_rnn<C: RnnCell>(
    cell: &C,
    inputs: Tensor<3>,
    initial_state: Option<C::State>,
    sequence_length: Option<Tensor<1, Int>>,
) -> Result<(Tensor<3>, C::State), RnnError> {
    let dims = inputs.dims();
    check_features("inputs", &dims, cell.input_size(), "[B, T, I]")?;
    let [batch, n_steps, _] = dims;
    let device = inputs.device();
    let lengths = sequence_length
        .map(|l| SequenceLengths::new(l, batch, n_steps))
        .transpose()?;
    let mut state = resolve_initial_state(cell, initial_state, batch, &device)?;
    if lengths.is_none()
        && let Some(fused) = cell.fused_sequence(&inputs, &state)
    {
        return Ok(fused);
    }
    let n_run = lengths.as_ref().map_or(n_steps, |l| l.max);
    let n_outputs = cell.output_size();
    if n_run == 0 {
        return Ok((Tensor::zeros([batch, n_steps, n_outputs], &device), state));
    }

    let n_inputs = cell.input_size();
    let mut outputs = Vec::with_capacity(n_run);
    for (t, x) in inputs.narrow(1, 0, n_run).iter_dim(1).enumerate() {
        // Keep the old state only where a finished example needs it carried through.
        let masked = lengths.as_ref().filter(|l| l.masks_step(t));
        let old = masked.map(|_| state.clone());
        let (out, new_state) = cell.step(x.reshape([batch, n_inputs]), state);
        match (masked, old) {
            (Some(l), Some(old)) => {
                let valid = l.valid_at(t);
                outputs.push(zero_finished(out, &valid));
                state = C::State::select_rows(&valid, new_state, old);
            }
            _ => {
                outputs.push(out);
                state = new_state;
            }
        }
    }
    let mut outputs: Tensor<3> = Tensor::stack(outputs, 1);
    if n_run < n_steps {
        let padding = Tensor::zeros([batch, n_steps - n_run, n_outputs], &device);
        outputs = Tensor::cat(vec![outputs, padding], 1);
    }
    Ok((outputs, state))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Int, Tensor};

    use crate::test_util::{assert_close, device, values};
    use crate::{BasicRnnCellConfig, LstmCellConfig, RnnError, RnnState, dynamic_rnn, static_rnn};

    #[test]
    fn a_padded_example_depends_neither_on_its_padding_nor_on_the_batch() {
        let dev = device();
        let cell = LstmCellConfig::new(3, 4).init(&dev).unwrap();
        let x = Tensor::<3>::random([3, 5, 3], Distribution::Normal(0.0, 1.0), &dev);
        let lengths = Tensor::<1, Int>::from_ints([5, 2, 0], &dev);
        let (out, state) = dynamic_rnn(&cell, x.clone(), None, Some(lengths.clone())).unwrap();

        // Example 1 alone, with only its 2 real steps.
        let alone = x.clone().narrow(0, 1, 1).narrow(1, 0, 2);
        let (out1, state1) = dynamic_rnn(&cell, alone, None, None).unwrap();
        assert_close(&out.clone().narrow(0, 1, 1).narrow(1, 0, 2), &out1, 1e-5);
        assert_close(&state.slice_batch(1..2).h, &state1.h, 1e-5);
        assert_close(&state.slice_batch(1..2).c, &state1.c, 1e-5);

        // Other padding values change nothing.
        let noise = Tensor::<3>::random([3, 5, 3], Distribution::Normal(0.0, 100.0), &dev);
        let t = Tensor::<1, Int>::arange(0..5, &dev)
            .reshape([1, 5, 1])
            .expand([3, 5, 1]);
        let len = lengths.clone().reshape([3, 1, 1]).expand([3, 5, 1]);
        let padded = t.greater_equal(len).expand([3, 5, 3]);
        let x2 = x.mask_where(padded, noise);
        let (out2, state2) = dynamic_rnn(&cell, x2, None, Some(lengths)).unwrap();
        assert_close(&out, &out2, 0.0);
        assert_close(&state.h, &state2.h, 0.0);

        // Length 0: all-zero outputs and the initial (zero) state; padded steps are zero.
        assert!(
            values(&out.clone().narrow(0, 2, 1))
                .iter()
                .all(|&v| v == 0.0)
        );
        assert!(values(&state.slice_batch(2..3).c).iter().all(|&v| v == 0.0));
        assert!(
            values(&out.narrow(0, 1, 1).narrow(1, 2, 3))
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn dynamic_equals_static() {
        let dev = device();
        let cell = BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
        let x = Tensor::<3>::random([2, 4, 2], Distribution::Normal(0.0, 1.0), &dev);
        let lengths = || Some(Tensor::<1, Int>::from_ints([3, 4], &dev));
        let h0 = Tensor::<2>::random([2, 3], Distribution::Normal(0.0, 1.0), &dev);
        let (dyn_out, dyn_state) =
            dynamic_rnn(&cell, x.clone(), Some(h0.clone()), lengths()).unwrap();
        let steps: Vec<Tensor<2>> = x.iter_dim(1).map(|s| s.reshape([2, 2])).collect();
        let (st_out, st_state) = static_rnn(&cell, steps, Some(h0), lengths()).unwrap();
        let st_out: Tensor<3> = Tensor::stack(st_out, 1);
        assert_close(&dyn_out, &st_out, 1e-6);
        assert_close(&dyn_state, &st_state, 1e-6);
    }

    #[test]
    fn bad_arguments_are_named_with_expected_and_actual() {
        let dev = device();
        let cell = BasicRnnCellConfig::new(3, 4).init(&dev).unwrap();
        let x = Tensor::<3>::zeros([2, 5, 3], &dev);

        let err = dynamic_rnn(
            &cell,
            x.clone(),
            None,
            Some(Tensor::from_ints([5, 6], &dev)),
        )
        .unwrap_err();
        assert_eq!(
            err,
            RnnError::SequenceLength {
                index: 1,
                value: 6,
                n_steps: 5
            }
        );
        assert!(
            err.to_string()
                .contains("sequence_length[1]` = 6 is outside 0..=5"),
            "{err}"
        );

        let err = dynamic_rnn(
            &cell,
            x.clone(),
            None,
            Some(Tensor::from_ints([-1, 2], &dev)),
        )
        .unwrap_err();
        assert_eq!(
            err,
            RnnError::SequenceLength {
                index: 0,
                value: -1,
                n_steps: 5
            }
        );

        let err = dynamic_rnn(
            &cell,
            x.clone(),
            None,
            Some(Tensor::from_ints([1, 2, 3], &dev)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`sequence_length`") && err.contains("[2]") && err.contains("[3]"),
            "{err}"
        );

        let err = dynamic_rnn(&cell, Tensor::<3>::zeros([2, 5, 4], &dev), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`inputs`") && err.contains("I = 3") && err.contains("[2, 5, 4]"),
            "{err}"
        );

        let err = dynamic_rnn(&cell, Tensor::<3>::zeros([2, 0, 3], &dev), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`inputs`") && err.contains("[2, 0, 3]"),
            "{err}"
        );

        let err = dynamic_rnn(&cell, x, Some(Tensor::zeros([3, 4], &dev)), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`initial_state`")
                && err.contains("batch size 2")
                && err.contains("batch size 3"),
            "{err}"
        );
    }

    #[test]
    fn steps_past_the_longest_length_are_zero() {
        let dev = device();
        let cell = BasicRnnCellConfig::new(1, 2).init(&dev).unwrap();
        let x = Tensor::<3>::ones([2, 6, 1], &dev);
        let (out, state) = dynamic_rnn(
            &cell,
            x.clone(),
            None,
            Some(Tensor::from_ints([3, 2], &dev)),
        )
        .unwrap();
        assert_eq!(out.dims(), [2, 6, 2]);
        assert!(
            values(&out.clone().narrow(1, 3, 3))
                .iter()
                .all(|&v| v == 0.0)
        );
        let (full, _) = dynamic_rnn(&cell, x.narrow(1, 0, 3), None, None).unwrap();
        assert_close(
            &state.slice_batch(0..1),
            &full.narrow(0, 0, 1).narrow(1, 2, 1).reshape([1, 2]),
            1e-6,
        );
    }
}
