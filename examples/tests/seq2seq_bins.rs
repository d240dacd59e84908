//! The sequence-to-sequence binaries (`encoder_decoder`, `vector_to_seq`) at a small size: the
//! numbers they print say training worked (against an untrained model and a baseline, by
//! margins a broken decoder loop would miss), and their figures decode at the right size.

use std::path::Path;
use std::process::Command;

fn ok(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe)
        .args(args)
        .output()
        .expect("the binary starts");
    assert!(
        out.status.success(),
        "{exe} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The number after `label` on the line that starts with it (after trimming).
fn number_after(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line starting with {label:?} in:\n{text}"));
    let value: f64 = line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"));
    assert!(value.is_finite(), "{line}");
    value
}

/// Width, height and the grey or RGB pixels of a PNG.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; decoder.output_buffer_size().unwrap()];
    let info = decoder.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let pixels = buf[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

#[test]
fn encoder_decoder_beats_the_untrained_model_and_the_last_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let text = ok(
        env!("CARGO_BIN_EXE_encoder_decoder"),
        &[
            "--iterations",
            "300",
            "--neurons",
            "32",
            "--eval-windows",
            "200",
            "--seed",
            "5",
            "--out",
            out,
        ],
    );
    let seq2seq = number_after(&text, "encoder-decoder:");
    let iterated = number_after(&text, "iterated one-step forecaster:");
    let last = number_after(&text, "last value repeated:");
    let untrained = number_after(&text, "untrained encoder-decoder:");
    assert!(seq2seq < 0.5 * last, "{text}");
    assert!(seq2seq < 0.2 * untrained, "{text}");
    assert!(iterated < untrained, "{text}");
    let (w, h, pixels) = decode_png(&dir.path().join("encoder_decoder.png"));
    assert_eq!((w, h), (3 * 560, 420));
    // Both forecasts are drawn: matplotlib's red and green.
    for c in [[214, 39, 40], [44, 160, 44]] {
        let n = pixels.iter().filter(|p| **p == c).count();
        assert!(n >= 100, "only {n} pixels of {c:?}");
    }
}

#[test]
fn bad_flags_are_refused_before_any_work() {
    let exe = env!("CARGO_BIN_EXE_encoder_decoder");
    for (args, want) in [
        // rnn_train::args::positive_f64, through clap.
        (
            &["--lr", "0"][..],
            "'--lr <LR>': expected a finite number > 0, got 0",
        ),
        (&["--iterations", "0"][..], "--iterations"),
        (&["--neurons", "0"][..], "--neurons"),
        (&["--device", "nosuch"][..], "nosuch"),
    ] {
        let out = Command::new(exe).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn vector_to_seq_learns_digits_from_real_mnist() {
    let mnist = std::env::var("MNIST_DIR")
        .expect("MNIST_DIR must name the real MNIST (this test needs it; CI sets it)");
    assert!(
        Path::new(&mnist).is_dir(),
        "MNIST_DIR={mnist}: no such directory"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let text = ok(
        env!("CARGO_BIN_EXE_vector_to_seq"),
        &[
            "--iterations",
            "80",
            "--neurons",
            "32",
            "--batch-size",
            "32",
            "--test-limit",
            "500",
            "--data-dir",
            &mnist,
            "--out",
            out,
        ],
    );
    let before = number_after(&text, "untrained: test per-pixel binary cross-entropy");
    let after = number_after(&text, "trained: test per-pixel binary cross-entropy");
    assert!(after < 0.7 * before, "{text}");
    let (w, h, pixels) = decode_png(&dir.path().join("vector_to_seq.png"));
    // 10 x 10 digits of 28 x 28 pixels drawn 2x, 2 pixels apart.
    assert_eq!((w, h), (582, 582));
    // Mostly dark background, and strokes: many grey levels (a constant image has one).
    let dark = pixels.iter().filter(|p| p[0] < 50).count();
    let levels: std::collections::BTreeSet<u8> = pixels.iter().map(|p| p[0]).collect();
    assert!(
        dark > 100_000 && levels.len() >= 20,
        "dark {dark}, levels {}",
        levels.len()
    );

    let missing = dir.path().join("no-such-dir");
    let out = Command::new(env!("CARGO_BIN_EXE_vector_to_seq"))
        .args([
            "--data-dir",
            missing.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--data-dir") && err.contains("no such directory"),
        "{err}"
    );
}
