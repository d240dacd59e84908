//! Cells: one time step each. `basic` (TF's `BasicRNNCell`), `lstm`, `gru`, `ln_lstm` (TF's
//! `LayerNormBasicLSTMCell`).

pub mod basic;
pub mod gru;
pub mod ln_lstm;
pub mod lstm;

use burn::module::Param;
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use crate::RnnError;

/// TF 1.x keeps one kernel `[I + H, G * H]` for `[x, h]`; rnn-core keeps its two blocks
/// `W_x [I, G*H]` and `W_h [H, G*H]`, initialised with TF's fans (`fan_in = I + H`,
/// `fan_out = G * H`) so that Glorot-uniform draws from the same range as TF.
pub(crate) fn init_kernels(
    initializer: &Initializer,
    n_inputs: usize,
    n_neurons: usize,
    gates: usize,
    device: &Device,
) -> (Param<Tensor<2>>, Param<Tensor<2>>) {
    let fan_in = Some(n_inputs + n_neurons);
    let fan_out = Some(gates * n_neurons);
    let wx = initializer.init_with([n_inputs, gates * n_neurons], fan_in, fan_out, device);
    let wh = initializer.init_with([n_neurons, gates * n_neurons], fan_in, fan_out, device);
    (wx, wh)
}

/// Refuses a size of 0 for a config's `n_inputs` or `n_neurons`.
pub(crate) fn check_size(arg: &'static str, value: usize) -> Result<(), RnnError> {
    if value == 0 {
        return Err(RnnError::invalid(arg, "at least 1", 0));
    }
    Ok(())
}

/// Refuses a non-finite scalar (`forget_bias`, `gate_bias`): it would turn every output NaN.
pub(crate) fn check_finite(arg: &'static str, value: f64) -> Result<(), RnnError> {
    if !value.is_finite() {
        return Err(RnnError::invalid(arg, "a finite number", value));
    }
    Ok(())
}

/// The sizes `(I, H)` of an input kernel `wx [I, G*H]` with `gates` = G blocks: both at least 1,
/// and the columns a multiple of G.
pub(crate) fn kernel_sizes(
    wx: &[usize],
    gates: usize,
    layout: &str,
) -> Result<(usize, usize), RnnError> {
    let ok = wx.len() == 2 && wx[0] > 0 && wx[1] > 0 && wx[1].is_multiple_of(gates);
    if !ok {
        let rule = if gates == 1 {
            String::new()
        } else {
            format!(", columns a multiple of {gates}")
        };
        return Err(RnnError::invalid(
            "wx",
            format!("{layout} with I >= 1 and H >= 1{rule}"),
            format!("{wx:?}"),
        ));
    }
    Ok((wx[0], wx[1] / gates))
}

