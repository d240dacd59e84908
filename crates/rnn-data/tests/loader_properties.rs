//! Property test of the file-level loaders on 100,000 generated inputs (the bounded stand-in
//! for fuzzing them; `tests/idx_properties.rs` covers the in-memory parser): small valid IDX
//! files (gzipped and raw) are mutated (truncated, bytes flipped, bad magic, huge dimensions
//! and counts, wrong counts, labels > 9, trailing bytes inside and after the gzip stream, fake
//! gzip, files past the size limit, missing files), written to a temporary directory and
//! loaded from disk:
//! - 96,000 through `MnistSplit::load` (one split from two files, any size): it returns `Ok`
//!   or a `DataError` naming a file, never panics; `Ok` exactly when the bytes on disk parse
//!   in memory, with the same split, and an `Err` with the same message as the parser's
//!   (so the file layer loses and adds nothing); mutations that break the format always
//!   fail; the unmutated files always load;
//! - 4,000 through `Mnist::load` (the four files of a directory, `.gz` names checked against
//!   the published sums first, unpacked names parsed): always a `DataError` naming one of
//!   the four files (the generated files are too small to be MNIST), never a panic.
//!
//! After every load the directory holds exactly what was written (the loaders write
//! nothing, leave no partial file) and an `Err` returns no value at all (nothing
//! half-loaded); loading again gives the same answer. Deterministic: fixed seeds; a panic
//! reports the seed, iteration and mutation to replay it.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnn_data::checksums::MNIST_FILES;
use rnn_data::idx::{MAX_FILE_BYTES, PIXELS, decompress, parse_images, parse_labels};
use rnn_data::{DataError, Mnist, MnistSplit};

/// Inputs of the split-level property, spread over four tests (run in parallel).
const SPLIT_INPUTS_PER_TEST: usize = 24_000;
/// Inputs of the directory-level property.
const DIR_INPUTS: usize = 4_000;

