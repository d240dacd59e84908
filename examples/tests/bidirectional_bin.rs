//! The `bidirectional` binary on real MNIST (shortened): it trains, and its accuracy on cropped
//! and whole test images beats chance by far. MNIST as the CLI finds it (`MNIST_DIR`, else the
//! user cache, downloaded when missing); without it the test fails.

use std::process::Command;

#[test]
fn bidirectional_lstm_on_cropped_mnist_learns() {
    let dir = rnn_data::prepare_data_dir(None, &rnn_data::Downloader::default())
        .expect("MNIST (MNIST_DIR, or ~/.cache/rnn-rs/mnist downloaded)");
    let out = Command::new(env!("CARGO_BIN_EXE_bidirectional"))
        .args([
            "--epochs",
            "1",
            "--train-limit",
            "9000",
            "--test-limit",
            "2000",
        ])
        .args(["--hidden", "32", "--lr", "0.005", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("epoch 0:"))
        .unwrap_or_else(|| panic!("no epoch line in:\n{stdout}"));
    let accuracy = |label: &str| -> f64 {
        let rest = line.split(label).nth(1).expect(label).trim();
        rest.split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(accuracy("cropped") > 0.5, "{line}");
    assert!(accuracy("whole images") > 0.5, "{line}");
}

#[test]
fn bad_flags_are_refused_before_any_work() {
    for flags in [["--min-rows", "0"], ["--min-rows", "29"], ["--epochs", "0"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_bidirectional"))
            .args(flags)
            .output()
            .expect("the binary runs");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flags[0]), "{flags:?}: {err}");
    }
}
