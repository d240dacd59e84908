//! Dynamic unrolling through time: the `[4, 2, 3]` batch straight into `dynamic_rnn`, no
//! transposes (TF's `tf.nn.dynamic_rnn`).
//!
//! Run: `cargo run -p examples --bin dynamic_unroll [-- --device flex|ndarray|wgpu]`

use examples::{device_flag, x_batch};
use rnn_core::{BasicRnnCellConfig, dynamic_rnn};

fn main() -> anyhow::Result<()> {
    let device = examples::device(device_flag().as_deref())?;
    device.seed(42);
    let (n_inputs, n_neurons) = (3, 5);
    let basic_cell = BasicRnnCellConfig::new(n_inputs, n_neurons).init(&device)?;
    let (outputs, states) = dynamic_rnn(&basic_cell, x_batch(&device), None, None)?;
    println!("outputs {:?}:\n{}", outputs.dims(), outputs);
    println!("states {:?}:\n{}", states.dims(), states);
    Ok(())
}
