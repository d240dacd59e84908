//! The training loop's pieces on a small learnable task (is the sum of a sequence positive?):
//! it learns, checkpoints round-trip, a resumed run equals an uninterrupted one, a NaN stops
//! training and keeps the last good checkpoint.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Int, Tensor};
use rnn_core::{BasicRnnCell, BasicRnnCellConfig};
use rnn_train::{
    SequenceClassifier, StepOutput, TrainError, TrainerConfig, count_correct, fit,
    sparse_softmax_cross_entropy,
};

type Model = SequenceClassifier<BasicRnnCell>;

const B: usize = 32;

/// The device RNG is global: tests that seed it and draw from it take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_turn() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
const T: usize = 6;

fn device() -> Device {
    rnn_core::device::default_device().unwrap().autodiff()
}

/// Fixed data: 8 batches of sequences `[B, T, 1]`, label 1 when the sum is positive.
fn data(dev: &Device) -> Vec<(Tensor<3>, Tensor<1, Int>)> {
    dev.seed(7);
    (0..8)
        .map(|_| {
            let x = Tensor::<3>::random([B, T, 1], Distribution::Normal(0.0, 1.0), dev);
            let y = x.clone().sum_dim(1).reshape([B]).greater_elem(0.0).int();
            (x, y)
        })
        .collect()
}

fn model(dev: &Device) -> Model {
    dev.seed(3);
    SequenceClassifier::new(BasicRnnCellConfig::new(1, 8).init(dev).unwrap(), 2, dev)
}

fn config(dir: &Path, epochs: usize, resume: bool) -> TrainerConfig {
    TrainerConfig {
        epochs,
        learning_rate: 0.01,
        seed: 42,
        out_dir: dir.to_path_buf(),
        resume,
        clip: None,
        progress: false,
    }
}

fn step(m: &Model, (x, y): (Tensor<3>, Tensor<1, Int>)) -> Result<StepOutput, TrainError> {
    let logits = m.forward(x)?;
    let correct = count_correct(logits.clone(), y.clone());
    Ok(StepOutput {
        loss: sparse_softmax_cross_entropy(logits, y)?,
        correct,
        count: B,
    })
}

fn train(dir: &Path, epochs: usize, resume: bool) -> Result<rnn_train::Fitted<Model>, TrainError> {
    let dev = device();
    let batches = data(&dev);
    let eval_set = batches.clone();
    fit(
        &config(dir, epochs, resume),
        model(&dev),
        &dev,
        |epoch| {
            // A shuffle that depends on the epoch only: resumable.
            let mut b = batches.clone();
            let n = b.len();
            b.rotate_left(epoch % n);
            Ok(b.into_iter())
        },
        step,
        |m: &Model| {
            let (mut c, mut n) = (0, 0);
            for (x, y) in &eval_set {
                let logits = m.forward(x.clone().inner())?;
                c += count_correct(logits, y.clone().inner());
                n += B;
            }
            Ok(c as f64 / n as f64)
        },
    )
}

struct Values(Vec<f32>);
impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.0
            .extend(p.val().into_data().try_into_vec_as::<f32>().unwrap());
    }
}

fn weights(m: &Model) -> Vec<f32> {
    let mut v = Values(Vec::new());
    m.visit(&mut v);
    v.0
}

#[test]
fn it_learns_and_writes_metrics_and_checkpoints() {
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    let fitted = train(dir.path(), 6, false).unwrap();
    let h = &fitted.history;
    assert_eq!(h.len(), 6);
    assert!(h[5].train_loss < h[0].train_loss, "loss falls: {h:?}");
    assert!(h[5].test_accuracy > 0.8, "accuracy {}", h[5].test_accuracy);
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    assert!(csv.starts_with("epoch,train_loss"));
    let ckpts = dir.path().join("checkpoints");
    assert_eq!(
        std::fs::read_to_string(ckpts.join("latest")).unwrap(),
        "epoch-0006"
    );
    assert!(ckpts.join("epoch-0006/model.bpk").is_file());
    assert!(ckpts.join("epoch-0005").is_dir());
    assert!(
        !ckpts.join("epoch-0004").exists(),
        "only the two newest are kept"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&ckpts)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left");

    // Round trip: the checkpoint restores the trained weights.
    let dev = device();
    let (restored, _, state) = rnn_train::checkpoint::load(
        &ckpts.join("epoch-0006"),
        model(&dev),
        rnn_train::adam_tf1().init(),
    )
    .unwrap();
    assert_eq!(weights(&restored), weights(&fitted.model));
    assert_eq!(state.history, fitted.history);
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let _turn = rng_turn();
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = train(whole.path(), 3, false).unwrap();

    let parts = tempfile::tempdir().unwrap();
    train(parts.path(), 1, false).unwrap();
    let resumed = train(parts.path(), 3, true).unwrap();

    assert_eq!(resumed.history.len(), 3);
    let a = weights(&uninterrupted.model);
    let b = weights(&resumed.model);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "resumed weights differ by {worst}");
    for (x, y) in uninterrupted.history.iter().zip(&resumed.history) {
        assert!((x.train_loss - y.train_loss).abs() < 1e-6, "{x:?} vs {y:?}");
    }
}

#[test]
fn a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    let dev = device();
    let batches = data(&dev);
    let mut calls = 0;
    let err = fit(
        &config(dir.path(), 3, false),
        model(&dev),
        &dev,
        |_| Ok(batches.clone().into_iter()),
        |m: &Model, batch| {
            calls += 1;
            let mut out = step(m, batch)?;
            if calls == 8 + 3 {
                out.loss = out.loss * f32::NAN; // epoch 1, step 2
            }
            Ok(out)
        },
        |_| Ok(0.5),
    )
    .err()
    .expect("training must stop");
    let msg = err.to_string();
    assert!(
        msg.contains("NaN")
            && msg.contains("epoch 1")
            && msg.contains("step 2")
            && msg.contains("epoch-0001"),
        "{msg}"
    );
    let ckpts = dir.path().join("checkpoints");
    assert_eq!(
        std::fs::read_to_string(ckpts.join("latest")).unwrap(),
        "epoch-0001"
    );
    rnn_train::checkpoint::load(
        &ckpts.join("epoch-0001"),
        model(&dev),
        rnn_train::adam_tf1().init(),
    )
    .unwrap();
}

#[test]
fn a_corrupt_checkpoint_is_a_clear_error() {
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), 1, false).unwrap();
    let file = dir.path().join("checkpoints/epoch-0001/model.bpk");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = train(dir.path(), 2, true)
        .err()
        .expect("a truncated model file fails")
        .to_string();
    assert!(
        err.contains("model.bpk") && err.contains("checkpoint model"),
        "{err}"
    );
}
