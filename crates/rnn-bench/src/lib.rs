//! rnn-bench: the benchmark workloads, shared by criterion (`benches/`) and
//! `cargo xtask bench` ([`suite`]: the full table against PyTorch). Each workload builds its
//! model and data once ([`MnistStep::new`], [`ForecastStep::new`]) and times one forward +
//! backward pass ([`MnistStep::run`]).
//!
//! [`UnrollVariant`] runs the same maths four ways (the fused path and three per-step
//! loops), to measure the choices `dynamic_rnn` makes (ARCHITECTURE.md has the figures).

#![warn(missing_docs)]

pub mod suite;
pub mod unroll_variants;
pub mod workloads;

pub use unroll_variants::UnrollVariant;
pub use workloads::{ForecastStep, MnistStep};
