//! `cargo xtask bench` end to end on small workloads: the table, the JSON rows and their
//! fields, and a named error for an unknown workload.

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
