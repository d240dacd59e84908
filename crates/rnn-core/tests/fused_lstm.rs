//! The fused LSTM sequence (`LstmCell::fused_sequence`, the kernel family in `rnn_core`'s `fused` module) against the
//! per-step path (`LstmCell::step` per time step, `common::cases::NoFuse`): outputs, final `(c, h)` and every
//! gradient (inputs, both initial-state tensors, every parameter) on random shapes, with and
//! without a forget bias, in stacks and under a projection; finite differences of the fused
//! gradients; the untracked and plain-device forwards; long sequences.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::cases::{Case, Lcg, assert_near, compare, device, fd_check, normal};
use common::values;
use rnn_core::{
    LstmCell, LstmState, MultiRnnCell, OutputProjectionWrapperConfig, RnnCell, SequencePlan,
    dynamic_rnn,
};

/// An LSTM cell with Glorot-scaled normal weights and a N(0, 0.3) bias (every gate block
/// non-zero), deterministic per test.
fn lstm(i: usize, h: usize, forget_bias: f64, dev: &Device) -> LstmCell {
    let std = (2.0 / (i + 5 * h) as f32).sqrt();
    LstmCell::from_weights(
        normal([i, 4 * h], dev) * std,
        normal([h, 4 * h], dev) * std,
        normal([4 * h], dev) * 0.3,
        forget_bias,
    )
    .unwrap()
}

#[test]
fn lstm_matches_the_per_step_path_on_random_shapes() {
    let dev = device();
    let mut rng = Lcg(11);
    for forget_bias in [0.0, 1.0] {
        compare(
            &format!("lstm fb{forget_bias} B1 T1 I1 H1"),
            &Case::new(lstm(1, 1, forget_bias, &dev), 1, 1, &dev),
        );
        for _ in 0..4 {
            let (b, t, i, h) = (
                1 + rng.below(5),
                1 + rng.below(7),
                1 + rng.below(6),
                1 + rng.below(9),
            );
            let case = Case::new(lstm(i, h, forget_bias, &dev), b, t, &dev);
            compare(&format!("lstm fb{forget_bias} B{b} T{t} I{i} H{h}"), &case);
        }
    }
}

#[test]
fn lstm_stacks_and_projections_match_the_per_step_path() {
    let dev = device();
    let multi = MultiRnnCell::new(vec![
        lstm(3, 5, 1.0, &dev),
        lstm(5, 4, 0.0, &dev),
        lstm(4, 6, 1.0, &dev),
    ])
    .unwrap();
    compare("lstm stack", &Case::new(multi, 3, 5, &dev));
    let cell = OutputProjectionWrapperConfig::new(2)
        .init(lstm(3, 5, 1.0, &dev), &dev)
        .unwrap();
    compare("lstm projection", &Case::new(cell, 4, 6, &dev));
}

#[test]
fn lstm_on_the_books_mnist_shape_stays_close() {
    let dev = device();
    let case = Case::new(lstm(28, 40, 1.0, &dev), 16, 28, &dev);
    compare("lstm MNIST-like T28", &case);
}

#[test]
fn dynamic_rnn_without_lengths_takes_the_fused_lstm_path() {
    let dev = device();
    let cell = lstm(3, 4, 1.0, &dev);
    let x = normal([2, 5, 3], &dev);
    let (fused, state) = cell
        .fused_sequence(&x, &cell.zero_state(2, &dev), &SequencePlan::default())
        .unwrap();
    let (dynamic, dyn_state) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
    assert_eq!(values(&fused), values(&dynamic));
    assert_eq!(values(&state.c), values(&dyn_state.c));
    assert_eq!(values(&state.h), values(&dyn_state.h));
    let lengths = Tensor::<1, burn::tensor::Int>::from_ints([5, 5], &dev);
    let (per_step, per_step_state) = dynamic_rnn(&cell, x, None, Some(lengths)).unwrap();
    assert_near("lengths = T", &values(&per_step), &values(&fused));
    assert_near(
        "lengths = T: c",
        &values(&per_step_state.c),
        &values(&state.c),
    );
}

