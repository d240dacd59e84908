//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use rnn_data::checksums::MNIST_FILES;
use rnn_data::{Downloader, prepare_data_dir};

/// The directory holding the real MNIST archives, found exactly as `cargo xtask mnist` finds
/// it ([`rnn_data::prepare_data_dir`]: `$MNIST_DIR`, else `~/.cache/rnn-rs/mnist`), with
/// whatever is missing downloaded from the public mirrors and checked against the embedded
/// SHA-256 sums. The tests read the `.gz` archives themselves, so an archive present only
/// unpacked is downloaded too. Once per test binary; when the data cannot be had, every test
/// that needs it FAILS with the reason (never a silent skip).
pub fn mnist_dir() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = DIR.get_or_init(|| {
        let downloader = Downloader::default();
        let dir = prepare_data_dir(None, &downloader).map_err(|e| e.to_string())?;
        for file in &MNIST_FILES {
            if !dir.join(file.name).is_file() {
                downloader.fetch(file, &dir).map_err(|e| e.to_string())?;
            }
        }
        Ok(dir)
    });
    match found {
        Ok(dir) => dir.clone(),
        Err(e) => panic!(
            "these tests need the real MNIST archives and could not get them: {e}\n\
             They look where `cargo xtask mnist` looks ($MNIST_DIR, else ~/.cache/rnn-rs/mnist) \
             and download what is missing; with no internet, place the four .gz files there by \
             hand. The tests never skip."
        ),
    }
}

/// The raw bytes of one archive (`.gz`) of the real data set.
pub fn archive(name: &str) -> Vec<u8> {
    let path = mnist_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The default device (the CPU backend of the default `flex` feature).
pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::default()
}
