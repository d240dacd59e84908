//! The book's three forecasting models, `[B, T, 1] -> [B, T, 1]`: each reads a window of the
//! series and predicts, at every step, the value one step later.
//!
//! - [`ProjectedRnn`]: `OutputProjectionWrapper(BasicRNNCell(100, relu), 1)` through
//!   `dynamic_rnn` (the "using an OutputProjectionWrapper" listing).
//! - [`DenseOverSteps`]: any cell through `dynamic_rnn`, its outputs `[B, T, H]` stacked to
//!   `[B * T, H]`, one dense layer to `[B * T, 1]`, reshaped back (the "without using an
//!   OutputProjectionWrapper" listing, and the dropout listing over a `MultiRNNCell`).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use rnn_core::{
    Activation, BasicRnnCell, BasicRnnCellConfig, DropoutWrapper, DropoutWrapperConfig,
    MultiRnnCell, OutputProjectionWrapper, OutputProjectionWrapperConfig, RnnCell, dynamic_rnn,
};

/// A model of the series: predictions `[B, T, 1]` for windows `[B, T, 1]`.
pub trait SeriesModel: Module {
    /// Predictions `[B, T, 1]` for `inputs [B, T, 1]`.
    fn predict(&self, inputs: Tensor<3>) -> anyhow::Result<Tensor<3>>;
}

/// `dynamic_rnn(OutputProjectionWrapper(cell, 1))`: `[B, T, 1] -> [B, T, 1]`.
#[derive(Module, Debug)]
pub struct ProjectedRnn {
    /// The relu cell with its per-step projection `[H, 1]`.
    pub cell: OutputProjectionWrapper<BasicRnnCell>,
}

impl ProjectedRnn {
    /// The book's model: a relu `BasicRnnCell(1 -> n_neurons)` projected to 1 output; fails
    /// when `n_neurons` is 0.
    pub fn new(n_neurons: usize, device: &Device) -> anyhow::Result<Self> {
        let cell = BasicRnnCellConfig::new(1, n_neurons)
            .with_activation(Activation::Relu)
            .init(device)?;
        Ok(Self {
            cell: OutputProjectionWrapperConfig::new(1).init(cell, device)?,
        })
    }
}

impl SeriesModel for ProjectedRnn {
    fn predict(&self, inputs: Tensor<3>) -> anyhow::Result<Tensor<3>> {
        Ok(dynamic_rnn(&self.cell, inputs, None, None)?.0)
    }
}

/// `dynamic_rnn(cell)` then one dense layer over the stacked outputs:
/// `[B, T, 1] -> [B, T, H] -> [B * T, H] -> [B * T, 1] -> [B, T, 1]`.
#[derive(Module, Debug)]
pub struct DenseOverSteps<C: RnnCell> {
    /// The recurrent part, `1 -> H`.
    pub cell: C,
    /// `[H, 1]` dense layer (Glorot-uniform, zero bias, as `tf.layers.dense`).
    pub dense: Linear,
}

impl<C: RnnCell> DenseOverSteps<C> {
    /// `cell` followed by a dense layer to one output.
    pub fn new(cell: C, device: &Device) -> Self {
        let mut dense = LinearConfig::new(cell.output_size(), 1)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device);
        dense.bias = Some(Initializer::Zeros.init([1], device));
        Self { cell, dense }
    }
}

impl<C: RnnCell> SeriesModel for DenseOverSteps<C> {
    fn predict(&self, inputs: Tensor<3>) -> anyhow::Result<Tensor<3>> {
        let [b, t, _] = inputs.dims();
        let (rnn_outputs, _) = dynamic_rnn(&self.cell, inputs, None, None)?;
        let h = rnn_outputs.dims()[2];
        let stacked_rnn_outputs = rnn_outputs.reshape([b * t, h]);
        let stacked_outputs = self.dense.forward(stacked_rnn_outputs);
        Ok(stacked_outputs.reshape([b, t, 1]))
    }
}

