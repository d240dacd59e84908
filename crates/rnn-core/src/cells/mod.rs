//! Cells: one time step each. `basic` (TF's `BasicRNNCell`), `lstm`, `gru`.

pub mod basic;
pub mod gru;
pub mod lstm;

use burn::module::Param;
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

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
