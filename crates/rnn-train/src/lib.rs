//! rnn-train: training on top of rnn-core.
//!
//! - [`loss`]: MSE and softmax cross-entropy over all steps, the last k steps, or each
//!   example's valid steps.
//! - [`optim`]: burn's Adam with TF 1.x's defaults.
//! - [`clip`]: clipping by value and by global norm (burn's own clipping is per tensor).
//! - [`tbptt`]: truncated backpropagation through time.

pub mod clip;
pub mod error;
pub mod loss;
pub mod optim;
pub mod tbptt;

pub use clip::{clip_by_global_norm, clip_by_value, global_norm};
pub use error::TrainError;
pub use loss::{Steps, mse_over_steps, sequence_cross_entropy, sparse_softmax_cross_entropy};
pub use optim::adam_tf1;
pub use tbptt::Tbptt;
