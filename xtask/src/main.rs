//! `cargo xtask <task>`: rnn-rs's tasks in Rust (the alias lives in `.cargo/config.toml`).
//!
//! - `mnist`: train the book's MNIST sequence classifier and report its test accuracy.
//! - `gallery`: rerun the chapter's plotting examples and refresh `docs/gallery/`.
//! - `bench`: the benchmark table against PyTorch (not built yet: it says so and fails).

use clap::{Parser, Subcommand};

mod gallery;
mod mnist;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "rnn-rs tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Train an RNN on MNIST read row by row (28 steps of 28 pixels), as the book's chapter 14.
    Mnist(mnist::MnistArgs),
    /// Rerun the chapter's plotting examples at the book's settings and refresh docs/gallery/.
    Gallery(gallery::GalleryArgs),
    /// Run the benchmark workloads and compare with PyTorch (not built yet).
    Bench,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Mnist(args) => mnist::run(&args).map(|_| ()),
        Task::Gallery(args) => gallery::run(&args),
        Task::Bench => anyhow::bail!(
            "`cargo xtask bench` is not built yet (open issue: Performance); `cargo bench -p benches` runs the unroll benches"
        ),
    }
}
