//! The activation of a basic cell: TF's `activation=tf.nn.tanh` (default) or `tf.nn.relu`.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::activation;

/// Element-wise activation of a recurrent cell's new state.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `tanh` (TF's default for `BasicRNNCell`).
    Tanh,
    /// `max(0, x)`: the book's forecasting cell; no saturation, but can explode.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// The identity: a linear recurrence.
    Identity,
}

impl Activation {
    /// Applies the activation. Shapes: `[B, H] -> [B, H]`.
    pub fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => activation::relu(x),
            Activation::Sigmoid => activation::sigmoid(x),
            Activation::Identity => x,
        }
    }
}
