//! MNIST in memory and as batches of row sequences: each image is 28 time steps of 28 pixels.
//!
//! [`Mnist::load`] decodes the four files once (47 MB of `u8` pixels for the training set);
//! a batch is then built by gathering the chosen images into one `Vec<f32>` (pixel / 255)
//! and one `Vec<i64>` of labels, which become the batch's two tensors: two allocations per
//! batch, nothing per example.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::checksums::{
    MNIST_FILES, MnistFile, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, sha256_hex,
};
use crate::download::Downloader;
use crate::error::{DataError, Result};
use crate::idx::{self, PIXELS};

/// Environment variable naming the MNIST directory (used when no `--data-dir` is given).
pub const MNIST_DIR_ENV: &str = "MNIST_DIR";
/// Examples in the MNIST training set.
pub const TRAIN_LEN: usize = 60_000;
/// Examples in the MNIST test set.
pub const TEST_LEN: usize = 10_000;
/// Number of classes (digits 0..=9).
pub const N_CLASSES: usize = 10;

/// The per-user cache directory for MNIST: `<cache dir>/rnn-rs/mnist` (on Linux
/// `$XDG_CACHE_HOME/rnn-rs/mnist` or `~/.cache/rnn-rs/mnist`), if the platform has one.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("rnn-rs").join("mnist"))
}

/// Where the MNIST files live: `data_dir` (the `--data-dir` option) if given, else
/// `$MNIST_DIR` if set and non-empty, else [`default_cache_dir`].
pub fn resolve_data_dir(data_dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = data_dir {
        return Ok(dir.to_owned());
    }
    match std::env::var_os(MNIST_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => default_cache_dir().ok_or(DataError::NoDataDir),
    }
}

/// The MNIST directory exactly as the CLI finds it ([`resolve_data_dir`]: `data_dir`, else
/// `$MNIST_DIR`, else [`default_cache_dir`]), with whatever of the four files it lacks
/// downloaded by `downloader` and verified against the embedded SHA-256 sums
/// ([`Downloader::fetch_missing`]). Files already there are not read; [`Mnist::load`]
/// checks them. `cargo xtask mnist` and the tests find MNIST through this one function.
pub fn prepare_data_dir(data_dir: Option<&Path>, downloader: &Downloader) -> Result<PathBuf> {
    let dir = resolve_data_dir(data_dir)?;
    downloader.fetch_missing(&dir)?;
    Ok(dir)
}

