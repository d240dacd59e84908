//! Vector to sequence (fig. 14-4): a digit drawn row by row from its label ([`DigitWriter`]),
//! and its training on MNIST as an rnn-train [`Task`] ([`DigitWriterTask`]). The one-hot label
//! and a small noise vector set the decoder's initial state (one dense layer, tanh, to a GRU's
//! state); the decoder emits the 28 rows of 28 pixels (a projection to 28 logits, sigmoid),
//! each step reading the row above (zeros before the first). Trained with teacher forcing (the
//! true row above), Adam, per-pixel binary cross-entropy; at generation each step reads the
//! sigmoid of its own previous output (greedy feedback through `rnn_core::Decoder`).
//!
//! [`rnn_train::fit`] runs the task in blocks of `eval_every` iterations ([`crate::blocks`]);
//! after each, the teacher-forced per-pixel binary cross-entropy on the test images (the
//! model's likelihood) is measured and a checkpoint and the metrics are written into `out_dir`
//! (`metrics.csv`: `test_accuracy` holds that loss). The `vector_to_seq` binary runs it.

use std::path::PathBuf;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rnn_core::{
    Decoder, GruCell, GruCellConfig, OutputProjectionWrapper, OutputProjectionWrapperConfig,
    RnnError,
};
use rnn_data::{Mnist, MnistSplit};
use rnn_train::{StepOutput, Task, TrainError, TrainerConfig};

use crate::blocks::Blocks;

/// Rows per image (the decoder's steps).
pub const ROWS: usize = 28;
/// Pixels per row (the decoder's inputs and outputs per step).
pub const COLS: usize = 28;
/// Digit classes (the one-hot part of the code).
pub const N_CLASSES: usize = 10;
/// Test images per evaluation batch.
const EVAL_BATCH: usize = 1000;

/// `code [B, 10 + noise]` -> dense, tanh -> the GRU's initial state `[B, H]`; then the GRU
/// over rows `[B, 28, 28]`, each step's output projected to 28 logits.
#[derive(Module, Debug)]
pub struct DigitWriter {
    /// `[10 + noise, H]`.
    init: Linear,
    /// GRU `28 -> H`, projected to 28 logits per row.
    cell: OutputProjectionWrapper<GruCell>,
}

impl DigitWriter {
    /// A GRU of `n_neurons` units, its initial state from codes of `10 + n_noise` values;
    /// weights from `device`'s RNG (GRU, projection, dense layer). Fails when `n_neurons` is 0.
    pub fn new(n_neurons: usize, n_noise: usize, device: &Device) -> Result<Self, RnnError> {
        let gru = GruCellConfig::new(COLS, n_neurons).init(device)?;
        Ok(Self {
            init: LinearConfig::new(N_CLASSES + n_noise, n_neurons).init(device),
            cell: OutputProjectionWrapperConfig::new(COLS).init(gru, device)?,
        })
    }

    /// `code [B, 10 + noise]` -> the decoder's initial state `[B, H]`.
    pub fn initial_state(&self, code: Tensor<2>) -> Tensor<2> {
        self.init.forward(code).tanh()
    }

    /// Teacher forcing: `code [B, 10 + noise]`, `images [B, 28, 28]` in `[0, 1]` -> logits
    /// `[B, 28, 28]` of each row given the true rows above.
    pub fn logits(&self, code: Tensor<2>, images: Tensor<3>) -> Result<Tensor<3>, RnnError> {
        let [b, _, _] = images.dims();
        let above = Tensor::cat(
            vec![
                Tensor::zeros([b, 1, COLS], &images.device()),
                images.narrow(1, 0, ROWS - 1),
            ],
            1,
        );
        let state = self.initial_state(code);
        Ok(Decoder::teacher_forced(above, ROWS)
            .run(&self.cell, Some(state))?
            .outputs)
    }

