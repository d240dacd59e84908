//! `cargo xtask bench` end to end on small workloads: the table, the JSON rows and their
//! fields, and named errors for an unknown workload and impossible repeat settings.

use std::process::Command;

#[test]
fn bench_writes_a_table_and_json_rows() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "bench",
            "--workload",
            "deep3-t5,forecast-train",
            "--repeats",
            "1",
        ])
        .args([
            "--min-repeat-s",
            "0.01",
            "--no-torch",
            "--threads",
            "1",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| deep3-t5 |"), "{stdout}");
    assert!(stdout.contains("PyTorch: skipped (--no-torch)"), "{stdout}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(rows.len(), 2);
    for (row, name) in rows.iter().zip(["deep3-t5", "forecast-train"]) {
        assert_eq!(row["workload"], name);
        assert_eq!(row["threads"], 1);
        let ms = row["ms_per_step"].as_f64().unwrap();
        assert!(ms > 0.0 && ms.is_finite(), "{row}");
        assert!(row["gflops"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["peak_rss_mib"].as_f64().unwrap() > 1.0, "{row}");
        assert!(row["device"].is_string(), "{row}");
    }
}

#[test]
fn an_unknown_workload_is_named_with_the_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--workload", "mnist-trian", "--no-torch"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--workload: unknown `mnist-trian`") && stderr.contains("mnist-train"),
        "{stderr}"
    );
}

#[test]
fn impossible_repeat_settings_are_refused_by_name() {
    for (args, needle) in [
        (
            &[
                "bench-worker",
                "--workload",
                "deep3-t5",
                "--repeats",
                "0",
                "--min-repeat-s",
                "0.01",
            ][..],
            "invalid value '0' for '--repeats <REPEATS>'",
        ),
        (
            &[
                "bench-worker",
                "--workload",
                "deep3-t5",
                "--repeats",
                "1",
                "--min-repeat-s",
                "inf",
            ][..],
            "invalid value 'inf' for '--min-repeat-s <MIN_REPEAT_S>': expected seconds in (0, 86400], got inf",
        ),
        (
            &["bench", "--repeats", "0", "--no-torch"][..],
            "invalid value '0' for '--repeats <REPEATS>'",
        ),
        (
            &["bench", "--min-repeat-s=-1", "--no-torch"][..],
            "expected seconds in (0, 86400], got -1",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
