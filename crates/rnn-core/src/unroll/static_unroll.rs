//! TF's `static_rnn`: the cell applied to a list of steps.

use burn::tensor::{Int, Tensor};

use super::check_features;
use crate::{RnnCell, RnnError};

/// Runs `cell` over `inputs`, one `[B, I]` tensor per step, as TF's `static_rnn`.
///
/// - `inputs`: T tensors `[B, I]`, I = `cell.input_size()`, T >= 1, all of one shape.
/// - `initial_state`: batch B, or `None` for `cell.zero_state`.
/// - `sequence_length`: `[B]`, each in `0..=T`. Outputs of steps `t >= len[b]` are zero and
///   the state is carried through, so the returned state is the state after step `len[b] - 1`.
///
/// Returns the T outputs `[B, O]` and the final state: the same values as
/// [`dynamic_rnn`](crate::dynamic_rnn) over the stacked steps, which it calls.
pub fn static_rnn<C: RnnCell>(
    cell: &C,
    inputs: Vec<Tensor<2>>,
    initial_state: Option<C::State>,
    sequence_length: Option<Tensor<1, Int>>,
) -> Result<(Vec<Tensor<2>>, C::State), RnnError> {
    let stacked = stack_steps(cell, inputs)?;
    let [batch, _, _] = stacked.dims();
    let (outputs, state) =
        super::driver::run(cell, stacked, initial_state, sequence_length, false)?;
    Ok((unstack_steps(outputs, batch), state))
}

/// Checks T steps `[B, I]` (T >= 1, one shape, I = the cell's) and stacks them: `[B, T, I]`.
pub(crate) fn stack_steps<C: RnnCell>(
    cell: &C,
    inputs: Vec<Tensor<2>>,
) -> Result<Tensor<3>, RnnError> {
    let Some(first) = inputs.first() else {
        return Err(RnnError::invalid(
            "inputs",
            "at least one time step",
            "an empty list",
        ));
    };
    let first_dims = first.dims();
    for (t, x) in inputs.iter().enumerate() {
        let dims = x.dims();
        check_features("inputs", &dims, cell.input_size(), "steps [B, I]")?;
        if dims != first_dims {
            return Err(RnnError::invalid(
                "inputs",
                format!("every step of shape {first_dims:?} (that of inputs[0])"),
                format!("inputs[{t}] of shape {dims:?}"),
            ));
        }
    }
    Ok(Tensor::stack(inputs, 1))
}

/// `[B, T, O]` -> T tensors `[B, O]`.
pub(crate) fn unstack_steps(outputs: Tensor<3>, batch: usize) -> Vec<Tensor<2>> {
    let o = outputs.dims()[2];
    outputs.iter_dim(1).map(|s| s.reshape([batch, o])).collect()
}

#[cfg(test)]
mod tests {
    //! The seed's first example: a two-step RNN built by hand (Wx, Wy, b on X0, X1), computed
    //! here on the host in f64 without burn, against static_rnn and dynamic_rnn.
    use burn::tensor::{Int, Tensor, TensorData};

    use crate::test_util::{assert_close, device};
    use crate::{Activation, BasicRnnCell, dynamic_rnn, static_rnn};

    const X0: [[f64; 3]; 4] = [[0., 1., 2.], [3., 4., 5.], [6., 7., 8.], [9., 0., 1.]];
    const X1: [[f64; 3]; 4] = [[9., 8., 7.], [0., 0., 0.], [6., 5., 4.], [3., 2., 1.]];
    const N_NEURONS: usize = 5;

    fn wx() -> Vec<Vec<f64>> {
        (0..3)
            .map(|i| {
                (0..N_NEURONS)
                    .map(|j| ((i * 5 + j) as f64).sin() * 0.3)
                    .collect()
            })
            .collect()
    }
    fn wy() -> Vec<Vec<f64>> {
        (0..N_NEURONS)
            .map(|j| {
                (0..N_NEURONS)
                    .map(|k| ((j * 5 + k) as f64).cos() * 0.2)
                    .collect()
            })
            .collect()
    }
    fn b() -> Vec<f64> {
        (0..N_NEURONS).map(|j| 0.05 * j as f64 - 0.1).collect()
    }

