//! The fused whole-sequence path (`RnnCell::fused_sequence`, `rnn_core::fused`) against the
//! per-step path (`static_rnn`, one autodiff node per op per step): outputs, final states and
//! every gradient (inputs, initial state, every parameter) for all four activations, single
//! cells, projection wrappers and stacks, on random shapes; finite differences of the fused
//! gradients; the untracked forward against the autodiff one.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use common::{perturbed, values};
use rnn_core::{
    Activation, BasicRnnCell, DropoutWrapperConfig, MultiRnnCell, OutputProjectionWrapper,
    OutputProjectionWrapperConfig, RnnCell, RnnState, dynamic_rnn, static_rnn,
};

const ACTIVATIONS: [Activation; 4] = [
    Activation::Tanh,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Identity,
];

fn device() -> Device {
    rnn_core::device::default_device().unwrap().autodiff()
}

thread_local! {
    /// Draws made by this test's thread: each test (one thread) sees the same data every run.
    static DRAWS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Standard normal values, deterministic per test (splitmix64 + Box-Muller; not the device
/// RNG, which the tests running in parallel would share): the finite-difference checks of relu
/// then see the same kinks every run.
fn normal<const D: usize>(shape: [usize; D], dev: &Device) -> Tensor<D> {
    let mut state = DRAWS.with(|d| {
        d.set(d.get() + 1);
        d.get().wrapping_mul(0x9e37_79b9_7f4a_7c15)
    });
    let mut uniform = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let (u1, u2) = (uniform().max(1e-12), uniform());
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(v, shape), dev)
}

/// A small deterministic generator for shapes (no dependency on the device RNG).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

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
}

/// Every float parameter's gradient, in visit order (zeros where there is none).
struct CollectGrads<'a> {
    grads: &'a Gradients,
    out: Vec<Vec<f32>>,
}

impl ModuleVisitor for CollectGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let grad = value
            .grad(self.grads)
            .map(|g| values(&g))
            .expect("every parameter gets a gradient");
        self.out.push(grad);
    }
}

/// What one run gives: outputs, final state tensors, and the gradients of
/// `L = sum(outputs * r_out) + sum_k sum(state_k * r_state_k)` for x, each initial-state
/// tensor and each parameter.
#[derive(Debug)]
struct Run {
    outputs: Vec<f32>,
    state: Vec<Vec<f32>>,
    dx: Vec<f32>,
    dh0: Vec<Vec<f32>>,
    dparams: Vec<Vec<f32>>,
}

struct Case<C: RnnCell> {
    cell: C,
    x: Tensor<3>,
    h0: C::State,
    r_out: Tensor<3>,
    r_state: Vec<Tensor<2>>,
}

impl<C: RnnCell> Case<C> {
    fn new(cell: C, b: usize, t: usize, dev: &Device) -> Self {
        let x = normal([b, t, cell.input_size()], dev);
        let h0 = cell
            .zero_state(b, dev)
            .map_droppable(&mut |s| normal(s.dims(), dev) * 0.5);
        let r_state = h0.tensors().iter().map(|s| normal(s.dims(), dev)).collect();
        let r_out = normal([b, t, cell.output_size()], dev);
        Self {
            cell,
            x,
            h0,
            r_out,
            r_state,
        }
    }

    fn loss(&self, outputs: Tensor<3>, state: &C::State) -> Tensor<1> {
        let mut loss = (outputs * self.r_out.clone()).sum();
        for (s, r) in state.tensors().into_iter().zip(&self.r_state) {
            loss = loss + (s * r.clone()).sum();
        }
        loss
    }

    fn run(&self, fused: bool) -> Run {
        let x = self.x.clone().detach().require_grad();
        let h0 = self
            .h0
            .clone()
            .map_droppable(&mut |s| s.detach().require_grad());
        let (outputs, state) = if fused {
            self.cell
                .fused_sequence(&x, &h0)
                .expect("this cell has a fused path")
        } else {
            let [b, _, i] = x.dims();
            let steps = x.clone().iter_dim(1).map(|s| s.reshape([b, i])).collect();
            let (outs, state) = static_rnn(&self.cell, steps, Some(h0.clone()), None).unwrap();
            (Tensor::stack(outs, 1), state)
        };
        let grads = self.loss(outputs.clone(), &state).backward();
        let mut collect = CollectGrads {
            grads: &grads,
            out: Vec::new(),
        };
        self.cell.visit(&mut collect);
        Run {
            outputs: values(&outputs),
            state: state.tensors().iter().map(values).collect(),
            dx: values(&x.grad(&grads).expect("dx")),
            dh0: h0
                .tensors()
                .iter()
                .map(|s| values(&s.grad(&grads).expect("dh0")))
                .collect(),
            dparams: collect.out,
        }
    }
}

