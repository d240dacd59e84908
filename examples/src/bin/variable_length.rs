//! Variable-length input sequences: `sequence_length = [2, 1, 2, 2]`. Instance 1 has one
//! step (its second step is zero padding): its second output is zero and its final state is
//! the state after its first step.
//!
//! Run: `cargo run -p examples --bin variable_length [-- --device flex|ndarray|wgpu]`

use burn::tensor::{Int, Tensor};
use examples::{device_flag, x_batch};
use rnn_core::{BasicRnnCellConfig, dynamic_rnn};

fn main() -> anyhow::Result<()> {
    let device = examples::device(device_flag().as_deref())?;
    device.seed(42);
    let (n_inputs, n_neurons) = (3, 5);
    let basic_cell = BasicRnnCellConfig::new(n_inputs, n_neurons).init(&device)?;
    let seq_length = Tensor::<1, Int>::from_ints([2, 1, 2, 2], &device);
    let (outputs, states) = dynamic_rnn(&basic_cell, x_batch(&device), None, Some(seq_length))?;
    println!("sequence_length = [2, 1, 2, 2]");
    println!(
        "outputs {:?} (instance 1, step 1 is zero):\n{}",
        outputs.dims(),
        outputs
    );
    println!(
        "states {:?} (instance 1: its state at step 0):\n{}",
        states.dims(),
        states
    );
    Ok(())
}
