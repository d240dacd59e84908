//! The fused GRU sequence (`GruCell::fused_sequence`, the kernel family in `rnn_core`'s `fused` module) against the
//! per-step path (`GruCell::step` per time step, `common::cases::NoFuse`): outputs, final states and every gradient
//! (inputs, initial state, every parameter) for both forms (TF, reset_after), single cells,
//! projection wrappers and stacks, on random shapes; finite differences of the fused gradients;
//! partial gradient needs (untracked data and state, frozen weights); the gradient
//! checkpointing device; the untracked and plain-device forwards against the autodiff one;
//! vanishing gradients over a long sequence.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use common::cases::{
    Case, Lcg, assert_near, compare, device, fd_check, normal, per_step_reference,
};
use common::values;
use rnn_core::{
    GruCell, MultiRnnCell, OutputProjectionWrapper, OutputProjectionWrapperConfig, RnnCell,
    SequencePlan, dynamic_rnn,
};

/// Both forms: `false` TF (`(r ⊙ h) W_hn`), `true` reset_after (`r ⊙ (h W_hn + b_hn)`).
const FORMS: [bool; 2] = [false, true];

/// A GRU cell with Glorot-scaled normal weights and N(0, 0.5) biases (gates, candidate and, in
/// the reset_after form, `bias_hn`), so every bias term is exercised; deterministic per test
/// (see [`normal`]).
fn gru(i: usize, h: usize, reset_after: bool, dev: &Device) -> GruCell {
    let std = (2.0 / (i + 2 * h) as f32).sqrt();
    GruCell::from_weights(
        normal([i, 3 * h], dev) * std,
        normal([h, 2 * h], dev) * std,
        normal([h, h], dev) * std,
        normal([3 * h], dev) * 0.5,
        reset_after.then(|| normal([h], dev) * 0.5),
    )
    .unwrap()
}

fn form(reset_after: bool) -> &'static str {
    if reset_after { "reset_after" } else { "TF" }
}

#[test]
fn gru_matches_the_per_step_path_in_both_forms_on_random_shapes() {
    let dev = device();
    let mut rng = Lcg(11);
    for reset_after in FORMS {
        // The degenerate sizes first, then random ones.
        let mut shapes = vec![(1, 1, 1, 1), (1, 4, 2, 3), (3, 1, 2, 5), (2, 3, 4, 1)];
        for _ in 0..5 {
            shapes.push((
                1 + rng.below(5),
                1 + rng.below(7),
                1 + rng.below(6),
                1 + rng.below(9),
            ));
        }
        for (b, t, i, h) in shapes {
            let case = Case::new(gru(i, h, reset_after, &dev), b, t, &dev);
            compare(&format!("{} B{b} T{t} I{i} H{h}", form(reset_after)), &case);
        }
    }
}

#[test]
fn stacks_and_projections_of_gru_cells_match_the_per_step_path() {
    let dev = device();
    for reset_after in FORMS {
        let name = form(reset_after);
        let multi = MultiRnnCell::new(vec![
            gru(3, 5, reset_after, &dev),
            gru(5, 4, !reset_after, &dev),
            gru(4, 6, reset_after, &dev),
        ])
        .unwrap();
        compare(&format!("multi {name}"), &Case::new(multi, 3, 5, &dev));
        let mut cell: OutputProjectionWrapper<GruCell> = OutputProjectionWrapperConfig::new(2)
            .init(gru(3, 5, reset_after, &dev), &dev)
            .unwrap();
        cell.projection.bias = cell
            .projection
            .bias
            .map(|b| b.map(|t| normal(t.dims(), &dev).require_grad()));
        compare(&format!("projection {name}"), &Case::new(cell, 4, 6, &dev));
    }
}

#[test]
fn the_mnist_shape_stays_close() {
    let dev = device();
    for reset_after in FORMS {
        let case = Case::new(gru(28, 40, reset_after, &dev), 16, 28, &dev);
        compare(&format!("MNIST-like {}", form(reset_after)), &case);
    }
}

