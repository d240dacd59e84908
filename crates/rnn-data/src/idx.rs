//! A small checked reader for the IDX files of MNIST (`idx3-ubyte` images, `idx1-ubyte`
//! labels), gzipped or not.
//!
//! Format (big-endian): images are `magic 2051, count, rows, cols` then `count * rows * cols`
//! pixel bytes; labels are `magic 2049, count` then `count` label bytes. Every check is done
//! before anything is returned: a bad magic number, dimensions other than 28x28, a size that
//! is not exactly what the header announces, or a label outside 0..=9 is a [`DataError`]
//! naming the file. Nothing here panics, whatever the bytes (fuzzed: see `fuzz/`).

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use flate2::bufread::GzDecoder;

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
/// No MNIST file decompresses to more than this (the training images: 16 + 60000 * 784 =
/// 47,040,016 bytes).
pub const MAX_DECODED_BYTES: usize = IMAGES_HEADER + 60_000 * PIXELS;
/// No file is read from disk if it is larger than this: the same bound as
/// [`MAX_DECODED_BYTES`], because the largest MNIST file, packed or not, is the unpacked
/// training images (the archives are at most 9.9 MB). So nothing the parser could accept is
/// refused, a file read costs at most 47 MB of memory whatever the disk holds, and a raw file
/// and a gzipped one meet the same limit.
pub const MAX_FILE_BYTES: u64 = MAX_DECODED_BYTES as u64;

/// Decompresses `bytes` if they start with the gzip magic (`1f 8b`), else returns them as
/// they are. `file` names the file in errors.
///
/// Output is capped at [`MAX_DECODED_BYTES`] (a larger stream is [`DataError::TooLarge`]);
/// a truncated or corrupt stream (bad CRC, bad length) is [`DataError::CorruptGzip`]; bytes
/// after the end of the gzip member (a second member, or anything else) are
/// [`DataError::GzipTrailingBytes`]: an MNIST archive is exactly one member.
pub fn decompress<'a>(file: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    // The `bufread` decoder consumes exactly the member from the slice, so what is left of
    // the slice afterwards is what follows the member.
    let mut decoder = GzDecoder::new(bytes);
    (&mut decoder)
        .take(MAX_DECODED_BYTES as u64 + 1)
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
    let trailing = decoder.get_ref().len();
    if trailing > 0 {
        return Err(DataError::GzipTrailingBytes {
            file: file.to_owned(),
            end: bytes.len() - trailing,
            total: bytes.len(),
            trailing,
        });
    }
    Ok(Cow::Owned(out))
}

/// Reads the whole file at `path`, refusing one larger than [`MAX_FILE_BYTES`] before
/// reading it ([`DataError::FileTooLarge`]); a file that grows past the limit while being
/// read (or a special file that never ends) is refused too, after at most that many bytes.
pub fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let io_err = |action: &'static str| {
        move |source| DataError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let file = File::open(path).map_err(io_err("reading"))?;
    let on_disk = file.metadata().map_err(io_err("reading"))?.len();
    if on_disk > MAX_FILE_BYTES {
        return Err(DataError::FileTooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_BYTES,
            actual: on_disk,
            grew: false,
        });
    }
    let mut bytes = Vec::with_capacity(on_disk as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("reading"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(DataError::FileTooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_BYTES,
            actual: bytes.len() as u64,
            grew: true,
        });
    }
    Ok(bytes)
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

/// Reads the file at `path` (at most [`MAX_FILE_BYTES`], see [`read_capped`]) and
/// decompresses it if it is gzipped (see [`decompress`]).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = read_capped(path)?;
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

    fn gzip(data: &[u8]) -> Vec<u8> {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn bytes_after_the_gzip_member_are_an_error() {
        let data = b"0123456789".repeat(50);
        let gz = gzip(&data);
        let n = gz.len();
        // Junk after the member.
        let mut junk = gz.clone();
        junk.extend_from_slice(b"xyz");
        let err = decompress("junk.gz", &junk).unwrap_err();
        assert!(
            matches!(err, DataError::GzipTrailingBytes { end, total, trailing: 3, .. }
                if end == n && total == n + 3),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "junk.gz: 3 bytes after the end of the gzip stream (which ends at byte {n} of \
                 {}); expected the file to end with the stream",
                n + 3
            )
        );
        // A second member (what `cat a.gz b.gz` makes) is refused too: MNIST is one member.
        let mut two = gz.clone();
        two.extend_from_slice(&gzip(b"more"));
        let err = decompress("two.gz", &two).unwrap_err();
        assert!(
            matches!(err, DataError::GzipTrailingBytes { end, .. } if end == n),
            "{err}"
        );
        // One trailing zero byte (padding) is still a trailing byte.
        let mut pad = gz.clone();
        pad.push(0);
        assert!(matches!(
            decompress("pad.gz", &pad),
            Err(DataError::GzipTrailingBytes { trailing: 1, .. })
        ));
        assert_eq!(&*decompress("ok.gz", &gz).unwrap(), &data[..]);
    }

    #[test]
    fn a_file_larger_than_any_mnist_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte");
        // Sparse: 1 TB on disk costs nothing; the size alone refuses it.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        let err = read_maybe_gz(&path).unwrap_err();
        assert!(
            matches!(err, DataError::FileTooLarge { actual, limit, grew: false, .. }
                if actual == 1 << 40 && limit == MAX_FILE_BYTES),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: 1099511627776 bytes, expected at most 47040016 bytes (the largest MNIST \
                 file, train-images-idx3-ubyte unpacked, is 47040016 bytes)",
                path.display()
            )
        );
        // One byte over the limit is refused, the limit itself is read.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        assert!(matches!(
            read_capped(&path),
            Err(DataError::FileTooLarge { actual, .. }) if actual == MAX_FILE_BYTES + 1
        ));
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_FILE_BYTES)
            .unwrap();
        assert_eq!(read_capped(&path).unwrap().len() as u64, MAX_FILE_BYTES);
    }

    /// A file that never ends (size 0 on disk) is cut off at the limit, not read forever.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_never_ends_is_cut_off_at_the_limit() {
        let err = read_capped(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(err, DataError::FileTooLarge { actual, grew: true, .. }
                if actual == MAX_FILE_BYTES + 1),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("/dev/zero: 47040017 bytes or more (it grew while being read)"),
            "{err}"
        );
    }
}
