//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The directory holding the real MNIST archives: `$MNIST_DIR`, else `shared/data/mnist` next
/// to the repository. Missing files FAIL the test (never a silent skip), as CI requires.
pub fn mnist_dir() -> PathBuf {
    let dir = match std::env::var_os("MNIST_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"),
    };
    assert!(
        rnn_data::Mnist::is_present(&dir),
        "the real MNIST files are not in {} (set MNIST_DIR to the directory holding \
         train-images-idx3-ubyte.gz and the three others); these tests do not skip",
        dir.display()
    );
    dir
}

/// The raw bytes of one archive of the real data set.
pub fn archive(name: &str) -> Vec<u8> {
    let path = mnist_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The default device (the CPU backend of the default `flex` feature).
pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::default()
}
