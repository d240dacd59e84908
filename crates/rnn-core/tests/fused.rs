//! The fused whole-sequence path (`RnnCell::fused_sequence`, the kernel family in `rnn_core`'s `fused` module) against the
//! per-step path (`step` per time step through the driver, `common::cases::NoFuse`): outputs, final states and
//! every gradient (inputs, initial state, every parameter) for all four activations, single
//! cells, projection wrappers and stacks, on random shapes; finite differences of the fused
//! gradients; the untracked forward against the autodiff one.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::cases::{Case, Lcg, assert_near, compare, device, fd_check, normal};
use common::values;
use rnn_core::{
    Activation, BasicRnnCell, DropoutWrapperConfig, MultiRnnCell, OutputProjectionWrapper,
    OutputProjectionWrapperConfig, RnnCell, SequencePlan, dynamic_rnn,
};

const ACTIVATIONS: [Activation; 4] = [
    Activation::Tanh,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Identity,
];

/// A basic cell with Glorot-scaled normal weights and a N(0, 0.3) bias, deterministic per
/// test (see [`normal`]).
fn basic(i: usize, h: usize, activation: Activation, dev: &Device) -> BasicRnnCell {
    let std = (2.0 / (i + 2 * h) as f32).sqrt();
    BasicRnnCell::from_weights(
        normal([i, h], dev) * std,
        normal([h, h], dev) * std,
        normal([h], dev) * 0.3,
        activation,
    )
    .unwrap()
}

#[test]
fn basic_cell_matches_the_per_step_path_for_every_activation_on_random_shapes() {
    let dev = device();
    let mut rng = Lcg(7);
    for activation in ACTIVATIONS {
        for _ in 0..3 {
            let (b, t, i, h) = (
                1 + rng.below(5),
                1 + rng.below(7),
                1 + rng.below(6),
                1 + rng.below(9),
            );
            let case = Case::new(basic(i, h, activation, &dev), b, t, &dev);
            compare(&format!("basic {activation:?} B{b} T{t} I{i} H{h}"), &case);
        }
    }
}

#[test]
fn projection_wrapper_matches_the_per_step_path() {
    let dev = device();
    for activation in ACTIVATIONS {
        let cell = OutputProjectionWrapperConfig::new(2)
            .init(basic(3, 5, activation, &dev), &dev)
            .unwrap();
        let mut cell: OutputProjectionWrapper<BasicRnnCell> = cell;
        cell.projection.bias = cell
            .projection
            .bias
            .map(|b| b.map(|t| normal(t.dims(), &dev).require_grad()));
        compare(
            &format!("projection {activation:?}"),
            &Case::new(cell, 4, 6, &dev),
        );
    }
}

#[test]
fn stacks_match_the_per_step_path_layer_by_layer() {
    let dev = device();
    for activation in ACTIVATIONS {
        let cells = vec![
            basic(3, 5, activation, &dev),
            basic(5, 4, activation, &dev),
            basic(4, 6, Activation::Tanh, &dev),
        ];
        let multi = MultiRnnCell::new(cells).unwrap();
        compare(
            &format!("multi {activation:?}"),
            &Case::new(multi, 3, 5, &dev),
        );
    }
    // The book's deep forecaster: a projection around a stack.
    let multi = MultiRnnCell::new(vec![
        basic(1, 6, Activation::Relu, &dev),
        basic(6, 6, Activation::Relu, &dev),
    ])
    .unwrap();
    let cell = OutputProjectionWrapperConfig::new(1)
        .init(multi, &dev)
        .unwrap();
    compare("projection around a stack", &Case::new(cell, 4, 7, &dev));
    // A stack of projected cells.
    let layers = vec![
        OutputProjectionWrapperConfig::new(4)
            .init(basic(2, 5, Activation::Tanh, &dev), &dev)
            .unwrap(),
        OutputProjectionWrapperConfig::new(3)
            .init(basic(4, 6, Activation::Sigmoid, &dev), &dev)
            .unwrap(),
    ];
    compare(
        "stack of projections",
        &Case::new(MultiRnnCell::new(layers).unwrap(), 2, 4, &dev),
    );
}

#[test]
fn longer_sequences_and_the_books_shapes_stay_close() {
    let dev = device();
    let case = Case::new(basic(28, 40, Activation::Tanh, &dev), 16, 28, &dev);
    compare("MNIST-like T28", &case);
    let cell = OutputProjectionWrapperConfig::new(1)
        .init(basic(1, 30, Activation::Relu, &dev), &dev)
        .unwrap();
    compare("forecast-like T20", &Case::new(cell, 10, 20, &dev));
}

