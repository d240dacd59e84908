//! The error type of rnn-train: messages name the argument or file, the expected and the actual.

use std::path::PathBuf;

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An argument of the wrong shape, size or value.
    #[error("`{arg}`: expected {expected}, got {actual}")]
    InvalidArgument {
        /// The argument's name.
        arg: &'static str,
        /// What would have been accepted.
        expected: String,
        /// What was given.
        actual: String,
    },
    /// The loss stopped being a finite number; the last good checkpoint is kept.
    #[error(
        "the loss became {value} at epoch {epoch}, step {step}; training stopped (last good checkpoint: {checkpoint})"
    )]
    NonFiniteLoss {
        /// The loss value (NaN or ±inf).
        value: f32,
        /// Epoch of the failing step.
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// Where the last good checkpoint is, or "none".
        checkpoint: String,
    },
    /// A checkpoint or metrics file could not be written or read.
    #[error("{what} `{path}`: {reason}")]
    File {
        /// What the file is (checkpoint, metrics, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The data source failed (a batch could not be built).
    #[error("data: {0}")]
    Data(String),
    /// An rnn-core error (shapes, lengths) from the model.
    #[error(transparent)]
    Rnn(#[from] rnn_core::RnnError),
}

impl TrainError {
    /// Shorthand for [`TrainError::InvalidArgument`].
    pub fn invalid(arg: &'static str, expected: impl Into<String>, actual: impl ToString) -> Self {
        TrainError::InvalidArgument {
            arg,
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }

    /// Shorthand for [`TrainError::File`].
    pub fn file(what: &'static str, path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        TrainError::File {
            what,
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
