//! The benchmark suite of `cargo xtask bench`: every workload the project is judged on, built
//! through the public API a user would call (rnn-core cells and unrolls, rnn-train's
//! classifier, losses and Adam), with the same names, shapes and protocol as the PyTorch
//! script `benches/torch/rnn_workloads.py`, so the two can be compared row by row.
//!
//! | name | model | batch, steps, inputs, units | timed step |
//! | --- | --- | --- | --- |
//! | `mnist-train` | tanh `BasicRnnCell`, dense 10 on the last output, cross-entropy | 150, 28, 28, 150 | forward + backward + Adam |
//! | `mnist-infer` | the same, forward only on a plain device | 10000, 28, 28, 150 | forward |
//! | `forecast-train` | relu `BasicRnnCell` + `OutputProjectionWrapper(1)`, MSE | 50, 20, 1, 100 | forward + backward + Adam |
//! | `deep3-t5`, `deep3-t20` | 3 tanh cells in a `MultiRnnCell`, projection to 1, MSE | 64, 5 / 20, 2 / 1, 100 | forward + backward |
//! | `lstm-train`, `gru-train` | `LstmCell` / `GruCell` (reset-after, `nn.GRU`'s form) in place of the basic cell | 150, 28, 28, 150 | forward + backward + Adam |
//! | `gru-tf-train` | `GruCell` in TF's form (reset before the recurrent product; PyTorch has no such GRU, its row runs `nn.GRU`) | 150, 28, 28, 150 | forward + backward + Adam |
//! | `scale-hH-tT` | tanh cell, dense 10 on the last output, cross-entropy | 64, T, 28, H (H 150, 512; T 28, 256, 1024) | forward + backward |
//! | `infer-h512-tT` | tanh cell through `dynamic_rnn` on a plain device (no graph), all outputs kept | 64, T, 28, 512 (T 28, 1024) | forward |
//! | `mnist-len-all`, `mnist-len-uniform` | `mnist-train` with `sequence_length` (all 28; uniform 1..28, [`bench_lengths`]), dense 10 on each example's last valid output | 150, 28, 28, 150 | forward + backward + Adam |
//! | `lstm-len-all`, `lstm-len-uniform` | `lstm-train` with `sequence_length`, the same two patterns | 150, 28, 28, 150 | forward + backward + Adam |
//! | `bilstm-len-uniform` | `bidirectional_dynamic_rnn` of two LSTMs with uniform lengths, dense 10 on both final `h`, cross-entropy | 150, 28, 28, 150 + 150 | forward + backward + Adam |
//! | `burn-rnn-train`, `burn-lstm-train`, `burn-gru-train` | burn's own `nn::Rnn` / `nn::Lstm` / `nn::Gru`, dense 10, cross-entropy | 150, 28, 28, 150 | forward + backward + Adam |
//!
//! Every step waits for all of its work before it returns ([`Workload::step`]): a training step
//! reads back one element of every parameter after the optimiser's update, a forward + backward
//! step one element of every gradient, an inference step a reduction of its outputs. A lazy
//! backend (wgpu) thus finishes the backward and the update inside the timed step.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{GruConfig, Linear, LinearConfig, LstmConfig, RnnConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor};
use rnn_core::{
    Activation, BasicRnnCell, BasicRnnCellConfig, GruCellConfig, LstmCellConfig, MultiRnnCell,
    OutputProjectionWrapperConfig, RnnCell, bidirectional_dynamic_rnn, dynamic_rnn,
};
use rnn_train::{
    SequenceClassifier, Steps, adam_tf1, mse_over_steps, sparse_softmax_cross_entropy,
};

/// One benchmark workload: its name, what it times, and its size in floating-point operations.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Row name, shared with the PyTorch script (`mnist-train`, ...).
    pub name: String,
    /// One line on the model and the timed step.
    pub about: String,
    /// Floating-point operations of one timed step, by the PyTorch script's convention:
    /// forward `2 B T (I H + H H)` per layer (+ the dense layer), training = 3 x forward.
    pub flops: f64,
    /// Sequences processed per timed step (B).
    pub sequences: usize,
}

