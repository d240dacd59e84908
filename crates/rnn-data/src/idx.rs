//! A small checked reader for the IDX files of MNIST (`idx3-ubyte` images, `idx1-ubyte`
//! labels), gzipped or not.
//!
//! Format (big-endian): images are `magic 2051, count, rows, cols` then `count * rows * cols`
//! pixel bytes; labels are `magic 2049, count` then `count` label bytes. Every check is done
//! before anything is returned: a bad magic number, dimensions other than 28x28, a size that
//! is not exactly what the header announces, or a label outside 0..=9 is a [`DataError`]
//! naming the file. Nothing here panics, whatever the bytes (fuzzed: see `fuzz/`).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{DataError, Result};

/// Magic number of an IDX file of unsigned-byte 3-D data (images).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte 1-D data (labels).
pub const LABELS_MAGIC: u32 = 2049;
/// Rows of an MNIST image (= time steps of the row-sequence view).
pub const ROWS: usize = 28;
/// Columns of an MNIST image (= inputs per time step).
pub const COLS: usize = 28;
/// Pixels per image, `ROWS * COLS` = 784.
pub const PIXELS: usize = ROWS * COLS;
/// Size of the images header in bytes.
pub const IMAGES_HEADER: usize = 16;
/// Size of the labels header in bytes.
pub const LABELS_HEADER: usize = 8;
/// No MNIST file decompresses to more than this (the training images: 16 + 60000 * 784).
pub const MAX_DECODED_BYTES: usize = IMAGES_HEADER + 60_000 * PIXELS;

/// Decompresses `bytes` if they start with the gzip magic (`1f 8b`), else returns them as
/// they are. `file` names the file in errors.
///
/// Output is capped at [`MAX_DECODED_BYTES`] (a larger stream is [`DataError::TooLarge`]);
/// a truncated or corrupt stream (bad CRC, bad length) is [`DataError::CorruptGzip`].
pub fn decompress<'a>(file: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    let mut decoder = GzDecoder::new(bytes).take(MAX_DECODED_BYTES as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| DataError::CorruptGzip {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(DataError::TooLarge {
            file: file.to_owned(),
            limit: MAX_DECODED_BYTES,
        });
    }
    Ok(Cow::Owned(out))
}

/// The IDX reader's contract on arbitrary bytes, shared by the fuzz target
/// (`fuzz/fuzz_targets/idx.rs`) and the bounded property test: decoding and both parsers
/// return `Ok` or a typed error, never panic, and what they accept matches its header.
/// Panics (an assertion) when the contract is broken.
#[doc(hidden)]
pub fn check_reader_contract(data: &[u8]) {
    let Ok(decoded) = decompress("fuzz", data) else {
        return;
    };
    if let Ok(px) = parse_images("fuzz", &decoded) {
        assert_eq!(px.len() % PIXELS, 0);
        assert_eq!(px.len() + IMAGES_HEADER, decoded.len());
    }
    if let Ok(labels) = parse_labels("fuzz", &decoded) {
        assert!(labels.iter().all(|&l| l <= 9));
        assert_eq!(labels.len() + LABELS_HEADER, decoded.len());
    }
}

/// Reads the file at `path` and decompresses it if it is gzipped (see [`decompress`]).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(match decompress(&name, &raw)? {
        Cow::Borrowed(_) => raw,
        Cow::Owned(v) => v,
    })
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    // Callers check the length first; `get` keeps this panic-free regardless.
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn check_header(
    file: &str,
    bytes: &[u8],
    kind: &'static str,
    magic: u32,
    header: usize,
) -> Result<u32> {
    if bytes.len() < 4 || (be_u32(bytes, 0) == magic && bytes.len() < header) {
        return Err(DataError::TruncatedHeader {
            file: file.to_owned(),
            kind,
            needed: header,
            actual: bytes.len(),
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            file: file.to_owned(),
            kind,
            expected: magic,
            found,
        });
    }
    Ok(be_u32(bytes, 4))
}

