//! Our checked IDX parser against the `mnist` crate (a dev-dependency only) on the real
//! files: both must agree on every pixel and label, and on the pixel / 255 scaling.

mod common;

use rnn_data::Mnist;
use rnn_data::checksums::MNIST_FILES;

#[test]
fn every_pixel_and_label_agrees_with_the_mnist_crate() {
    let ours = Mnist::load(&common::mnist_dir()).unwrap();

    // The `mnist` crate reads no .gz: unpack the archives into a temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    for f in MNIST_FILES {
        let raw = rnn_data::idx::decompress(f.name, &common::archive(f.name))
            .unwrap()
            .into_owned();
        std::fs::write(tmp.path().join(f.unpacked_name()), raw).unwrap();
    }
    let base = tmp.path().to_str().unwrap();
    let theirs = mnist::MnistBuilder::new()
        .base_path(base)
        .label_format_digit()
        .training_set_length(60_000)
        .validation_set_length(0)
        .test_set_length(10_000)
        .finalize();
    assert_eq!(ours.train.pixels(), &theirs.trn_img[..]);
    assert_eq!(ours.train.labels(), &theirs.trn_lbl[..]);
    assert_eq!(ours.test.pixels(), &theirs.tst_img[..]);
    assert_eq!(ours.test.labels(), &theirs.tst_lbl[..]);

    // Same scaling as the crate's `normalize` (pixel as f32 / 255), bit for bit.
    let normalized = theirs.normalize();
    let indices: Vec<usize> = (0..ours.test.len()).collect();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    ours.test
        .gather_into(&indices, &mut images, &mut labels)
        .unwrap();
    assert_eq!(images, normalized.tst_img);
    assert!(
        labels
            .iter()
            .zip(&normalized.tst_lbl)
            .all(|(&a, &b)| a == i64::from(b))
    );
}

/// Why the crate is not our parser: on a truncated file it panics (we return an error).
#[test]
fn the_mnist_crate_panics_where_we_return_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    for f in MNIST_FILES {
        let mut raw = rnn_data::idx::decompress(f.name, &common::archive(f.name))
            .unwrap()
            .into_owned();
        if f.name.starts_with("t10k-labels") {
            raw.truncate(raw.len() - 1);
        }
        std::fs::write(tmp.path().join(f.unpacked_name()), raw).unwrap();
    }
    let ours = Mnist::load(tmp.path()).unwrap_err();
    assert!(
        ours.to_string().contains("t10k-labels-idx1-ubyte"),
        "{ours}"
    );
    let base = tmp.path().to_str().unwrap().to_owned();
    let theirs = std::panic::catch_unwind(move || {
        mnist::MnistBuilder::new()
            .base_path(&base)
            .label_format_digit()
            .finalize()
    });
    assert!(theirs.is_err(), "the mnist crate accepted a truncated file");
}
