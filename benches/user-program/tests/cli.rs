//! The binary as `cargo xtask bench` runs it: one JSON line with the timing fields, and named
//! errors for bad arguments.

use std::process::Command;

#[test]
fn prints_one_json_line_with_the_step_time() {
    let out = Command::new(env!("CARGO_BIN_EXE_rnn-user-program"))
        .args(["--repeats", "1", "--min-repeat-s", "0.001"])
        .env_remove("RAYON_NUM_THREADS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in ["ms_per_step", "min_ms", "max_ms", "loss_first", "loss_last"] {
        let v = row[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v > 0.0, "{key}: {row}");
    }
    assert!(row["min_ms"].as_f64() <= row["max_ms"].as_f64(), "{row}");
    assert!(row["threads"].as_u64().unwrap() >= 1, "{row}");
    assert!(row["device"].is_string(), "{row}");
}

#[test]
fn bad_arguments_are_named() {
    for (args, needle) in [
        (
            &["--repeats", "0"][..],
            "--repeats: expected an integer >= 1, got `0`",
        ),
        (
            &["--min-repeat-s", "inf"][..],
            "--min-repeat-s: expected seconds in (0, 86400], got `inf`",
        ),
        (&["--steps", "3"][..], "unknown argument `--steps`"),
        (&["--repeats"][..], "--repeats: expected a value after it"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rnn-user-program"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