/// A small valid pair: `n` images `[n, 28, 28]` and `n` labels, as raw IDX bytes.
fn valid_pair(rng: &mut StdRng, n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut images: Vec<u8> = [2051u32, n as u32, 28, 28]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    images.extend((0..n * PIXELS).map(|_| rng.random::<u8>()));
    let mut labels: Vec<u8> = [2049u32, n as u32]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    labels.extend((0..n).map(|_| rng.random_range(0..10u8)));
    (images, labels)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn set_u32(data: &mut [u8], at: usize, value: u32) {
    if data.len() >= at + 4 {
        data[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
}

/// What was done to one file, and whether it must make the load fail.
#[derive(Debug, Clone)]
struct Mutation {
    what: String,
    must_fail: bool,
}

/// Whether neither the content nor its encoding was changed.
fn untouched(m: &Mutation) -> bool {
    m.what == "none (valid), raw" || m.what == "none (valid), gz"
}

/// Mutates the raw IDX content of one file (`header` = its header size).
fn mutate_content(rng: &mut StdRng, data: &mut Vec<u8>, header: usize) -> Mutation {
    let len = data.len();
    // 9..12: no mutation, so that about a fifth of the inputs load.
    let (what, must_fail) = match rng.random_range(0..12) {
        0 => {
            let to = rng.random_range(0..len);
            data.truncate(to);
            (format!("truncated to {to} of {len}"), true)
        }
        1 => {
            let k = rng.random_range(1..4);
            for _ in 0..k {
                let at = rng.random_range(0..data.len());
                data[at] ^= rng.random_range(1..=255u8);
            }
            (format!("{k} byte(s) flipped"), false)
        }
        2 => {
            let at = rng.random_range(0..header);
            data[at] ^= rng.random_range(1..=255u8);
            // A flip in the high bytes of a count or a dimension, or the magic, must fail;
            // flips elsewhere in the header almost always do too, but are not asserted.
            (format!("header byte {at} flipped"), at < 4)
        }
        3 => {
            let magic = if rng.random_bool(0.5) {
                if header == 16 { 2049 } else { 2051 }
            } else {
                rng.random()
            };
            let same = (header == 16 && magic == 2051) || (header == 8 && magic == 2049);
            set_u32(data, 0, magic);
            (format!("magic {magic}"), !same)
        }
        4 => {
            let count = if rng.random_bool(0.5) {
                u32::MAX
            } else {
                rng.random_range(1u32 << 20..=u32::MAX)
            };
            set_u32(data, 4, count);
            (format!("count {count}"), true)
        }
        5 if header == 16 => {
            let (rows, cols) = if rng.random_bool(0.5) {
                (u32::MAX, u32::MAX)
            } else {
                (rng.random_range(29..=u32::MAX), rng.random())
            };
            set_u32(data, 8, rows);
            set_u32(data, 12, cols);
            (format!("dims {rows}x{cols}"), true)
        }
        6 => {
            let k = rng.random_range(1..100);
            data.extend((0..k).map(|_| rng.random::<u8>()));
            (format!("{k} trailing bytes"), true)
        }
        7 => {
            let count = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            let new = if count > 0 && rng.random_bool(0.5) {
                count - 1
            } else {
                count + 1
            };
            set_u32(data, 4, new);
            (format!("count {count} -> {new}"), true)
        }
        8 if header == 8 && len > header => {
            let at = rng.random_range(header..len);
            let value = rng.random_range(10..=255u8);
            data[at] = value;
            (format!("label byte {at} = {value}"), true)
        }
        _ => ("none (valid)".to_owned(), false),
    };
    Mutation { what, must_fail }
}

/// Encodes `content` raw or gzipped, possibly mutating the gzip container itself.
fn encode(rng: &mut StdRng, content: &[u8], m: &mut Mutation) -> Vec<u8> {
    if rng.random_bool(0.4) {
        m.what.push_str(", raw");
        return content.to_vec();
    }
    let mut gz = gzip(content);
    let len = gz.len();
    // 5..10: the stream as made.
    match rng.random_range(0..10) {
        0 => {
            let to = rng.random_range(0..len);
            gz.truncate(to);
            m.what.push_str(&format!(", gz truncated to {to} of {len}"));
            // A cut inside the magic leaves a raw file that cannot be IDX either.
            m.must_fail = true;
        }
        1 => {
            let at = rng.random_range(0..len);
            gz[at] ^= rng.random_range(1..=255u8);
            m.what.push_str(&format!(", gz byte {at} flipped"));
        }
        2 => {
            let k = rng.random_range(1..50);
            gz.extend((0..k).map(|_| rng.random::<u8>()));
            m.what.push_str(&format!(", {k} bytes after the gz stream"));
            m.must_fail = true;
        }
        3 => {
            gz.extend(gzip(b"another member"));
            m.what.push_str(", a second gz member");
            m.must_fail = true;
        }
        4 => {
            // The gzip magic in front of raw bytes: not a gzip stream.
            gz = [0x1f, 0x8b].iter().chain(content).copied().collect();
            m.what.push_str(", fake gz");
            m.must_fail = true;
        }
        _ => m.what.push_str(", gz"),
    }
    gz
}

/// Writes `bytes` to `path` as a new file. (Truncating and rewriting the same file makes
/// ext4 start writing it back on close, `auto_da_alloc`: measured 10x slower here.)
fn write_new(path: &Path, bytes: &[u8]) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", path.display()),
        _ => {}
    }
    std::fs::write(path, bytes).unwrap();
}

/// Names and sizes of everything in `dir`, sorted.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

/// What loading these bytes must give, computed in memory by the parser, in the loader's
/// order: decode images, decode labels, parse images, parse labels, compare counts.
fn in_memory(images: (&str, &[u8]), labels: (&str, &[u8])) -> Result<MnistSplit, DataError> {
    let di = decompress(images.0, images.1)?;
    let dl = decompress(labels.0, labels.1)?;
    let px = parse_images(images.0, &di)?;
    let lb = parse_labels(labels.0, &dl)?;
    if px.len() / PIXELS != lb.len() {
        return Err(DataError::CountMismatch {
            images_file: images.0.to_owned(),
            images: px.len() / PIXELS,
            labels_file: labels.0.to_owned(),
            labels: lb.len(),
        });
    }
    MnistSplit::new(px, lb)
}

/// A load's outcome in one line.
fn summary(result: &Result<MnistSplit, DataError>) -> String {
    match result {
        Ok(split) => format!("Ok({} examples)", split.len()),
        Err(e) => format!("Err({e})"),
    }
}

/// Runs `check` for iteration `i`, turning a panic into a failure that says how to replay it.
fn replayable<T>(seed: u64, i: usize, what: &str, check: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(value) => value,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("seed {seed:#x}, iteration {i} ({what}): {msg}");
        }
    }
}