    /// Greedy generation: `code [B, 10 + noise]` -> pixels `[B, 28, 28]` in `[0, 1]`, each row
    /// from the one it drew above.
    pub fn draw(&self, code: Tensor<2>) -> Result<Tensor<3>, RnnError> {
        let [b, _] = code.dims();
        let first = Tensor::zeros([b, COLS], &code.device());
        let state = self.initial_state(code);
        let decoded = Decoder::greedy(first, ROWS)
            .with_feedback(|z| sigmoid(z.clone()))
            .run(&self.cell, Some(state))?;
        Ok(sigmoid(decoded.outputs))
    }
}

/// Codes `[B, 10 + n_noise]` for `labels` (`B` of them, each 0..=9): each label one-hot, then
/// standard normal noise drawn from `device`'s RNG.
pub fn codes(labels: &[u8], n_noise: usize, device: &Device) -> Tensor<2> {
    let b = labels.len();
    let mut onehot = vec![0.0f32; b * N_CLASSES];
    for (row, &l) in labels.iter().enumerate() {
        onehot[row * N_CLASSES + l as usize] = 1.0;
    }
    let onehot = Tensor::from_data(TensorData::new(onehot, [b, N_CLASSES]), device);
    if n_noise == 0 {
        return onehot;
    }
    let noise = Tensor::random([b, n_noise], Distribution::Normal(0.0, 1.0), device);
    Tensor::cat(vec![onehot, noise], 1)
}

/// Mean binary cross-entropy `[1]` of `logits` against `targets` in `[0, 1]` (both
/// `[B, 28, 28]`), in the stable form `max(z, 0) - z y + ln(1 + e^-|z|)`.
fn bce_with_logits(logits: Tensor<3>, targets: Tensor<3>) -> Tensor<1> {
    let stable = logits.clone().abs().neg().exp().log1p();
    (logits.clone().clamp_min(0.0) - logits * targets + stable).mean()
}

/// The examples `indices` of `split`: images `[B, 28, 28]` in `[0, 1]` on `device` and their
/// labels `[B]`.
fn batch(
    split: &MnistSplit,
    indices: &[usize],
    device: &Device,
) -> Result<(Tensor<3>, Vec<u8>), TrainError> {
    let b = split.batch(indices, device).map_err(TrainError::data)?;
    let labels = indices
        .iter()
        .map(|&i| split.label(i))
        .collect::<Result<_, _>>()
        .map_err(TrainError::data)?;
    Ok((b.images, labels))
}

/// The digit writer's training settings (the binary's defaults in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct DigitWriting {
    /// Adam steps, one batch each (2000); MNIST's epochs follow one another, each shuffled.
    pub iterations: usize,
    /// Images per batch (64).
    pub batch_size: usize,
    /// Units of the GRU (128).
    pub neurons: usize,
    /// Noise values beside the one-hot label (4).
    pub noise: usize,
    /// Adam's learning rate (0.003).
    pub learning_rate: f64,
    /// `fit` seeds the device (weights, noise) with it; it seeds the shuffles too (42).
    pub seed: u64,
    /// Test images in the evaluation: the first this many of the test set (10000).
    pub test_limit: usize,
    /// Print the batch loss every this many iterations (100).
    pub print_every: usize,
    /// The block of iterations between evaluations and checkpoints (500: an evaluation on the
    /// 10000 test images costs about as much as 100 iterations).
    pub eval_every: usize,
    /// Where the checkpoints and `metrics.csv`/`metrics.json` go.
    pub out_dir: PathBuf,
}

/// The digit writer as a [`Task`]: batches of MNIST training images `[B, 28, 28]` with their
/// labels (MNIST epoch `e` in the order [`MnistSplit::epoch_order`] gives for `(seed, e)`, the
/// last incomplete batch of each dropped), the teacher-forced per-pixel binary cross-entropy
/// as the loss (each batch's noise drawn at its step), and as evaluation that loss on the
/// first `test_limit` test images, with one noise draw per test image fixed when the task is
/// built.
pub struct DigitWriterTask<'a> {
    config: DigitWriting,
    blocks: Blocks,
    data: &'a Mnist,
    /// Codes `[test_limit, 10 + noise]` of the evaluation's test images.
    test_codes: Tensor<2>,
    eval_device: Device,
}

