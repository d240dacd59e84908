//! The four MNIST archives and their published SHA-256 sums (embedded: every download is
//! checked against them, and a test checks the archives the tests found).

use sha2::{Digest, Sha256};

/// One of the four original MNIST archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistFile {
    /// The archive's file name, e.g. `train-images-idx3-ubyte.gz`.
    pub name: &'static str,
    /// Its SHA-256 sum, lowercase hex.
    pub sha256: &'static str,
}

impl MnistFile {
    /// The name once unpacked (without `.gz`), e.g. `train-images-idx3-ubyte`.
    pub fn unpacked_name(&self) -> &'static str {
        self.name.strip_suffix(".gz").unwrap_or(self.name)
    }
}

/// Training images: 60000 x 28 x 28 bytes.
pub const TRAIN_IMAGES: MnistFile = MnistFile {
    name: "train-images-idx3-ubyte.gz",
    sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
};
/// Training labels: 60000 bytes.
pub const TRAIN_LABELS: MnistFile = MnistFile {
    name: "train-labels-idx1-ubyte.gz",
    sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
};
/// Test images: 10000 x 28 x 28 bytes.
pub const TEST_IMAGES: MnistFile = MnistFile {
    name: "t10k-images-idx3-ubyte.gz",
    sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
};
/// Test labels: 10000 bytes.
pub const TEST_LABELS: MnistFile = MnistFile {
    name: "t10k-labels-idx1-ubyte.gz",
    sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
};

/// The four archives, in download order.
pub const MNIST_FILES: [MnistFile; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The embedded sums in `sha256sum` format (`<hex>  <name>` per line, sorted by name).
pub fn sha256sums() -> String {
    let mut files = MNIST_FILES;
    files.sort_by_key(|f| f.name);
    files
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.name))
        .collect()
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
