//! Losses over sequences: on every step, on the last k steps only, or on each example's valid
//! steps (TF's `sequence_length`).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};

use crate::TrainError;

/// Which time steps a sequence loss looks at.
#[derive(Debug, Clone)]
// A burn tensor handle is large; Steps is built once per loss call, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Steps {
    /// Every step.
    All,
    /// The last k steps only (the seed's figure: loss on Y2..Y4 sends gradients through those
    /// outputs alone).
    LastK(usize),
    /// Steps `t < len[b]` of each example b; `lengths: [B]`, each in `0..=T` (checked: one
    /// readback of the `[B]` lengths per loss call).
    Lengths(Tensor<1, Int>),
}

/// `[B, T]`: the step index t in every row.
fn step_index(batch: usize, n_steps: usize, device: &burn::tensor::Device) -> Tensor<2, Int> {
    Tensor::<1, Int>::arange(0..n_steps as i64, device)
        .reshape([1, n_steps])
        .expand([batch, n_steps])
}

/// `[B, T]` float weights: 1 where a step counts, 0 elsewhere; `None` for `Steps::All`.
fn step_weights(
    steps: &Steps,
    batch: usize,
    n_steps: usize,
    device: &burn::tensor::Device,
) -> Result<Option<Tensor<2>>, TrainError> {
    match steps {
        Steps::All => Ok(None),
        Steps::LastK(k) => {
            if *k == 0 || *k > n_steps {
                return Err(TrainError::invalid(
                    "steps",
                    format!("LastK(k) with 1 <= k <= {n_steps} (T)"),
                    format!("LastK({k})"),
                ));
            }
            Ok(Some(
                step_index(batch, n_steps, device)
                    .greater_equal_elem((n_steps - k) as i64)
                    .float(),
            ))
        }
        Steps::Lengths(lengths) => {
            let [b] = lengths.dims();
            if b != batch {
                return Err(TrainError::invalid(
                    "steps",
                    format!("Lengths of shape [{batch}]"),
                    format!("[{b}]"),
                ));
            }
            if let Some((row, value)) = lengths
                .clone()
                .into_data()
                .iter::<i64>()
                .enumerate()
                .find(|&(_, l)| !(0..=n_steps as i64).contains(&l))
            {
                return Err(TrainError::invalid(
                    "steps",
                    format!("Lengths values in 0..={n_steps} (T)"),
                    format!("{value} at row {row}"),
                ));
            }
            let len = lengths.clone().reshape([batch, 1]).expand([batch, n_steps]);
            Ok(Some(step_index(batch, n_steps, device).lower(len).float()))
        }
    }
}

/// Checks that every label lies in `0..n_classes`, with one readback of `labels` to the host
/// (an index out of range would otherwise reach the backend's gather: a panic, or garbage).
/// `classes_from` says where `n_classes` comes from, for the message.
pub(crate) fn check_labels<const D: usize>(
    labels: &Tensor<D, Int>,
    n_classes: usize,
    classes_from: &str,
) -> Result<(), TrainError> {
    let dims = labels.dims();
    let data = labels.clone().into_data();
    let mut bad = data
        .iter::<i64>()
        .enumerate()
        .filter(|&(_, l)| !(0..n_classes as i64).contains(&l));
    let Some((flat, value)) = bad.next() else {
        return Ok(());
    };
    let more = bad.count();
    // The flat index as a position `[i, j, ..]` in `labels`.
    let mut position = vec![0; D];
    let mut rest = flat;
    for (p, &d) in position.iter_mut().zip(dims.iter()).rev() {
        *p = rest % d.max(1);
        rest /= d.max(1);
    }
    Err(TrainError::invalid(
        "labels",
        format!("class indices in 0..{n_classes} ({classes_from})"),
        format!(
            "{value} at {position:?}{}",
            if more > 0 {
                format!(" (and {more} more out of range)")
            } else {
                String::new()
            }
        ),
    ))
}

