//! The crate's one error type.

use std::path::PathBuf;

use crate::download::MirrorFailure;

/// Everything that can go wrong while locating, downloading, parsing or batching the data.
///
/// Every variant names the file (or the value) involved; no public function of this crate
/// panics on bad input, and a failed load never returns a partly-filled data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading, writing, renaming or creating a file or directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "creating directory", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A gzip stream could not be decompressed (truncated, bad CRC, not gzip at all).
    #[error("{file}: corrupt gzip stream: {reason}")]
    CorruptGzip {
        /// The file's name.
        file: String,
        /// What the decompressor reported.
        reason: String,
    },

    /// A file decompresses to more bytes than any MNIST file can hold.
    #[error("{file}: decompresses to more than {limit} bytes, larger than any MNIST file")]
    TooLarge {
        /// The file's name.
        file: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The IDX header's magic number is not the expected one.
    #[error("{file}: bad IDX magic number {found:#010x}, expected {expected:#010x} ({kind})")]
    BadMagic {
        /// The file's name.
        file: String,
        /// What the file should hold ("images" or "labels").
        kind: &'static str,
        /// The expected magic number (2051 images, 2049 labels).
        expected: u32,
        /// The magic number found.
        found: u32,
    },

    /// The file is shorter than its IDX header.
    #[error(
        "{file}: {actual} bytes, too short for the {needed}-byte IDX {kind} header (truncated)"
    )]
    TruncatedHeader {
        /// The file's name.
        file: String,
        /// What the file should hold ("images" or "labels").
        kind: &'static str,
        /// The header's size, in bytes.
        needed: usize,
        /// The file's size, in bytes.
        actual: usize,
    },

    /// The image dimensions in the header are not 28x28.
    #[error("{file}: images are {rows}x{cols}, expected 28x28")]
    BadDimensions {
        /// The file's name.
        file: String,
        /// Rows found in the header.
        rows: u32,
        /// Columns found in the header.
        cols: u32,
    },

    /// The file's (decompressed) size does not match what its header announces.
    #[error(
        "{file}: {actual} bytes, but its header announces {count} items, i.e. exactly {expected} bytes ({})",
        if actual < expected { "truncated" } else { "trailing bytes" }
    )]
    SizeMismatch {
        /// The file's name.
        file: String,
        /// The item count in the header.
        count: u32,
        /// The size the header implies, in bytes.
        expected: u64,
        /// The actual size, in bytes.
        actual: u64,
    },

    /// A label is not a digit 0..=9.
    #[error("{file}: label #{index} is {value}, expected a digit 0..=9")]
    BadLabel {
        /// The file's name.
        file: String,
        /// The label's position.
        index: usize,
        /// The value found.
        value: u8,
    },

    /// An image file and its label file hold different numbers of examples.
    #[error("{images_file} holds {images} images but {labels_file} holds {labels} labels")]
    CountMismatch {
        /// The image file's name.
        images_file: String,
        /// Its image count.
        images: usize,
        /// The label file's name.
        labels_file: String,
        /// Its label count.
        labels: usize,
    },

    /// A split does not have the size MNIST has (60000 training, 10000 test examples).
    #[error("{file}: {found} examples, but the MNIST {split} set has {expected}")]
    WrongCount {
        /// The file's name.
        file: String,
        /// "training" or "test".
        split: &'static str,
        /// The expected count.
        expected: usize,
        /// The count found.
        found: usize,
    },

    /// A `.gz` archive on disk does not have the published SHA-256 sum.
    #[error(
        "{path}: SHA-256 is {actual}, expected {expected}; the file is corrupt or not the \
         original MNIST archive (delete it to download it again)"
    )]
    ChecksumMismatch {
        /// The file's path.
        path: PathBuf,
        /// The published sum.
        expected: String,
        /// The sum of the file found.
        actual: String,
    },

    /// A file is missing and downloading was not allowed.
    #[error(
        "{file} is missing from {dir} (neither {file} nor its unpacked form found).\n{}",
        crate::download::by_hand_instructions(dir)
    )]
    Missing {
        /// The missing file's name (the `.gz` form).
        file: String,
        /// The directory searched.
        dir: PathBuf,
    },

    /// Every mirror failed for one file; the message lists each mirror and why, then how to
    /// place the files by hand.
    #[error(
        "could not download {file}: {}\n{}",
        crate::download::describe_failures(failures),
        crate::download::by_hand_instructions(dir)
    )]
    DownloadFailed {
        /// The file's name.
        file: String,
        /// The directory it was to be placed in.
        dir: PathBuf,
        /// One entry per mirror tried, in order.
        failures: Vec<MirrorFailure>,
    },

    /// No `--data-dir`, no `MNIST_DIR`, and the platform has no per-user cache directory.
    #[error(
        "no MNIST directory: pass --data-dir or set MNIST_DIR (this platform has no cache dir)"
    )]
    NoDataDir,

    /// An argument is out of its valid range (batch size 0, an index past the end, buffers
    /// of disagreeing lengths, ...).
    #[error("`{arg}`: expected {expected}, got {actual}")]
    InvalidArgument {
        /// The argument's name as the caller wrote it (`batch_size`, `index`, `images`, ...).
        arg: &'static str,
        /// What would have been accepted.
        expected: String,
        /// What was given.
        actual: String,
    },

    /// A request whose buffers would need more host memory than the crate allows; refused
    /// before anything is allocated.
    #[error(
        "{what} would need {} of host memory ({needed} bytes), more than the {} limit \
         ({limit} bytes); ask for less",
        human_bytes(*needed),
        human_bytes(u128::from(*limit))
    )]
    TooMuchMemory {
        /// What was asked for, with the arguments that size it.
        what: String,
        /// The bytes it would need.
        needed: u128,
        /// The limit, in bytes.
        limit: u64,
    },

    /// A file on disk is larger than any MNIST file (packed or unpacked) can be; refused
    /// before it is read into memory.
    #[error(
        "{path}: {actual} bytes{}, expected at most {limit} bytes (the largest MNIST file, \
         train-images-idx3-ubyte unpacked, is 47040016 bytes)",
        if *grew { " or more (it grew while being read)" } else { "" }
    )]
    FileTooLarge {
        /// The file's path.
        path: PathBuf,
        /// The limit, in bytes ([`crate::idx::MAX_FILE_BYTES`]).
        limit: u64,
        /// The size found (on disk, or read so far when the file grew while being read).
        actual: u64,
        /// Whether the file was larger when read than its size on disk said.
        grew: bool,
    },

    /// A gzip file holds more bytes after the end of its (first) gzip member; an MNIST
    /// archive is exactly one member.
    #[error(
        "{file}: {trailing} bytes after the end of the gzip stream (which ends at byte \
         {end} of {total}); expected the file to end with the stream"
    )]
    GzipTrailingBytes {
        /// The file's name.
        file: String,
        /// Where the gzip member ends, in bytes from the start of the file.
        end: usize,
        /// The file's size, in bytes.
        total: usize,
        /// The bytes after the member.
        trailing: usize,
    },
}

impl DataError {
    /// Shorthand for [`DataError::InvalidArgument`].
    pub fn invalid(arg: &'static str, expected: impl Into<String>, actual: impl ToString) -> Self {
        DataError::InvalidArgument {
            arg,
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }
}

/// `bytes` in binary units with one decimal (`512 B`, `1.5 KiB`, `12.0 GiB`).
pub(crate) fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The crate's result type.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