impl<'a> DigitWriterTask<'a> {
    /// The task for `config` on `data`, evaluated on the plain `eval_device`; draws the test
    /// images' noise from `eval_device`'s RNG now (seed it first for a repeatable figure).
    /// Fails naming the setting when `iterations`, `batch_size`, `neurons`, `test_limit`,
    /// `print_every` or `eval_every` is 0, when `batch_size` exceeds the training images or
    /// `test_limit` the test images, or when the learning rate is not a finite number > 0.
    pub fn new(
        config: DigitWriting,
        data: &'a Mnist,
        eval_device: &Device,
    ) -> Result<Self, TrainError> {
        let blocks = Blocks::new(config.iterations, config.eval_every, "eval_every")?;
        rnn_train::args::check_positive("--lr", config.learning_rate)?;
        for (name, value, max) in [
            ("print_every", config.print_every, usize::MAX),
            ("--batch-size", config.batch_size, data.train.len()),
            ("--neurons", config.neurons, usize::MAX),
            ("--test-limit", config.test_limit, data.test.len()),
        ] {
            if !(1..=max).contains(&value) {
                return Err(TrainError::invalid(name, format!("1..={max}"), value));
            }
        }
        let test_codes = codes(
            &data.test.labels()[..config.test_limit],
            config.noise,
            eval_device,
        );
        Ok(Self {
            config,
            blocks,
            data,
            test_codes,
            eval_device: eval_device.clone(),
        })
    }

    /// `fit`'s settings: a block of `eval_every` iterations per epoch, the learning rate,
    /// the seed, `out_dir`.
    pub fn trainer(&self) -> TrainerConfig {
        let c = &self.config;
        self.blocks
            .trainer(c.learning_rate, c.seed, c.out_dir.clone())
    }
}

