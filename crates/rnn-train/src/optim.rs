//! The optimiser: burn's Adam with TF 1.x's defaults.
//!
//! burn's `AdamConfig` defaults to `epsilon = 1e-5`; TF 1.x's `AdamOptimizer` uses 1e-8 (beta1
//! 0.9 and beta2 0.999 agree). burn adds epsilon as `eps * sqrt(1 - beta2^t)` after the bias
//! correction, which is TF's "epsilon hat" form, so with 1e-8 the update is TF's.

use burn::optim::AdamConfig;

/// TF 1.x's `AdamOptimizer` defaults.
pub const TF_BETA1: f32 = 0.9;
/// TF 1.x's `AdamOptimizer` defaults.
pub const TF_BETA2: f32 = 0.999;
/// TF 1.x's `AdamOptimizer` defaults.
pub const TF_EPSILON: f32 = 1e-8;

/// burn's Adam configured as TF 1.x's `AdamOptimizer` (beta1 0.9, beta2 0.999, epsilon 1e-8).
/// The learning rate is given to each `step`.
pub fn adam_tf1() -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(TF_BETA1)
        .with_beta_2(TF_BETA2)
        .with_epsilon(TF_EPSILON)
}
