//! Evaluation: accuracy and in-top-k accuracy of logits against integer labels.

use burn::tensor::{Int, Tensor};

use crate::TrainError;
use crate::loss::check_labels;

/// `labels [B]` against `logits [B, C]`: one label per row, each in `0..C` (one readback).
fn check(logits: &Tensor<2>, labels: &Tensor<1, Int>) -> Result<[usize; 2], TrainError> {
    let [b, c] = logits.dims();
    let [n] = labels.dims();
    if n != b {
        return Err(TrainError::invalid(
            "labels",
            format!("shape [{b}] (one label per row of `logits`)"),
            format!("[{n}]"),
        ));
    }
    check_labels(labels, c, "C, the size of `logits` dim 1")?;
    Ok([b, c])
}

/// How many rows have their label among the `k` largest logits: `logits [B, C]`,
/// `labels [B]` in `0..C` (TF's `in_top_k`, summed); `k >= 1`, and `k >= C` counts every row.
/// Ties count against the label only if k is filled.
///
/// A label outside `0..C`, a label count other than B, or `k = 0` is an error naming it.
pub fn count_in_top_k(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    k: usize,
) -> Result<usize, TrainError> {
    if k == 0 {
        return Err(TrainError::invalid("k", "at least 1", 0));
    }
    let [b, c] = check(&logits, &labels)?;
    let k = k.min(c);
    let label_logit = logits.clone().gather(1, labels.reshape([b, 1])); // [B, 1]
    // The label is in the top k when fewer than k logits are strictly larger than it.
    let larger = logits.greater(label_logit.expand([b, c])).int().sum_dim(1); // [B, 1]
    Ok(larger.lower_elem(k as i64).int().sum().into_scalar::<i64>() as usize)
}

/// How many rows have their label as the arg-max: `logits [B, C]`, `labels [B]` in `0..C`.
///
/// A label outside `0..C` (which could never be right, and would silently count as wrong) or
/// a label count other than B is an error naming it.
pub fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Result<usize, TrainError> {
    let [b, _] = check(&logits, &labels)?;
    Ok(logits
        .argmax(1)
        .reshape([b])
        .equal(labels)
        .int()
        .sum()
        .into_scalar::<i64>() as usize)
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn logits(dev: &burn::tensor::Device) -> Tensor<2> {
        Tensor::<2>::from_data(
            TensorData::new(vec![0.1f32, 0.7, 0.2, 0.5, 0.3, 0.2, 0.0, 0.1, 0.9], [3, 3]),
            dev,
        )
    }

    #[test]
    fn top_k_and_argmax_by_hand() {
        let dev = rnn_core::device::default_device().unwrap();
        let logits = logits(&dev);
        let labels = Tensor::<1, Int>::from_ints([1, 1, 0], &dev);
        assert_eq!(count_correct(logits.clone(), labels.clone()).unwrap(), 1);
        assert_eq!(
            count_in_top_k(logits.clone(), labels.clone(), 1).unwrap(),
            1
        );
        assert_eq!(
            count_in_top_k(logits.clone(), labels.clone(), 2).unwrap(),
            2
        );
        assert_eq!(
            count_in_top_k(logits.clone(), labels.clone(), 3).unwrap(),
            3
        );
        assert_eq!(count_in_top_k(logits, labels, 7).unwrap(), 3);
    }

    #[test]
    fn bad_labels_and_k_are_named() {
        let dev = rnn_core::device::default_device().unwrap();
        let logits = logits(&dev);
        let over = Tensor::<1, Int>::from_ints([1, 3, 0], &dev);
        let want = "`labels`: expected class indices in 0..3 (C, the size of `logits` dim 1), \
                    got 3 at [1]";
        let err = count_correct(logits.clone(), over.clone()).unwrap_err();
        assert_eq!(err.to_string(), want);
        let err = count_in_top_k(logits.clone(), over, 2).unwrap_err();
        assert_eq!(err.to_string(), want);
        let err = count_correct(logits.clone(), Tensor::from_ints([1, 0], &dev)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`labels`: expected shape [3] (one label per row of `logits`), got [2]"
        );
        let err = count_in_top_k(logits, Tensor::from_ints([1, 1, 0], &dev), 0).unwrap_err();
        assert_eq!(err.to_string(), "`k`: expected at least 1, got 0");
    }
}