#[test]
fn dynamic_rnn_without_lengths_takes_the_fused_path() {
    let dev = device();
    for reset_after in FORMS {
        let cell = gru(3, 4, reset_after, &dev);
        let x = normal([2, 5, 3], &dev);
        let (fused, state) = cell
            .fused_sequence(&x, &cell.zero_state(2, &dev), &SequencePlan::default())
            .unwrap();
        let (dynamic, dyn_state) = dynamic_rnn(&cell, x, None, None).unwrap();
        assert_eq!(values(&fused), values(&dynamic));
        assert_eq!(values(&state), values(&dyn_state));
    }
}

#[test]
fn untracked_and_plain_device_forwards_equal_the_autodiff_forward() {
    let dev = device();
    for reset_after in FORMS {
        let cell = gru(4, 7, reset_after, &dev);
        let x = normal([3, 6, 4], &dev);
        let h0 = normal([3, 7], &dev);
        let (tracked, tracked_state) =
            dynamic_rnn(&cell, x.clone(), Some(h0.clone()), None).unwrap();
        // Autodiff device, nothing requires a gradient.
        let (untracked, _) =
            dynamic_rnn(&cell.clone().no_grad(), x.clone(), Some(h0.clone()), None).unwrap();
        // The plain (non-autodiff) device.
        let (inner, inner_state) =
            dynamic_rnn(&cell.valid(), x.inner(), Some(h0.inner()), None).unwrap();
        let name = form(reset_after);
        assert_eq!(values(&tracked), values(&untracked), "{name}");
        assert_eq!(values(&tracked), values(&inner), "{name}");
        assert_eq!(values(&tracked_state), values(&inner_state), "{name}");
    }
}

/// Every float parameter's gradient in visit order, `None` where there is none (frozen).
struct ParamGrads<'a>(&'a Gradients, Vec<Option<Vec<f32>>>);

impl ModuleVisitor for ParamGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.1.push(param.val().grad(self.0).map(|g| values(&g)));
    }
}

#[test]
fn partial_gradient_needs_match_the_per_step_path() {
    // The training configuration: data and the zero state need no gradient (no dx, no dh0, no
    // recurrent matmul after step 0), and with `wh_candidate` (and `bias_hn`) frozen, the
    // forward keeps neither `r ⊙ h` (TF form) nor computes their gradients.
    let dev = device();
    for reset_after in FORMS {
        for freeze in [false, true] {
            let mut cell = gru(5, 6, reset_after, &dev);
            if freeze {
                cell.wh_candidate = cell.wh_candidate.set_require_grad(false);
                cell.bias_hn = cell.bias_hn.map(|b| b.set_require_grad(false));
            }
            let (x, r_out, r_state) = (
                normal([4, 7, 5], &dev),
                normal([4, 7, 6], &dev),
                normal([4, 6], &dev),
            );
            let grads = |fused: bool| {
                let (out, state) = if fused {
                    dynamic_rnn(&cell, x.clone(), None, None).unwrap()
                } else {
                    let h0 = cell.zero_state(4, &dev);
                    per_step_reference(&cell, x.clone(), h0, None, false)
                };
                let loss = (out * r_out.clone()).sum() + (state * r_state.clone()).sum();
                let g = loss.backward();
                let mut visit = ParamGrads(&g, Vec::new());
                cell.visit(&mut visit);
                visit.1
            };
            let (fused, reference) = (grads(true), grads(false));
            let name = format!("{} frozen {freeze}", form(reset_after));
            assert_eq!(fused.len(), reference.len());
            // Visit order: wx, wh_gates, wh_candidate, bias, bias_hn.
            assert_eq!(fused[2].is_none(), freeze, "{name}: wh_candidate frozen");
            for (k, (f, r)) in fused.iter().zip(&reference).enumerate() {
                match (f, r) {
                    (Some(f), Some(r)) => assert_near(&format!("{name} dparam {k}"), f, r),
                    (None, None) => assert!(freeze, "{name}: param {k} has no gradient"),
                    _ => panic!("{name}: param {k} has a gradient on one path only"),
                }
            }
        }
    }
}

