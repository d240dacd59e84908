//! rnn-bench: the benchmark workloads, shared by criterion (`benches/`) and `cargo xtask bench`.
