//! rnn-data: the data sources of the RNN chapter, usable alone (no other rnn-rs crate, no burn).
//!
//! To come (issue "rnn-data"): MNIST read as 28 steps of 28 pixels (download, SHA-256 check,
//! checked IDX parsing, seeded batches) and the time series `t sin(t) / 3 + 2 sin(5t)`.
//! This crate holds nothing yet; it exists so the workspace has its final shape.
