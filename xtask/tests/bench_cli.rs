//! `cargo xtask bench` end to end on small workloads: modes, rounds, the JSON and its fields,
//! the table generated from a JSON (and README's, from the committed one), and named errors
//! for an unknown workload and impossible settings.

use std::process::Command;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

#[test]
fn bench_runs_both_modes_in_rounds_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    // RAYON_NUM_THREADS here must not reach the user-mode worker.
    let out = xtask()
        .env("RAYON_NUM_THREADS", "1")
        .args(["bench", "--workload", "deep3-t5,forecast-train"])
        .args(["--rounds", "2", "--repeats", "1", "--min-repeat-s", "0.01"])
        .args(["--no-torch", "--mode", "both", "--threads", "1"])
        .args(["--against-one-thread", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| `deep3-t5` "), "{stdout}");
    assert!(stdout.contains("PyTorch: skipped (--no-torch)"), "{stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["format"], "rnn-rs-bench/2");
    assert_eq!(doc["rounds"], 2);
    let runs = doc["runs"].as_array().unwrap();
    // 2 rounds x 2 workloads x (user + tuned at 1 thread), in round order.
    assert_eq!(runs.len(), 8, "{runs:?}");
    let cores = std::thread::available_parallelism().unwrap().get();
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run["round"], 1 + i / 4, "{run}");
        assert_eq!(run["side"], "ours", "{run}");
        let ms = run["ms_per_step"].as_f64().unwrap();
        assert!(ms > 0.0 && ms.is_finite(), "{run}");
        assert!(run["gflops"].as_f64().unwrap() > 0.0, "{run}");
        assert!(run["peak_rss_mib"].as_f64().unwrap() > 1.0, "{run}");
        match run["mode"].as_str().unwrap() {
            "user" => {
                assert_eq!(run["threads"], cores, "{run}");
                assert_eq!(run["allocator"], "system", "{run}");
                let ratio = run["paired"]["one_thread_over_default"]["median"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("no pairs: {run}"));
                assert!(ratio > 0.0 && ratio.is_finite(), "{run}");
                assert!(run["paired"]["pairs"].as_u64().unwrap() >= 8, "{run}");
            }
            "tuned" => {
                assert!(run["paired"].is_null(), "only user mode is paired: {run}");
                assert_eq!(run["threads"], 1, "{run}");
                assert_eq!(run["allocator"], "retain_freed_memory", "{run}");
            }
            other => panic!("mode {other}"),
        }
    }
    let summary = doc["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 2);
    for row in summary {
        assert_eq!(row["ours_user"]["rounds_ms"].as_array().unwrap().len(), 2);
        assert!(row["ratio_user"].is_null(), "no PyTorch, no ratio: {row}");
        let rounds = row["one_thread_over_default"]["rounds"].as_array();
        assert_eq!(rounds.map(Vec::len), Some(2), "{row}");
    }
    assert!(stdout.contains("one thread / default"), "{stdout}");
}

/// A bench JSON with one workload: ours and PyTorch in both modes over three rounds, PyTorch
/// tuned at two thread counts (the faster, 2, by median, is compared).
fn synthetic_doc() -> serde_json::Value {
    let mut runs = Vec::new();
    let mut add = |side: &str, mode: &str, threads: u32, ms: [f64; 3]| {
        for (k, ms) in ms.into_iter().enumerate() {
            runs.push(serde_json::json!({
                "workload": "w", "side": side, "mode": mode, "threads": threads,
                "round": k + 1, "ms_per_step": ms, "peak_rss_mib": 20.0 + k as f64,
                "allocator": if side == "ours" && mode == "tuned" { "retain_freed_memory" } else { "system" },
            }));
        }
    };
    add("ours", "user", 4, [10.0, 10.0, 10.0]);
    add("torch", "user", 4, [12.0, 11.0, 9.0]);
    add("ours", "tuned", 1, [5.0, 5.0, 5.0]);
    add("torch", "tuned", 1, [9.0, 9.0, 9.0]);
    add("torch", "tuned", 2, [6.0, 7.0, 5.5]);
    // The user runs (the first three)' in-process pairs, one thread / default per round: 1.0, 1.3, 0.9.
    for (run, ratio) in runs.iter_mut().zip([1.0, 1.3, 0.9]) {
        run["paired"] = serde_json::json!({"one_thread_over_default": {"median": ratio}});
    }
    serde_json::json!({
        "format": "rnn-rs-bench/2", "command": "cargo xtask bench --workload w",
        "started_utc": "2026-12-06 09:00", "machine": {"cpu": "test CPU", "cores": 4},
        "device": "flex", "rounds": 3, "repeats": 3, "min_repeat_s": 0.5,
        "workloads": [{"workload": "w", "about": "a workload"}],
        "runs": runs,
    })
}

#[test]
fn markdown_reports_median_and_range_and_bolds_only_when_every_round_is_faster() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    std::fs::write(&json, synthetic_doc().to_string()).unwrap();
    let out = xtask()
        .args(["bench", "--markdown"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| `w` "))
        .unwrap_or_else(|| panic!("{stdout}"));
    // User: per-round ratios 1.2, 1.1, 0.9: median 1.10, not bold (one round is slower).
    // Tuned: PyTorch at 2 threads (median 6.0 < 9.0): 1.2, 1.4, 1.1: bold.
    assert_eq!(
        row,
        "| `w` a workload | 10.0 (4) | 11.0 (4) | 1.10 (0.90-1.20) | 5.00 (1) | 6.00 (2) \
         | **1.20** (1.10-1.40) | 22 |",
        "{stdout}"
    );
    assert!(
        stdout.contains("0 of 1 workloads at the user's defaults, 1 of 1 tuned"),
        "{stdout}"
    );
    assert!(stdout.contains("`w` 1.00 (0.90-1.30)."), "{stdout}");
}

#[test]
fn markdown_writes_the_readme_block_and_refuses_other_formats() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    std::fs::write(&json, synthetic_doc().to_string()).unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(
        &readme,
        "# T\n\n<!-- bench:begin old.json -->\nold\n<!-- bench:end -->\n\nafter\n",
    )
    .unwrap();
    let out = xtask()
        .args(["bench", "--markdown"])
        .arg(&json)
        .arg("--readme")
        .arg(&readme)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(&readme).unwrap();
    assert_eq!(
        text,
        format!(
            "# T\n\n<!-- bench:begin {} -->\n{table}<!-- bench:end -->\n\nafter\n",
            json.display()
        )
    );

    // A JSON from before modes and rounds (a bare list of rows) is refused by name.
    std::fs::write(&json, "[{\"workload\": \"w\"}]").unwrap();
    let out = xtask()
        .args(["bench", "--markdown"])
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is not a bench JSON of format `rnn-rs-bench/2`"),
        "{stderr}"
    );
}

