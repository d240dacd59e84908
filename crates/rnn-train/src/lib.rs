//! rnn-train: training on top of rnn-core.
//!
//! To come (issue "rnn-train and `cargo xtask mnist`"): losses over all, the last k or the
//! valid steps, burn's Adam with TF 1.x defaults, clipping by value and global norm, truncated
//! BPTT, and the shared training loop. This crate holds nothing yet; it exists so the
//! workspace has its final shape.
