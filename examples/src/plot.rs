//! The figures' drawing code lives in the `rnn-plot` crate (shared with `cargo xtask mnist`);
//! this module re-exports it so the chapter's binaries write `examples::plot::...`.

pub use rnn_plot::*;
