//! MNIST against the real files, found as `cargo xtask mnist` finds them (`$MNIST_DIR`, else
//! `~/.cache/rnn-rs/mnist`, downloading what is missing; see `common::mnist_dir`).

mod common;

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Instant;

use rnn_data::checksums::{MNIST_FILES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, sha256sums};
use rnn_data::{BatchOptions, DataError, Mnist};

fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| Mnist::load(&common::mnist_dir()).expect("loading the real MNIST"))
}

#[test]
fn sizes_and_label_counts() {
    let m = mnist();
    assert_eq!(m.train.len(), 60_000);
    assert_eq!(m.test.len(), 10_000);
    assert_eq!(m.train.pixels().len(), 60_000 * 784);
    assert_eq!(
        m.train.label_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        m.test.label_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn known_pixels_and_labels() {
    let m = mnist();
    assert_eq!(&m.train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&m.test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let first = m.train.image(0).unwrap();
    assert_eq!(first[14 * 28 + 14], 240);
    assert_eq!(first[5 * 28 + 12], 3);
    assert_eq!(first[10 * 28 + 10], 1);
    assert_eq!(first[0], 0);
    assert_eq!(
        &first[5 * 28 + 16..5 * 28 + 24],
        &[126, 136, 175, 26, 166, 255, 247, 127]
    );
    assert_eq!(first.iter().map(|&p| u64::from(p)).sum::<u64>(), 27_525);
    assert_eq!(m.train.image(59_999).unwrap()[14 * 28 + 14], 97);
    assert_eq!(m.test.image(9_999).unwrap()[14 * 28 + 14], 18);
    assert_eq!(
        &m.test.image(0).unwrap()[7 * 28 + 6..7 * 28 + 12],
        b"T\xb9\x9f\x97<$"
    );
    assert_eq!(
        m.train.pixels().iter().map(|&p| u64::from(p)).sum::<u64>(),
        1_567_298_545
    );
    assert_eq!(
        m.test.pixels().iter().map(|&p| u64::from(p)).sum::<u64>(),
        264_923_200
    );
}

#[test]
fn indices_past_the_end_are_errors_naming_the_index() {
    let m = mnist();
    for index in [60_000, usize::MAX / 784 + 1, usize::MAX] {
        let err = m.train.image(index).unwrap_err();
        assert!(
            matches!(err, DataError::InvalidArgument { arg: "index", .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "`index`: expected an example index below 60000 (the split's length), got {index}"
            )
        );
        let err = m.train.label(index).unwrap_err();
        assert!(err.to_string().contains(&format!("got {index}")), "{err}");
    }
    assert_eq!(m.test.label(9_999).unwrap(), 6);
}

/// The archives found (or downloaded) have the embedded sums; the embedded `sha256sum`
/// listing is well formed. (CI also compares the listing with the SHA256SUMS file its copy of
/// MNIST ships with: `.ci/run`.)
#[test]
fn embedded_sums_match_the_archives_found() {
    let embedded = sha256sums();
    let lines: Vec<&str> = embedded.lines().collect();
    assert_eq!(lines.len(), 4);
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once("  "))
        .map(|p| p.1)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    for (line, f) in
        lines
            .iter()
            .zip(["t10k-images", "t10k-labels", "train-images", "train-labels"])
    {
        let (sum, name) = line.split_once("  ").unwrap();
        assert!(
            sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()),
            "{line}"
        );
        assert!(name.starts_with(f) && name.ends_with("-ubyte.gz"), "{line}");
    }
    for f in MNIST_FILES {
        assert_eq!(
            rnn_data::checksums::sha256_hex(&common::archive(f.name)),
            f.sha256
        );
    }
}

#[test]
fn batch_shapes_values_and_labels() {
    let m = mnist();
    let device = common::device();
    let batch = m.train.batch(&[0, 1, 59_999], &device).unwrap();
    assert_eq!(batch.images.dims(), [3, 28, 28]);
    assert_eq!(batch.labels.dims(), [3]);
    assert_eq!(batch.len(), 3);
    let px: Vec<f32> = batch.images.into_data().try_to_vec().unwrap();
    assert_eq!(px[14 * 28 + 14], 240.0 / 255.0);
    assert_eq!(px[2 * 784 + 14 * 28 + 14], 97.0 / 255.0);
    assert!(px.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let labels: Vec<i64> = batch
        .labels
        .into_data()
        .convert::<i64>()
        .try_to_vec()
        .unwrap();
    assert_eq!(
        labels,
        vec![5, 0, i64::from(m.train.label(59_999).unwrap())]
    );
    let err = m.train.batch(&[3, 60_000], &device).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`indices`: expected example indices below 60000 (the split's length), got indices[1] = 60000"
    );
    let err = m.train.batch(&[], &device).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`indices`: expected at least one example index, got an empty slice"
    );
}

#[test]
fn seeded_shuffles_per_epoch() {
    let m = mnist();
    let a = m.train.epoch_order(true, 7, 0);
    assert_eq!(
        a,
        m.train.epoch_order(true, 7, 0),
        "same seed and epoch, same order"
    );
    assert_ne!(a, m.train.epoch_order(true, 7, 1), "each epoch reshuffles");
    assert_ne!(a, m.train.epoch_order(true, 8, 0), "the seed matters");
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..60_000).collect::<Vec<_>>(), "a permutation");
    assert_eq!(
        m.test.epoch_order(false, 7, 3),
        (0..10_000).collect::<Vec<_>>()
    );
}

