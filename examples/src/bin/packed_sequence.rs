//! Packing sequences: one input of shape `[B, n_steps, n_inputs]` = `[4, 2, 3]`, turned into
//! the list of steps `static_rnn` wants (TF: `tf.unstack(tf.transpose(X, perm=[1, 0, 2]))`),
//! and the outputs packed back into `[B, n_steps, n_neurons]` (TF: `tf.transpose(tf.stack(..),
//! perm=[1, 0, 2])`).
//!
//! Run: `cargo run -p examples --bin packed_sequence [-- --device flex|ndarray|wgpu]`

use burn::tensor::Tensor;
use examples::{device_flag, x_batch};
use rnn_core::{BasicRnnCellConfig, static_rnn};

fn main() -> anyhow::Result<()> {
    let device = examples::device(device_flag().as_deref())?;
    device.seed(42);
    let (n_steps, n_inputs, n_neurons) = (2, 3, 5);
    let x = x_batch(&device); // [4, 2, 3]
    let [batch, _, _] = x.dims();
    // [B, T, I] -> [T, B, I] -> T tensors [B, I]
    let x_seqs: Vec<Tensor<2>> = x
        .clone()
        .swap_dims(0, 1)
        .iter_dim(0)
        .map(|s| s.reshape([batch, n_inputs]))
        .collect();
    println!(
        "X_batch {:?} -> {} steps of {:?}",
        x.dims(),
        x_seqs.len(),
        x_seqs[0].dims()
    );
    let basic_cell = BasicRnnCellConfig::new(n_inputs, n_neurons).init(&device)?;
    let (output_seqs, _) = static_rnn(&basic_cell, x_seqs, None, None)?;
    // T tensors [B, O] -> [T, B, O] -> [B, T, O]
    let outputs: Tensor<3> = Tensor::stack::<3>(output_seqs, 0).swap_dims(0, 1);
    assert_eq!(outputs.dims(), [batch, n_steps, n_neurons]);
    println!("outputs {:?}:\n{}", outputs.dims(), outputs);
    Ok(())
}
