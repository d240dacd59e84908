//! Downloading the MNIST archives from public mirrors, verified before they are kept.
//!
//! For each missing archive the mirrors are tried in turn. The body streams into a temporary
//! file next to the destination (`.<name>.<pid>.part`) while its SHA-256 is computed; only when
//! the sum matches the embedded one ([`crate::checksums`]) is the file renamed into place. An
//! HTTP error, a dropped connection, a body cut short or a checksum mismatch removes the
//! temporary file and moves on to the next mirror; when every mirror failed the error lists
//! each mirror with its reason and tells the user how to place the files by hand.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::checksums::{MNIST_FILES, MnistFile, hex, sha256sums};
use crate::error::{DataError, Result};

/// The public mirrors tried by [`Downloader::default`], in order.
pub const DEFAULT_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// No MNIST archive is larger than this (the training images are 9.9 MB); a longer body is
/// refused rather than written to disk.
pub const MAX_DOWNLOAD_BYTES: u64 = 16 * 1024 * 1024;

/// Why one mirror failed for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The server answered with an HTTP error status (404, 503, ...).
    Http(u16),
    /// Connecting, TLS, or reading the body failed (refused, reset, timed out, closed early).
    Connection(String),
    /// The body ended before the announced `Content-Length`.
    CutShort {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        expected: u64,
    },
    /// The body was longer than [`MAX_DOWNLOAD_BYTES`].
    TooLarge,
    /// The body arrived whole but its SHA-256 is not the published one.
    Checksum {
        /// The published sum.
        expected: String,
        /// The sum of what arrived.
        actual: String,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(code) => write!(f, "HTTP status {code}"),
            Self::Connection(msg) => write!(f, "connection failed: {msg}"),
            Self::CutShort { received, expected } => write!(
                f,
                "connection dropped: received {received} of {expected} bytes"
            ),
            Self::TooLarge => write!(f, "body larger than {MAX_DOWNLOAD_BYTES} bytes"),
            Self::Checksum { expected, actual } => {
                write!(
                    f,
                    "checksum mismatch: SHA-256 {actual}, expected {expected}"
                )
            }
        }
    }
}

/// One failed attempt: the URL tried and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFailure {
    /// The mirror's base URL, as configured.
    pub mirror: String,
    /// The full URL requested.
    pub url: String,
    /// What went wrong.
    pub reason: FailureReason,
}

impl fmt::Display for MirrorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mirror {} failed ({}): {}",
            self.mirror, self.url, self.reason
        )
    }
}

/// Formats the attempts of a [`DataError::DownloadFailed`], one per line.
pub fn describe_failures(failures: &[MirrorFailure]) -> String {
    if failures.is_empty() {
        return "no mirror configured".to_owned();
    }
    let lines: Vec<String> = failures.iter().map(|f| format!("  - {f}")).collect();
    format!("every mirror failed:\n{}", lines.join("\n"))
}

/// The instructions for placing the MNIST files by hand into `dir`.
pub fn by_hand_instructions(dir: &Path) -> String {
    let names: Vec<&str> = MNIST_FILES.iter().map(|f| f.name).collect();
    format!(
        "To place the files by hand: download {} (e.g. from {}) into {} \
         (gzipped or unpacked), or pass --data-dir / set MNIST_DIR to a directory that holds \
         them. The archives' SHA-256 sums are:\n{}",
        names.join(", "),
        DEFAULT_MIRRORS.join(" or "),
        dir.display(),
        sha256sums().trim_end()
    )
}

/// Downloads MNIST archives from a list of mirrors (injectable, so tests use a local server).
#[derive(Debug, Clone)]
pub struct Downloader {
    /// Base URLs tried in order; the file name is appended (a `/` is added if missing).
    pub mirrors: Vec<String>,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal) and
    /// report a failed mirror before trying the next.
    pub progress: bool,
    /// Limit on connecting and on each read; a stalled mirror fails after this long.
    pub timeout: Duration,
    /// Honour `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` from the environment.
    pub use_env_proxy: bool,
}

impl Default for Downloader {
    /// The [`DEFAULT_MIRRORS`], a progress bar, 30 s timeouts, the environment's proxy.
    fn default() -> Self {
        Self {
            mirrors: DEFAULT_MIRRORS.iter().map(|m| (*m).to_owned()).collect(),
            progress: true,
            timeout: Duration::from_secs(30),
            use_env_proxy: true,
        }
    }
}

/// Removes the temporary file unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Outcome of one attempt that did not hit a local I/O error.
enum Attempt {
    Done,
    Failed(FailureReason),
}

impl Downloader {
    /// A downloader over the given mirrors, without progress bar or environment proxy (the
    /// form tests use); other fields as in [`Downloader::default`].
    pub fn with_mirrors<S: Into<String>>(mirrors: impl IntoIterator<Item = S>) -> Self {
        Self {
            mirrors: mirrors.into_iter().map(Into::into).collect(),
            progress: false,
            use_env_proxy: false,
            ..Self::default()
        }
    }