#[test]
fn gradient_checkpointing_device_gives_the_same_gradients() {
    let plain = device();
    let dev = rnn_core::device::default_device()
        .unwrap()
        .autodiff()
        .gradient_checkpointing();
    for reset_after in FORMS {
        let cell = gru(3, 5, reset_after, &plain);
        let case = Case::new(cell.clone(), 3, 4, &plain);
        let on_ckpt = case.to_device(&dev);
        let (a, b) = (case.run(true), on_ckpt.run(true));
        let name = form(reset_after);
        assert_near(&format!("{name} checkpointed dx"), &b.dx, &a.dx);
        for (x, y) in b.dparams.iter().zip(&a.dparams) {
            assert_near(&format!("{name} checkpointed dparam"), x, y);
        }
    }
}

#[test]
fn gru_fused_gradients_match_finite_differences() {
    let dev = device();
    for reset_after in FORMS {
        let name = form(reset_after);
        fd_check(
            name,
            false,
            &Case::new(gru(3, 4, reset_after, &dev), 3, 5, &dev),
        );
        let cell = OutputProjectionWrapperConfig::new(2)
            .init(gru(3, 4, reset_after, &dev), &dev)
            .unwrap();
        fd_check(
            &format!("projection {name}"),
            false,
            &Case::new(cell, 3, 5, &dev),
        );
    }
}

#[test]
fn long_sequences_flush_vanishing_gradients_instead_of_going_subnormal() {
    // A loss on the last output only, contracting weights: the gradient to early inputs decays
    // geometrically through 300 steps (through the recurrent matmuls and the `z` carry), far
    // below f32's normal range. Every backend's fused backward agrees with the per-step path;
    // flex's CPU kernel also flushes the decay to exactly zero (no subnormal anywhere).
    let dev = device();
    let (b, t, h) = (2, 300, 8);
    for reset_after in FORMS {
        let cell = GruCell::from_weights(
            normal([3, 3 * h], &dev) * 0.3,
            normal([h, 2 * h], &dev) * 0.05,
            normal([h, h], &dev) * 0.05,
            // Update gates biased low (z ~ 0.1): the `z` carry contracts too.
            Tensor::cat(
                vec![
                    normal([h], &dev) * 0.1,
                    normal([h], &dev) * 0.1 - 2.0,
                    normal([h], &dev) * 0.1,
                ],
                0,
            ),
            reset_after.then(|| normal([h], &dev) * 0.1),
        )
        .unwrap();
        let mut case = Case::new(cell, b, t, &dev);
        let mask: Vec<f32> = (0..b * t * h)
            .map(|k| if (k / h) % t == t - 1 { 1.0 } else { 0.0 })
            .collect();
        case.r_out = case.r_out.clone() * Tensor::from_data(TensorData::new(mask, [b, t, h]), &dev);
        case.r_state = case.r_state.iter().map(|r| r.clone() * 0.0).collect();
        let fused = case.run(true);
        let reference = case.run(false);
        let name = form(reset_after);
        let subnormal = |v: &f32| *v != 0.0 && v.abs() < f32::MIN_POSITIVE;
        if rnn_core::device::device_name(&dev.clone().inner()) == "flex" {
            assert!(
                !fused.dx.iter().any(subnormal),
                "{name}: fused dx has subnormals"
            );
            assert!(
                fused.dx[..3 * 3].iter().all(|&v| v == 0.0),
                "{name}: the first steps' gradients vanish to exactly zero"
            );
        }
        assert!(
            reference.dx[..9].iter().all(|&v| v.abs() < 1e-30),
            "{name}: the per-step path shows the decay too"
        );
        assert_near(&format!("{name} long dx"), &fused.dx, &reference.dx);
        for (f, r) in fused.dparams.iter().zip(&reference.dparams) {
            assert_near(&format!("{name} long dparam"), f, r);
        }
    }
}