#[test]
fn dynamic_rnn_takes_the_fused_path_with_and_without_lengths() {
    let dev = device();
    let cell = basic(3, 4, Activation::Tanh, &dev);
    let x = normal([2, 5, 3], &dev);
    let (fused, state) = cell
        .fused_sequence(&x, &cell.zero_state(2, &dev), &SequencePlan::default())
        .unwrap();
    let (dynamic, dyn_state) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
    assert_eq!(values(&fused), values(&dynamic));
    assert_eq!(values(&state), values(&dyn_state));
    let lengths = Tensor::<1, burn::tensor::Int>::from_ints([5, 5], &dev);
    let (with_lengths, _) = dynamic_rnn(&cell, x, None, Some(lengths)).unwrap();
    assert_near("lengths = T", &values(&with_lengths), &values(&fused));
    // Dropout keeps the per-step path.
    let dropout = DropoutWrapperConfig::new()
        .with_output_keep_prob(0.5)
        .init(cell)
        .unwrap();
    assert!(
        dropout
            .fused_sequence(
                &normal([2, 5, 3], &dev),
                &dropout.zero_state(2, &dev),
                &SequencePlan::default()
            )
            .is_none()
    );
}

#[test]
fn untracked_and_plain_device_forwards_equal_the_autodiff_forward() {
    let dev = device();
    for activation in ACTIVATIONS {
        let cell = OutputProjectionWrapperConfig::new(3)
            .init(basic(4, 7, activation, &dev), &dev)
            .unwrap();
        let x = normal([3, 6, 4], &dev);
        let h0 = normal([3, 7], &dev);
        let (tracked, tracked_state) =
            dynamic_rnn(&cell, x.clone(), Some(h0.clone()), None).unwrap();
        // Autodiff device, nothing requires a gradient.
        let valid_on_ad = cell.clone().no_grad();
        let (untracked, _) = dynamic_rnn(&valid_on_ad, x.clone(), Some(h0.clone()), None).unwrap();
        // The plain (non-autodiff) device.
        let plain = cell.valid();
        let (inner, inner_state) =
            dynamic_rnn(&plain, x.clone().inner(), Some(h0.clone().inner()), None).unwrap();
        assert_eq!(values(&tracked), values(&untracked), "{activation:?}");
        assert_eq!(values(&tracked), values(&inner), "{activation:?}");
        assert_eq!(
            values(&tracked_state),
            values(&inner_state),
            "{activation:?}"
        );
    }
}

#[test]
fn gradient_checkpointing_device_gives_the_same_gradients() {
    let plain = device();
    let dev = rnn_core::device::default_device()
        .unwrap()
        .autodiff()
        .gradient_checkpointing();
    let cell = basic(3, 5, Activation::Tanh, &plain);
    let case = Case::new(cell.clone(), 3, 4, &plain);
    let on_ckpt = case.to_device(&dev);
    let a = case.run(true);
    let b = on_ckpt.run(true);
    assert_near("checkpointed dx", &b.dx, &a.dx);
    for (x, y) in b.dparams.iter().zip(&a.dparams) {
        assert_near("checkpointed dparam", x, y);
    }
}

#[test]
fn fused_gradients_match_finite_differences() {
    let dev = device();
    for activation in ACTIVATIONS {
        let case = Case::new(basic(3, 4, activation, &dev), 3, 5, &dev);
        let kinks = activation == Activation::Relu;
        fd_check(&format!("basic {activation:?}"), kinks, &case);
    }
    let cell = OutputProjectionWrapperConfig::new(2)
        .init(basic(3, 4, Activation::Tanh, &dev), &dev)
        .unwrap();
    fd_check("projection", false, &Case::new(cell, 3, 5, &dev));
}

#[test]
fn long_sequences_flush_vanishing_gradients_instead_of_going_subnormal() {
    // A loss on the last output only, a contracting recurrence: the gradient to early inputs
    // decays geometrically through 300 steps, far below f32's normal range. Every backend's
    // fused backward agrees with the per-step path on every gradient that matters; flex's CPU
    // kernel also flushes the decay to zero (no subnormal anywhere). The generic kernels
    // (ndarray, wgpu) do not flush: GPUs flush in hardware, and ndarray pays the subnormals.
    let dev = device();
    let cell = BasicRnnCell::from_weights(
        normal([3, 8], &dev) * 0.3,
        normal([8, 8], &dev) * 0.05,
        normal([8], &dev) * 0.1,
        Activation::Tanh,
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