fn check_same(arg: &'static str, a: &[usize], b: &[usize]) -> Result<(), TrainError> {
    if a != b {
        return Err(TrainError::invalid(
            arg,
            format!("shape {a:?} (that of `predictions`)"),
            format!("{b:?}"),
        ));
    }
    Ok(())
}

/// Mean squared error over the chosen steps: `predictions, targets: [B, T, O] -> [1]`, the
/// mean over every counted element.
pub fn mse_over_steps(
    predictions: Tensor<3>,
    targets: Tensor<3>,
    steps: &Steps,
) -> Result<Tensor<1>, TrainError> {
    let dims = predictions.dims();
    check_same("targets", &dims, &targets.dims())?;
    let [b, t, o] = dims;
    let sq = (predictions - targets).powi_scalar(2);
    match step_weights(steps, b, t, &sq.device())? {
        None => Ok(sq.mean()),
        Some(w) => {
            let count = w.clone().sum() * (o as f32);
            Ok((sq * w.unsqueeze_dim::<3>(2)).sum() / count.clamp_min(1.0))
        }
    }
}

/// Softmax cross-entropy on integer labels (TF's `sparse_softmax_cross_entropy_with_logits`,
/// averaged): `logits [B, C]`, `labels [B]` in `0..C` -> `[1]`.
///
/// A label outside `0..C` is an error naming it and its row (checked on the host: one readback
/// of the `[B]` labels per call).
pub fn sparse_softmax_cross_entropy(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
) -> Result<Tensor<1>, TrainError> {
    let [b, c] = logits.dims();
    let [n] = labels.dims();
    if n != b {
        return Err(TrainError::invalid(
            "labels",
            format!("shape [{b}] (one label per row of `logits`)"),
            format!("[{n}]"),
        ));
    }
    check_labels(&labels, c, "C, the size of `logits` dim 1")?;
    Ok(CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels))
}

