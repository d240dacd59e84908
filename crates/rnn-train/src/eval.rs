//! Evaluation: accuracy and in-top-k accuracy of logits against integer labels.

use burn::tensor::{Int, Tensor};

/// How many rows have their label among the `k` largest logits: `logits [B, C]`,
/// `labels [B]` (TF's `in_top_k`, summed). Ties count against the label only if k is filled.
pub fn count_in_top_k(logits: Tensor<2>, labels: Tensor<1, Int>, k: usize) -> usize {
    let [b, c] = logits.dims();
    let k = k.clamp(1, c);
    let label_logit = logits.clone().gather(1, labels.reshape([b, 1])); // [B, 1]
    // The label is in the top k when fewer than k logits are strictly larger than it.
    let larger = logits.greater(label_logit.expand([b, c])).int().sum_dim(1); // [B, 1]
    larger.lower_elem(k as i64).int().sum().into_scalar::<i64>() as usize
}

/// How many rows have their label as the arg-max: `logits [B, C]`, `labels [B]`.
pub fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let [b, _] = logits.dims();
    logits
        .argmax(1)
        .reshape([b])
        .equal(labels)
        .int()
        .sum()
        .into_scalar::<i64>() as usize
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    #[test]
    fn top_k_and_argmax_by_hand() {
        let dev = rnn_core::device::default_device().unwrap();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.1f32, 0.7, 0.2, 0.5, 0.3, 0.2, 0.0, 0.1, 0.9], [3, 3]),
            &dev,
        );
        let labels = Tensor::<1, Int>::from_ints([1, 1, 0], &dev);
        assert_eq!(count_correct(logits.clone(), labels.clone()), 1);
        assert_eq!(count_in_top_k(logits.clone(), labels.clone(), 1), 1);
        assert_eq!(count_in_top_k(logits.clone(), labels.clone(), 2), 2);
        assert_eq!(count_in_top_k(logits, labels, 3), 3);
    }
}
