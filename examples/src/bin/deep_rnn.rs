//! Deep RNNs: three `BasicRnnCell(100)` stacked with `MultiRnnCell` over a random
//! `[2, 5, 2]` batch (TF's `MultiRNNCell`); the final state holds one `[2, 100]` state per layer.
//!
//! Run: `cargo run -p examples --bin deep_rnn [-- --device flex|ndarray|wgpu]`

use burn::tensor::{Distribution, Tensor};
use examples::device_flag;
use rnn_core::{BasicRnnCellConfig, MultiRnnCell, dynamic_rnn};

fn main() -> anyhow::Result<()> {
    let device = examples::device(device_flag().as_deref())?;
    device.seed(42);
    let (n_inputs, n_neurons, n_layers, n_steps, batch) = (2, 100, 3, 5, 2);
    let layers = (0..n_layers)
        .map(|k| {
            BasicRnnCellConfig::new(if k == 0 { n_inputs } else { n_neurons }, n_neurons)
                .init(&device)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let multi_layer_cell = MultiRnnCell::new(layers)?;
    let x = Tensor::<3>::random(
        [batch, n_steps, n_inputs],
        Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let (outputs, states) = dynamic_rnn(&multi_layer_cell, x, None, None)?;
    println!("outputs {:?} (the top layer's)", outputs.dims());
    let last: Vec<f32> = outputs
        .narrow(1, n_steps - 1, 1)
        .narrow(2, 0, 4)
        .into_data()
        .try_into_vec_as()?;
    println!("outputs at the last step, first 4 units of each instance: {last:?}");
    for (k, state) in states.iter().enumerate() {
        let first: Vec<f32> = state
            .clone()
            .narrow(1, 0, 4)
            .into_data()
            .try_into_vec_as()?;
        println!(
            "layer {k} state {:?}, first 4 units of each instance: {first:?}",
            state.dims()
        );
    }
    Ok(())
}