fn split_property(seed: u64) {
    let start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut ok, mut err) = (0, 0);
    for i in 0..SPLIT_INPUTS_PER_TEST {
        let n = rng.random_range(0..4);
        let (images, labels) = valid_pair(&mut rng, n);
        let expected = MnistSplit::new(images[16..].to_vec(), labels[8..].to_vec()).unwrap();
        // Mutate the images, the labels, or both.
        let which = rng.random_range(0..5);
        let mut im = images.clone();
        let mut lb = labels.clone();
        let mut mi = Mutation {
            what: "none (valid)".to_owned(),
            must_fail: false,
        };
        let mut ml = mi.clone();
        if which != 1 {
            mi = mutate_content(&mut rng, &mut im, 16);
        }
        if which == 1 || which == 4 {
            ml = mutate_content(&mut rng, &mut lb, 8);
        }
        let im = encode(&mut rng, &im, &mut mi);
        let lb = encode(&mut rng, &lb, &mut ml);
        let what = format!("images: {}; labels: {}", mi.what, ml.what);
        let (im_name, lb_name) = ("images-idx3-ubyte", "labels-idx1-ubyte");
        let (im_path, lb_path) = (tmp.path().join(im_name), tmp.path().join(lb_name));
        write_new(&im_path, &im);
        write_new(&lb_path, &lb);
        let before = vec![
            (im_name.to_owned(), im.len() as u64),
            (lb_name.to_owned(), lb.len() as u64),
        ];
        let loaded = replayable(seed, i, &what, || {
            let got = MnistSplit::load(&im_path, &lb_path);
            assert_eq!(listing(tmp.path()), before, "the loader wrote nothing");
            let want = in_memory((im_name, &im), (lb_name, &lb));
            match (&got, &want) {
                (Ok(g), Ok(w)) => {
                    assert_eq!(g, w);
                    assert_eq!(g.pixels().len(), g.len() * PIXELS);
                    assert!(g.labels().iter().all(|&l| l <= 9));
                }
                (Err(g), Err(w)) => {
                    assert_eq!(g.to_string(), w.to_string());
                    let msg = g.to_string();
                    assert!(msg.contains(im_name) || msg.contains(lb_name), "{msg}");
                }
                _ => panic!("loader {}, parser {}", summary(&got), summary(&want)),
            }
            if mi.must_fail || ml.must_fail {
                assert!(
                    got.is_err(),
                    "a breaking mutation loaded: {}",
                    summary(&got)
                );
            }
            if untouched(&mi) && untouched(&ml) {
                assert_eq!(
                    got.as_ref().ok(),
                    Some(&expected),
                    "valid files load as made"
                );
            }
            if i % 16 == 0 {
                let again = MnistSplit::load(&im_path, &lb_path);
                assert_eq!(
                    again.as_ref().map_err(ToString::to_string),
                    got.as_ref().map_err(ToString::to_string),
                    "a second load gives the same answer"
                );
            }
            got.is_ok()
        });
        if loaded {
            ok += 1;
        } else {
            err += 1;
        }
    }
    // Sanity of the generator: both outcomes occur often.
    assert!(
        ok > SPLIT_INPUTS_PER_TEST / 10 && err > SPLIT_INPUTS_PER_TEST / 2,
        "{ok} ok, {err} err"
    );
    eprintln!(
        "seed {seed:#x}: {SPLIT_INPUTS_PER_TEST} inputs through MnistSplit::load, {ok} Ok, {err} Err, {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn split_loader_on_mutated_files_a() {
    split_property(0xa11ce);
}

