//! The chapter's time-series binaries run (shortened where they train), print what the book
//! prints, and write real figures: decodable PNGs of the expected size with the series'
//! colours in them.

use std::path::Path;
use std::process::Command;

fn run(exe: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(exe)
        .args(args)
        .output()
        .expect("the binary starts");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8 output"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ok(exe: &str, args: &[&str]) -> String {
    run(exe, args).unwrap_or_else(|e| panic!("{exe} {args:?} failed:\n{e}"))
}

/// Decodes `path` and checks its size, and that it holds at least `min_pixels` pixels of
/// each colour (matplotlib's blue, red) the figure draws.
fn check_png(path: &Path, width: u32, height: u32, colors: &[[u8; 3]]) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; decoder.output_buffer_size().unwrap()];
    let info = decoder.next_frame(&mut buf).unwrap();
    assert_eq!(
        (info.width, info.height),
        (width, height),
        "{}",
        path.display()
    );
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    for c in colors {
        let n = pixels.iter().filter(|p| *p == c).count();
        assert!(
            n >= 100,
            "{}: only {n} pixels of colour {c:?}",
            path.display()
        );
    }
}

const BLUE: [u8; 3] = [31, 119, 180];
const RED: [u8; 3] = [214, 39, 40];

#[test]
fn time_series_prints_a_window_and_draws_two_panels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let text = ok(env!("CARGO_BIN_EXE_time_series"), &["--out", out]);
    // Inputs beside targets: each row's target is the next row's input.
    let rows: Vec<(f32, f32)> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|v| v.parse::<f32>());
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(x)), Some(Ok(y)), None) => Some((x, y)),
                _ => None,
            }
        })
        .collect();
    assert_eq!(rows.len(), 20, "{text}");
    for w in rows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "{text}");
    }
    check_png(&dir.path().join("time_series.png"), 1120, 420, &[BLUE, RED]);
}

#[test]
fn a_short_forecast_learns_saves_and_feeds_the_creative_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("forecast");
    let text = ok(
        env!("CARGO_BIN_EXE_forecast"),
        &["--iterations", "300", "--out", out.to_str().unwrap()],
    );
    let mse: Vec<f32> = text
        .lines()
        .filter_map(|l| l.split_once("\tMSE: "))
        .map(|(_, v)| v.trim().parse().unwrap())
        .collect();
    assert_eq!(mse.len(), 3, "iterations 0, 100, 200:\n{text}");
    assert!(mse[2] < mse[0] / 10.0, "the MSE falls:\n{text}");
    assert!(text.contains("restored"), "{text}");
    let model = out.join("model.bpk");
    assert!(model.is_file());
    check_png(&out.join("forecast.png"), 700, 450, &[BLUE, RED]);

    // A new process restores the file (the book's fresh session).
    let creative = dir.path().join("creative");
    let text = ok(
        env!("CARGO_BIN_EXE_creative"),
        &[
            "--model",
            model.to_str().unwrap(),
            "--steps",
            "60",
            "--out",
            creative.to_str().unwrap(),
        ],
    );
    assert_eq!(text.matches("60 values generated").count(), 2, "{text}");
    check_png(&creative.join("creative.png"), 1120, 420, &[BLUE, RED]);

    // Wrong files are named errors, before any work.
    let err = run(
        env!("CARGO_BIN_EXE_creative"),
        &["--model", "no/such/model.bpk"],
    )
    .unwrap_err();
    assert!(
        err.contains("--model no/such/model.bpk: no such file"),
        "{err}"
    );
    let err = run(
        env!("CARGO_BIN_EXE_creative"),
        &["--model", model.to_str().unwrap(), "--neurons", "50"],
    )
    .unwrap_err();
    assert!(err.contains("not a model of this kind"), "{err}");
}

#[test]
fn the_no_wrapper_forecast_and_dropout_train_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nw");
    let text = ok(
        env!("CARGO_BIN_EXE_forecast"),
        &[
            "--no-wrapper",
            "--iterations",
            "101",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        text.starts_with("dense layer over the stacked outputs"),
        "{text}"
    );
    assert!(text.contains("100 \tMSE: "), "{text}");
    check_png(&out.join("forecast.png"), 700, 450, &[BLUE, RED]);

    let out = dir.path().join("dropout");
    let text = ok(
        env!("CARGO_BIN_EXE_dropout"),
        &[
            "--iterations",
            "20",
            "--neurons",
            "30",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(text.contains("0 Training MSE: "), "{text}");
    assert!(
        text.contains("3 x BasicRnnCell(30) with input keep 0.5"),
        "{text}"
    );
    check_png(&out.join("dropout.png"), 700, 450, &[BLUE, RED]);
}

#[test]
fn impossible_flags_are_rejected_by_name() {
    for (exe, args, needle) in [
        (env!("CARGO_BIN_EXE_forecast"), &["--lr=-1"][..], "--lr"),
        (
            env!("CARGO_BIN_EXE_forecast"),
            &["--iterations", "0"][..],
            "--iterations",
        ),
        (
            env!("CARGO_BIN_EXE_dropout"),
            &["--keep-prob", "0"][..],
            "--keep-prob",
        ),
        (
            env!("CARGO_BIN_EXE_dropout"),
            &["--keep-prob", "1.5"][..],
            "input_keep_prob",
        ),
        (
            env!("CARGO_BIN_EXE_time_series"),
            &["--n-steps", "300"][..],
            "--n-steps",
        ),
        (
            env!("CARGO_BIN_EXE_forecast"),
            &["--device", "tpu"][..],
            "--device",
        ),
        (
            env!("CARGO_BIN_EXE_creative"),
            &["--steps", "4294967295"][..],
            "invalid value '4294967295' for '--steps <STEPS>': 4294967295 is not in 1..=1000000",
        ),
    ] {
        let err = run(exe, args).expect_err("rejected");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn sizes_beyond_the_machine_and_an_unwritable_out_are_refused_before_training() {
    // 2^32 - 1 neurons: ~2^64 parameters. Refused with the estimate, before any allocation.
    let err = run(env!("CARGO_BIN_EXE_forecast"), &["--neurons", "4294967295"]).unwrap_err();
    assert!(
        err.contains("--neurons 4294967295 needs about ")
            && err.contains(" GiB of parameters and optimiser state, ")
            && err.contains("refused before starting; lower --neurons"),
        "{err}"
    );
    let err = run(
        env!("CARGO_BIN_EXE_dropout"),
        &["--layers", "100000", "--neurons", "100000"],
    )
    .unwrap_err();
    assert!(
        err.contains("--layers 100000 --neurons 100000 needs about "),
        "{err}"
    );
    let err = run(env!("CARGO_BIN_EXE_creative"), &["--neurons", "4294967295"]).unwrap_err();
    assert!(
        err.contains("--neurons 4294967295 --steps 300 needs about "),
        "{err}"
    );

    // An --out under a file cannot be created: found before the first iteration.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("out");
    for exe in [
        env!("CARGO_BIN_EXE_forecast"),
        env!("CARGO_BIN_EXE_dropout"),
        env!("CARGO_BIN_EXE_time_series"),
    ] {
        let started = std::time::Instant::now();
        let err = run(exe, &["--out", out.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains(&format!("--out `{}`: cannot be created", out.display())),
            "{exe}: {err}"
        );
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{exe}: refused only after {:?}",
            started.elapsed()
        );
    }
}
