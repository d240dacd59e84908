//! Sequence to sequence on the chapter's series (fig. 14-4): an encoder reads a window of
//! [`N_IN`] = 20 values, its final state starts a decoder that emits the next [`N_OUT`] = 10
//! ([`EncoderDecoder`]), and its training as an rnn-train [`Task`] ([`EncoderDecoderTask`]):
//! teacher forcing on fresh windows of the series, Adam on the MSE over the 10 future steps.
//! [`rnn_train::fit`] runs it in blocks of `print_every` iterations ([`crate::blocks`]); after
//! each, the greedy 10-step forecast (the decoder fed its own outputs) is scored on unseen
//! windows and a checkpoint and the metrics are written into `out_dir` (`metrics.csv`:
//! `test_accuracy` holds that MSE). The `encoder_decoder` binary runs it beside the book's
//! one-step forecaster.

use std::cell::RefCell;
use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rnn_core::{
    Activation, BasicRnnCell, BasicRnnCellConfig, Decoder, OutputProjectionWrapper,
    OutputProjectionWrapperConfig, RnnError, dynamic_rnn,
};
use rnn_data::{DataError, TimeSeries};
use rnn_train::{StepOutput, Steps, Task, TrainError, TrainerConfig, mse_over_steps};

use crate::blocks::Blocks;

/// Values the encoder reads.
pub const N_IN: usize = 20;
/// Values the decoder emits.
pub const N_OUT: usize = 10;
/// The unseen windows' generator is seeded with `seed ^ TEST_SEED_XOR` (training's with
/// `seed`).
const TEST_SEED_XOR: u64 = 0x7e57;

/// Encoder `[B, 20, 1] -> state [B, H]`; decoder from that state, `[B, 10, 1]`. Both relu
/// `BasicRnnCell`s of H units on 1 input; the decoder's outputs projected to 1 value per step.
#[derive(Module, Debug)]
pub struct EncoderDecoder {
    /// Relu cell `1 -> H`.
    encoder: BasicRnnCell,
    /// Relu cell `1 -> H` projected to 1 output per step.
    decoder: OutputProjectionWrapper<BasicRnnCell>,
}

impl EncoderDecoder {
    /// Encoder and decoder of `n_neurons` units each, weights from `device`'s RNG (encoder
    /// first); fails when `n_neurons` is 0.
    pub fn new(n_neurons: usize, device: &Device) -> Result<Self, RnnError> {
        let relu = || {
            BasicRnnCellConfig::new(1, n_neurons)
                .with_activation(Activation::Relu)
                .init(device)
        };
        Ok(Self {
            encoder: relu()?,
            decoder: OutputProjectionWrapperConfig::new(1).init(relu()?, device)?,
        })
    }

    /// The encoder's final state `[B, H]` for `past [B, 20, 1]`.
    pub fn encode(&self, past: Tensor<3>) -> Result<Tensor<2>, RnnError> {
        Ok(dynamic_rnn(&self.encoder, past, None, None)?.1)
    }

    /// Training: teacher forcing, step k reads the true value before it. `past [B, 20, 1]`,
    /// `future [B, 10, 1]` -> predictions `[B, 10, 1]`.
    pub fn teacher_forced(
        &self,
        past: Tensor<3>,
        future: Tensor<3>,
    ) -> Result<Tensor<3>, RnnError> {
        let state = self.encode(past.clone())?;
        let last = past.narrow(1, N_IN - 1, 1);
        let inputs = Tensor::cat(vec![last, future.narrow(1, 0, N_OUT - 1)], 1);
        let decoded = Decoder::teacher_forced(inputs, N_OUT).run(&self.decoder, Some(state))?;
        Ok(decoded.outputs)
    }

    /// Test time: step 0 reads the last seen value, every later step the decoder's own
    /// previous output. `past [B, 20, 1]` -> predictions `[B, 10, 1]`.
    pub fn forecast(&self, past: Tensor<3>) -> Result<Tensor<3>, RnnError> {
        let [b, _, _] = past.dims();
        let state = self.encode(past.clone())?;
        let last = past.narrow(1, N_IN - 1, 1).reshape([b, 1]);
        let decoded = Decoder::greedy(last, N_OUT)
            .with_feedback(|y| y.clone())
            .run(&self.decoder, Some(state))?;
        Ok(decoded.outputs)
    }
}

/// `batch` windows of 30 consecutive values of the series, on the host: the 20 read
/// (`past`, `[B, 20]` row-major), the 10 to forecast (`future`, `[B, 10]`) and each window's
/// start time (`starts`, `[B]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// `[B, 20]`, row-major.
    pub past: Vec<f32>,
    /// `[B, 10]`, row-major.
    pub future: Vec<f32>,
    /// `[B]`: the time of each window's first value.
    pub starts: Vec<f64>,
    /// B.
    pub batch: usize,
}

