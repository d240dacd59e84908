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

#[test]
fn manual_rnn_prints_y0_and_y1() {
    let out = run(env!("CARGO_BIN_EXE_manual_rnn"));
    assert!(
        out.contains("Y0 [4, 5]") && out.contains("Y1 [4, 5]"),
        "{out}"
    );
    assert!(out.contains("shape:  [4, 5]"), "{out}");
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

#[test]
fn deep_rnn_has_one_state_per_layer() {
    let out = run(env!("CARGO_BIN_EXE_deep_rnn"));
    assert!(out.contains("outputs [2, 5, 100]"), "{out}");
    for k in 0..3 {
        assert!(out.contains(&format!("layer {k} state [2, 100]")), "{out}");
    }
}
