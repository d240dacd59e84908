//! Generating new sequences (the book's "creative RNN"): feed the model the last `window`
//! values, append its prediction for the step after them, repeat.

use burn::tensor::{Device, Tensor, TensorData};

use crate::series_model::SeriesModel;

/// Grows every sequence of `seeds` (all of one length, at least `window`) by `steps` values:
/// at each step the model reads `[S, window, 1]` (the last `window` values of all S sequences
/// at once) and its last output `[S, 1]` is appended. Returns the grown sequences, each
/// `seed_len + steps` long. Use `model.valid()`.
pub fn grow<M: SeriesModel>(
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
    let n = seqs.len();
    for _ in 0..steps {
        let last: Vec<f32> = seqs
            .iter()
            .flat_map(|s| s[s.len() - window..].iter().copied())
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(last, [n, window, 1]), device);
        let y = model.predict(x)?;
        let next: Vec<f32> = y
            .narrow(1, window - 1, 1)
            .reshape([n])
            .into_data()
            .try_into_vec_as()?;
        for (s, v) in seqs.iter_mut().zip(next) {
            anyhow::ensure!(
                v.is_finite(),
                "the generated sequence diverged (value {v} after {} values)",
                s.len()
            );
            s.push(v);
        }
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