    /// `tanh(x Wx + y Wy + b)` on the host, row by row.
    fn by_hand(x: &[[f64; 3]; 4], y: Option<&Vec<Vec<f64>>>) -> Vec<Vec<f64>> {
        let (wx, wy, b) = (wx(), wy(), b());
        (0..4)
            .map(|r| {
                (0..N_NEURONS)
                    .map(|j| {
                        let mut z = b[j];
                        for i in 0..3 {
                            z += x[r][i] * wx[i][j];
                        }
                        if let Some(y) = y {
                            for k in 0..N_NEURONS {
                                z += y[r][k] * wy[k][j];
                            }
                        }
                        z.tanh()
                    })
                    .collect()
            })
            .collect()
    }

    fn tensor2(rows: &[Vec<f64>]) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        Tensor::from_data(
            TensorData::new(flat, [rows.len(), rows[0].len()]),
            &device(),
        )
    }

    fn x(rows: &[[f64; 3]; 4]) -> Tensor<2> {
        tensor2(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>())
    }

    fn cell() -> BasicRnnCell {
        let b = Tensor::from_data(
            TensorData::new(b().iter().map(|&v| v as f32).collect(), [N_NEURONS]),
            &device(),
        );
        BasicRnnCell::from_weights(tensor2(&wx()), tensor2(&wy()), b, Activation::Tanh).unwrap()
    }

    #[test]
    fn seed_two_steps_by_hand_equal_static_and_dynamic_rnn() {
        let y0 = by_hand(&X0, None);
        let y1 = by_hand(&X1, Some(&y0));
        let cell = cell();

        let (outs, state) = static_rnn(&cell, vec![x(&X0), x(&X1)], None, None).unwrap();
        assert_close(&outs[0], &tensor2(&y0), 1e-5);
        assert_close(&outs[1], &tensor2(&y1), 1e-5);
        assert_close(&state, &tensor2(&y1), 1e-5);

        let batch: Tensor<3> = Tensor::stack(vec![x(&X0), x(&X1)], 1); // [4, 2, 3]
        let (outs, state) = dynamic_rnn(&cell, batch, None, None).unwrap();
        assert_eq!(outs.dims(), [4, 2, N_NEURONS]);
        assert_close(
            &outs.clone().narrow(1, 0, 1).reshape([4, N_NEURONS]),
            &tensor2(&y0),
            1e-5,
        );
        assert_close(
            &outs.narrow(1, 1, 1).reshape([4, N_NEURONS]),
            &tensor2(&y1),
            1e-5,
        );
        assert_close(&state, &tensor2(&y1), 1e-5);
    }

    #[test]
    fn seed_batch_with_lengths_2_1_2_2() {
        let y0 = by_hand(&X0, None);
        let y1 = by_hand(&X1, Some(&y0));
        // Example 1 has one step: its second output is zero, its state the first output.
        let mut y1_masked = y1.clone();
        y1_masked[1] = vec![0.0; N_NEURONS];
        let mut state_expected = y1.clone();
        state_expected[1] = y0[1].clone();
        let cell = cell();
        let lengths = || Tensor::<1, Int>::from_ints([2, 1, 2, 2], &device());

        let (outs, state) = static_rnn(&cell, vec![x(&X0), x(&X1)], None, Some(lengths())).unwrap();
        assert_close(&outs[0], &tensor2(&y0), 1e-5);
        assert_close(&outs[1], &tensor2(&y1_masked), 1e-5);
        assert_close(&state, &tensor2(&state_expected), 1e-5);

        let batch: Tensor<3> = Tensor::stack(vec![x(&X0), x(&X1)], 1);
        let (outs, state) = dynamic_rnn(&cell, batch, None, Some(lengths())).unwrap();
        assert_close(
            &outs.clone().narrow(1, 0, 1).reshape([4, N_NEURONS]),
            &tensor2(&y0),
            1e-5,
        );
        assert_close(
            &outs.narrow(1, 1, 1).reshape([4, N_NEURONS]),
            &tensor2(&y1_masked),
            1e-5,
        );
        assert_close(&state, &tensor2(&state_expected), 1e-5);
    }

    #[test]
    fn empty_inputs_and_mismatched_steps_are_named_errors() {
        let cell = cell();
        let err = static_rnn(&cell, vec![], None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`inputs`") && err.contains("at least one time step"),
            "{err}"
        );

        let odd = Tensor::<2>::zeros([3, 3], &device());
        let err = static_rnn(&cell, vec![x(&X0), odd], None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inputs[1]") && err.contains("[3, 3]") && err.contains("[4, 3]"),
            "{err}"
        );

        let wide = Tensor::<2>::zeros([4, 7], &device());
        let err = static_rnn(&cell, vec![wide], None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("I = 3") && err.contains("[4, 7]"), "{err}");
    }
}