/// The book's `--no-wrapper` model: a relu `BasicRnnCell(1 -> n_neurons)` and a dense layer
/// over its stacked outputs; fails when `n_neurons` is 0.
pub fn relu_rnn_with_dense(
    n_neurons: usize,
    device: &Device,
) -> anyhow::Result<DenseOverSteps<BasicRnnCell>> {
    let cell = BasicRnnCellConfig::new(1, n_neurons)
        .with_activation(Activation::Relu)
        .init(device)?;
    Ok(DenseOverSteps::new(cell, device))
}

/// The dropout listing's stack: `n_layers` tanh `BasicRnnCell(n_neurons)`, each wrapped in a
/// `DropoutWrapper(input_keep_prob)` (a fresh mask per step, TF's default), in a
/// `MultiRnnCell`, then a dense layer over the stacked outputs. Dropout acts only in training
/// (autodiff device, training flag on); `model.valid()` predicts with keep probability 1.
pub fn dropout_stack(
    n_layers: usize,
    n_neurons: usize,
    input_keep_prob: f64,
    device: &Device,
) -> anyhow::Result<DenseOverSteps<MultiRnnCell<DropoutWrapper<BasicRnnCell>>>> {
    let dropout = DropoutWrapperConfig::new().with_input_keep_prob(input_keep_prob);
    let cells = (0..n_layers)
        .map(|k| {
            let n_inputs = if k == 0 { 1 } else { n_neurons };
            dropout.init(BasicRnnCellConfig::new(n_inputs, n_neurons).init(device)?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DenseOverSteps::new(MultiRnnCell::new(cells)?, device))
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    #[test]
    fn every_model_maps_windows_to_windows() {
        let device = rnn_core::device::default_device().unwrap();
        let x = Tensor::<3>::random([3, 7, 1], Distribution::Normal(0.0, 1.0), &device);
        let a = ProjectedRnn::new(16, &device)
            .unwrap()
            .predict(x.clone())
            .unwrap();
        let b = relu_rnn_with_dense(16, &device)
            .unwrap()
            .predict(x.clone())
            .unwrap();
        let c = dropout_stack(3, 16, 0.5, &device)
            .unwrap()
            .predict(x)
            .unwrap();
        for y in [a, b, c] {
            assert_eq!(y.dims(), [3, 7, 1]);
        }
    }

    #[test]
    fn dense_over_steps_is_the_dense_layer_on_each_step() {
        // The reshape trick must not mix steps or instances: step t of instance b is
        // dense(rnn_output[b, t]).
        let device = rnn_core::device::default_device().unwrap();
        let model = relu_rnn_with_dense(8, &device).unwrap();
        let x = Tensor::<3>::random([2, 5, 1], Distribution::Normal(0.0, 1.0), &device);
        let y = model.predict(x.clone()).unwrap();
        let (h, _) = dynamic_rnn(&model.cell, x, None, None).unwrap();
        for b in 0..2 {
            for t in 0..5 {
                let h_bt = h.clone().slice([b..b + 1, t..t + 1]).reshape([1, 8]);
                let want: f32 = model.dense.forward(h_bt).into_scalar();
                let got: f32 = y.clone().slice([b..b + 1, t..t + 1]).into_scalar();
                assert!((want - got).abs() < 1e-6, "b {b} t {t}: {want} vs {got}");
            }
        }
    }

    #[test]
    fn the_wrapper_and_the_dense_layer_over_stacked_outputs_agree() {
        // The book's two ways: same weights, same predictions.
        let device = rnn_core::device::default_device().unwrap();
        let wrapped = ProjectedRnn::new(12, &device).unwrap();
        let stacked = DenseOverSteps {
            cell: wrapped.cell.cell.clone(),
            dense: wrapped.cell.projection.clone(),
        };
        let x = Tensor::<3>::random([4, 9, 1], Distribution::Normal(0.0, 2.0), &device);
        let a = wrapped.predict(x.clone()).unwrap();
        let b = stacked.predict(x).unwrap();
        a.into_data()
            .assert_approx_eq::<f32>(&b.into_data(), burn::tensor::Tolerance::absolute(1e-6));
    }

    #[test]
    fn a_bad_keep_probability_is_named() {
        let device = rnn_core::device::default_device().unwrap();
        let err = dropout_stack(3, 4, 1.5, &device).unwrap_err();
        assert!(err.to_string().contains("input_keep_prob"), "{err}");
    }
}
