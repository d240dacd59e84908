//! The training loop's pieces on a small learnable task (is the sum of a sequence positive?):
//! it learns, checkpoints round-trip, a resumed run equals an uninterrupted one, a NaN (in the
//! loss, the gradients or the weights) stops training and keeps the last good checkpoint, a
//! checkpoint write killed midway (a child process, SIGKILL) resumes from the one before, and
//! a resume with other hyper-parameters names the flag.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Int, Tensor};
use rnn_core::{BasicRnnCell, BasicRnnCellConfig};
use rnn_train::checkpoint::testing::{self, Stage};
use rnn_train::{
    Clip, SequenceClassifier, StepOutput, Task, TrainError, TrainerConfig, count_correct, fit,
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

/// The hidden size of the tests' model.
const HIDDEN: usize = 8;

fn model_of(dev: &Device, hidden: usize) -> Model {
    dev.seed(3);
    SequenceClassifier::new(
        BasicRnnCellConfig::new(1, hidden).init(dev).unwrap(),
        2,
        dev,
    )
}

fn model(dev: &Device) -> Model {
    model_of(dev, HIDDEN)
}

fn config_of(dir: &Path, epochs: usize, resume: bool, hidden: usize) -> TrainerConfig {
    TrainerConfig {
        epochs,
        learning_rate: 0.01,
        seed: 42,
        out_dir: dir.to_path_buf(),
        resume,
        clip: None,
        progress: false,
        hyper_parameters: vec![
            ("--hidden".into(), hidden.to_string()),
            ("--lr".into(), "0.01".into()),
        ],
    }
}

fn config(dir: &Path, epochs: usize, resume: bool) -> TrainerConfig {
    config_of(dir, epochs, resume, HIDDEN)
}

fn step(m: &Model, (x, y): Batch) -> Result<StepOutput, TrainError> {
    let logits = m.forward(x)?;
    let correct = count_correct(logits.clone(), y.clone())?;
    Ok(StepOutput {
        loss: sparse_softmax_cross_entropy(logits, y)?,
        correct,
        count: B,
    })
}

type Batch = (Tensor<3>, Tensor<1, Int>);

/// Changes a step's output: `(model, calls so far including this one, output)`.
type Tamper = Box<dyn Fn(&Model, usize, StepOutput) -> StepOutput>;

/// The tests' task: the fixed batches (rotated by the epoch, a resumable shuffle), a basic
/// cell of `hidden`, accuracy over the training batches; `tamper` plants NaNs in chosen steps
/// (and then evaluation says 0.5 without running).
struct SumTask {
    hidden: usize,
    batches: Vec<Batch>,
    tamper: Option<Tamper>,
    calls: Cell<usize>,
    batches_asked: Cell<usize>,
}

impl SumTask {
    fn new(dev: &Device, hidden: usize) -> Self {
        Self {
            hidden,
            batches: data(dev),
            tamper: None,
            calls: Cell::new(0),
            batches_asked: Cell::new(0),
        }
    }

    fn tampered(
        dev: &Device,
        tamper: impl Fn(&Model, usize, StepOutput) -> StepOutput + 'static,
    ) -> Self {
        Self {
            tamper: Some(Box::new(tamper)),
            ..Self::new(dev, HIDDEN)
        }
    }
}

impl Task for SumTask {
    type Model = Model;
    type Batch = Batch;

    fn model(&self, device: &Device) -> Result<Model, TrainError> {
        Ok(model_of(device, self.hidden))
    }

    fn batches(
        &self,
        epoch: usize,
        _device: &Device,
    ) -> Result<impl ExactSizeIterator<Item = Batch>, TrainError> {
        self.batches_asked.set(self.batches_asked.get() + 1);
        let mut b = self.batches.clone();
        if self.tamper.is_none() {
            let n = b.len();
            b.rotate_left(epoch % n);
        }
        Ok(b.into_iter())
    }

    fn step(&self, model: &Model, batch: Batch) -> Result<StepOutput, TrainError> {
        self.calls.set(self.calls.get() + 1);
        let out = step(model, batch)?;
        Ok(match &self.tamper {
            Some(tamper) => tamper(model, self.calls.get(), out),
            None => out,
        })
    }

    fn evaluate(&self, m: &Model) -> Result<f64, TrainError> {
        if self.tamper.is_some() {
            return Ok(0.5);
        }
        let (mut c, mut n) = (0, 0);
        for (x, y) in &self.batches {
            let logits = m.forward(x.clone().inner())?;
            c += count_correct(logits, y.clone().inner())?;
            n += B;
        }
        Ok(c as f64 / n as f64)
    }
}

fn train(dir: &Path, epochs: usize, resume: bool) -> Result<rnn_train::Fitted<Model>, TrainError> {
    train_hidden(dir, epochs, resume, HIDDEN)
}

fn train_hidden(
    dir: &Path,
    epochs: usize,
    resume: bool,
    hidden: usize,
) -> Result<rnn_train::Fitted<Model>, TrainError> {
    let dev = device();
    let task = SumTask::new(&dev, hidden);
    fit(&config_of(dir, epochs, resume, hidden), &task, &dev)
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
    let task = SumTask::tampered(&dev, |_, calls, mut out| {
        if calls == 8 + 3 {
            out.loss = out.loss * f32::NAN; // epoch 1, step 2
        }
        out
    });
    let err = fit(&config(dir.path(), 3, false), &task, &dev)
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

/// `sqrt(s - detach(s)) * 0` for `s` = the sum of the dense layer's weights: 0 forward, a NaN
/// gradient on every one of those weights (0 * inf) backward.
fn nan_gradient_term(m: &Model) -> Tensor<1> {
    let s = m.dense.weight.val().sum();
    (s.clone() - s.detach()).sqrt() * 0.0
}

fn latest_name(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("checkpoints/latest")).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn nan_gradients_under_global_norm_clipping_stop_training() {
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    let dev = device();
    let mut config = config(dir.path(), 3, false);
    config.clip = Some(Clip::GlobalNorm(5.0));
    let task = SumTask::tampered(&dev, |m, calls, mut out| {
        if calls == 8 + 3 {
            out.loss = out.loss + nan_gradient_term(m); // epoch 1, step 2; loss finite
        }
        out
    });
    let err = fit(&config, &task, &dev).err().expect("training must stop");
    let ckpt = dir.path().join("checkpoints/epoch-0001");
    assert_eq!(
        err.to_string(),
        format!(
            "the gradients' global norm is NaN: a gradient is NaN or infinite (or too large to \
             square in f32) at epoch 1, step 2; training stopped (last good checkpoint: {})",
            ckpt.display()
        )
    );
    assert_eq!(latest_name(dir.path()), "epoch-0001");
}

#[test]
fn non_finite_weights_are_never_saved_as_the_last_good_checkpoint() {
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    let dev = device();
    let task = SumTask::tampered(&dev, |m, calls, mut out| {
        if calls == 2 * 8 {
            // The last step of epoch 1: its loss is finite, its update makes the dense
            // weights NaN, and no later step's loss would show it.
            out.loss = out.loss + nan_gradient_term(m);
        }
        out
    });
    let err = fit(&config(dir.path(), 3, false), &task, &dev)
        .err()
        .expect("training must stop");
    let msg = err.to_string();
    let ckpt = dir.path().join("checkpoints/epoch-0001");
    assert!(
        msg.starts_with("the model's weights hold 16 NaN or infinite value(s) of ")
            && msg.ends_with(&format!(
                " after epoch 1; checkpoint epoch-0002 not written, training stopped (last \
                 good checkpoint: {})",
                ckpt.display()
            )),
        "{msg}"
    );
    assert_eq!(latest_name(dir.path()), "epoch-0001");
    assert!(!dir.path().join("checkpoints/epoch-0002").exists());
}

#[test]
fn an_unwritable_output_directory_fails_before_the_first_step() {
    // SumTask::new seeds the global RNG and draws the data and the model: without the turn,
    // a resume test running beside this one drew other numbers (flaky weights mismatch).
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let dev = device();
    let task = SumTask::new(&dev, HIDDEN);
    let err = fit(&config(&file.join("out"), 1, false), &task, &dev)
        .err()
        .expect("an output directory under a file cannot be made");
    assert!(
        err.to_string().starts_with(&format!(
            "output directory `{}`: cannot be created",
            file.join("out/checkpoints").display()
        )),
        "{err}"
    );
    assert_eq!(task.batches_asked.get(), 0, "nothing ran");
}

#[test]
fn a_resume_with_another_hidden_size_names_the_flag() {
    let _turn = rng_turn();
    let dir = tempfile::tempdir().unwrap();
    train_hidden(dir.path(), 1, false, 8).unwrap();
    let state =
        std::fs::read_to_string(dir.path().join("checkpoints/epoch-0001/state.json")).unwrap();
    assert!(state.contains("\"--hidden\",\n      \"8\""), "{state}");
    let err = train_hidden(dir.path(), 2, true, 9)
        .err()
        .expect("another hidden size cannot resume")
        .to_string();
    assert_eq!(
        err,
        format!(
            "--hidden: the checkpoint was trained with 8, the command line says 9 (checkpoint \
             {}; resume with the same --hidden, or train into another output directory)",
            dir.path().join("checkpoints/epoch-0001").display()
        )
    );
    // Nothing was written by the refused run; the same flags resume.
    assert_eq!(latest_name(dir.path()), "epoch-0001");
    assert_eq!(
        train_hidden(dir.path(), 2, true, 8).unwrap().history.len(),
        2
    );
}

/// Set in the child process of the kill test: the directory to train in, and where to pause.
const CHILD_DIR: &str = "RNN_TRAIN_KILL_TEST_DIR";
const CHILD_STAGE: &str = "RNN_TRAIN_KILL_TEST_STAGE";

/// The child of `a_checkpoint_write_killed_midway_resumes_from_the_one_before` (does nothing
/// unless it sets the environment): resumes `$DIR/run` towards 3 epochs and, inside the first
/// checkpoint write, at the stage asked, writes `$DIR/paused` and waits to be killed.
#[test]
#[ignore = "run as a child process by a_checkpoint_write_killed_midway_resumes_from_the_one_before"]
fn child_paused_inside_a_checkpoint_write() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    testing::set_hook(|stage, path| {
        let wanted = std::env::var(CHILD_STAGE).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        let pause = match wanted.as_str() {
            "files" => stage == Stage::CheckpointFilesWritten,
            "pointer" => stage == Stage::TempFileWritten && name.starts_with(".latest.tmp-"),
            other => panic!("unknown stage {other}"),
        };
        if pause {
            let root = PathBuf::from(std::env::var_os(CHILD_DIR).unwrap());
            std::fs::write(root.join("paused"), path.display().to_string()).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    let dir = PathBuf::from(dir);
    let result = train(&dir.join("run"), 3, true);
    panic!(
        "the child should have been killed inside a checkpoint write: {:?}",
        result.err()
    );
}

/// Runs the child test in a new process until it pauses inside a checkpoint write, then
/// kills it (SIGKILL); returns the path it paused at.
fn kill_child_midway(root: &Path, stage: &str) -> PathBuf {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_paused_inside_a_checkpoint_write",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, root)
        .env(CHILD_STAGE, stage)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = root.join("paused");
    let started = Instant::now();
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("the child ended ({status}) before pausing:\n{err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the child never paused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let paused_at = PathBuf::from(std::fs::read_to_string(&marker).unwrap());
    std::fs::remove_file(marker).unwrap();
    paused_at
}

#[test]
fn a_checkpoint_write_killed_midway_resumes_from_the_one_before() {
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = {
        let _turn = rng_turn();
        train(whole.path(), 3, false).unwrap()
    };
    for stage in ["files", "pointer"] {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        {
            let _turn = rng_turn();
            train(&run, 1, false).unwrap();
        }
        let paused_at = kill_child_midway(root.path(), stage);
        let ckpts = run.join("checkpoints");
        // The killed write left its temporary (the checkpoint's directory, or the pointer's
        // file) behind, and `latest` still names the checkpoint before.
        assert!(
            paused_at.exists(),
            "{stage}: {} is left",
            paused_at.display()
        );
        assert_eq!(paused_at.parent().unwrap(), ckpts);
        assert_eq!(latest_name(&run), "epoch-0001", "{stage}");
        let left = names_in(&ckpts);
        match stage {
            "files" => {
                assert!(paused_at.join("model.bpk").is_file());
                assert!(!left.contains(&"epoch-0002".to_string()), "{left:?}");
            }
            _ => assert!(left.contains(&"epoch-0002".to_string()), "{left:?}"),
        }

        // The next start cleans up, resumes from epoch-0001, and ends where an uninterrupted
        // run ends.
        let _turn = rng_turn();
        let resumed = train(&run, 3, true).unwrap();
        assert!(
            !paused_at.exists(),
            "{stage}: the stale temporary is removed"
        );
        assert_eq!(
            names_in(&ckpts),
            ["epoch-0002", "epoch-0003", "latest"],
            "{stage}"
        );
        assert_eq!(latest_name(&run), "epoch-0003");
        let (a, b) = (weights(&uninterrupted.model), weights(&resumed.model));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "{stage}: resumed weights differ by {worst}");
        assert_eq!(resumed.history.len(), 3);
    }
}
