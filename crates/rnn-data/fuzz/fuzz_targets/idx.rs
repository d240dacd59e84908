//! Fuzzes the IDX reader: gzip detection/decompression, then both parsers. Any input must
//! give `Ok` or a typed error, never a panic; what is accepted must match its header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnn_data::idx::{PIXELS, decompress, parse_images, parse_labels};

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decompress("fuzz", data) else {
        return;
    };
    if let Ok(px) = parse_images("fuzz", &decoded) {
        assert_eq!(px.len() % PIXELS, 0);
        assert_eq!(px.len() + 16, decoded.len());
    }
    if let Ok(labels) = parse_labels("fuzz", &decoded) {
        assert!(labels.iter().all(|&l| l <= 9));
        assert_eq!(labels.len() + 8, decoded.len());
    }
});