/// Checks one weight of `from_weights` against the shape that `wx` implies.
pub(crate) fn check_shape(
    arg: &'static str,
    actual: &[usize],
    expected: &[usize],
    layout: &str,
    n_neurons: usize,
) -> Result<(), RnnError> {
    if actual != expected {
        return Err(RnnError::invalid(
            arg,
            format!("{expected:?} ({layout}, H = {n_neurons} from the columns of `wx`)"),
            format!("{actual:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;

    use crate::test_util::device;
    use crate::{
        Activation, BasicRnnCell, BasicRnnCellConfig, GruCell, GruCellConfig, LstmCell,
        LstmCellConfig,
    };

    fn zeros<const D: usize>(shape: [usize; D]) -> Tensor<D> {
        Tensor::zeros(shape, &device())
    }

    #[test]
    fn configs_refuse_zero_sizes_and_non_finite_biases() {
        let dev = device();
        let text = |e: crate::RnnError| e.to_string();
        let expected_inputs = "`n_inputs`: expected at least 1, got 0";
        let expected_neurons = "`n_neurons`: expected at least 1, got 0";
        assert_eq!(
            text(BasicRnnCellConfig::new(0, 4).init(&dev).unwrap_err()),
            expected_inputs
        );
        assert_eq!(
            text(BasicRnnCellConfig::new(3, 0).init(&dev).unwrap_err()),
            expected_neurons
        );
        assert_eq!(
            text(LstmCellConfig::new(0, 4).init(&dev).unwrap_err()),
            expected_inputs
        );
        assert_eq!(
            text(LstmCellConfig::new(3, 0).init(&dev).unwrap_err()),
            expected_neurons
        );
        assert_eq!(
            text(GruCellConfig::new(0, 4).init(&dev).unwrap_err()),
            expected_inputs
        );
        assert_eq!(
            text(GruCellConfig::new(3, 0).init(&dev).unwrap_err()),
            expected_neurons
        );
        assert_eq!(
            text(
                LstmCellConfig::new(3, 4)
                    .with_forget_bias(f64::NAN)
                    .init(&dev)
                    .unwrap_err()
            ),
            "`forget_bias`: expected a finite number, got NaN"
        );
        assert_eq!(
            text(
                GruCellConfig::new(3, 4)
                    .with_gate_bias(f64::INFINITY)
                    .init(&dev)
                    .unwrap_err()
            ),
            "`gate_bias`: expected a finite number, got inf"
        );
        // The smallest sizes work.
        assert_eq!(
            LstmCellConfig::new(1, 1).init(&dev).unwrap().wx.dims(),
            [1, 4]
        );
    }

    #[test]
    fn basic_from_weights_checks_every_shape_against_wx() {
        let tanh = Activation::Tanh;
        let err = |r: Result<BasicRnnCell, crate::RnnError>| r.unwrap_err().to_string();
        assert_eq!(
            err(BasicRnnCell::from_weights(
                zeros([3, 4]),
                zeros([4, 5]),
                zeros([4]),
                tanh
            )),
            "`wh`: expected [4, 4] ([H, H], H = 4 from the columns of `wx`), got [4, 5]"
        );
        assert_eq!(
            err(BasicRnnCell::from_weights(
                zeros([3, 4]),
                zeros([4, 4]),
                zeros([3]),
                tanh
            )),
            "`bias`: expected [4] ([H], H = 4 from the columns of `wx`), got [3]"
        );
        assert_eq!(
            err(BasicRnnCell::from_weights(
                zeros([3, 0]),
                zeros([0, 0]),
                zeros([0]),
                tanh
            )),
            "`wx`: expected [I, H] with I >= 1 and H >= 1, got [3, 0]"
        );
        assert!(BasicRnnCell::from_weights(zeros([3, 4]), zeros([4, 4]), zeros([4]), tanh).is_ok());
    }

    #[test]
    fn lstm_from_weights_checks_every_shape_against_wx() {
        let err = |r: Result<LstmCell, crate::RnnError>| r.unwrap_err().to_string();
        assert_eq!(
            err(LstmCell::from_weights(
                zeros([3, 10]),
                zeros([4, 16]),
                zeros([16]),
                0.0
            )),
            "`wx`: expected [I, 4H] with I >= 1 and H >= 1, columns a multiple of 4, got [3, 10]"
        );
        assert_eq!(
            err(LstmCell::from_weights(
                zeros([3, 16]),
                zeros([4, 12]),
                zeros([16]),
                0.0
            )),
            "`wh`: expected [4, 16] ([H, 4H], H = 4 from the columns of `wx`), got [4, 12]"
        );
        assert_eq!(
            err(LstmCell::from_weights(
                zeros([3, 16]),
                zeros([4, 16]),
                zeros([4]),
                0.0
            )),
            "`bias`: expected [16] ([4H], H = 4 from the columns of `wx`), got [4]"
        );
        assert_eq!(
            err(LstmCell::from_weights(
                zeros([3, 16]),
                zeros([4, 16]),
                zeros([16]),
                f64::NEG_INFINITY
            )),
            "`forget_bias`: expected a finite number, got -inf"
        );
    }

    #[test]
    fn gru_from_weights_checks_every_shape_against_wx() {
        let err = |r: Result<GruCell, crate::RnnError>| r.unwrap_err().to_string();
        let ok = || (zeros([3, 12]), zeros([4, 8]), zeros([4, 4]), zeros([12]));
        let (wx, wg, wc, b) = ok();
        assert!(GruCell::from_weights(wx, wg, wc, b, Some(zeros([4]))).is_ok());
        let (_, wg, wc, b) = ok();
        assert_eq!(
            err(GruCell::from_weights(zeros([3, 13]), wg, wc, b, None)),
            "`wx`: expected [I, 3H] with I >= 1 and H >= 1, columns a multiple of 3, got [3, 13]"
        );
        let (wx, _, wc, b) = ok();
        assert_eq!(
            err(GruCell::from_weights(wx, zeros([4, 12]), wc, b, None)),
            "`wh_gates`: expected [4, 8] ([H, 2H], H = 4 from the columns of `wx`), got [4, 12]"
        );
        let (wx, wg, _, b) = ok();
        assert_eq!(
            err(GruCell::from_weights(wx, wg, zeros([8, 4]), b, None)),
            "`wh_candidate`: expected [4, 4] ([H, H], H = 4 from the columns of `wx`), got [8, 4]"
        );
        let (wx, wg, wc, _) = ok();
        assert_eq!(
            err(GruCell::from_weights(wx, wg, wc, zeros([8]), None)),
            "`bias`: expected [12] ([3H], H = 4 from the columns of `wx`), got [8]"
        );
        let (wx, wg, wc, b) = ok();
        assert_eq!(
            err(GruCell::from_weights(wx, wg, wc, b, Some(zeros([3])))),
            "`bias_hn`: expected [4] ([H], H = 4 from the columns of `wx`), got [3]"
        );
    }
}