/// A built workload: `step()` runs one timed step and returns its loss (or, for inference, a
/// reduction of its outputs), read back from the device.
pub trait Workload {
    /// One step (forward, and backward and the optimiser where the workload trains). It
    /// returns only once all of its work is done: after the last thing the step computes (the
    /// updated parameters, or the gradients) has been read back (see [`settle`]).
    fn step(&mut self) -> f32;
}

/// Reads back one element of every float parameter of `model` (of its gradient in `grads`,
/// when given), summed into one scalar: one transfer that depends on the whole optimiser
/// update (or the whole backward), so a lazy backend has run it when this returns. On a CPU
/// backend the step is already done and this costs one small op per parameter.
pub fn settle<M: Module>(model: &M, grads: Option<&burn::tensor::Gradients>) -> f32 {
    struct FirstElements<'a> {
        grads: Option<&'a burn::tensor::Gradients>,
        sum: Option<Tensor<1>>,
    }
    impl ModuleVisitor for FirstElements<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = match self.grads {
                Some(grads) => match param.val().grad(grads) {
                    Some(g) => g,
                    None => return, // not on the loss's path (none of the suite's)
                },
                None => param.val().detach(),
            };
            let first = value.flatten::<1>(0, D - 1).narrow(0, 0, 1);
            self.sum = Some(match self.sum.take() {
                Some(s) => s + first,
                None => first,
            });
        }
    }
    let mut v = FirstElements { grads, sum: None };
    model.visit(&mut v);
    v.sum.map_or(0.0, |s| s.into_scalar::<f32>())
}

/// Forward FLOPs of `layers` recurrent layers of `h` units over `[b, t, i]` (gates: multiply
/// by 4 for an LSTM, 3 for a GRU).
fn rnn_fwd_flops(b: usize, t: usize, i: usize, h: usize, layers: usize) -> f64 {
    let (b, t, i, h) = (b as f64, t as f64, i as f64, h as f64);
    2.0 * b * t * (i * h + h * h) + (layers as f64 - 1.0) * 2.0 * b * t * 2.0 * h * h
}

