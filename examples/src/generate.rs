//! Generating new sequences (the book's "creative RNN"): feed the model the last `window`
//! values, append its prediction for the step after them, repeat. The loop is
//! `rnn_core::Decoder`'s greedy feedback over a cell whose state is the window itself.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Device, Tensor, TensorData};
use rnn_core::{Decoder, RnnCell};

use crate::series_model::SeriesModel;

/// The book's generation loop as a cell: the state is the last `window` values `[B, window]`;
/// a step appends its input `[B, 1]`, drops the oldest value, runs the model over the window
/// from its zero state and outputs its prediction for the next value `[B, 1]`.
#[derive(Module, Debug)]
struct WindowCell<M: SeriesModel + ModuleDisplay> {
    model: M,
    window: usize,
}

impl<M: SeriesModel + ModuleDisplay> RnnCell for WindowCell<M> {
    type State = Tensor<2>;

    fn input_size(&self) -> usize {
        1
    }

    fn output_size(&self) -> usize {
        1
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> Tensor<2> {
        Tensor::zeros([batch_size, self.window], device)
    }

    fn step(&self, input: Tensor<2>, state: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [b, w] = state.dims();
        let window = Tensor::cat(vec![state.narrow(1, 1, w - 1), input], 1);
        let y = self
            .model
            .predict(window.clone().reshape([b, w, 1]))
            .expect("a window of the shape `grow` checked with the model before the loop");
        (y.narrow(1, w - 1, 1).reshape([b, 1]), window)
    }
}

/// Grows every sequence of `seeds` (all of one length, at least `window`) by `steps` values:
/// at each step the model reads `[S, window, 1]` (the last `window` values of all S sequences
/// at once) and its last output `[S, 1]` is appended. Returns the grown sequences, each
/// `seed_len + steps` long. Use `model.valid()`.
pub fn grow<M: SeriesModel + ModuleDisplay>(
    model: &M,
    seeds: &[Vec<f32>],
    window: usize,
    steps: usize,
    device: &Device,
) -> anyhow::Result<Vec<Vec<f32>>> {
    anyhow::ensure!(
        !seeds.is_empty(),
        "seeds: expected at least one sequence, got none"
    );
    anyhow::ensure!(window >= 1, "window: expected at least 1, got 0");
    for (k, s) in seeds.iter().enumerate() {
        anyhow::ensure!(
            s.len() >= window,
            "seeds[{k}]: expected at least window = {window} values, got {}",
            s.len()
        );
        anyhow::ensure!(
            s.len() == seeds[0].len(),
            "seeds[{k}]: expected the length of seeds[0] ({}), got {}",
            seeds[0].len(),
            s.len()
        );
    }
    let mut seqs = seeds.to_vec();
    if steps == 0 {
        return Ok(seqs);
    }
    let n = seqs.len();
    // The window before the first step: the seed's last `window - 1` values after one value
    // that the first step drops (any), its first input the seed's last value.
    let last: Vec<f32> = seqs
        .iter()
        .flat_map(|s| s[s.len() - window..].iter().copied())
        .collect();
    let last = Tensor::<2>::from_data(TensorData::new(last, [n, window]), device);
    // The model's errors (shapes) surface here, before the loop.
    model.predict(last.clone().reshape([n, window, 1]))?;
    let state = Tensor::cat(
        vec![
            last.clone().narrow(1, 0, 1),
            last.clone().narrow(1, 0, window - 1),
        ],
        1,
    );
    let cell = WindowCell {
        model: model.clone(),
        window,
    };
    let decoded = Decoder::greedy(last.narrow(1, window - 1, 1), steps)
        .with_feedback(|y| y.clone())
        .with_stop(|y| {
            let [b, _] = y.dims();
            y.clone().is_nan().bool_or(y.clone().is_inf()).reshape([b])
        })
        .run(&cell, Some(state))?;
    let values: Vec<f32> = decoded.outputs.into_data().try_into_vec_as()?;
    for ((s, new), &len) in seqs
        .iter_mut()
        .zip(values.chunks(steps))
        .zip(&decoded.lengths)
    {
        if let Some(&v) = new[..len].iter().find(|v| !v.is_finite()) {
            anyhow::bail!(
                "the generated sequence diverged (value {v} after {} values)",
                s.len() + len - 1
            );
        }
        s.extend_from_slice(new);
    }
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series_model::ProjectedRnn;

    #[test]
    fn batched_growth_equals_growing_each_sequence_alone() {
        let device = rnn_core::device::default_device().unwrap();
        let model = ProjectedRnn::new(10, &device).unwrap();
        let a: Vec<f32> = (0..6).map(|i| (i as f32 * 0.7).sin()).collect();
        let b = vec![0.0; 6];
        let both = grow(&model, &[a.clone(), b.clone()], 4, 5, &device).unwrap();
        let alone_a = grow(&model, std::slice::from_ref(&a), 4, 5, &device).unwrap();
        let alone_b = grow(&model, &[b], 4, 5, &device).unwrap();
        assert_eq!(both[0].len(), 11);
        assert_eq!(&both[0][..6], &a[..], "the seed is kept");
        for (x, y) in both[0].iter().zip(&alone_a[0]) {
            assert!((x - y).abs() < 1e-5);
        }
        for (x, y) in both[1].iter().zip(&alone_b[0]) {
            assert!((x - y).abs() < 1e-5);
        }
        // Each new value is the model's last output on the window before it.
        let x = Tensor::<3>::from_data(TensorData::new(a[2..6].to_vec(), [1, 4, 1]), &device);
        let want: f32 = model.predict(x).unwrap().narrow(1, 3, 1).into_scalar();
        assert!((both[0][6] - want).abs() < 1e-6);
    }

    #[test]
    fn short_or_ragged_seeds_are_named() {
        let device = rnn_core::device::default_device().unwrap();
        let model = ProjectedRnn::new(4, &device).unwrap();
        let err = grow(&model, &[vec![0.0; 3]], 4, 1, &device).unwrap_err();
        assert!(
            err.to_string()
                .contains("seeds[0]: expected at least window = 4"),
            "{err}"
        );
        let err = grow(&model, &[vec![0.0; 5], vec![0.0; 6]], 4, 1, &device).unwrap_err();
        assert!(err.to_string().contains("seeds[1]"), "{err}");
    }
}
