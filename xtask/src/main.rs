//! `cargo xtask <task>`: rnn-rs's chores in Rust (the alias lives in `.cargo/config.toml`).
//!
//! - `mnist`: train the book's MNIST sequence classifier (issue "rnn-train and cargo xtask mnist").
//! - `bench`: the benchmark table against PyTorch (issue "Performance").
//!
//! Neither is built yet: each says so and exits with an error rather than pretend.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "rnn-rs tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Train a basic RNN on MNIST read row by row (28 steps of 28 pixels).
    Mnist,
    /// Run the benchmark workloads and compare with PyTorch.
    Bench,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Mnist => anyhow::bail!(
            "`cargo xtask mnist` is not implemented yet: it needs rnn-data (MNIST loading) and \
             rnn-train (the training loop), which are still open issues"
        ),
        Task::Bench => {
            anyhow::bail!("`cargo xtask bench` is not implemented yet (open issue: Performance)")
        }
    }
}