#[test]
fn epoch_batches_keep_or_drop_the_last() {
    let m = mnist();
    let device = common::device();
    // 60000 = 399 * 150 + 150: no partial batch; 128 leaves 60000 - 468 * 128 = 96.
    let opts = BatchOptions::new(128).seed(1);
    let mut batches = m.train.batches(&opts, 0, &device).unwrap();
    assert_eq!(batches.len(), 469);
    let mut seen = HashSet::new();
    let mut sizes = Vec::new();
    while let Some(ix) = batches.next_indices() {
        sizes.push(ix.len());
        seen.extend(ix.iter().copied());
    }
    assert_eq!(seen.len(), 60_000, "every example once");
    assert_eq!(sizes.iter().filter(|&&s| s == 128).count(), 468);
    assert_eq!(*sizes.last().unwrap(), 96);

    let dropped = m.train.batches(&opts.drop_last(true), 0, &device).unwrap();
    assert_eq!(dropped.len(), 468);
    let last = dropped.last().unwrap();
    assert_eq!(last.images.dims(), [128, 28, 28]);

    let err = m
        .train
        .batches(&BatchOptions::new(0), 0, &device)
        .unwrap_err();
    assert_eq!(err.to_string(), "`batch_size`: expected at least 1, got 0");
}

#[test]
fn test_set_as_one_or_more_batches() {
    let m = mnist();
    let device = common::device();
    let all = m.test.all(&device).unwrap();
    assert_eq!(all.images.dims(), [10_000, 28, 28]);
    assert_eq!(all.labels.dims(), [10_000]);
    let parts: Vec<_> = m.test.in_order(3_000, &device).unwrap().collect();
    assert_eq!(
        parts.iter().map(|b| b.len()).collect::<Vec<_>>(),
        vec![3_000, 3_000, 3_000, 1_000]
    );
    let first: Vec<i64> = parts[0]
        .labels
        .clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec()
        .unwrap();
    assert_eq!(&first[..3], &[7, 2, 1]);
}