impl Windows {
    /// The next `batch` windows of `series` (fails when `batch` is 0).
    pub fn draw(series: &mut TimeSeries, batch: usize) -> Result<Self, DataError> {
        let n = N_IN + N_OUT;
        let w = series.next_windows(batch, n - 1)?;
        let (mut past, mut future) = (Vec::new(), Vec::new());
        for b in 0..batch {
            let mut values = w.inputs[b * (n - 1)..(b + 1) * (n - 1)].to_vec();
            values.push(w.targets[(b + 1) * (n - 1) - 1]);
            past.extend_from_slice(&values[..N_IN]);
            future.extend_from_slice(&values[N_IN..]);
        }
        Ok(Self {
            past,
            future,
            starts: w.starts,
            batch,
        })
    }

    /// Past `[B, 20, 1]` and future `[B, 10, 1]` on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<3>, Tensor<3>) {
        let past = TensorData::new(self.past.clone(), [self.batch, N_IN, 1]);
        let future = TensorData::new(self.future.clone(), [self.batch, N_OUT, 1]);
        (
            Tensor::from_data(past, device),
            Tensor::from_data(future, device),
        )
    }
}

/// The encoder-decoder's training settings (the binary's defaults in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderDecoderTraining {
    /// Adam steps, one batch each (1500).
    pub iterations: usize,
    /// Windows per batch (50).
    pub batch_size: usize,
    /// Units of the encoder's and the decoder's relu cell (100).
    pub neurons: usize,
    /// Adam's learning rate (0.001).
    pub learning_rate: f64,
    /// `fit` seeds the device with it before building the model; the training windows'
    /// generator is seeded with it, the unseen windows' with `seed ^ 0x7e57` (42).
    pub seed: u64,
    /// Unseen windows in the evaluation (1000).
    pub eval_windows: usize,
    /// Print the batch MSE every this many iterations; also the block of iterations between
    /// evaluations and checkpoints (100).
    pub print_every: usize,
    /// Where the checkpoints and `metrics.csv`/`metrics.json` go.
    pub out_dir: PathBuf,
}

/// The encoder-decoder as a [`Task`]: batches of fresh windows (past `[B, 20, 1]`, future
/// `[B, 10, 1]`, drawn in order from one generator, so a run is not resumable), the
/// teacher-forced MSE over the 10 future steps as the loss, and as evaluation the MSE of
/// [`EncoderDecoder::forecast`] on the unseen windows ([`EncoderDecoderTask::test`]).
pub struct EncoderDecoderTask {
    config: EncoderDecoderTraining,
    blocks: Blocks,
    /// The training windows, drawn in order across blocks.
    series: RefCell<TimeSeries>,
    /// The unseen windows, on the host.
    test: Windows,
    /// Past `[E, 20, 1]` and future `[E, 10, 1]` of the unseen windows, on the evaluation
    /// device.
    test_tensors: (Tensor<3>, Tensor<3>),
}

impl EncoderDecoderTask {
    /// The task for `config`, evaluated on the plain `eval_device`; draws the unseen windows.
    /// Fails naming the setting when `iterations`, `batch_size`, `neurons`, `eval_windows` or
    /// `print_every` is 0 or the learning rate is not a finite number > 0.
    pub fn new(config: EncoderDecoderTraining, eval_device: &Device) -> Result<Self, TrainError> {
        let blocks = Blocks::new(config.iterations, config.print_every, "print_every")?;
        rnn_train::args::check_positive("--lr", config.learning_rate)?;
        for (name, value) in [
            ("--batch-size", config.batch_size),
            ("--neurons", config.neurons),
            ("--eval-windows", config.eval_windows),
        ] {
            if value == 0 {
                return Err(TrainError::invalid(name, "at least 1", 0));
            }
        }
        let mut unseen = TimeSeries::new(config.seed ^ TEST_SEED_XOR);
        let test = Windows::draw(&mut unseen, config.eval_windows).map_err(TrainError::data)?;
        let test_tensors = test.tensors(eval_device);
        Ok(Self {
            series: RefCell::new(TimeSeries::new(config.seed)),
            config,
            blocks,
            test,
            test_tensors,
        })
    }

    /// The unseen windows of the evaluation (`eval_windows` of them).
    pub fn test(&self) -> &Windows {
        &self.test
    }

    /// The unseen windows on the evaluation device: past `[E, 20, 1]`, future `[E, 10, 1]`.
    pub fn test_tensors(&self) -> (Tensor<3>, Tensor<3>) {
        self.test_tensors.clone()
    }

    /// `fit`'s settings: a block of `print_every` iterations per epoch, the learning rate,
    /// the seed, `out_dir`.
    pub fn trainer(&self) -> TrainerConfig {
        let c = &self.config;
        self.blocks
            .trainer(c.learning_rate, c.seed, c.out_dir.clone())
    }
}

