//! rnn-data: the two data sources of the RNN chapter, usable alone (no other rnn-rs crate).
//!
//! - [`mnist`]: real MNIST, read from the four original IDX files (gzipped or not) with a
//!   checked parser ([`idx`]), downloaded from public mirrors and verified against embedded
//!   SHA-256 sums when missing ([`download`], [`checksums`]), and served as batches of row
//!   sequences: images `[B, 28, 28]` (28 time steps of 28 pixels, pixel / 255), labels
//!   `[B]` (`Int`).
//! - [`time_series`](mod@time_series): the sine-like series `t sin(t) / 3 + 2 sin(5t)` and the seed's random
//!   windows, inputs and targets `[B, n_steps, 1]`.
//!
//! Features: `tensors` (the burn batches: [`batches`], [`SineBatch`]) and `flex` (burn's
//! CPU backend, used by the tests); both on by default. Without them the crate is the parser,
//! downloader and generators over plain `Vec`s (the fuzz target builds it that way).
//!
//! Every failure is a [`DataError`] that names the file or value involved; nothing panics on
//! bad input.
//!
//! ```no_run
//! use rnn_data::{BatchOptions, Downloader, Mnist, prepare_data_dir};
//! # fn main() -> Result<(), rnn_data::DataError> {
//! let device = burn::tensor::Device::default();
//! // --data-dir, else $MNIST_DIR, else ~/.cache/rnn-rs/mnist; what is missing is downloaded.
//! let dir = prepare_data_dir(None, &Downloader::default())?;
//! let mnist = Mnist::load(&dir)?;
//! for batch in mnist.train.batches(&BatchOptions::new(150).seed(7), 0, &device)? {
//!     let [b, steps, inputs] = batch.images.dims(); // [150, 28, 28]
//!     # let _ = (b, steps, inputs);
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

#[cfg(feature = "tensors")]
pub mod batches;
pub mod checksums;
pub mod download;
pub mod error;
pub mod idx;
pub mod mnist;
pub mod time_series;

#[cfg(feature = "tensors")]
pub use batches::{BatchOptions, Batches, MnistBatch};
pub use checksums::{MNIST_FILES, MnistFile};
pub use download::{DEFAULT_MIRRORS, Downloader, FailureReason, MirrorFailure};
pub use error::{DataError, Result};
pub use mnist::{
    MNIST_DIR_ENV, Mnist, MnistSplit, default_cache_dir, prepare_data_dir, resolve_data_dir,
};
#[cfg(feature = "tensors")]
pub use time_series::SineBatch;
pub use time_series::{SineWindows, TimeSeries, time_series};