/// Cross-entropy over the chosen steps of a sequence: `logits [B, T, C]`, `labels [B, T]` ->
/// `[1]`, the mean over the counted steps.
///
/// Every label must lie in `0..C`, those of steps the loss does not count included (pad with
/// 0): checked on the host, one readback of the `[B, T]` labels per call.
pub fn sequence_cross_entropy(
    logits: Tensor<3>,
    labels: Tensor<2, Int>,
    steps: &Steps,
) -> Result<Tensor<1>, TrainError> {
    let [b, t, c] = logits.dims();
    check_same("labels", &[b, t], &labels.dims())?;
    check_labels(&labels, c, "C, the size of `logits` dim 2")?;
    let log_p = burn::tensor::activation::log_softmax(logits, 2);
    let picked = log_p
        .gather(2, labels.unsqueeze_dim::<3>(2))
        .reshape([b, t]); // [B, T]
    match step_weights(steps, b, t, &picked.device())? {
        None => Ok(-picked.mean()),
        Some(w) => {
            let count = w.clone().sum();
            Ok(-(picked * w).sum() / count.clamp_min(1.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, TensorData};

    use super::*;

    fn device() -> burn::tensor::Device {
        rnn_core::device::default_device().unwrap()
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn mse_variants_by_hand() {
        let dev = device();
        // B=1, T=3, O=1: errors 1, 2, 3
        let p = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 3, 1]), &dev);
        let y = Tensor::<3>::zeros([1, 3, 1], &dev);
        assert!(
            (scalar(mse_over_steps(p.clone(), y.clone(), &Steps::All).unwrap()) - 14.0 / 3.0).abs()
                < 1e-6
        );
        assert!(
            (scalar(mse_over_steps(p.clone(), y.clone(), &Steps::LastK(2)).unwrap()) - 13.0 / 2.0)
                .abs()
                < 1e-6
        );
        let len = Tensor::<1, Int>::from_ints([2], &dev);
        assert!(
            (scalar(mse_over_steps(p.clone(), y.clone(), &Steps::Lengths(len)).unwrap())
                - 5.0 / 2.0)
                .abs()
                < 1e-6
        );
        let err = mse_over_steps(p, y, &Steps::LastK(4))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`steps`") && err.contains("LastK(4)") && err.contains("k <= 3"),
            "{err}"
        );
    }

    #[test]
    fn loss_on_the_last_k_steps_sends_gradients_through_those_outputs_only() {
        let dev = device().autodiff();
        let p = Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let y = Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &dev);
        let grads = mse_over_steps(p.clone(), y, &Steps::LastK(3))
            .unwrap()
            .backward();
        let g = p.grad(&grads).unwrap();
        let early: Vec<f32> = g
            .clone()
            .narrow(1, 0, 2)
            .into_data()
            .try_into_vec_as()
            .unwrap();
        let late: Vec<f32> = g.narrow(1, 2, 3).into_data().try_into_vec_as().unwrap();
        assert!(early.iter().all(|&v| v == 0.0));
        assert!(late.iter().all(|&v| v != 0.0));
    }

    #[test]
    fn cross_entropy_by_hand_and_on_sequences() {
        let dev = device();
        let logits =
            Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0], [2, 2]), &dev);
        let labels = Tensor::<1, Int>::from_ints([1, 0], &dev);
        // -(log(1/2) + log(e^2 / (e^2 + 1))) / 2
        let expected = (2f32.ln() + (1.0 + (-2f32).exp()).ln()) / 2.0;
        let ce = scalar(sparse_softmax_cross_entropy(logits.clone(), labels.clone()).unwrap());
        assert!((ce - expected).abs() < 1e-6, "{ce} vs {expected}");
        // The same two rows as a [1, 2, 2] sequence.
        let seq = sequence_cross_entropy(
            logits.reshape([1, 2, 2]),
            labels.reshape([1, 2]),
            &Steps::All,
        )
        .unwrap();
        assert!((scalar(seq) - expected).abs() < 1e-6);
        let err = sparse_softmax_cross_entropy(
            Tensor::zeros([3, 2], &dev),
            Tensor::from_ints([1, 0], &dev),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`labels`") && err.contains("[3]") && err.contains("[2]"),
            "{err}"
        );
    }

    #[test]
    fn labels_outside_the_classes_are_named_with_their_position() {
        let dev = device();
        let logits = Tensor::<2>::zeros([3, 10], &dev);
        let err = sparse_softmax_cross_entropy(logits.clone(), Tensor::from_ints([1, 10, 3], &dev))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`labels`: expected class indices in 0..10 (C, the size of `logits` dim 1), \
             got 10 at [1]"
        );
        let err = sparse_softmax_cross_entropy(logits, Tensor::from_ints([-1, 12, 3], &dev))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("got -1 at [0] (and 1 more out of range)"),
            "{err}"
        );
        // A sequence: the position is [b, t], padded steps included.
        let err = sequence_cross_entropy(
            Tensor::<3>::zeros([2, 3, 4], &dev),
            Tensor::from_ints([[0, 1, 2], [3, 4, 0]], &dev),
            &Steps::Lengths(Tensor::from_ints([3, 1], &dev)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`labels`")
                && err.contains("in 0..4 (C, the size of `logits` dim 2)")
                && err.contains("got 4 at [1, 1]"),
            "{err}"
        );
    }

    #[test]
    fn lengths_outside_the_steps_are_named() {
        let dev = device();
        let p = Tensor::<3>::zeros([3, 4, 1], &dev);
        for (lengths, bad) in [([4, 5, 1], "5 at row 1"), ([-1, 2, 2], "-1 at row 0")] {
            let steps = Steps::Lengths(Tensor::from_ints(lengths, &dev));
            let err = mse_over_steps(p.clone(), p.clone(), &steps)
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!("`steps`: expected Lengths values in 0..=4 (T), got {bad}"),
            );
            let err = sequence_cross_entropy(p.clone(), Tensor::zeros([3, 4], &dev), &steps)
                .unwrap_err()
                .to_string();
            assert!(err.contains(bad), "{err}");
        }
        // The bounds themselves are fine: 0 (nothing counted) and T.
        let steps = Steps::Lengths(Tensor::from_ints([0, 4, 2], &dev));
        assert!(mse_over_steps(p.clone(), p, &steps).is_ok());
    }
}