/// Every workload of the suite, in table order.
pub fn specs() -> Vec<Spec> {
    let mut v = Vec::new();
    let mut add = |name: &str, about: &str, flops: f64, sequences: usize| {
        v.push(Spec {
            name: name.to_string(),
            about: about.to_string(),
            flops,
            sequences,
        })
    };
    let mnist_fwd = rnn_fwd_flops(150, 28, 28, 150, 1) + 2.0 * 150.0 * 150.0 * 10.0;
    add(
        "mnist-train",
        "B150 T28 I28 H150 tanh, dense 10, CE, Adam",
        3.0 * mnist_fwd,
        150,
    );
    add(
        "mnist-infer",
        "the MNIST model, forward over 10000 sequences",
        rnn_fwd_flops(10_000, 28, 28, 150, 1) + 2.0 * 10_000.0 * 150.0 * 10.0,
        10_000,
    );
    add(
        "forecast-train",
        "B50 T20 I1 H100 relu, projection 1 per step, MSE, Adam",
        3.0 * (rnn_fwd_flops(50, 20, 1, 100, 1) + 2.0 * 50.0 * 20.0 * 100.0),
        50,
    );
    for (t, i) in [(5, 2), (20, 1)] {
        add(
            &format!("deep3-t{t}"),
            &format!("B64 T{t} I{i}, 3 x tanh H100, projection 1 per step, MSE, fwd+bwd"),
            3.0 * (rnn_fwd_flops(64, t, i, 100, 3) + 2.0 * 64.0 * t as f64 * 100.0),
            64,
        );
    }
    add(
        "lstm-train",
        "B150 T28 I28 H150 LSTM, dense 10, CE, Adam",
        3.0 * (4.0 * rnn_fwd_flops(150, 28, 28, 150, 1) + 2.0 * 150.0 * 150.0 * 10.0),
        150,
    );
    let gru_flops = 3.0 * (3.0 * rnn_fwd_flops(150, 28, 28, 150, 1) + 2.0 * 150.0 * 150.0 * 10.0);
    add(
        "gru-train",
        "B150 T28 I28 H150 GRU reset-after (nn.GRU's form), dense 10, CE, Adam",
        gru_flops,
        150,
    );
    add(
        "gru-tf-train",
        "B150 T28 I28 H150 GRU in TF's form (PyTorch: nn.GRU), dense 10, CE, Adam",
        gru_flops,
        150,
    );
    for h in [150, 512] {
        for t in [28, 256, 1024] {
            add(
                &format!("scale-h{h}-t{t}"),
                &format!("B64 T{t} I28 H{h} tanh, dense 10, CE, fwd+bwd"),
                3.0 * (rnn_fwd_flops(64, t, 28, h, 1) + 2.0 * 64.0 * h as f64 * 10.0),
                64,
            );
        }
    }
    for t in [28, 1024] {
        add(
            &format!("infer-h512-t{t}"),
            &format!("B64 T{t} I28 H512 tanh, dynamic_rnn forward on a plain device"),
            rnn_fwd_flops(64, t, 28, 512, 1),
            64,
        );
    }
    // Lengths: FLOPs of the steps actually run (the sum of the lengths), as PyTorch's packed
    // sequences count them.
    let steps_run = |pattern: &str| -> f64 {
        match pattern {
            "all" => 150.0 * 28.0,
            _ => bench_lengths(150, 28).iter().sum::<i64>() as f64,
        }
    };
    for (cell, gates, about) in [("mnist", 1.0, "tanh"), ("lstm", 4.0, "LSTM")] {
        for pattern in ["all", "uniform"] {
            let per_step = rnn_fwd_flops(1, 1, 28, 150, 1) * gates;
            let lengths = if pattern == "all" {
                "all 28"
            } else {
                "uniform 1..28"
            };
            add(
                &format!("{cell}-len-{pattern}"),
                &format!("B150 T28 I28 H150 {about}, lengths {lengths}, dense 10, CE, Adam"),
                3.0 * (per_step * steps_run(pattern) + 2.0 * 150.0 * 150.0 * 10.0),
                150,
            );
        }
    }
    add(
        "bilstm-len-uniform",
        "B150 T28 I28 bidirectional LSTM H150+150, lengths uniform 1..28, dense 10, CE, Adam",
        3.0 * (2.0 * 4.0 * rnn_fwd_flops(1, 1, 28, 150, 1) * steps_run("uniform")
            + 2.0 * 150.0 * 300.0 * 10.0),
        150,
    );
    for (name, gates) in [("rnn", 1.0), ("lstm", 4.0), ("gru", 3.0)] {
        add(
            &format!("burn-{name}-train"),
            &format!("burn::nn::{name} baseline, B150 T28 I28 H150, dense 10, CE, Adam"),
            3.0 * (gates * rnn_fwd_flops(150, 28, 28, 150, 1) + 2.0 * 150.0 * 150.0 * 10.0),
            150,
        );
    }
    v
}

/// The suite's per-example lengths over `steps` steps: uniform over `1..=steps` by a fixed
/// formula (`1 + (7919 b) mod steps`), the same in `benches/torch/rnn_workloads.py`.
pub fn bench_lengths(batch: usize, steps: usize) -> Vec<i64> {
    (0..batch)
        .map(|b| (1 + (7919 * b) % steps) as i64)
        .collect()
}

