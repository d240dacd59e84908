//! `cargo xtask <task>`: rnn-rs's tasks in Rust (the alias lives in `.cargo/config.toml`).
//!
//! - `mnist`: train the book's MNIST sequence classifier and report its test accuracy.
//! - `gallery`: rerun the chapter's plotting examples and refresh `docs/gallery/`.
//! - `bench`: the benchmark table of rnn-bench's suite against PyTorch (bench.rs).

use clap::{Parser, Subcommand};

mod bench;
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
    /// Run the benchmark suite (median ms per step, GFLOP/s, peak memory) beside PyTorch.
    Bench(bench::BenchArgs),
    /// One benchmark workload in this process (used by `bench`).
    #[command(hide = true)]
    BenchWorker(bench::WorkerArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Mnist(args) => {
            // Training loops reuse the same large buffers every step (rnn_core::allocator).
            rnn_core::allocator::retain_freed_memory();
            mnist::run(&args).map(|_| ())
        }
        Task::Gallery(args) => gallery::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::BenchWorker(args) => {
            if args.mode.retains_freed_memory(args.system_allocator) {
                rnn_core::allocator::retain_freed_memory();
            }
            bench::worker(&args)
        }
    }
}
