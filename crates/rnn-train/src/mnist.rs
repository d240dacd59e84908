//! The book's MNIST classifier as a [`Task`]: each image `[28, 28]` is read as 28 time steps
//! of 28 pixels by `layers` recurrent layers of `hidden` units (basic tanh or relu, LSTM or
//! GRU; [`MultiRnnCell`]), a dense layer of 10 logits sits on the last output
//! ([`SequenceClassifier`]), sparse softmax cross-entropy on batches `[B, 28, 28]` + labels
//! `[B]`, test accuracy over the whole test set after each epoch.
//!
//! `cargo xtask mnist` is a command line over [`MnistConfig`] and [`train`]; the settings
//! that shape the model and its training are recorded in each checkpoint
//! ([`MnistConfig::hyper_parameters`]), and [`MnistConfig::memory_estimate`] sizes a run
//! before it starts.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use burn::tensor::Device;
use rnn_core::{
    Activation, BasicRnnCellConfig, GruCellConfig, LayerNormLstmCellConfig, LstmCellConfig,
    MultiRnnCell, RnnCell, RnnError,
};
use rnn_data::{BatchOptions, Mnist, MnistBatch};

use crate::memory::{Estimate, recurrent_parameters};
use crate::{
    EpochMetrics, SequenceClassifier, StepOutput, Task, TrainError, TrainerConfig, count_correct,
    fit, sparse_softmax_cross_entropy,
};

/// Pixels per row (the input size) and rows per image (the steps).
pub const SIDE: usize = 28;
/// Classes (digits).
pub const CLASSES: usize = 10;
/// The evaluation batch (the test set goes through in batches of this many).
pub const EVAL_BATCH: usize = 1000;

/// The cell reading the rows (`--cell basic|lstm|gru|ln-lstm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// `BasicRnnCell` ([`MnistConfig::activation`]: tanh, the book's choice, or relu).
    Basic,
    /// `LstmCell`.
    Lstm,
    /// `GruCell`.
    Gru,
    /// `LayerNormLstmCell` (TF's `LayerNormBasicLSTMCell`).
    LnLstm,
}

/// The basic cell's activation (`--activation tanh|relu`); LSTM and GRU keep their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationKind {
    /// `tanh`, the book's (and TF's) default.
    Tanh,
    /// `max(0, x)`: the book's deep MNIST RNN (3 layers of 100).
    Relu,
}

/// Parses a lower-case name among `names` into its value; the error lists them.
fn parse_name<T: Copy>(s: &str, names: &[(&str, T)]) -> Result<T, String> {
    names
        .iter()
        .find(|(n, _)| *n == s)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!("expected one of {}, got `{s}`", all.join(", "))
        })
}

const CELLS: [(&str, CellKind); 4] = [
    ("basic", CellKind::Basic),
    ("lstm", CellKind::Lstm),
    ("gru", CellKind::Gru),
    ("ln-lstm", CellKind::LnLstm),
];
const ACTIVATIONS: [(&str, ActivationKind); 2] = [
    ("tanh", ActivationKind::Tanh),
    ("relu", ActivationKind::Relu),
];

impl FromStr for CellKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_name(s, &CELLS)
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = CELLS.iter().find(|(_, c)| c == self).map(|(n, _)| *n);
        f.write_str(name.unwrap_or("?"))
    }
}

impl FromStr for ActivationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_name(s, &ACTIVATIONS)
    }
}

impl fmt::Display for ActivationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = ACTIVATIONS.iter().find(|(_, a)| a == self).map(|(n, _)| *n);
        f.write_str(name.unwrap_or("?"))
    }
}

/// What shapes the MNIST model and its training (the flags of `cargo xtask mnist`).
#[derive(Debug, Clone, PartialEq)]
pub struct MnistConfig {
    /// The recurrent cell.
    pub cell: CellKind,
    /// The basic cell's activation (only tanh with LSTM and GRU).
    pub activation: ActivationKind,
    /// Units per recurrent layer `H` (the book's `n_neurons`: 150).
    pub hidden: usize,
    /// Stacked recurrent layers (the book's deep RNN: 3).
    pub layers: usize,
    /// Examples per batch `B` (150).
    pub batch_size: usize,
    /// Adam's learning rate (0.001).
    pub learning_rate: f64,
    /// Seed of the weights, the shuffles and the device RNG.
    pub seed: u64,
    /// Training on the first N images only (recorded; the caller cuts the data).
    pub train_limit: Option<usize>,
}

impl MnistConfig {
    /// The book's classifier: one basic tanh layer of 150, batch 150, Adam 0.001, seed 42.
    pub fn book() -> Self {
        Self {
            cell: CellKind::Basic,
            activation: ActivationKind::Tanh,
            hidden: 150,
            layers: 1,
            batch_size: 150,
            learning_rate: 0.001,
            seed: 42,
            train_limit: None,
        }
    }

