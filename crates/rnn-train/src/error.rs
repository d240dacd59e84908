//! The error type of rnn-train: messages name the argument or file, the expected and the actual.

use std::path::PathBuf;

/// Any error as a cause: `std::io::Error`, a data crate's error, or a plain message (`String`
/// and `&str` convert).
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// The gradients' global norm is not finite (a gradient is NaN or infinite, or so large
    /// that its square overflows f32): nothing was clipped and no optimiser step should follow.
    #[error(
        "the gradients' global norm is {norm}: a gradient is NaN or infinite (or too large to square in f32){context}"
    )]
    NonFiniteGradients {
        /// The global norm (NaN or +inf).
        norm: f32,
        /// Where it happened, when the trainer knows (", at epoch 1, step 2; training
        /// stopped ..."), else empty.
        context: String,
    },
    /// The model's weights hold NaN or infinite values: the checkpoint was not written, so
    /// the last good one stays the latest.
    #[error(
        "the model's weights hold {non_finite} NaN or infinite value(s) of {total} after epoch {epoch}; checkpoint {name} not written, training stopped (last good checkpoint: {last_good})"
    )]
    NonFiniteWeights {
        /// How many weights are NaN or ±inf.
        non_finite: usize,
        /// How many weights the model has.
        total: usize,
        /// The epoch (from 0) that ended with them.
        epoch: usize,
        /// The checkpoint that was not written (`epoch-NNNN`).
        name: String,
        /// The checkpoint `latest` still points at, or "none".
        last_good: String,
    },
    /// A resumed run asks for another value of a hyper-parameter than its checkpoint was
    /// trained with (the model or the optimiser would not match, or not mean the same).
    #[error(
        "{name}: the checkpoint was trained with {recorded}, the command line says {given} (checkpoint {checkpoint}; resume with the same {name}, or train into another output directory)"
    )]
    ResumeMismatch {
        /// The hyper-parameter, as the caller names it (a flag such as `--hidden`).
        name: String,
        /// Its value in the checkpoint ("nothing" when the checkpoint lacks it).
        recorded: String,
        /// Its value in this run ("nothing" when this run lacks it).
        given: String,
        /// The checkpoint directory.
        checkpoint: PathBuf,
    },
    /// A checkpoint or metrics file could not be written or read. The message repeats the
    /// cause (so a one-line print says it all); `source()` gives it as a value (an
    /// `std::io::Error`, a JSON or recorder error, or a message).
    #[error("{what} `{path}`: {source}")]
    File {
        /// What the file is (checkpoint, metrics, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: BoxedError,
    },
    /// The data source failed (a batch could not be built); the data crate's error is the
    /// source (repeated in the message).
    #[error("data: {0}")]
    Data(#[source] BoxedError),
    /// A task's model failed outside rnn-core (its own forward pass); the cause is the
    /// source (repeated in the message).
    #[error("model: {0}")]
    Model(#[source] BoxedError),
    /// A run whose estimated memory exceeds the limit, refused before it starts
    /// ([`crate::memory::check`]).
    #[error("{what} needs about {need}, more than {limit}: refused before starting; lower {lower}")]
    TooLarge {
        /// The run's shaping flags (`--hidden 8192 --layers 32`).
        what: String,
        /// The estimate, in GiB, by part.
        need: String,
        /// The limit and where it comes from (`the limit --max-memory-gib 16`).
        limit: String,
        /// The flags that make the run smaller.
        lower: String,
    },
    /// The device named by `--device` or `BURN_DEVICE` is not compiled in.
    #[error("{from}: {source}")]
    Device {
        /// Where the name came from (`--device`, `BURN_DEVICE`).
        from: &'static str,
        /// rnn-core's error (names the device and those available).
        #[source]
        source: rnn_core::RnnError,
    },
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

    /// Shorthand for [`TrainError::File`]: `cause` is an error (kept as the source) or a
    /// message.
    pub fn file(
        what: &'static str,
        path: impl Into<PathBuf>,
        cause: impl Into<BoxedError>,
    ) -> Self {
        TrainError::File {
            what,
            path: path.into(),
            source: cause.into(),
        }
    }

    /// Shorthand for [`TrainError::Data`], keeping `cause` as the source.
    pub fn data(cause: impl Into<BoxedError>) -> Self {
        TrainError::Data(cause.into())
    }
}
