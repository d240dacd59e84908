//! TF's `dynamic_rnn`: the cell run over a `[B, T, I]` tensor.

use burn::tensor::{Int, Tensor};

use crate::{RnnCell, RnnError};

/// Runs `cell` over `inputs [B, T, I]`, as TF's `dynamic_rnn` (batch-major).
///
/// - `inputs`: `[B, T, I]`, I = `cell.input_size()`, no dimension zero.
/// - `initial_state`: batch B and the cell's state sizes, or `None` for `cell.zero_state`.
/// - `sequence_length`: `[B]`, each in `0..=T`. Outputs of steps `t >= len[b]` are zero and
///   the state is carried through, so the returned state is the state after step `len[b] - 1`
///   (the initial state for length 0).
///
/// Returns `outputs [B, T, O]` and the final state.
///
/// The basic, LSTM and GRU cells, their projections, stacks and inactive dropout wrappers run
/// the fused whole-sequence path ([`RnnCell::fused_sequence`], one op with a hand-written
/// backward), with or without lengths: examples are packed by length, so padding is never
/// computed. Other cells, and other backends than flex, run `cell.step` per time step on that
/// step's slice of `inputs`; steps past the longest length are not computed.
pub fn dynamic_rnn<C: RnnCell>(
    cell: &C,
    inputs: Tensor<3>,
    initial_state: Option<C::State>,
    sequence_length: Option<Tensor<1, Int>>,
) -> Result<(Tensor<3>, C::State), RnnError> {
    super::driver::run(cell, inputs, initial_state, sequence_length, false)
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
                && err.contains("shapes [3, 4]"),
            "{err}"
        );
        // The right batch, the wrong hidden size (the fused path would read past the buffer).
        let err = dynamic_rnn(
            &cell,
            Tensor::zeros([2, 5, 3], &dev),
            Some(Tensor::zeros([2, 7], &dev)),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("shapes [2, 4]") && err.contains("shapes [2, 7]"),
            "{err}"
        );
        // A stack's state list of the wrong length.
        let stack = crate::MultiRnnCell::new(vec![
            cell.clone(),
            BasicRnnCellConfig::new(4, 4).init(&dev).unwrap(),
        ])
        .unwrap();
        let err = dynamic_rnn(
            &stack,
            Tensor::zeros([2, 5, 3], &dev),
            Some(vec![Tensor::zeros([2, 4], &dev)]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("2 tensor(s)") && err.contains("got 1 tensor(s)"),
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