    fn agent(&self) -> ureq::Agent {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(true)
            .timeout_connect(Some(self.timeout))
            .timeout_per_read(Some(self.timeout))
            .timeout_recv_response(Some(self.timeout));
        let config = if self.use_env_proxy {
            config
        } else {
            config.proxy(None)
        };
        config.build().into()
    }

    /// Downloads `file` into `dir/file.name`, trying each mirror in turn, and returns the
    /// final path. The directory is created if needed. On success the file on disk has the
    /// published SHA-256; on failure no file (and no temporary file) is left behind and the
    /// error is [`DataError::DownloadFailed`] (all mirrors failed) or [`DataError::Io`]
    /// (a local write failed).
    pub fn fetch(&self, file: &MnistFile, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
            action: "creating directory",
            path: dir.to_owned(),
            source,
        })?;
        let dest = dir.join(file.name);
        let agent = self.agent();
        let mut failures = Vec::new();
        for mirror in &self.mirrors {
            let url = if mirror.ends_with('/') {
                format!("{mirror}{}", file.name)
            } else {
                format!("{mirror}/{}", file.name)
            };
            let temp = TempFile {
                path: dir.join(format!(".{}.{}.part", file.name, std::process::id())),
                keep: false,
            };
            match self.attempt(&agent, &url, file, &temp.path)? {
                Attempt::Done => {
                    std::fs::rename(&temp.path, &dest).map_err(|source| DataError::Io {
                        action: "renaming downloaded file to",
                        path: dest.clone(),
                        source,
                    })?;
                    let mut temp = temp;
                    temp.keep = true;
                    return Ok(dest);
                }
                Attempt::Failed(reason) => {
                    let failure = MirrorFailure {
                        mirror: mirror.clone(),
                        url,
                        reason,
                    };
                    if self.progress {
                        eprintln!("warning: {failure}");
                    }
                    failures.push(failure);
                }
            }
        }
        Err(DataError::DownloadFailed {
            file: file.name.to_owned(),
            dir: dir.to_owned(),
            failures,
        })
    }

    /// Downloads every archive of [`MNIST_FILES`] that `dir` holds in neither gzipped nor
    /// unpacked form; returns the paths downloaded.
    pub fn fetch_missing(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut fetched = Vec::new();
        for file in &MNIST_FILES {
            if crate::mnist::locate(dir, file).is_none() {
                fetched.push(self.fetch(file, dir)?);
            }
        }
        Ok(fetched)
    }

    /// One GET of `url` into `temp`; local I/O errors abort (`Err`), remote problems are
    /// returned as a reason so the next mirror is tried.
    fn attempt(
        &self,
        agent: &ureq::Agent,
        url: &str,
        file: &MnistFile,
        temp: &Path,
    ) -> Result<Attempt> {
        let mut response = match agent.get(url).call() {
            Ok(r) => r,
            Err(ureq::Error::StatusCode(code)) => {
                return Ok(Attempt::Failed(FailureReason::Http(code)));
            }
            Err(e) => return Ok(Attempt::Failed(FailureReason::Connection(e.to_string()))),
        };
        let announced = response.body().content_length();
        let bar = if self.progress {
            let bar = ProgressBar::new(announced.unwrap_or(0));
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(file.name);
            bar
        } else {
            ProgressBar::hidden()
        };
        let io_err = |action: &'static str| {
            move |source| DataError::Io {
                action,
                path: temp.to_owned(),
                source,
            }
        };
        let out = File::create(temp).map_err(io_err("creating"))?;
        let mut out = BufWriter::with_capacity(1 << 16, out);
        let mut reader = response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD_BYTES + 1)
            .reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut received: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bar.abandon();
                    let reason = match announced {
                        Some(expected) if received < expected => {
                            format!("{e} (after {received} of {expected} bytes)")
                        }
                        _ => format!("{e} (after {received} bytes)"),
                    };
                    return Ok(Attempt::Failed(FailureReason::Connection(reason)));
                }
            };
            received += n as u64;
            if received > MAX_DOWNLOAD_BYTES {
                bar.abandon();
                return Ok(Attempt::Failed(FailureReason::TooLarge));
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err("writing"))?;
            bar.set_position(received);
        }
        bar.finish_and_clear();
        if let Some(expected) = announced
            && received != expected
        {
            return Ok(Attempt::Failed(FailureReason::CutShort {
                received,
                expected,
            }));
        }
        let out = out
            .into_inner()
            .map_err(|e| io_err("writing")(e.into_error()))?;
        out.sync_all().map_err(io_err("syncing"))?;
        drop(out);
        let actual = hex(&hasher.finalize());
        if actual != file.sha256 {
            return Ok(Attempt::Failed(FailureReason::Checksum {
                expected: file.sha256.to_owned(),
                actual,
            }));
        }
        Ok(Attempt::Done)
    }
}
