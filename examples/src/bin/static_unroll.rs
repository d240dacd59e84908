//! Static unrolling through time: the same two steps with a `BasicRnnCell` and `static_rnn`
//! over the list `[X0, X1]` (TF's `tf.contrib.rnn.static_rnn`).
//!
//! Run: `cargo run -p examples --bin static_unroll [-- --device flex|ndarray|wgpu]`

use examples::{X0, X1, device_flag, tensor2};
use rnn_core::{BasicRnnCellConfig, static_rnn};

fn main() -> anyhow::Result<()> {
    let device = examples::device(device_flag().as_deref())?;
    device.seed(42);
    let (n_inputs, n_neurons) = (3, 5);
    let basic_cell = BasicRnnCellConfig::new(n_inputs, n_neurons).init(&device)?;
    let (outputs, states) = static_rnn(
        &basic_cell,
        vec![tensor2(&X0, &device), tensor2(&X1, &device)],
        None,
        None,
    )?;
    println!("Y0 [4, 5]:\n{}", outputs[0]);
    println!("Y1 [4, 5]:\n{}", outputs[1]);
    println!(
        "final state [4, 5] (equals Y1 for a basic cell):\n{}",
        states
    );
    Ok(())
}