impl Task for EncoderDecoderTask {
    type Model = EncoderDecoder;
    /// Past `[B, 20, 1]`, future `[B, 10, 1]`.
    type Batch = (Tensor<3>, Tensor<3>);

    /// Weights drawn at once ([`crate::init_now`]), from the seed `fit` has just set.
    fn model(&self, device: &Device) -> Result<EncoderDecoder, TrainError> {
        Ok(crate::init_now(EncoderDecoder::new(
            self.config.neurons,
            device,
        )?))
    }

    fn batches(
        &self,
        epoch: usize,
        device: &Device,
    ) -> Result<impl ExactSizeIterator<Item = Self::Batch>, TrainError> {
        let mut series = self.series.borrow_mut();
        self.blocks
            .iterations(epoch)
            .map(|_| Windows::draw(&mut series, self.config.batch_size).map(|w| w.tensors(device)))
            .collect::<Result<Vec<_>, _>>()
            .map(Vec::into_iter)
            .map_err(TrainError::data)
    }

    fn step(&self, model: &EncoderDecoder, batch: Self::Batch) -> Result<StepOutput, TrainError> {
        let (past, future) = batch;
        let pred = model.teacher_forced(past, future.clone())?;
        Ok(StepOutput {
            loss: mse_over_steps(pred, future, &Steps::All)?,
            correct: 0,
            count: self.config.batch_size,
        })
    }

    fn evaluate(&self, model: &EncoderDecoder) -> Result<f64, TrainError> {
        let (past, future) = self.test_tensors();
        let pred = model.forecast(past)?;
        Ok(mse_over_steps(pred, future, &Steps::All)?.into_scalar::<f32>() as f64)
    }

    fn evaluation_name(&self) -> &'static str {
        "MSE of the greedy 10-step forecast on the unseen windows"
    }

    /// Prints `0 \tencoder-decoder training MSE: 14.788021` every `print_every` iterations.
    fn after_step(&self, global_step: usize, loss: f32) {
        if global_step.is_multiple_of(self.config.print_every) {
            println!("{global_step} \tencoder-decoder training MSE: {loss}");
        }
    }

    fn epoch_line(&self, _: &rnn_train::EpochMetrics) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(out_dir: PathBuf) -> EncoderDecoderTraining {
        EncoderDecoderTraining {
            iterations: 300,
            batch_size: 50,
            neurons: 32,
            learning_rate: 0.001,
            seed: 5,
            eval_windows: 200,
            print_every: 100,
            out_dir,
        }
    }

    #[test]
    fn a_short_run_lowers_the_forecast_error_and_settings_are_checked() {
        let device = rnn_core::device::default_device().unwrap();
        let train_device = device.clone().autodiff();
        let out = tempfile::tempdir().unwrap();
        let task = EncoderDecoderTask::new(settings(out.path().to_path_buf()), &device).unwrap();
        assert_eq!(task.test().batch, 200);
        assert_eq!(task.test().past.len(), 200 * N_IN);
        // The model fit starts from: the device seeded with the run's seed, then built (other
        // tests running beside this one draw from the same RNG: the margins allow for any
        // initial weights, 0.04 to 0.3 over seeds 1 to 8).
        train_device.seed(5);
        let untrained = task.model(&train_device).unwrap();
        let before = task.evaluate(&untrained.valid()).unwrap();
        let fitted = rnn_train::fit(&task.trainer(), &task, &train_device).unwrap();
        // Three blocks of 100: three evaluations in the metrics.
        assert_eq!(fitted.history.len(), 3);
        let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        let after = fitted.history[2].test_accuracy;
        assert!(
            after < before / 2.0,
            "300 steps should cut the 10-step forecast's error: {before} -> {after}"
        );
        // The last evaluation is the trained model's.
        let again = task.evaluate(&fitted.model.valid()).unwrap();
        assert!(
            (again - after).abs() <= 1e-6 * after.max(1.0),
            "{again} vs {after}"
        );

        for (change, name) in [
            (
                (|c: &mut EncoderDecoderTraining| c.iterations = 0) as fn(&mut _),
                "--iterations",
            ),
            (|c| c.batch_size = 0, "--batch-size"),
            (|c| c.neurons = 0, "--neurons"),
            (|c| c.eval_windows = 0, "--eval-windows"),
            (|c| c.print_every = 0, "print_every"),
            (|c| c.learning_rate = f64::NAN, "--lr"),
        ] {
            let mut c = settings(out.path().to_path_buf());
            change(&mut c);
            let err = EncoderDecoderTask::new(c, &device).err().unwrap();
            assert!(err.to_string().starts_with(&format!("`{name}`")), "{err}");
        }
    }
}