/// Not a timing assertion: prints what one batch costs, for the closing note.
#[test]
fn batch_building_cost() {
    let m = mnist();
    let device = common::device();
    let opts = BatchOptions::new(150).seed(3);
    // Host side only: gathering into reused buffers.
    let mut batches = m.train.batches(&opts, 0, &device).unwrap();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let t = Instant::now();
    let mut n = 0;
    while let Some(ix) = batches.next_indices() {
        let ix = ix.to_vec();
        m.train.gather_into(&ix, &mut images, &mut labels).unwrap();
        n += 1;
    }
    let host = t.elapsed();
    // Full path: gather plus the two tensors on the device.
    let t = Instant::now();
    let count = m.train.batches(&opts, 1, &device).unwrap().count();
    let full = t.elapsed();
    eprintln!(
        "batch building, B=150: host gather {:.3} ms/batch ({n} batches), with tensors {:.3} ms/batch ({count} batches)",
        host.as_secs_f64() * 1e3 / n as f64,
        full.as_secs_f64() * 1e3 / count as f64,
    );
}

fn copy_real(dir: &std::path::Path) {
    for f in MNIST_FILES {
        std::fs::write(dir.join(f.name), common::archive(f.name)).unwrap();
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    rnn_data::idx::decompress("t", bytes).unwrap().into_owned()
}

#[test]
fn unpacked_files_load_too() {
    let tmp = tempfile::tempdir().unwrap();
    for f in MNIST_FILES {
        let raw = gunzip(&common::archive(f.name));
        std::fs::write(tmp.path().join(f.unpacked_name()), raw).unwrap();
    }
    let m = Mnist::load(tmp.path()).unwrap();
    assert_eq!(&m, mnist());
}

#[test]
fn bad_files_are_typed_errors_naming_the_file() {
    // A truncated archive: checked by its checksum first.
    let tmp = tempfile::tempdir().unwrap();
    copy_real(tmp.path());
    let labels = common::archive(TRAIN_LABELS.name);
    std::fs::write(
        tmp.path().join(TRAIN_LABELS.name),
        &labels[..labels.len() / 2],
    )
    .unwrap();
    let err = Mnist::load(tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(TRAIN_LABELS.name), "{err}");

    // Unpacked files skip the checksum: the parser's checks must catch everything.
    let tmp = tempfile::tempdir().unwrap();
    copy_real(tmp.path());
    std::fs::remove_file(tmp.path().join(TRAIN_IMAGES.name)).unwrap();
    let images = gunzip(&common::archive(TRAIN_IMAGES.name));
    let unpacked = tmp.path().join(TRAIN_IMAGES.unpacked_name());
    std::fs::write(&unpacked, &images[..images.len() - 100]).unwrap();
    let err = Mnist::load(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::SizeMismatch {
                expected: 47_040_016,
                actual: 47_039_916,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // Wrong magic (labels where images belong).
    std::fs::write(&unpacked, gunzip(&labels)).unwrap();
    let err = Mnist::load(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 2049,
                expected: 2051,
                ..
            }
        ),
        "{err}"
    );

    // Mismatched counts: training images with the test labels.
    std::fs::write(&unpacked, &images).unwrap();
    std::fs::remove_file(tmp.path().join(TRAIN_LABELS.name)).unwrap();
    std::fs::write(
        tmp.path().join(TRAIN_LABELS.unpacked_name()),
        gunzip(&common::archive(TEST_LABELS.name)),
    )
    .unwrap();
    let err = Mnist::load(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 60_000,
                labels: 10_000,
                ..
            }
        ),
        "{err}"
    );

    // A corrupt gzip stream with no archive sum to catch it first: named file, typed error.
    let tmp = tempfile::tempdir().unwrap();
    let gz = common::archive(TRAIN_LABELS.name);
    let err = rnn_data::idx::decompress("bad.gz", &gz[..gz.len() - 10]).unwrap_err();
    assert!(matches!(err, DataError::CorruptGzip { .. }), "{err}");
    assert!(err.to_string().contains("bad.gz"));

    // Missing files: the message tells how to place them.
    let err = Mnist::load(tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("by hand"), "{err}");
}
