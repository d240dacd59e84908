//! The one error type of rnn-core: every message names the argument, what was expected and
//! what was given.

/// An argument that rnn-core cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RnnError {
    /// An argument of the wrong shape, size or value.
    #[error("`{arg}`: expected {expected}, got {actual}")]
    InvalidArgument {
        /// The argument's name as the caller wrote it (`inputs`, `initial_state`, ...).
        arg: &'static str,
        /// What would have been accepted.
        expected: String,
        /// What was given.
        actual: String,
    },
    /// One example's sequence length outside `0..=T`.
    #[error(
        "`sequence_length[{index}]` = {value} is outside 0..={n_steps} (the {n_steps} time steps of `inputs`)"
    )]
    SequenceLength {
        /// The example (batch row).
        index: usize,
        /// Its length as given.
        value: i64,
        /// T, the number of time steps of the inputs.
        n_steps: usize,
    },
    /// A device name that this build cannot give.
    #[error(
        "device `{name}` is not available in this build; available: {available} (choose with --device or BURN_DEVICE; enable more with cargo features flex, ndarray, wgpu)"
    )]
    UnknownDevice {
        /// The name asked for.
        name: String,
        /// The names this build offers, comma-separated.
        available: String,
    },
}

impl RnnError {
    /// Shorthand for [`RnnError::InvalidArgument`].
    pub fn invalid(arg: &'static str, expected: impl Into<String>, actual: impl ToString) -> Self {
        RnnError::InvalidArgument {
            arg,
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }
}
