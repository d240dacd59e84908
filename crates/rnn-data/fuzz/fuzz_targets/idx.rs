//! Fuzzes the IDX reader: gzip detection/decompression, then both parsers. Any input must
//! give `Ok` or a typed error, never a panic; what is accepted must match its header
//! (`rnn_data::idx::check_reader_contract`, which the CI property test runs too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rnn_data::idx::check_reader_contract(data));