/// Builds workload `name` on `device` (an autodiff device is derived where it trains); the
/// error lists the known names.
pub fn build(name: &str, device: &Device) -> Result<Box<dyn Workload>, String> {
    let ad = device.clone().autodiff();
    let images = |b: usize, t: usize, dev: &Device| {
        Tensor::<3>::random([b, t, 28], Distribution::Normal(0.0, 1.0), dev)
    };
    let labels = |b: usize, dev: &Device| {
        Tensor::<1, Int>::random([b], Distribution::Uniform(0.0, 10.0), dev)
    };
    let w: Box<dyn Workload> = match name {
        "mnist-train" => Box::new(Classify::new(
            BasicRnnCellConfig::new(28, 150).init(&ad).unwrap(),
            images(150, 28, &ad),
            labels(150, &ad),
            true,
        )),
        "mnist-infer" => {
            let model = SequenceClassifier::new(
                BasicRnnCellConfig::new(28, 150).init(device).unwrap(),
                10,
                device,
            );
            Box::new(Infer {
                model,
                images: images(10_000, 28, device),
            })
        }
        "forecast-train" => {
            let cell = BasicRnnCellConfig::new(1, 100)
                .with_activation(Activation::Relu)
                .init(&ad)
                .unwrap();
            Box::new(Regress::new(
                OutputProjectionWrapperConfig::new(1)
                    .init(cell, &ad)
                    .unwrap(),
                [50, 20, 1],
                &ad,
                true,
            ))
        }
        "deep3-t5" | "deep3-t20" => {
            let (t, i) = if name == "deep3-t5" { (5, 2) } else { (20, 1) };
            let cells = (0..3)
                .map(|k| {
                    BasicRnnCellConfig::new(if k == 0 { i } else { 100 }, 100)
                        .init(&ad)
                        .unwrap()
                })
                .collect();
            let multi = MultiRnnCell::new(cells).map_err(|e| e.to_string())?;
            Box::new(Regress::new(
                OutputProjectionWrapperConfig::new(1)
                    .init(multi, &ad)
                    .unwrap(),
                [64, t, i],
                &ad,
                false,
            ))
        }
        "mnist-len-all" | "mnist-len-uniform" | "lstm-len-all" | "lstm-len-uniform" => {
            let lengths = match name.ends_with("all") {
                true => vec![28; 150],
                false => bench_lengths(150, 28),
            };
            let lengths = Tensor::<1, Int>::from_ints(lengths.as_slice(), &ad);
            let (x, y) = (images(150, 28, &ad), labels(150, &ad));
            if name.starts_with("mnist") {
                let cell = BasicRnnCellConfig::new(28, 150)
                    .init(&ad)
                    .map_err(|e| e.to_string())?;
                Box::new(Classify::new(cell, x, y, true).with_lengths(lengths))
            } else {
                let cell = LstmCellConfig::new(28, 150)
                    .init(&ad)
                    .map_err(|e| e.to_string())?;
                Box::new(Classify::new(cell, x, y, true).with_lengths(lengths))
            }
        }
        "bilstm-len-uniform" => {
            let lengths = Tensor::<1, Int>::from_ints(bench_lengths(150, 28).as_slice(), &ad);
            Box::new(BiClassify {
                model: Some(BiLstm {
                    fw: LstmCellConfig::new(28, 150)
                        .init(&ad)
                        .map_err(|e| e.to_string())?,
                    bw: LstmCellConfig::new(28, 150)
                        .init(&ad)
                        .map_err(|e| e.to_string())?,
                    dense: LinearConfig::new(300, 10).init(&ad),
                }),
                optim: adam_tf1().init(),
                images: images(150, 28, &ad),
                labels: labels(150, &ad),
                lengths,
            })
        }
        "lstm-train" => Box::new(Classify::new(
            LstmCellConfig::new(28, 150).init(&ad).unwrap(),
            images(150, 28, &ad),
            labels(150, &ad),
            true,
        )),
        "gru-train" | "gru-tf-train" => Box::new(Classify::new(
            GruCellConfig::new(28, 150)
                .with_reset_after(name == "gru-train")
                .init(&ad)
                .map_err(|e| e.to_string())?,
            images(150, 28, &ad),
            labels(150, &ad),
            true,
        )),
        "infer-h512-t28" | "infer-h512-t1024" => {
            let t = if name.ends_with("t28") { 28 } else { 1024 };
            Box::new(Unroll {
                cell: BasicRnnCellConfig::new(28, 512).init(device).unwrap(),
                inputs: images(64, t, device),
            })
        }
        "burn-rnn-train" | "burn-lstm-train" | "burn-gru-train" => {
            let model = BurnBaseline::new(name, &ad);
            Box::new(BurnTrain {
                model: Some(model),
                optim: adam_tf1().init(),
                images: images(150, 28, &ad),
                labels: labels(150, &ad),
            })
        }
        _ => {
            if let Some((h, t)) = parse_scale(name) {
                Box::new(Classify::new(
                    BasicRnnCellConfig::new(28, h).init(&ad).unwrap(),
                    images(64, t, &ad),
                    labels(64, &ad),
                    false,
                ))
            } else {
                let known: Vec<String> = specs().into_iter().map(|s| s.name).collect();
                return Err(format!(
                    "unknown workload `{name}`; expected one of: {}",
                    known.join(", ")
                ));
            }
        }
    };
    Ok(w)
}

/// `scale-h{H}-t{T}` -> `(H, T)` for the suite's six sizes.
fn parse_scale(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("scale-h")?;
    let (h, t) = rest.split_once("-t")?;
    let (h, t) = (h.parse().ok()?, t.parse().ok()?);
    ([150, 512].contains(&h) && [28, 256, 1024].contains(&t)).then_some((h, t))
}

