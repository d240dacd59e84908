//! Shared glue for the chapter's binaries (see `src/bin/`). Each binary is one section of the
//! book's RNN chapter; this library holds what several of them need (the forecasting models
//! and their training, saving and restoring, sequence generation, the figures) and the models
//! and training tasks of the two sequence-to-sequence binaries (`seq2seq`, `digit_writer`), so
//! that every binary's training is a task run by `rnn_train::fit`.

pub mod blocks;
pub mod chapter_figures;
pub mod digit_writer;
pub mod generate;
pub mod memory;
pub mod model_file;
pub mod plot;
pub mod seq2seq;
pub mod series_model;
pub mod series_training;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Device;

/// `model` with every weight drawn now, in the order of its fields. burn draws a parameter
/// lazily, at its first use, from the device's RNG as it is then; a task's model drawn at once
/// has the weights of the seed just set, whatever runs before its first forward pass (the
/// untrained model a binary scores is then the one `fit` starts from).
pub fn init_now<M: Module>(model: M) -> M {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
    model
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether each float parameter is drawn yet.
    struct Drawn(Vec<bool>);
    impl ModuleVisitor for Drawn {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.is_initialized());
        }
    }

    fn drawn<M: Module>(model: &M) -> Vec<bool> {
        let mut visitor = Drawn(Vec::new());
        model.visit(&mut visitor);
        visitor.0
    }

    #[test]
    fn init_now_draws_every_weight() {
        let device = rnn_core::device::default_device().unwrap().autodiff();
        let model = seq2seq::EncoderDecoder::new(8, &device).unwrap();
        // burn's parameters wait for their first use (the projection's init reads the
        // decoder cell's recurrent kernel, so that one is drawn already).
        assert!(drawn(&model).contains(&false), "{:?}", drawn(&model));
        let model = init_now(model);
        assert_eq!(drawn(&model), [true; 8]);
    }
}