fn check_size(file: &str, bytes: &[u8], count: u32, header: usize, item: usize) -> Result<()> {
    let expected = header as u64 + u64::from(count) * item as u64;
    let actual = bytes.len() as u64;
    if expected != actual {
        return Err(DataError::SizeMismatch {
            file: file.to_owned(),
            count,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Parses an (uncompressed) IDX images file and returns its pixels: `count * 28 * 28` bytes,
/// image after image, each row-major (`[count, 28, 28]`).
pub fn parse_images(file: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let count = check_header(file, bytes, "images", IMAGES_MAGIC, IMAGES_HEADER)?;
    let (rows, cols) = (be_u32(bytes, 8), be_u32(bytes, 12));
    if rows as usize != ROWS || cols as usize != COLS {
        return Err(DataError::BadDimensions {
            file: file.to_owned(),
            rows,
            cols,
        });
    }
    check_size(file, bytes, count, IMAGES_HEADER, PIXELS)?;
    Ok(bytes[IMAGES_HEADER..].to_vec())
}

/// Parses an (uncompressed) IDX labels file and returns its labels, one byte (0..=9) each
/// (`[count]`).
pub fn parse_labels(file: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let count = check_header(file, bytes, "labels", LABELS_MAGIC, LABELS_HEADER)?;
    check_size(file, bytes, count, LABELS_HEADER, 1)?;
    let labels = &bytes[LABELS_HEADER..];
    if let Some((index, &value)) = labels.iter().enumerate().find(|&(_, &v)| v > 9) {
        return Err(DataError::BadLabel {
            file: file.to_owned(),
            index,
            value,
        });
    }
    Ok(labels.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images_header(magic: u32, count: u32, rows: u32, cols: u32) -> Vec<u8> {
        [magic, count, rows, cols]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect()
    }

    #[test]
    fn parses_a_small_images_file() {
        let mut bytes = images_header(2051, 2, 28, 28);
        bytes.extend((0..2 * PIXELS).map(|i| (i % 256) as u8));
        let pixels = parse_images("x", &bytes).unwrap();
        assert_eq!(pixels.len(), 2 * PIXELS);
        assert_eq!(pixels[300], (300 % 256) as u8);
    }

    #[test]
    fn rejects_bad_headers_and_sizes() {
        let mut bytes = images_header(2049, 1, 28, 28);
        bytes.resize(16 + PIXELS, 0);
        assert!(matches!(
            parse_images("f", &bytes),
            Err(DataError::BadMagic { found: 2049, .. })
        ));
        let mut bytes = images_header(2051, 1, 28, 27);
        bytes.resize(16 + PIXELS, 0);
        assert!(matches!(
            parse_images("f", &bytes),
            Err(DataError::BadDimensions { cols: 27, .. })
        ));
        let mut bytes = images_header(2051, 2, 28, 28);
        bytes.resize(16 + PIXELS, 0);
        let err = parse_images("f", &bytes).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        bytes.resize(16 + 2 * PIXELS + 1, 0);
        let err = parse_images("f", &bytes).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        assert!(matches!(
            parse_images("f", &bytes[..10]),
            Err(DataError::TruncatedHeader { actual: 10, .. })
        ));
        assert!(matches!(
            parse_labels("f", &[]),
            Err(DataError::TruncatedHeader { .. })
        ));
        // A huge count must not overflow or allocate.
        let bytes = images_header(2051, u32::MAX, 28, 28);
        assert!(matches!(
            parse_images("f", &bytes),
            Err(DataError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn labels_must_be_digits() {
        let mut bytes: Vec<u8> = [2049u32, 3].iter().flat_map(|v| v.to_be_bytes()).collect();
        bytes.extend([1, 9, 0]);
        assert_eq!(parse_labels("l", &bytes).unwrap(), vec![1, 9, 0]);
        *bytes.last_mut().unwrap() = 10;
        assert!(matches!(
            parse_labels("l", &bytes),
            Err(DataError::BadLabel {
                index: 2,
                value: 10,
                ..
            })
        ));
    }

    #[test]
    fn gzip_round_trip_and_corruption() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&data).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(&*decompress("g", &gz).unwrap(), &data[..]);
        let err = decompress("g.gz", &gz[..gz.len() - 6]).unwrap_err();
        assert!(matches!(err, DataError::CorruptGzip { .. }), "{err}");
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff; // CRC
        assert!(matches!(
            decompress("g.gz", &bad),
            Err(DataError::CorruptGzip { .. })
        ));
        assert_eq!(&*decompress("raw", &data).unwrap(), &data[..]);
    }
}