/// Learning rate of every training workload (the book's).
const LR: f64 = 1e-3;

/// A sequence classifier step: logits on the last output, cross-entropy, and Adam when
/// `train` (else forward + backward only, reading one gradient back).
struct Classify<C: RnnCell> {
    model: Option<SequenceClassifier<C>>,
    optim: ModuleOptimizer,
    images: Tensor<3>,
    labels: Tensor<1, Int>,
    lengths: Option<Tensor<1, Int>>,
    train: bool,
}

impl<C: RnnCell> Classify<C> {
    fn new(cell: C, images: Tensor<3>, labels: Tensor<1, Int>, train: bool) -> Self {
        let device = images.device();
        Self {
            model: Some(SequenceClassifier::new(cell, 10, &device)),
            optim: adam_tf1().init(),
            images,
            labels,
            lengths: None,
            train,
        }
    }

    fn with_lengths(mut self, lengths: Tensor<1, Int>) -> Self {
        self.lengths = Some(lengths);
        self
    }
}

impl<C: RnnCell> Workload for Classify<C> {
    fn step(&mut self) -> f32 {
        let model = self.model.take().expect("model present between steps");
        let logits = model
            .forward_with_lengths(self.images.clone(), self.lengths.clone())
            .expect("valid shapes");
        let loss = sparse_softmax_cross_entropy(logits, self.labels.clone()).expect("valid shapes");
        let value = loss.clone().into_scalar::<f32>();
        let model = if self.train {
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let model = self.optim.step(LR, model, grads);
            settle(&model, None);
            model
        } else {
            settle(&model, Some(&loss.backward()));
            model
        };
        self.model = Some(model);
        value
    }
}

/// A bidirectional LSTM classifier: dense 10 on both directions' final `h` (`[B, 300]`).
#[derive(Module, Debug)]
struct BiLstm {
    fw: rnn_core::LstmCell,
    bw: rnn_core::LstmCell,
    dense: Linear,
}

struct BiClassify {
    model: Option<BiLstm>,
    optim: ModuleOptimizer,
    images: Tensor<3>,
    labels: Tensor<1, Int>,
    lengths: Tensor<1, Int>,
}

impl Workload for BiClassify {
    fn step(&mut self) -> f32 {
        let model = self.model.take().expect("model present between steps");
        let (_, (s_fw, s_bw)) = bidirectional_dynamic_rnn(
            &model.fw,
            &model.bw,
            self.images.clone(),
            None,
            None,
            Some(self.lengths.clone()),
        )
        .expect("valid shapes");
        let logits = model.dense.forward(Tensor::cat(vec![s_fw.h, s_bw.h], 1));
        let loss = sparse_softmax_cross_entropy(logits, self.labels.clone()).expect("valid shapes");
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optim.step(LR, model, grads);
        settle(&model, None);
        self.model = Some(model);
        value
    }
}

/// A per-step regression step: the cell's outputs against random targets, MSE over all steps.
struct Regress<C: RnnCell> {
    cell: Option<C>,
    optim: ModuleOptimizer,
    inputs: Tensor<3>,
    targets: Tensor<3>,
    train: bool,
}

impl<C: RnnCell> Regress<C> {
    fn new(cell: C, [b, t, i]: [usize; 3], device: &Device, train: bool) -> Self {
        let o = cell.output_size();
        Self {
            cell: Some(cell),
            optim: adam_tf1().init(),
            inputs: Tensor::random([b, t, i], Distribution::Normal(0.0, 1.0), device),
            targets: Tensor::random([b, t, o], Distribution::Normal(0.0, 1.0), device),
            train,
        }
    }
}

impl<C: RnnCell> Workload for Regress<C> {
    fn step(&mut self) -> f32 {
        let cell = self.cell.take().expect("model present between steps");
        let (outputs, _) =
            dynamic_rnn(&cell, self.inputs.clone(), None, None).expect("valid shapes");
        let loss =
            mse_over_steps(outputs, self.targets.clone(), &Steps::All).expect("valid shapes");
        let value = loss.clone().into_scalar::<f32>();
        let cell = if self.train {
            let grads = GradientsParams::from_grads(loss.backward(), &cell);
            let cell = self.optim.step(LR, cell, grads);
            settle(&cell, None);
            cell
        } else {
            settle(&cell, Some(&loss.backward()));
            cell
        };
        self.cell = Some(cell);
        value
    }
}

