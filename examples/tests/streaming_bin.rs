//! The `streaming` binary at a small size: the chunked predictions match one long run (the
//! printed difference, parsed), while starting each chunk from a zero state does not; a saved
//! model restored with `--model` predicts the same; bad flags are refused.

use std::process::Command;

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_streaming"))
        .args(args)
        .output()
        .expect("the binary starts");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8 output"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The number after `= ` on the line starting with `prefix`.
fn number_after(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}` in:\n{text}"));
    let value = line
        .split("= ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in `{line}`"))
}

fn first_predictions(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("first predictions of stream 0"))
        .unwrap_or_else(|| panic!("no predictions in:\n{text}"))
        .to_string()
}

#[test]
fn chunks_match_one_run_and_a_restored_model_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let small = [
        "--steps",
        "150",
        "--chunk",
        "20",
        "--streams",
        "3",
        "--neurons",
        "16",
    ];
    let mut args = small.to_vec();
    args.extend(["--iterations", "40", "--out", out]);
    let trained = run(&args).unwrap_or_else(|e| panic!("streaming {args:?} failed:\n{e}"));
    let chunked = number_after(&trained, "max |chunked - one run|");
    assert!(
        chunked <= 1e-5,
        "chunks differ from one run by {chunked}:\n{trained}"
    );
    let restarted = number_after(&trained, "max |each chunk from a zero state - one run|");
    assert!(
        restarted > 1e-3,
        "the kept state should matter ({restarted}):\n{trained}"
    );
    assert!(
        trained.contains("8 chunks"),
        "150 steps in chunks of 20:\n{trained}"
    );

    let model = dir.path().join("model.bpk");
    let mut args = small.to_vec();
    args.extend(["--model", model.to_str().unwrap()]);
    let restored = run(&args).unwrap_or_else(|e| panic!("streaming {args:?} failed:\n{e}"));
    assert!(restored.contains("restored"), "{restored}");
    assert!(!restored.contains("trained"), "{restored}");
    assert_eq!(first_predictions(&restored), first_predictions(&trained));
}

#[test]
fn bad_flags_are_refused() {
    let err = run(&["--chunk", "0"]).unwrap_err();
    assert!(err.contains("--chunk"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.bpk");
    let err = run(&["--model", missing.to_str().unwrap(), "--steps", "10"]).unwrap_err();
    assert!(err.contains("none.bpk: no such file"), "{err}");
}
