//! `from_pytorch` on the PyTorch fixtures of rnn-core: PyTorch's outputs reproduced, wrong
//! files refused with the key or the file named, and `--export` giving the same model back.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/rnn-core/tests/pytorch_fixtures")
        .join(name)
}

fn from_pytorch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_from_pytorch"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let out = from_pytorch(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `max |outputs - KEY| = D` line's D.
fn max_diff(out: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("max |outputs"))
        .unwrap_or_else(|| panic!("no difference printed:\n{out}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn reproduces_pytorchs_outputs() {
    let lstm = fixture("lstm_l2_head.pt");
    let out = stdout_of(&[
        lstm.to_str().unwrap(),
        "--head",
        "fc.",
        "--inputs",
        "io.x",
        "--expect",
        "io.y0",
    ]);
    assert!(
        out.contains(
            "nn.LSTM(input_size=3, hidden_size=4, num_layers=2, bias=true, \
             bidirectional=false) under prefix \"rnn.\""
        ) && out.contains("head: nn.Linear(4, 2)")
            && out.contains("outputs [2, 5, 2]"),
        "{out}"
    );
    assert!(max_diff(&out) < 1e-5, "{out}");

    let gru = fixture("gru_l2_bidir.safetensors");
    let out = stdout_of(&[
        gru.to_str().unwrap(),
        "--inputs",
        "io.x",
        "--expect",
        "io.output0",
    ]);
    assert!(
        out.contains("final states: 4 (one per layer and direction)")
            && out.contains("outputs [2, 5, 8]"),
        "{out}"
    );
    assert!(max_diff(&out) < 1e-5, "{out}");
}

#[test]
fn an_exported_model_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("relu.safetensors");
    let original = fixture("rnn_relu_l2.safetensors");
    let args = ["--nonlinearity", "relu", "--batch", "3", "--steps", "4"];
    let before = stdout_of(
        &[
            &[original.to_str().unwrap()],
            &args[..],
            &["--export", exported.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(before.contains("(8 tensors)"), "{before}");
    let after = stdout_of(&[&[exported.to_str().unwrap()], &args[..]].concat());
    let outputs = |s: &str| s[s.find("outputs [3, 4, 4]").expect("outputs")..].to_string();
    assert_eq!(outputs(&before), outputs(&after));
}

#[test]
fn wrong_files_are_refused_with_the_reason() {
    let stderr = |args: &[&str]| {
        let out = from_pytorch(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    };
    let proj = fixture("lstm_proj_size.pt");
    let err = stderr(&[proj.to_str().unwrap()]);
    assert!(
        err.contains("`weight_hr_l0`: expected nn.LSTM without proj_size"),
        "{err}"
    );
    let not_a_model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let err = stderr(&[not_a_model.to_str().unwrap()]);
    assert!(
        err.contains("expected a PyTorch state_dict") && err.contains("Cargo.toml"),
        "{err}"
    );
    let lstm = fixture("lstm_l2_head.pt");
    let err = stderr(&[lstm.to_str().unwrap(), "--head", "head."]);
    assert!(err.contains("missing key `head.weight`"), "{err}");
    let err = stderr(&[lstm.to_str().unwrap(), "--prefix", "lstm."]);
    assert!(err.contains("missing key `lstm.weight_hh_l0`"), "{err}");
}