#[test]
fn split_loader_on_mutated_files_b() {
    split_property(0xb0b);
}

#[test]
fn split_loader_on_mutated_files_c() {
    split_property(0xc0ffee);
}

#[test]
fn split_loader_on_mutated_files_d() {
    split_property(0xd00d);
}

#[test]
fn mnist_load_on_mutated_directories() {
    let start = Instant::now();
    let seed = 0xd1c;
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let all_names: Vec<&str> = MNIST_FILES
        .iter()
        .flat_map(|f| [f.name, f.unpacked_name()])
        .collect();
    for i in 0..DIR_INPUTS {
        for entry in std::fs::read_dir(dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let n = rng.random_range(0..4);
        let (images, labels) = valid_pair(&mut rng, n);
        let target = rng.random_range(0..4);
        let mut whats = Vec::new();
        for (k, file) in MNIST_FILES.iter().enumerate() {
            let header = if file.name.contains("images") { 16 } else { 8 };
            let mut content = if header == 16 {
                images.clone()
            } else {
                labels.clone()
            };
            let mut m = if k == target {
                mutate_content(&mut rng, &mut content, header)
            } else {
                Mutation {
                    what: "none".to_owned(),
                    must_fail: false,
                }
            };
            if k == target && rng.random_bool(0.05) {
                whats.push(format!("{}: missing", file.name));
                continue;
            }
            let bytes = encode(&mut rng, &content, &mut m);
            // Under the archive's name a `.gz` meets the published sum first; under the
            // unpacked name (gzipped or not) it goes straight to the decoder and parser.
            let name = if rng.random_bool(0.3) {
                file.name
            } else {
                file.unpacked_name()
            };
            whats.push(format!("{name}: {}", m.what));
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let what = whats.join("; ");
        let before = listing(dir);
        replayable(seed, i, &what, || {
            let err = Mnist::load(dir).expect_err("files of at most 3 examples are not MNIST");
            let msg = err.to_string();
            assert!(all_names.iter().any(|n| msg.contains(n)), "{msg}");
            assert_eq!(listing(dir), before, "the loader wrote nothing");
        });
    }
    eprintln!(
        "{DIR_INPUTS} directories through Mnist::load, {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Files past the size limit are refused from their size alone, through both loaders (sparse
/// files: a terabyte on disk costs nothing).
#[test]
fn files_past_the_limit_are_refused_by_both_loaders() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let (images, labels) = valid_pair(&mut rng, 2);
    let im: PathBuf = tmp.path().join("train-images-idx3-ubyte");
    let lb = tmp.path().join("train-labels-idx1-ubyte");
    std::fs::write(&im, &images).unwrap();
    std::fs::write(&lb, &labels).unwrap();
    assert_eq!(MnistSplit::load(&im, &lb).unwrap().len(), 2);
    for size in [MAX_FILE_BYTES + 1, 1 << 40] {
        std::fs::File::options()
            .write(true)
            .open(&lb)
            .unwrap()
            .set_len(size)
            .unwrap();
        let err = MnistSplit::load(&im, &lb).unwrap_err();
        assert!(
            matches!(err, DataError::FileTooLarge { actual, .. } if actual == size),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "{}: {size} bytes, expected at most 47040016 bytes",
                lb.display()
            )),
            "{err}"
        );
        let err = Mnist::load(tmp.path()).unwrap_err();
        assert!(matches!(err, DataError::FileTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");
    }
}