/// README's performance table is the output of `--markdown` for the JSON its block names, so
/// the two cannot disagree.
#[test]
fn readme_table_is_generated_from_the_committed_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let begin = readme
        .find("<!-- bench:begin ")
        .expect("README has a `<!-- bench:begin FILE -->` block");
    let rest = &readme[begin + "<!-- bench:begin ".len()..];
    let (json, rest) = rest.split_once(" -->\n").expect("the begin marker's end");
    let block = &rest[..rest.find("<!-- bench:end -->").expect("README's bench:end")];
    let out = xtask()
        .current_dir(&root)
        .args(["bench", "--markdown", json])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        block,
        String::from_utf8_lossy(&out.stdout),
        "README's table differs from `cargo xtask bench --markdown {json}`: regenerate it with \
         `cargo xtask bench --markdown {json} --readme README.md`"
    );
}

#[test]
fn an_unknown_workload_is_named_with_the_known_ones() {
    let out = xtask()
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
                "--mode",
                "user",
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
                "--mode",
                "user",
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
        (
            &["bench", "--rounds", "0", "--no-torch"][..],
            "invalid value '0' for '--rounds <ROUNDS>'",
        ),
        (
            &["bench", "--mode", "fast", "--no-torch"][..],
            "invalid value 'fast' for '--mode <MODE>'",
        ),
        (
            &["bench", "--readme", "README.md"][..],
            "the following required arguments were not provided",
        ),
    ] {
        let out = xtask().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
