//! Training counted in iterations (one batch each), as the book's listings count it, run by
//! [`rnn_train::fit`] in blocks: one "epoch" of `fit` is a block of iterations, after which
//! the task is evaluated, a checkpoint written and the metrics updated. The forecaster
//! ([`crate::series_training`]), the encoder-decoder ([`crate::seq2seq`]) and the digit writer
//! ([`crate::digit_writer`]) train this way.

use std::ops::Range;
use std::path::PathBuf;

use rnn_train::{TrainError, TrainerConfig};

/// `total` iterations in blocks of `block` (the last block shorter when `block` does not
/// divide `total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    /// Iterations in all (at least 1).
    pub total: usize,
    /// Iterations per block (at least 1).
    pub block: usize,
}

impl Blocks {
    /// `total` iterations in blocks of `block`; fails naming `--iterations` when `total` is 0
    /// and `block_name` when `block` is 0.
    pub fn new(total: usize, block: usize, block_name: &'static str) -> Result<Self, TrainError> {
        if total == 0 {
            return Err(TrainError::invalid("--iterations", "at least 1", 0));
        }
        if block == 0 {
            return Err(TrainError::invalid(block_name, "at least 1", 0));
        }
        Ok(Self { total, block })
    }

    /// The blocks, `fit`'s epochs: `total / block` rounded up.
    pub fn count(&self) -> usize {
        self.total.div_ceil(self.block)
    }

    /// The iterations of block `epoch` (from 0), counted from 0 across blocks: `epoch * block`
    /// up to `(epoch + 1) * block` or `total`; empty past the last block.
    pub fn iterations(&self, epoch: usize) -> Range<usize> {
        let start = epoch.saturating_mul(self.block).min(self.total);
        start..start.saturating_add(self.block).min(self.total)
    }

    /// `fit`'s settings for these blocks: [`Blocks::count`] epochs, Adam's `learning_rate`,
    /// `seed` (the device's seed when the task lets `fit` seed it), checkpoints and metrics into
    /// `out_dir`; no resume, no clipping, no progress bar, no hyper-parameters recorded.
    pub fn trainer(&self, learning_rate: f64, seed: u64, out_dir: PathBuf) -> TrainerConfig {
        TrainerConfig {
            epochs: self.count(),
            learning_rate,
            seed,
            out_dir,
            resume: false,
            clip: None,
            progress: false,
            hyper_parameters: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_iteration_once() {
        let b = Blocks::new(250, 100, "print_every").unwrap();
        assert_eq!(b.count(), 3);
        assert_eq!(
            (0..4).map(|e| b.iterations(e)).collect::<Vec<_>>(),
            [0..100, 100..200, 200..250, 250..250]
        );
        assert_eq!(b.trainer(0.1, 7, "x".into()).epochs, 3);
        let err = Blocks::new(0, 100, "print_every").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--iterations`: expected at least 1, got 0"
        );
        let err = Blocks::new(10, 0, "print_every").unwrap_err();
        assert_eq!(err.to_string(), "`print_every`: expected at least 1, got 0");
    }
}