/// The path of `file` in `dir`: the `.gz` archive if present, else the unpacked file, else
/// `None`.
pub fn locate(dir: &Path, file: &MnistFile) -> Option<PathBuf> {
    [file.name, file.unpacked_name()]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Reads one file (verifying a `.gz` archive's SHA-256 first) and returns its decoded bytes.
fn read_checked(dir: &Path, file: &MnistFile) -> Result<(String, Vec<u8>)> {
    let path = locate(dir, file).ok_or_else(|| DataError::Missing {
        file: file.name.to_owned(),
        dir: dir.to_owned(),
    })?;
    let raw = idx::read_capped(&path)?;
    let name = file_name(&path);
    if name == file.name {
        let actual = sha256_hex(&raw);
        if actual != file.sha256 {
            return Err(DataError::ChecksumMismatch {
                path,
                expected: file.sha256.to_owned(),
                actual,
            });
        }
    }
    let decoded = idx::decompress(&name, &raw)?.into_owned();
    Ok((name, decoded))
}

/// The last component of `path`, for error messages.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// One split (training or test) decoded into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistSplit {
    /// `[len, 28, 28]` pixels, row-major, 0..=255.
    images: Vec<u8>,
    /// `[len]` labels, 0..=9.
    labels: Vec<u8>,
}

impl MnistSplit {
    /// Builds a split from raw pixels (`[n, 28, 28]` bytes, row-major) and labels (`[n]`,
    /// each 0..=9); checks that the two agree in length and that the labels are digits.
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Self> {
        if labels.len().checked_mul(PIXELS) != Some(images.len()) {
            return Err(DataError::invalid(
                "images",
                format!(
                    "{} pixel bytes ([{}, 28, 28], one image per label)",
                    labels.len() as u128 * PIXELS as u128,
                    labels.len()
                ),
                format!("{} pixel bytes", images.len()),
            ));
        }
        if let Some((index, &value)) = labels.iter().enumerate().find(|&(_, &v)| v > 9) {
            return Err(DataError::BadLabel {
                file: "(in memory)".to_owned(),
                index,
                value,
            });
        }
        Ok(Self { images, labels })
    }

    /// Loads a split from an IDX images file and an IDX labels file of any (equal) number of
    /// examples `n`, each gzipped or not: pixels `[n, 28, 28]`, labels `[n]`. Every check of
    /// [`Mnist::load`] but the SHA-256 sums and the MNIST sizes (files larger than
    /// [`idx::MAX_FILE_BYTES`], bad gzip, bad headers, sizes that disagree with the header,
    /// labels outside 0..=9, `n` differing between the files) is a [`DataError`] naming the
    /// file; nothing is returned half-loaded.
    pub fn load(images: &Path, labels: &Path) -> Result<Self> {
        let images = (file_name(images), idx::read_maybe_gz(images)?);
        let labels = (file_name(labels), idx::read_maybe_gz(labels)?);
        Self::parse(None, images, labels)
    }

    /// Parses an images file and a labels file (decoded IDX bytes) into a split and checks
    /// that they hold as many examples as each other and, if given, as the split's
    /// `(name, expected count)`.
    fn parse(
        expected: Option<(&'static str, usize)>,
        (images_file, images): (String, Vec<u8>),
        (labels_file, labels): (String, Vec<u8>),
    ) -> Result<Self> {
        let images = idx::parse_images(&images_file, &images)?;
        let labels = idx::parse_labels(&labels_file, &labels)?;
        let n_images = images.len() / PIXELS;
        if n_images != labels.len() {
            return Err(DataError::CountMismatch {
                images_file,
                images: n_images,
                labels_file,
                labels: labels.len(),
            });
        }
        if let Some((split, expected)) = expected
            && n_images != expected
        {
            return Err(DataError::WrongCount {
                file: images_file,
                split,
                expected,
                found: n_images,
            });
        }
        Ok(Self { images, labels })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All pixels, `[len, 28, 28]` row-major bytes (0 = background, 255 = ink).
    pub fn pixels(&self) -> &[u8] {
        &self.images
    }

    /// All labels, `[len]`, each 0..=9.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Image `index` as `[28, 28]` row-major bytes; an index past the end (however large)
    /// is [`DataError::InvalidArgument`].
    pub fn image(&self, index: usize) -> Result<&[u8]> {
        self.check_index(index)?;
        Ok(&self.images[index * PIXELS..(index + 1) * PIXELS])
    }

    /// Label `index` (0..=9); an index past the end is [`DataError::InvalidArgument`].
    pub fn label(&self, index: usize) -> Result<u8> {
        self.check_index(index)?;
        Ok(self.labels[index])
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.len() {
            return Err(DataError::invalid(
                "index",
                format!("an example index below {} (the split's length)", self.len()),
                index,
            ));
        }
        Ok(())
    }

    /// How many examples of each digit: `[10]`.
    pub fn label_counts(&self) -> [usize; N_CLASSES] {
        let mut counts = [0; N_CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// Gathers the examples at `indices` into host buffers (cleared first, capacity kept):
    /// `images` `[indices.len(), 28, 28]` as pixel / 255, `labels` `[indices.len()]`.
    /// An index past the end is [`DataError::InvalidArgument`] (buffers then left empty).
    pub fn gather_into(
        &self,
        indices: &[usize],
        images: &mut Vec<f32>,
        labels: &mut Vec<i64>,
    ) -> Result<()> {
        images.clear();
        labels.clear();
        if let Some((at, &bad)) = indices.iter().enumerate().find(|&(_, &i)| i >= self.len()) {
            return Err(DataError::invalid(
                "indices",
                format!("example indices below {} (the split's length)", self.len()),
                format!("indices[{at}] = {bad}"),
            ));
        }
        images.reserve(indices.len() * PIXELS);
        labels.reserve(indices.len());
        for &i in indices {
            let image = &self.images[i * PIXELS..(i + 1) * PIXELS];
            images.extend(image.iter().map(|&p| f32::from(p) / 255.0));
            labels.push(i64::from(self.labels[i]));
        }
        Ok(())
    }

    /// The order of the examples in epoch `epoch`: `0..len` shuffled by a generator seeded
    /// from `(seed, epoch)` when `shuffle`, else in order. Same arguments, same order.
    pub fn epoch_order(&self, shuffle: bool, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if shuffle {
            let mut rng = StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(epoch)));
            order.shuffle(&mut rng);
        }
        order
    }
}

/// SplitMix64: turns (seed, epoch) into well-spread 64-bit seeds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// MNIST decoded into memory: 60000 training and 10000 test examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The training split (60000 examples).
    pub train: MnistSplit,
    /// The test split (10000 examples).
    pub test: MnistSplit,
}

impl Mnist {
    /// Loads the four files from `dir` (each `.gz` or unpacked, at most
    /// [`idx::MAX_FILE_BYTES`]; a `.gz` is checked against its SHA-256 first): training
    /// pixels `[60000, 28, 28]` and labels `[60000]`, test `[10000, 28, 28]` and `[10000]`.
    /// Any missing, corrupt or mismatched file is an error naming it; nothing is returned
    /// half-loaded and nothing is written. Never downloads (see [`prepare_data_dir`]).
    pub fn load(dir: &Path) -> Result<Self> {
        let train = MnistSplit::parse(
            Some(("training", TRAIN_LEN)),
            read_checked(dir, &TRAIN_IMAGES)?,
            read_checked(dir, &TRAIN_LABELS)?,
        )?;
        let test = MnistSplit::parse(
            Some(("test", TEST_LEN)),
            read_checked(dir, &TEST_IMAGES)?,
            read_checked(dir, &TEST_LABELS)?,
        )?;
        Ok(Self { train, test })
    }

    /// Downloads whatever of the four files `dir` lacks (see [`Downloader::fetch_missing`]),
    /// then [`Mnist::load`]s them.
    pub fn load_or_download(dir: &Path, downloader: &Downloader) -> Result<Self> {
        downloader.fetch_missing(dir)?;
        Self::load(dir)
    }

    /// Whether `dir` holds all four files (gzipped or unpacked); checks nothing else.
    pub fn is_present(dir: &Path) -> bool {
        MNIST_FILES.iter().all(|f| locate(dir, f).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_option_wins() {
        let dir = Path::new("/some/where");
        assert_eq!(resolve_data_dir(Some(dir)).unwrap(), dir);
        if let Some(cache) = default_cache_dir() {
            assert!(cache.ends_with("rnn-rs/mnist"), "{}", cache.display());
        }
    }

    #[test]
    fn split_checks_its_parts() {
        assert!(MnistSplit::new(vec![0; PIXELS * 2], vec![1, 2]).is_ok());
        let err = MnistSplit::new(vec![0; PIXELS * 2], vec![1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`images`: expected 784 pixel bytes ([1, 28, 28], one image per label), got 1568 \
             pixel bytes"
        );
        assert!(MnistSplit::new(vec![0; PIXELS + 1], vec![1]).is_err());
        assert!(matches!(
            MnistSplit::new(vec![0; PIXELS], vec![12]),
            Err(DataError::BadLabel { value: 12, .. })
        ));
        let s = MnistSplit::new(vec![7; PIXELS], vec![3]).unwrap();
        assert_eq!(s.label_counts()[3], 1);
        let (mut px, mut lb) = (Vec::new(), Vec::new());
        s.gather_into(&[0, 0], &mut px, &mut lb).unwrap();
        assert_eq!(
            (px.len(), px[0], &lb[..]),
            (2 * PIXELS, 7.0 / 255.0, &[3, 3][..])
        );
        let err = s.gather_into(&[0, 1], &mut px, &mut lb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`indices`: expected example indices below 1 (the split's length), got indices[1] = 1"
        );
        assert!(px.is_empty() && lb.is_empty());
    }
}
