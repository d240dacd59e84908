//! The fused-path test cases the fused tests share (`fused.rs`, `fused_lstm.rs`,
//! `fused_gru.rs`): deterministic data, one loss over outputs and final state, every gradient
//! of a run, comparison against the per-step path, finite differences.
#![allow(dead_code)] // each test binary uses its own subset

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};
use rnn_core::{
    DEFAULT_LAYER_NORM_EPSILON, LayerNormLstmCell, LayerNormWeights, LstmState,
    OutputProjectionWrapper, RnnCell, RnnState, SequencePlan, dynamic_rnn,
};

use super::{perturbed, values};

pub fn device() -> Device {
    rnn_core::device::default_device().unwrap().autodiff()
}

thread_local! {
    /// Draws made by this test's thread: each test (one thread) sees the same data every run.
    static DRAWS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Standard normal values, deterministic per test (splitmix64 + Box-Muller; not the device
/// RNG, which the tests running in parallel would share): the finite-difference checks of relu
/// then see the same kinks every run.
pub fn normal<const D: usize>(shape: [usize; D], dev: &Device) -> Tensor<D> {
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

/// A layer-normalised LSTM with Glorot-scaled normal kernels and every gain and shift drawn
/// (gains around 1, shifts around 0), so that a mixed-up gain or shift block shows; the
/// library's default epsilon (1e-3). With 1e-5 a layer norm over few units (H 6 or 8) has
/// draws whose rows of tiny variance amplify f32 rounding, so that the fused and per-step
/// gradients of a reversed LN stack differed by up to 1.6e-5 of their scale, past the
/// comparison's 1e-5; with 1e-3 they stay within 7e-6.
pub fn ln_lstm(i: usize, h: usize, forget_bias: f64, dev: &Device) -> LayerNormLstmCell {
    let std = (2.0 / (i + 5 * h) as f32).sqrt();
    let norm = LayerNormWeights {
        gate_gain: normal([4 * h], dev) * 0.3 + 1.0,
        gate_shift: normal([4 * h], dev) * 0.3,
        state_gain: normal([h], dev) * 0.3 + 1.0,
        state_shift: normal([h], dev) * 0.3,
    };
    let wx = normal([i, 4 * h], dev) * std;
    let wh = normal([h, 4 * h], dev) * std;
    LayerNormLstmCell::from_weights(wx, wh, norm, forget_bias, DEFAULT_LAYER_NORM_EPSILON).unwrap()
}

/// `cell` under an output projection to `o` units whose weight `[H, o]` (Glorot-scaled) and
/// bias `[o]` come from this thread's deterministic draws, not the device RNG: a case built
/// from it is the same every run.
pub fn projected<C: RnnCell>(cell: C, o: usize, dev: &Device) -> OutputProjectionWrapper<C> {
    let h = cell.output_size();
    let std = (2.0 / (h + o) as f32).sqrt();
    let projection = Linear {
        weight: Param::from_tensor(normal([h, o], dev) * std),
        bias: Some(Param::from_tensor(normal([o], dev) * 0.1)),
    };
    OutputProjectionWrapper::new(cell, projection).unwrap()
}

/// A small deterministic generator for shapes (no dependency on the device RNG).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Every float parameter's gradient, in visit order (zeros where there is none).
pub struct CollectGrads<'a> {
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
pub struct Run {
    pub outputs: Vec<f32>,
    pub state: Vec<Vec<f32>>,
    pub dx: Vec<f32>,
    pub dh0: Vec<Vec<f32>>,
    pub dparams: Vec<Vec<f32>>,
}

pub struct Case<C: RnnCell> {
    pub cell: C,
    pub x: Tensor<3>,
    pub h0: C::State,
    pub r_out: Tensor<3>,
    pub r_state: Vec<Tensor<2>>,
    /// Per-example lengths (`None`: all T) and direction of the run.
    pub lengths: Option<Vec<usize>>,
    pub reverse: bool,
    /// The plan asks for only each example's last valid output (`[B, 1, O]`).
    pub last_only: bool,
}

/// The same cell without its fused path: every sequence runs `step` per time step (the
/// reference the fused kernels are checked against).
#[derive(Module, Debug)]
pub struct NoFuse<C: RnnCell> {
    pub cell: C,
}

impl<C: RnnCell> RnnCell for NoFuse<C> {
    type State = C::State;
    fn input_size(&self) -> usize {
        self.cell.input_size()
    }
    fn output_size(&self) -> usize {
        self.cell.output_size()
    }
    fn zero_state(&self, batch_size: usize, device: &Device) -> C::State {
        self.cell.zero_state(batch_size, device)
    }
    fn step(&self, input: Tensor<2>, state: C::State) -> (Tensor<2>, C::State) {
        self.cell.step(input, state)
    }
}

/// `x [B, T, F]` with the first `lengths[b]` steps of each example reversed (all T without
/// lengths), built by narrow/flip/cat per example: independent of the library's gather.
pub fn reverse_within(x: &Tensor<3>, lengths: Option<&[usize]>) -> Tensor<3> {
    let [b, t, _] = x.dims();
    let rows = (0..b)
        .map(|r| {
            let row = x.clone().narrow(0, r, 1);
            let l = lengths.map_or(t, |l| l[r]);
            match l {
                0 => row,
                l if l == t => row.flip([1]),
                l => Tensor::cat(
                    vec![
                        row.clone().narrow(1, 0, l).flip([1]),
                        row.narrow(1, l, t - l),
                    ],
                    1,
                ),
            }
        })
        .collect();
    Tensor::cat(rows, 0)
}

/// `[B, T, O] -> [B, 1, O]`: each example's output at step `lengths[b] - 1` (zeros for length
/// 0), by narrow/cat per example: independent of the library's last-output code.
pub fn last_within(outputs: &Tensor<3>, lengths: Option<&[usize]>) -> Tensor<3> {
    let [b, t, o] = outputs.dims();
    let rows = (0..b)
        .map(|r| match lengths.map_or(t, |l| l[r]) {
            0 => Tensor::zeros([1, 1, o], &outputs.device()),
            l => outputs.clone().narrow(0, r, 1).narrow(1, l - 1, 1),
        })
        .collect();
    Tensor::cat(rows, 0)
}

/// `lengths` as the `[B]` tensor the unrolls take.
pub fn length_tensor(lengths: &[usize], dev: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = lengths.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(v, [lengths.len()]), dev)
}

/// The per-step reference: `dynamic_rnn` over [`NoFuse`], with the inputs (and outputs)
/// reversed within each length by [`reverse_within`] for a reverse run.
pub fn per_step_reference<C: RnnCell>(
    cell: &C,
    x: Tensor<3>,
    h0: C::State,
    lengths: Option<&[usize]>,
    reverse: bool,
) -> (Tensor<3>, C::State) {
    let dev = x.device();
    let no_fuse = NoFuse { cell: cell.clone() };
    let lens = lengths.map(|l| length_tensor(l, &dev));
    if !reverse {
        return dynamic_rnn(&no_fuse, x, Some(h0), lens).unwrap();
    }
    let (out, state) = dynamic_rnn(&no_fuse, reverse_within(&x, lengths), Some(h0), lens).unwrap();
    (reverse_within(&out, lengths), state)
}

/// Every tensor of a state, rebuilt one by one (`RnnState::map_droppable` skips LSTM's `c`):
/// the cases give each initial-state tensor random values and a gradient.
pub trait StateTensors: Sized {
    /// The state with tensor `k` (in `RnnState::tensors` order) replaced by `f(k, tensor)`.
    fn map_each(self, f: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>) -> Self;
}

impl StateTensors for Tensor<2> {
    fn map_each(self, f: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>) -> Self {
        f(0, self)
    }
}

impl StateTensors for LstmState {
    fn map_each(self, f: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>) -> Self {
        LstmState {
            c: f(0, self.c),
            h: f(1, self.h),
        }
    }
}

impl<S: StateTensors> StateTensors for rnn_core::DropoutState<S> {
    fn map_each(self, f: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>) -> Self {
        rnn_core::DropoutState {
            inner: self.inner.map_each(f),
            noise: self.noise,
        }
    }
}

impl<S: StateTensors> StateTensors for Vec<S> {
    fn map_each(self, f: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>) -> Self {
        let mut offset = 0;
        self.into_iter()
            .map(|s| {
                let mut count = 0;
                let s = s.map_each(&mut |k, t| {
                    count = count.max(k + 1);
                    f(offset + k, t)
                });
                offset += count;
                s
            })
            .collect()
    }
}

impl<C: RnnCell> Case<C>
where
    C::State: StateTensors,
{
    pub fn new(cell: C, b: usize, t: usize, dev: &Device) -> Self {
        let x = normal([b, t, cell.input_size()], dev);
        let h0 = cell
            .zero_state(b, dev)
            .map_each(&mut |_, s| normal(s.dims(), dev) * 0.5);
        let r_state = h0.tensors().iter().map(|s| normal(s.dims(), dev)).collect();
        let r_out = normal([b, t, cell.output_size()], dev);
        Self {
            cell,
            x,
            h0,
            r_out,
            r_state,
            lengths: None,
            reverse: false,
            last_only: false,
        }
    }

    /// The same case asking for only each example's last valid output.
    pub fn last_output_only(mut self) -> Self {
        self.last_only = true;
        self.r_out = self.r_out.narrow(1, 0, 1);
        self
    }

    /// The same case run with `lengths` and in direction `reverse`.
    pub fn with_plan(mut self, lengths: Option<Vec<usize>>, reverse: bool) -> Self {
        self.lengths = lengths;
        self.reverse = reverse;
        self
    }

    /// The plan of this case's run.
    pub fn plan(&self) -> SequencePlan {
        let [b, t, _] = self.x.dims();
        let lens = self
            .lengths
            .as_ref()
            .map(|l| length_tensor(l, &self.x.device()));
        let plan = SequencePlan::new(lens, b, t, self.reverse).unwrap();
        match self.last_only {
            true => plan.last_output_only(),
            false => plan,
        }
    }

    /// The same case on another device (cell forked, every tensor moved).
    pub fn to_device(&self, dev: &Device) -> Self {
        Self {
            cell: self.cell.clone().fork(dev),
            x: self.x.clone().to_device(dev),
            h0: self.h0.clone().map_each(&mut |_, s| s.to_device(dev)),
            r_out: self.r_out.clone().to_device(dev),
            r_state: self
                .r_state
                .iter()
                .map(|r| r.clone().to_device(dev))
                .collect(),
            lengths: self.lengths.clone(),
            reverse: self.reverse,
            last_only: self.last_only,
        }
    }

    pub fn loss(&self, outputs: Tensor<3>, state: &C::State) -> Tensor<1> {
        let mut loss = (outputs * self.r_out.clone()).sum();
        for (s, r) in state.tensors().into_iter().zip(&self.r_state) {
            loss = loss + (s * r.clone()).sum();
        }
        loss
    }

    pub fn run(&self, fused: bool) -> Run {
        let x = self.x.clone().detach().require_grad();
        let h0 = self
            .h0
            .clone()
            .map_each(&mut |_, s| s.detach().require_grad());
        let (outputs, state) = if fused {
            self.cell
                .fused_sequence(&x, &h0, &self.plan())
                .expect("this cell has a fused path")
        } else {
            let (outputs, state) = per_step_reference(
                &self.cell,
                x.clone(),
                h0.clone(),
                self.lengths.as_deref(),
                self.reverse,
            );
            match self.last_only {
                true => (last_within(&outputs, self.lengths.as_deref()), state),
                false => (outputs, state),
            }
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
pub fn assert_near(what: &str, fused: &[f32], reference: &[f32]) {
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

pub fn compare<C: RnnCell<State: StateTensors>>(name: &str, case: &Case<C>) {
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

// ---------------------------------------------------------------- finite differences

pub const EPS: f32 = 1e-2;

pub fn shifted<const D: usize>(t: &Tensor<D>, index: usize, delta: f32) -> Tensor<D> {
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
pub fn check_fd(
    what: &str,
    kinks: bool,
    autodiff: f32,
    (plus, zero, minus): (f64, f64, f64),
) -> bool {
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

/// Central differences of the fused loss (the case's plan: lengths, direction) against the
/// fused gradients: a spread of coordinates of every parameter, of x and of every initial-state
/// tensor. A cell without a fused path ([`NoFuse`]) is checked on the per-step path.
pub fn fd_check<C: RnnCell<State: StateTensors>>(name: &str, kinks: bool, case: &Case<C>) {
    let plan = case.plan();
    let has_fused = case.cell.fused_sequence(&case.x, &case.h0, &plan).is_some();
    let fused = case.run(has_fused);
    let loss_of = |cell: &C, x: Tensor<3>, h0: C::State| -> f64 {
        let (out, state) = match cell.fused_sequence(&x, &h0, &plan) {
            Some(run) => run,
            None => per_step_reference(cell, x, h0, case.lengths.as_deref(), case.reverse),
        };
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
    for (k, dh0) in fused.dh0.iter().enumerate() {
        for j in 0..4 {
            let index = (j * 5 + 1) % dh0.len();
            let at = |d| {
                let h0 = case.h0.clone().map_each(&mut |m, s| {
                    if m == k { shifted(&s, index, d) } else { s }
                });
                loss_of(&case.cell, case.x.clone(), h0)
            };
            total += 1;
            checked += check_fd(
                &format!("{name} state {k}[{index}]"),
                kinks,
                dh0[index],
                (at(EPS), at(0.0), at(-EPS)),
            ) as usize;
        }
    }
    // Smooth activations check every coordinate; relu at least half (on these small random
    // cases a step of EPS crosses some kink for up to a third of the coordinates).
    assert!(
        checked * 2 >= total,
        "{name}: only {checked} of {total} coordinates away from a kink"
    );
}
