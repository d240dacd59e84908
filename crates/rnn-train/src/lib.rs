//! rnn-train: training on top of rnn-core.
//!
//! - [`loss`]: MSE and softmax cross-entropy over all steps, the last k steps, or each
//!   example's valid steps.
//! - [`optim`]: burn's Adam with TF 1.x's defaults.
//! - [`clip`]: clipping by value and by global norm (burn's own clipping is per tensor).
//! - [`tbptt`]: truncated backpropagation through time.
//! - [`task`]: what [`fit`] trains ([`Task`]: model, batches, loss, evaluation).
//! - [`trainer`]: the shared loop ([`fit`]): progress, metrics, checkpoints, resume.
//! - [`mnist`]: the book's MNIST classifier as a task (basic tanh/relu, LSTM, GRU; any depth),
//!   its hyper-parameters and memory estimate.
//! - [`memory`]: up-front memory estimates and the refusal of runs that would not fit.
//! - [`args`]: checks of command-line values shared by the binaries (`--lr`).
//! - [`eval`]: accuracy and in-top-k accuracy.

#![warn(missing_docs)]

pub mod args;
pub mod checkpoint;
pub mod classifier;
pub mod clip;
pub mod error;
pub mod eval;
pub mod loss;
pub mod memory;
pub mod metrics;
pub mod mnist;
pub mod optim;
pub mod task;
pub mod tbptt;
pub mod trainer;

pub use classifier::SequenceClassifier;
pub use clip::{clip_by_global_norm, clip_by_value, global_norm};
pub use error::TrainError;
pub use eval::{count_correct, count_in_top_k};
pub use loss::{Steps, mse_over_steps, sequence_cross_entropy, sparse_softmax_cross_entropy};
pub use metrics::EpochMetrics;
pub use optim::adam_tf1;
pub use task::{StepOutput, Task};
pub use tbptt::Tbptt;
pub use trainer::{Clip, Fitted, TrainerConfig, fit};