/// Forward over a large batch with gradients off.
struct Infer {
    model: SequenceClassifier<BasicRnnCell>,
    images: Tensor<3>,
}

impl Workload for Infer {
    fn step(&mut self) -> f32 {
        let logits = self
            .model
            .forward(self.images.clone())
            .expect("valid shapes");
        logits.argmax(1).sum().into_scalar::<i64>() as f32
    }
}

/// `dynamic_rnn` forward on a plain device: its outputs `[B, T, H]` are all that grows with T.
struct Unroll {
    cell: BasicRnnCell,
    inputs: Tensor<3>,
}

impl Workload for Unroll {
    fn step(&mut self) -> f32 {
        let (outputs, state) =
            dynamic_rnn(&self.cell, self.inputs.clone(), None, None).expect("valid shapes");
        drop(outputs);
        state.sum().into_scalar::<f32>()
    }
}

/// burn's own recurrent modules with the same dense head.
#[derive(Module, Debug)]
struct BurnBaseline {
    rnn: Option<burn::nn::Rnn>,
    lstm: Option<burn::nn::Lstm>,
    gru: Option<burn::nn::Gru>,
    dense: Linear,
}

impl BurnBaseline {
    fn new(name: &str, device: &Device) -> Self {
        let (mut rnn, mut lstm, mut gru) = (None, None, None);
        match name {
            "burn-rnn-train" => rnn = Some(RnnConfig::new(28, 150, true).init(device)),
            "burn-lstm-train" => lstm = Some(LstmConfig::new(28, 150, true).init(device)),
            _ => gru = Some(GruConfig::new(28, 150, true).init(device)),
        }
        Self {
            rnn,
            lstm,
            gru,
            dense: LinearConfig::new(150, 10).init(device),
        }
    }

    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        let [b, t, _] = images.dims();
        let outputs = if let Some(rnn) = &self.rnn {
            rnn.forward(images, None).0
        } else if let Some(lstm) = &self.lstm {
            lstm.forward(images, None).0
        } else {
            self.gru.as_ref().expect("one module").forward(images, None)
        };
        let last = outputs.narrow(1, t - 1, 1).reshape([b, 150]);
        self.dense.forward(last)
    }
}

struct BurnTrain {
    model: Option<BurnBaseline>,
    optim: ModuleOptimizer,
    images: Tensor<3>,
    labels: Tensor<1, Int>,
}

impl Workload for BurnTrain {
    fn step(&mut self) -> f32 {
        let model = self.model.take().expect("model present between steps");
        let logits = model.logits(self.images.clone());
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, self.labels.clone());
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optim.step(LR, model, grads);
        settle(&model, None);
        self.model = Some(model);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_builds_and_steps_to_a_finite_loss() {
        let device = rnn_core::device::default_device().unwrap();
        for spec in specs() {
            // The big ones are exercised by `cargo xtask bench`; here, build and step the
            // small ones and check every name resolves.
            let heavy = spec.name.contains("t1024")
                || spec.name.starts_with("infer-")
                || spec.name.contains("t256")
                || spec.name.contains("h512")
                || spec.name == "mnist-infer";
            let mut w = build(&spec.name, &device).unwrap_or_else(|e| panic!("{e}"));
            if !heavy {
                let v = w.step();
                assert!(v.is_finite(), "{}: {v}", spec.name);
            }
            assert!(spec.flops > 0.0);
        }
        let err = build("mnist-trian", &device).err().unwrap();
        assert!(
            err.contains("unknown workload `mnist-trian`") && err.contains("mnist-train"),
            "{err}"
        );
        assert_eq!(parse_scale("scale-h512-t256"), Some((512, 256)));
        assert_eq!(parse_scale("scale-h100-t28"), None);
    }

    #[test]
    fn a_training_workload_learns_its_fixed_batch() {
        let device = rnn_core::device::default_device().unwrap();
        let mut w = build("forecast-train", &device).unwrap();
        let first = w.step();
        let mut last = first;
        for _ in 0..30 {
            last = w.step();
        }
        assert!(last < first, "Adam steps lower the loss: {first} -> {last}");
    }
}
