//! Shared glue for the chapter's binaries (see `src/bin/`). Each binary is one section of the
//! book's RNN chapter; this library holds only what several of them need: the forecasting
//! models and their training loop, saving and restoring, sequence generation and the figures.

pub mod blocks;
pub mod chapter_figures;
pub mod generate;
pub mod memory;
pub mod model_file;
pub mod plot;
pub mod series_model;
pub mod series_training;

use burn::tensor::Device;

/// Checks before any work that `--out` can be created and written (a probe file is created and
/// removed): a run that could not save its results fails at once, not after training.
pub fn check_out_dir(out: &std::path::Path) -> anyhow::Result<()> {
    Ok(rnn_train::checkpoint::probe_writable(out, "--out")?)
}

/// The device a binary runs on: `--device NAME` if given, else `BURN_DEVICE`, else the build's
/// preferred backend (wgpu when compiled in, else flex); rnn-train's
/// [`rnn_train::args::device`], which `cargo xtask mnist` uses too.
pub fn device(flag: Option<&str>) -> anyhow::Result<Device> {
    Ok(rnn_train::args::device(flag)?)
}

use burn::tensor::{Tensor, TensorData};

/// The chapter's mini-batch, step 0: 4 instances of 3 inputs `[4, 3]`.
pub const X0: [[f32; 3]; 4] = [[0., 1., 2.], [3., 4., 5.], [6., 7., 8.], [9., 0., 1.]];
/// The chapter's mini-batch, step 1 `[4, 3]` (instance 1 is all zeros: padding in the
/// variable-length section).
pub const X1: [[f32; 3]; 4] = [[9., 8., 7.], [0., 0., 0.], [6., 5., 4.], [3., 2., 1.]];

/// A `[rows, cols]` tensor from fixed rows.
pub fn tensor2<const R: usize, const C: usize>(rows: &[[f32; C]; R], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [R, C]), device)
}

/// The chapter's batch as one tensor `[B = 4, n_steps = 2, n_inputs = 3]`.
pub fn x_batch(device: &Device) -> Tensor<3> {
    Tensor::stack(vec![tensor2(&X0, device), tensor2(&X1, device)], 1)
}

/// `--device NAME` from the command line, if given.
pub fn device_flag() -> Option<String> {
    std::env::args().skip_while(|a| a != "--device").nth(1)
}