#[test]
fn lstm_untracked_and_plain_device_forwards_equal_the_autodiff_forward() {
    let dev = device();
    let cell = lstm(4, 7, 1.0, &dev);
    let x = normal([3, 6, 4], &dev);
    let s0 = LstmState {
        c: normal([3, 7], &dev),
        h: normal([3, 7], &dev),
    };
    let (tracked, tracked_state) = dynamic_rnn(&cell, x.clone(), Some(s0.clone()), None).unwrap();
    let (untracked, untracked_state) =
        dynamic_rnn(&cell.clone().no_grad(), x.clone(), Some(s0.clone()), None).unwrap();
    let plain_s0 = LstmState {
        c: s0.c.inner(),
        h: s0.h.inner(),
    };
    let (inner, inner_state) = dynamic_rnn(&cell.valid(), x.inner(), Some(plain_s0), None).unwrap();
    // The CPU kernels run the same instructions either way: bit-equal. On wgpu, burn's fusion
    // compiles the untracked chain of element-wise ops into fewer kernels than the tracked
    // one, which materialises the gates: equal to the last bit or two.
    let same = |what: &str, a: &Tensor<2>, b: &Tensor<2>| same_values(what, &values(a), &values(b));
    same_values("untracked", &values(&tracked), &values(&untracked));
    same_values("plain", &values(&tracked), &values(&inner));
    for (what, other) in [("untracked", &untracked_state), ("plain", &inner_state)] {
        same(&format!("{what} c"), &tracked_state.c, &other.c);
        same(&format!("{what} h"), &tracked_state.h, &other.h);
    }
}

/// Bit-equal on the CPU backends, within [`assert_near`] on wgpu.
#[track_caller]
fn same_values(what: &str, a: &[f32], b: &[f32]) {
    let dev = device().inner();
    if rnn_core::device::device_name(&dev) == "wgpu" {
        assert_near(what, a, b);
    } else {
        assert_eq!(a, b, "{what}");
    }
}

#[test]
fn lstm_fused_gradients_match_finite_differences() {
    let dev = device();
    for forget_bias in [0.0, 1.0] {
        let case = Case::new(lstm(3, 4, forget_bias, &dev), 3, 5, &dev);
        fd_check(&format!("lstm fb{forget_bias}"), false, &case);
    }
    let cell = OutputProjectionWrapperConfig::new(2)
        .init(lstm(3, 4, 1.0, &dev), &dev)
        .unwrap();
    fd_check("lstm projection", false, &Case::new(cell, 3, 5, &dev));
}

#[test]
fn lstm_long_sequences_flush_vanishing_gradients_instead_of_going_subnormal() {
    // A loss on the last output only and a forgetting cell (forget bias -4: f ~ 0.02): the
    // gradient to early inputs decays geometrically through 300 steps, far below f32's normal
    // range. The fused backward agrees with the per-step path on every gradient; flex's CPU
    // kernel also flushes the decay to exactly zero.
    let dev = device();
    let cell = LstmCell::from_weights(
        normal([3, 32], &dev) * 0.3,
        normal([8, 32], &dev) * 0.05,
        normal([32], &dev) * 0.1,
        -4.0,
    )
    .unwrap();
    let (b, t) = (2, 300);
    let mut case = Case::new(cell, b, t, &dev);
    let mask: Vec<f32> = (0..b * t * 8)
        .map(|k| if (k / 8) % t == t - 1 { 1.0 } else { 0.0 })
        .collect();
    case.r_out = case.r_out.clone() * Tensor::from_data(TensorData::new(mask, [b, t, 8]), &dev);
    case.r_state = case.r_state.iter().map(|r| r.clone() * 0.0).collect();
    let fused = case.run(true);
    let reference = case.run(false);
    let subnormal = |v: &f32| *v != 0.0 && v.abs() < f32::MIN_POSITIVE;
    if rnn_core::device::device_name(&dev.clone().inner()) == "flex" {
        assert!(!fused.dx.iter().any(subnormal), "fused dx has subnormals");
        for (k, d) in fused.dh0.iter().enumerate() {
            assert!(
                !d.iter().any(subnormal),
                "fused state {k} gradient has subnormals"
            );
        }
        assert!(
            fused.dx[..8 * 3].iter().all(|&v| v == 0.0),
            "the first steps' gradients vanish to exactly zero"
        );
    }
    assert!(
        reference.dx[..24].iter().all(|&v| v.abs() < 1e-30),
        "the per-step path shows the decay too"
    );
    assert_near("long dx", &fused.dx, &reference.dx);
    for (f, r) in fused.dparams.iter().zip(&reference.dparams) {
        assert_near("long dparam", f, r);
    }
}
