//! The chapter's fast binaries run and print what the book shows.

use std::process::Command;

fn run(exe: &str) -> String {
    let out = Command::new(exe).output().expect("the binary runs");
    assert!(
        out.status.success(),
        "{exe} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The numbers of the tensor printed after `label` (up to the next blank-free header).
fn block<'a>(text: &'a str, label: &str) -> &'a str {
    let start = text
        .find(label)
        .unwrap_or_else(|| panic!("`{label}` in:\n{text}"));
    let rest = &text[start..];
    let end = rest.find("shape:").unwrap_or(rest.len());
    &rest[rest.find('\n').unwrap_or(0)..end]
}

/// Every number in a printed tensor's data, in order.
fn numbers(text: &str) -> Vec<f32> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// `rows x cols` numbers printed after `label`, as rows.
fn matrix(text: &str, label: &str, rows: usize, cols: usize) -> Vec<Vec<f64>> {
    let v = numbers(block(text, label));
    assert_eq!(v.len(), rows * cols, "{label}:\n{text}");
    v.chunks(cols)
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect()
}

/// `a [n, k] b [k, m]` in f64.
fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .map(|row| {
            (0..b[0].len())
                .map(|j| row.iter().zip(b).map(|(x, br)| x * br[j]).sum())
                .collect()
        })
        .collect()
}

#[test]
fn manual_rnn_prints_y0_and_y1() {
    let out = run(env!("CARGO_BIN_EXE_manual_rnn"));
    assert!(
        out.contains("Y0 [4, 5]") && out.contains("Y1 [4, 5]"),
        "{out}"
    );
    // Recomputed here in f64 from the printed weights and the chapter's inputs (b = 0):
    // Y0 = tanh(X0 Wx), Y1 = tanh(Y0 Wy + X1 Wx).
    let wx = matrix(&out, "Wx [3, 5]", 3, 5);
    let wy = matrix(&out, "Wy [5, 5]", 5, 5);
    let rows = |x: &[[f32; 3]; 4]| -> Vec<Vec<f64>> {
        x.iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect()
    };
    let tanh = |m: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        m.into_iter()
            .map(|r| r.into_iter().map(f64::tanh).collect())
            .collect()
    };
    let y0 = tanh(matmul(&rows(&examples::X0), &wx));
    let pre1 = matmul(&y0, &wy);
    let x1wx = matmul(&rows(&examples::X1), &wx);
    let y1 = tanh(
        pre1.iter()
            .zip(&x1wx)
            .map(|(a, b)| a.iter().zip(b).map(|(p, q)| p + q).collect())
            .collect(),
    );
    for (name, want) in [("Y0 [4, 5]", y0), ("Y1 [4, 5]", y1)] {
        let got = matrix(&out, name, 4, 5);
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!(
                (g - w).abs() < 1e-4,
                "{name}: printed {g}, recomputed {w}\n{out}"
            );
        }
    }
}

#[test]
fn static_unroll_final_state_is_y1() {
    let out = run(env!("CARGO_BIN_EXE_static_unroll"));
    assert_eq!(
        block(&out, "Y1 [4, 5]"),
        block(&out, "final state [4, 5]"),
        "{out}"
    );
}

#[test]
fn packed_and_dynamic_unrolls_agree() {
    let packed = run(env!("CARGO_BIN_EXE_packed_sequence"));
    let dynamic = run(env!("CARGO_BIN_EXE_dynamic_unroll"));
    assert!(
        packed.contains("X_batch [4, 2, 3] -> 2 steps of [4, 3]"),
        "{packed}"
    );
    // Same maths, different kernels (dynamic_rnn may take the fused path): equal to 1e-5.
    let (a, b) = (
        numbers(block(&packed, "outputs [4, 2, 5]")),
        numbers(block(&dynamic, "outputs [4, 2, 5]")),
    );
    assert_eq!(a.len(), 40, "{packed}");
    assert_eq!(a.len(), b.len(), "{dynamic}");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}\n{packed}\n{dynamic}");
    }
}

#[test]
fn variable_length_zeroes_the_padded_step_and_keeps_the_state() {
    let out = run(env!("CARGO_BIN_EXE_variable_length"));
    let outputs = block(&out, "outputs [4, 2, 5]");
    assert!(outputs.contains("[0.0, 0.0, 0.0, 0.0, 0.0]"), "{out}");
    // Instance 1's state is its step-0 output: the row after "[[" of instance 1 in outputs.
    let instance1_step0 = outputs
        .split("]],")
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.contains('[')))
        .unwrap();
    let row = instance1_step0
        .trim()
        .trim_start_matches('[')
        .trim_end_matches("],")
        .trim_end_matches(']');
    assert!(
        block(&out, "states [4, 5]").contains(row),
        "state of instance 1 should be {row}:\n{out}"
    );
}

/// The numbers of the list printed after `label` on its line (`label: [a, b, ...]`).
fn list(text: &str, label: &str) -> Vec<f32> {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("`{label}` in:\n{text}"));
    numbers(&line[line.find(label).unwrap() + label.len()..])
}

#[test]
fn deep_rnn_has_one_state_per_layer() {
    let out = run(env!("CARGO_BIN_EXE_deep_rnn"));
    assert!(out.contains("outputs [2, 5, 100]"), "{out}");
    let mut states = Vec::new();
    for k in 0..3 {
        let label = format!("layer {k} state [2, 100], first 4 units of each instance:");
        let s = list(&out, &label);
        assert_eq!(s.len(), 8, "{out}");
        // tanh states, not all zero.
        assert!(s.iter().all(|v| v.abs() < 1.0), "layer {k}: {s:?}");
        assert!(s.iter().any(|v| v.abs() > 1e-3), "layer {k}: {s:?}");
        states.push(s);
    }
    // A basic cell's state is its output: the top layer's final state equals the outputs'
    // last step (TF's MultiRNNCell; both printed to full precision), and the layers differ.
    let last = list(
        &out,
        "outputs at the last step, first 4 units of each instance:",
    );
    assert_eq!(last.len(), 8, "{out}");
    for (s, o) in states[2].iter().zip(&last) {
        assert!(
            (s - o).abs() < 1e-6,
            "top state {s} vs last output {o}\n{out}"
        );
    }
    assert_ne!(states[0], states[1]);
    assert_ne!(states[1], states[2]);
}