    /// Checks the combination: sizes of at least 1, a finite learning rate > 0, and relu only
    /// with the basic cell. Errors name the flag.
    pub fn validate(&self) -> Result<(), TrainError> {
        for (flag, v) in [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--batch-size", self.batch_size),
        ] {
            if v == 0 {
                return Err(TrainError::invalid(flag, "at least 1", 0));
            }
        }
        crate::args::check_positive("--lr", self.learning_rate)?;
        if self.cell != CellKind::Basic && self.activation != ActivationKind::Tanh {
            return Err(TrainError::invalid(
                "--activation",
                format!(
                    "tanh with --cell {} (its gates fix their activations)",
                    self.cell
                ),
                self.activation,
            ));
        }
        Ok(())
    }

    /// The run's shaping flags as the user gives them: `--cell basic --activation relu
    /// --hidden 100 --layers 3 --batch-size 150`.
    pub fn describe(&self) -> String {
        format!(
            "--cell {} --activation {} --hidden {} --layers {} --batch-size {}",
            self.cell, self.activation, self.hidden, self.layers, self.batch_size
        )
    }

    /// `(flag, value)` of everything that shapes the model and its training, recorded in each
    /// checkpoint; a resume with other values is refused naming the flag
    /// ([`TrainerConfig::hyper_parameters`]).
    pub fn hyper_parameters(&self) -> Vec<(String, String)> {
        let limit = self
            .train_limit
            .map_or_else(|| "none".to_string(), |n| n.to_string());
        [
            ("--cell", self.cell.to_string()),
            ("--activation", self.activation.to_string()),
            ("--hidden", self.hidden.to_string()),
            ("--layers", self.layers.to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--lr", self.learning_rate.to_string()),
            ("--train-limit", limit),
            ("--seed", self.seed.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Weight blocks per layer: the basic cell 1, GRU 3, LSTM 4.
    fn gates(&self) -> u128 {
        match self.cell {
            CellKind::Basic => 1,
            CellKind::Gru => 3,
            CellKind::Lstm | CellKind::LnLstm => 4,
        }
    }

    /// What the run needs, roughly (see [`crate::memory`] for how close it comes): the
    /// parameters (layers of `gates * H * (I + H + 1)`, the dense layer `10 (H + 1)`) four
    /// times (weights, gradients, Adam's two moments); the larger of the training step's
    /// activations (per unit, step, layer and example: the output, the gates, and their
    /// gradients) and the evaluation batch's (outputs and gates of 1000 examples, two layers
    /// at a time); MNIST decoded (70,000 x 785 bytes).
    pub fn memory_estimate(&self) -> Estimate {
        let (h, l, b, g) = (
            self.hidden as u128,
            self.layers as u128,
            self.batch_size as u128,
            self.gates(),
        );
        let t = SIDE as u128;
        let params = recurrent_parameters(SIDE as u128, l, h, g) + CLASSES as u128 * (h + 1);
        let train = b * t * l * h * (g + 2);
        let eval = EVAL_BATCH as u128 * t * h * (g + 1) * l.min(2);
        Estimate::new(params, 4, train.max(eval), 70_000 * 785)
    }
}

/// The MNIST task over cells of type `C` (built by `cell(k, input_size, device)` for layer
/// `k`), on `data` (its training split as given: cut it for a quick run).
pub struct MnistTask<'a, C> {
    config: &'a MnistConfig,
    data: &'a Mnist,
    options: BatchOptions,
    eval_device: Device,
    cell: fn(&MnistConfig, usize, &Device) -> Result<C, RnnError>,
}

impl<C: RnnCell> Task for MnistTask<'_, C> {
    type Model = SequenceClassifier<MultiRnnCell<C>>;
    type Batch = MnistBatch;

    fn model(&self, device: &Device) -> Result<Self::Model, TrainError> {
        let cells = (0..self.config.layers)
            .map(|k| {
                let input = if k == 0 { SIDE } else { self.config.hidden };
                (self.cell)(self.config, input, device)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SequenceClassifier::new(
            MultiRnnCell::new(cells)?,
            CLASSES,
            device,
        ))
    }

    fn batches(
        &self,
        epoch: usize,
        device: &Device,
    ) -> Result<impl ExactSizeIterator<Item = MnistBatch>, TrainError> {
        self.data
            .train
            .batches(&self.options, epoch as u64, device)
            .map_err(TrainError::data)
    }

    fn step(&self, model: &Self::Model, batch: MnistBatch) -> Result<StepOutput, TrainError> {
        let count = batch.len();
        let logits = model.forward(batch.images)?;
        let correct = count_correct(logits.clone(), batch.labels.clone())?;
        Ok(StepOutput {
            loss: sparse_softmax_cross_entropy(logits, batch.labels)?,
            correct,
            count,
        })
    }

    fn evaluate(&self, model: &Self::Model) -> Result<f64, TrainError> {
        let mut correct = 0;
        let test = &self.data.test;
        for batch in test
            .in_order(EVAL_BATCH, &self.eval_device)
            .map_err(TrainError::data)?
        {
            correct += count_correct(model.forward(batch.images)?, batch.labels)?;
        }
        Ok(correct as f64 / test.len().max(1) as f64)
    }
}

/// What [`train`] ends with.
#[derive(Debug, Clone)]
pub struct MnistRun {
    /// Every epoch's metrics (a resumed run's earlier epochs included).
    pub history: Vec<EpochMetrics>,
    /// The last checkpoint written or loaded.
    pub checkpoint: Option<PathBuf>,
}

/// Trains `config`'s classifier on `data` with [`fit`] (`trainer`'s epochs, output directory,
/// resume; its learning rate, seed and hyper-parameters should be `config`'s, see
/// [`MnistConfig::trainer`]) on the autodiff `device`.
pub fn train(
    config: &MnistConfig,
    data: &Mnist,
    trainer: &TrainerConfig,
    device: &Device,
) -> Result<MnistRun, TrainError> {
    config.validate()?;
    match config.cell {
        CellKind::Basic => run(config, data, trainer, device, |c, input, dev| {
            let activation = match c.activation {
                ActivationKind::Tanh => Activation::Tanh,
                ActivationKind::Relu => Activation::Relu,
            };
            BasicRnnCellConfig::new(input, c.hidden)
                .with_activation(activation)
                .init(dev)
        }),
        CellKind::Lstm => run(config, data, trainer, device, |c, input, dev| {
            LstmCellConfig::new(input, c.hidden).init(dev)
        }),
        CellKind::Gru => run(config, data, trainer, device, |c, input, dev| {
            GruCellConfig::new(input, c.hidden).init(dev)
        }),
        CellKind::LnLstm => run(config, data, trainer, device, |c, input, dev| {
            LayerNormLstmCellConfig::new(input, c.hidden).init(dev)
        }),
    }
}

fn run<C: RnnCell>(
    config: &MnistConfig,
    data: &Mnist,
    trainer: &TrainerConfig,
    device: &Device,
    cell: fn(&MnistConfig, usize, &Device) -> Result<C, RnnError>,
) -> Result<MnistRun, TrainError> {
    let task = MnistTask {
        config,
        data,
        options: BatchOptions::new(config.batch_size).seed(config.seed),
        eval_device: device.clone().inner(),
        cell,
    };
    let fitted = fit(trainer, &task, device)?;
    Ok(MnistRun {
        history: fitted.history,
        checkpoint: fitted.checkpoint,
    })
}

impl MnistConfig {
    /// The [`TrainerConfig`] of this run: `epochs` into `out_dir`, this config's learning
    /// rate, seed and [`hyper-parameters`](Self::hyper_parameters), no clipping.
    pub fn trainer(
        &self,
        epochs: usize,
        out_dir: PathBuf,
        resume: bool,
        progress: bool,
    ) -> TrainerConfig {
        TrainerConfig {
            epochs,
            learning_rate: self.learning_rate,
            seed: self.seed,
            out_dir,
            resume,
            clip: None,
            progress,
            hyper_parameters: self.hyper_parameters(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_listed() {
        for (name, cell) in CELLS {
            assert_eq!(name.parse::<CellKind>().unwrap(), cell);
            assert_eq!(cell.to_string(), name);
        }
        for (name, act) in ACTIVATIONS {
            assert_eq!(name.parse::<ActivationKind>().unwrap(), act);
            assert_eq!(act.to_string(), name);
        }
        assert_eq!(
            "rnn".parse::<CellKind>().unwrap_err(),
            "expected one of basic, lstm, gru, ln-lstm, got `rnn`"
        );
        assert_eq!(
            "sigmoid".parse::<ActivationKind>().unwrap_err(),
            "expected one of tanh, relu, got `sigmoid`"
        );
    }

    #[test]
    fn relu_is_for_the_basic_cell_and_is_recorded() {
        let mut config = MnistConfig::book();
        config.activation = ActivationKind::Relu;
        config.validate().unwrap();
        assert!(
            config
                .hyper_parameters()
                .contains(&("--activation".into(), "relu".into()))
        );
        config.cell = CellKind::Lstm;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "`--activation`: expected tanh with --cell lstm (its gates fix their activations), \
             got relu"
        );
        config.activation = ActivationKind::Tanh;
        config.hidden = 0;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "`--hidden`: expected at least 1, got 0"
        );
    }
}