#[track_caller]
fn assert_near(what: &str, fused: &[f32], reference: &[f32]) {
    assert_eq!(fused.len(), reference.len(), "{what}: lengths");
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let tol = 1e-5 * scale;
    for (k, (a, b)) in fused.iter().zip(reference).enumerate() {
        assert!(
            (a - b).abs() <= tol,
            "{what}[{k}]: fused {a} vs per-step {b} (tol {tol})"
        );
    }
}

fn compare<C: RnnCell>(name: &str, case: &Case<C>) {
    let fused = case.run(true);
    let reference = case.run(false);
    assert_near(
        &format!("{name} outputs"),
        &fused.outputs,
        &reference.outputs,
    );
    for (k, (a, b)) in fused.state.iter().zip(&reference.state).enumerate() {
        assert_near(&format!("{name} state {k}"), a, b);
    }
    assert_near(&format!("{name} dx"), &fused.dx, &reference.dx);
    for (k, (a, b)) in fused.dh0.iter().zip(&reference.dh0).enumerate() {
        assert_near(&format!("{name} dh0 {k}"), a, b);
    }
    assert_eq!(fused.dparams.len(), reference.dparams.len());
    for (k, (a, b)) in fused.dparams.iter().zip(&reference.dparams).enumerate() {
        assert_near(&format!("{name} dparam {k}"), a, b);
    }
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
        let cell = OutputProjectionWrapperConfig::new(2).init(basic(3, 5, activation, &dev), &dev);
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
    let cell = OutputProjectionWrapperConfig::new(1).init(multi, &dev);
    compare("projection around a stack", &Case::new(cell, 4, 7, &dev));
    // A stack of projected cells.
    let layers = vec![
        OutputProjectionWrapperConfig::new(4).init(basic(2, 5, Activation::Tanh, &dev), &dev),
        OutputProjectionWrapperConfig::new(3).init(basic(4, 6, Activation::Sigmoid, &dev), &dev),
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
    let cell =
        OutputProjectionWrapperConfig::new(1).init(basic(1, 30, Activation::Relu, &dev), &dev);
    compare("forecast-like T20", &Case::new(cell, 10, 20, &dev));
}

#[test]
fn dynamic_rnn_without_lengths_takes_the_fused_path_and_with_lengths_the_per_step_one() {
    let dev = device();
    let cell = basic(3, 4, Activation::Tanh, &dev);
    let x = normal([2, 5, 3], &dev);
    let (fused, state) = cell.fused_sequence(&x, &cell.zero_state(2, &dev)).unwrap();
    let (dynamic, dyn_state) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
    assert_eq!(values(&fused), values(&dynamic));
    assert_eq!(values(&state), values(&dyn_state));
    let lengths = Tensor::<1, burn::tensor::Int>::from_ints([5, 5], &dev);
    let (per_step, _) = dynamic_rnn(&cell, x, None, Some(lengths)).unwrap();
    assert_near("lengths = T", &values(&per_step), &values(&fused));
    // Dropout keeps the per-step path.
    let dropout = DropoutWrapperConfig::new()
        .with_output_keep_prob(0.5)
        .init(cell)
        .unwrap();
    assert!(
        dropout
            .fused_sequence(&normal([2, 5, 3], &dev), &dropout.zero_state(2, &dev))
            .is_none()
    );
}

#[test]
fn untracked_and_plain_device_forwards_equal_the_autodiff_forward() {
    let dev = device();
    for activation in ACTIVATIONS {
        let cell = OutputProjectionWrapperConfig::new(3).init(basic(4, 7, activation, &dev), &dev);
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
    let on_ckpt = Case {
        cell: cell.fork(&dev),
        x: case.x.clone().to_device(&dev),
        h0: case.h0.clone().to_device(&dev),
        r_out: case.r_out.clone().to_device(&dev),
        r_state: case
            .r_state
            .iter()
            .map(|r| r.clone().to_device(&dev))
            .collect(),
    };
    let a = case.run(true);
    let b = on_ckpt.run(true);
    assert_near("checkpointed dx", &b.dx, &a.dx);
    for (x, y) in b.dparams.iter().zip(&a.dparams) {
        assert_near("checkpointed dparam", x, y);
    }
}

// ---------------------------------------------------------------- finite differences

const EPS: f32 = 1e-2;

fn shifted<const D: usize>(t: &Tensor<D>, index: usize, delta: f32) -> Tensor<D> {
    let mut v = values(t);
    v[index] += delta;
    Tensor::from_data(TensorData::new(v, t.shape()), &t.device())
}

/// Checks `autodiff` against the central difference of `(L(+eps), L(0), L(-eps))`. With
/// `kinks` (relu: the loss is piecewise linear in every coordinate), returns false (nothing
/// checked) when the two one-sided slopes disagree by more than twice the tolerance: the step
/// crossed a kink, where a finite difference says nothing about the derivative. Smooth
/// activations are always checked.
#[track_caller]
fn check_fd(what: &str, kinks: bool, autodiff: f32, (plus, zero, minus): (f64, f64, f64)) -> bool {
    let eps = EPS as f64;
    let numeric = (plus - minus) / (2.0 * eps);
    let tol = 2e-3 + 2e-2 * numeric.abs();
    if kinks && ((plus - zero) / eps - (zero - minus) / eps).abs() > 2.0 * tol {
        return false;
    }
    assert!(
        (autodiff as f64 - numeric).abs() <= tol,
        "{what}: fused gradient {autodiff} vs finite difference {numeric} (tol {tol})"
    );
    true
}

/// Central differences of the fused loss (through `dynamic_rnn`, no lengths) against the
/// fused gradients: a spread of coordinates of every parameter, of x and of h0.
fn fd_check<C: RnnCell<State = Tensor<2>>>(name: &str, kinks: bool, case: &Case<C>) {
    let fused = case.run(true);
    let loss_of = |cell: &C, x: Tensor<3>, h0: Tensor<2>| -> f64 {
        let (out, state) = dynamic_rnn(cell, x, Some(h0), None).unwrap();
        values(&case.loss(out, &state))[0] as f64
    };
    let mut checked = 0;
    let mut total = 0;
    for (k, grad) in fused.dparams.iter().enumerate() {
        for j in 0..5.min(grad.len()) {
            let index = (j * 7919 + k * 31) % grad.len();
            let at = |delta| {
                let cell = perturbed(&case.cell, k, index, delta);
                loss_of(&cell, case.x.clone(), case.h0.clone())
            };
            total += 1;
            checked += check_fd(
                &format!("{name} param {k}[{index}]"),
                kinks,
                grad[index],
                (at(EPS), at(0.0), at(-EPS)),
            ) as usize;
        }
    }
    for j in 0..6 {
        let index = (j * 13 + 5) % fused.dx.len();
        let at = |d| loss_of(&case.cell, shifted(&case.x, index, d), case.h0.clone());
        total += 1;
        checked += check_fd(
            &format!("{name} x[{index}]"),
            kinks,
            fused.dx[index],
            (at(EPS), at(0.0), at(-EPS)),
        ) as usize;
    }
    for j in 0..4 {
        let index = (j * 5 + 1) % fused.dh0[0].len();
        let at = |d| loss_of(&case.cell, case.x.clone(), shifted(&case.h0, index, d));
        total += 1;
        checked += check_fd(
            &format!("{name} h0[{index}]"),
            kinks,
            fused.dh0[0][index],
            (at(EPS), at(0.0), at(-EPS)),
        ) as usize;
    }
    // Smooth activations check every coordinate; relu at least half (on these small random
    // cases a step of EPS crosses some kink for up to a third of the coordinates).
    assert!(
        checked * 2 >= total,
        "{name}: only {checked} of {total} coordinates away from a kink"
    );
}

#[test]
fn fused_gradients_match_finite_differences() {
    let dev = device();
    for activation in ACTIVATIONS {
        let case = Case::new(basic(3, 4, activation, &dev), 3, 5, &dev);
        let kinks = activation == Activation::Relu;
        fd_check(&format!("basic {activation:?}"), kinks, &case);
    }
    let cell =
        OutputProjectionWrapperConfig::new(2).init(basic(3, 4, Activation::Tanh, &dev), &dev);
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
    );
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