impl Task for DigitWriterTask<'_> {
    type Model = DigitWriter;
    /// Images `[B, 28, 28]` in `[0, 1]` and their labels `[B]`.
    type Batch = (Tensor<3>, Vec<u8>);

    /// Weights drawn at once ([`crate::init_now`]), from the seed `fit` has just set.
    fn model(&self, device: &Device) -> Result<DigitWriter, TrainError> {
        let model = DigitWriter::new(self.config.neurons, self.config.noise, device)?;
        Ok(crate::init_now(model))
    }

    fn batches(
        &self,
        epoch: usize,
        device: &Device,
    ) -> Result<impl ExactSizeIterator<Item = Self::Batch>, TrainError> {
        let (train, bs) = (&self.data.train, self.config.batch_size);
        let per_epoch = train.len() / bs;
        let mut order: Option<(usize, Vec<usize>)> = None;
        let mut batches = Vec::new();
        for iteration in self.blocks.iterations(epoch) {
            let (mnist_epoch, k) = (iteration / per_epoch, iteration % per_epoch);
            if order.as_ref().is_none_or(|(e, _)| *e != mnist_epoch) {
                let o = train.epoch_order(true, self.config.seed, mnist_epoch as u64);
                order = Some((mnist_epoch, o));
            }
            let indices = &order.as_ref().expect("set above").1[k * bs..(k + 1) * bs];
            batches.push(batch(train, indices, device)?);
        }
        Ok(batches.into_iter())
    }

    fn step(&self, model: &DigitWriter, batch: Self::Batch) -> Result<StepOutput, TrainError> {
        let (images, labels) = batch;
        let code = codes(&labels, self.config.noise, &images.device());
        let logits = model.logits(code, images.clone())?;
        Ok(StepOutput {
            loss: bce_with_logits(logits, images),
            correct: 0,
            count: labels.len(),
        })
    }

    fn evaluate(&self, model: &DigitWriter) -> Result<f64, TrainError> {
        let limit = self.config.test_limit;
        let mut total = 0.0;
        for start in (0..limit).step_by(EVAL_BATCH) {
            let n = EVAL_BATCH.min(limit - start);
            let indices: Vec<usize> = (start..start + n).collect();
            let (images, _) = batch(&self.data.test, &indices, &self.eval_device)?;
            let code = self.test_codes.clone().narrow(0, start, n);
            let logits = model.logits(code, images.clone())?;
            total += bce_with_logits(logits, images).into_scalar::<f32>() as f64 * n as f64;
        }
        Ok(total / limit as f64)
    }

    fn evaluation_name(&self) -> &'static str {
        "per-pixel binary cross-entropy on the test images, teacher-forced"
    }

    /// Prints `0 \ttraining BCE: 0.69098` every `print_every` iterations.
    fn after_step(&self, global_step: usize, loss: f32) {
        if global_step.is_multiple_of(self.config.print_every) {
            println!("{global_step} \ttraining BCE: {loss:.5}");
        }
    }

    fn epoch_line(&self, _: &rnn_train::EpochMetrics) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images, label `i % 10`: a bright bar over rows `2c + 4 ..= 2c + 6`, columns 4..24
    /// (a little shifted by `i`), the rest black.
    fn bars(n: usize) -> MnistSplit {
        let mut images = vec![0u8; n * ROWS * COLS];
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for (i, &c) in labels.iter().enumerate() {
            for r in 2 * c as usize + 4..2 * c as usize + 7 {
                for col in 4 + i % 3..24 + i % 3 {
                    images[(i * ROWS + r) * COLS + col] = 255;
                }
            }
        }
        MnistSplit::new(images, labels).unwrap()
    }

    fn settings(out_dir: PathBuf) -> DigitWriting {
        DigitWriting {
            iterations: 60,
            batch_size: 20,
            neurons: 16,
            noise: 2,
            learning_rate: 0.01,
            seed: 5,
            test_limit: 50,
            print_every: 20,
            eval_every: 30,
            out_dir,
        }
    }

    #[test]
    fn a_short_run_lowers_the_test_loss_and_settings_are_checked() {
        let data = Mnist {
            train: bars(100),
            test: bars(50),
        };
        let device = rnn_core::device::default_device().unwrap();
        let train_device = device.clone().autodiff();
        let out = tempfile::tempdir().unwrap();
        let task =
            DigitWriterTask::new(settings(out.path().to_path_buf()), &data, &device).unwrap();
        // 60 iterations of 20 images (5 batches per MNIST epoch, 12 epochs, each shuffled) in
        // two blocks of 30.
        let block = task.batches(1, &train_device).unwrap();
        assert_eq!(block.len(), 30);
        train_device.seed(5);
        let untrained = task.model(&train_device).unwrap();
        let before = task.evaluate(&untrained.valid()).unwrap();
        assert!((before - std::f64::consts::LN_2).abs() < 0.05, "{before}");
        let fitted = rnn_train::fit(&task.trainer(), &task, &train_device).unwrap();
        assert_eq!(fitted.history.len(), 2);
        let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        let after = fitted.history[1].test_accuracy;
        assert!(after < 0.5 * before, "60 steps: {before} -> {after}");
        // The evaluation's noise is fixed: the same model scores the same.
        let again = task.evaluate(&fitted.model.valid()).unwrap();
        assert!((again - after).abs() < 1e-6, "{again} vs {after}");
        let drawn = fitted
            .model
            .valid()
            .draw(codes(&[3, 7], 2, &device))
            .unwrap();
        assert_eq!(drawn.dims(), [2, ROWS, COLS]);

        for (change, name) in [
            (
                (|c: &mut DigitWriting| c.iterations = 0) as fn(&mut _),
                "--iterations",
            ),
            (|c| c.batch_size = 0, "--batch-size"),
            (|c| c.batch_size = 101, "--batch-size"),
            (|c| c.neurons = 0, "--neurons"),
            (|c| c.test_limit = 51, "--test-limit"),
            (|c| c.print_every = 0, "print_every"),
            (|c| c.eval_every = 0, "eval_every"),
            (|c| c.learning_rate = 0.0, "--lr"),
        ] {
            let mut c = settings(out.path().to_path_buf());
            change(&mut c);
            let err = DigitWriterTask::new(c, &data, &device).err().unwrap();
            assert!(err.to_string().starts_with(&format!("`{name}`")), "{err}");
        }
    }
}
