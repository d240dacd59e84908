//! The forecasters' memory estimate; the estimate, the limit and the check themselves are
//! rnn-train's ([`rnn_train::memory`], re-exported here), shared with `cargo xtask mnist`.

pub use rnn_train::memory::*;

/// A forecaster of the series (the `forecast` and `dropout` binaries): `n_layers` basic cells
/// of `n_neurons` on 1 input, one output per step, trained with Adam on `batch_size` windows of
/// `n_steps`, then evaluated on [`crate::series_training::EVAL_WINDOWS`] windows. Training
/// keeps ~4 values per unit, step and layer (output, pre-activation or dropout mask, their
/// gradients); evaluation 2 per unit and step.
pub fn series_estimate(
    n_layers: u32,
    n_neurons: u32,
    batch_size: usize,
    n_steps: usize,
) -> Estimate {
    let (l, h) = (n_layers as u128, n_neurons as u128);
    let params = recurrent_parameters(1, l, h, 1).saturating_add(h + 1);
    let per_unit_step = |b: u128| (b * n_steps as u128).saturating_mul(h);
    let train = per_unit_step(batch_size as u128).saturating_mul(4 * l);
    let eval = per_unit_step(crate::series_training::EVAL_WINDOWS as u128).saturating_mul(2);
    Estimate::new(params, 4, train.max(eval), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecasters_estimates() {
        // The book's forecaster: 100 units, 10,301 parameters; evaluation dominates (1000 x 20
        // x 100 x 2 floats = 15.3 MiB).
        let book = series_estimate(1, 100, 50, 20);
        assert_eq!(book.parameters, (100 * 102 + 101) * 4 * 4);
        assert_eq!(book.activations, 1000 * 20 * 100 * 2 * 4);
        // 2^32 - 1 neurons: about 2^64 parameters, ~2.7e11 GiB with Adam.
        let huge = series_estimate(1, u32::MAX, 50, 20);
        assert!(gib(huge.total()) > 1e11, "{}", gib(huge.total()));
    }
}
