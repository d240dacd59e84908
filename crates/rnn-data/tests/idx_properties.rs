//! A bounded, deterministic stand-in for the fuzz target (`fuzz/`), run in CI: random bytes
//! and mutated real headers never panic the IDX reader, and whatever it accepts is
//! consistent with its header.

mod common;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnn_data::checksums::{TEST_IMAGES, TEST_LABELS};
use rnn_data::idx::{PIXELS, check_reader_contract, decompress, parse_images, parse_labels};

/// The fuzz target's body (`fuzz/fuzz_targets/idx.rs`).
fn exercise(data: &[u8]) {
    check_reader_contract(data);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x1d8);
    for _ in 0..20_000 {
        let len = rng.random_range(0..64);
        let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // Half the time, start with a valid magic to get past the first check.
        if len >= 4 && rng.random_bool(0.5) {
            let magic: u32 = if rng.random_bool(0.5) { 2051 } else { 2049 };
            data[..4].copy_from_slice(&magic.to_be_bytes());
        }
        exercise(&data);
    }
}

#[test]
fn mutated_real_files_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let labels = decompress("l", &common::archive(TEST_LABELS.name))
        .unwrap()
        .into_owned();
    let images = decompress("i", &common::archive(TEST_IMAGES.name))
        .unwrap()
        .into_owned();
    // Small real-shaped files: the real headers with their counts cut down.
    let mut small_images = images[..16 + 3 * PIXELS].to_vec();
    small_images[4..8].copy_from_slice(&3u32.to_be_bytes());
    let mut small_labels = labels[..8 + 50].to_vec();
    small_labels[4..8].copy_from_slice(&50u32.to_be_bytes());
    exercise(&small_images);
    assert!(parse_images("s", &small_images).is_ok());
    assert!(parse_labels("s", &small_labels).is_ok());
    for round in 0..4_000 {
        let base = if round % 2 == 0 {
            &small_images
        } else {
            &small_labels
        };
        let mut data = base.clone();
        match rng.random_range(0..4) {
            0 => {
                // Flip bytes in the header.
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..16.min(data.len()));
                    data[at] = rng.random();
                }
            }
            1 => data.truncate(rng.random_range(0..data.len())),
            2 => data.extend((0..rng.random_range(1..40)).map(|_| rng.random::<u8>())),
            _ => {
                let at = rng.random_range(0..data.len());
                data[at] = rng.random();
            }
        }
        exercise(&data);
    }
    // Gzipped inputs: a real archive cut or corrupted at random places.
    let gz = common::archive(TEST_LABELS.name);
    for _ in 0..300 {
        let mut data = gz.clone();
        if rng.random_bool(0.5) {
            data.truncate(rng.random_range(0..data.len()));
        } else {
            let at = rng.random_range(0..data.len());
            data[at] ^= rng.random_range(1..=255u8);
        }
        exercise(&data);
    }
}
