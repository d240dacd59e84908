//! The decoder loop (`rnn_core::Decoder`) against references written independently of it:
//! teacher forcing against `dynamic_rnn` over the same inputs, greedy feedback against a loop
//! of `cell.step` written here, scheduled sampling at p = 0 and p = 1 against those two, the
//! stop contract example by example, gradients against finite differences, every cell and
//! wrapper, and every argument check.

mod common;

use std::cell::Cell;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Gradients, Tensor, TensorData};
use common::cases::normal;
use common::{perturbed, values};
use rnn_core::{
    Activation, BasicRnnCell, BasicRnnCellConfig, Decoder, GruCellConfig, LstmCellConfig,
    MultiRnnCell, OutputProjectionWrapper, OutputProjectionWrapperConfig, RnnCell, RnnError,
    RnnState, dynamic_rnn,
};

const B: usize = 3;
const N: usize = 4;
const I: usize = 2;

fn device() -> Device {
    rnn_core::device::default_device().unwrap()
}

#[track_caller]
fn assert_close<const D: usize>(what: &str, a: &Tensor<D>, b: &Tensor<D>, tol: f32) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let (a, b) = (values(a), values(b));
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(d <= tol, "{what}: max |a - b| = {d} > {tol}\n{a:?}\n{b:?}");
}

#[track_caller]
fn assert_states_close<S: RnnState>(what: &str, a: &S, b: &S, tol: f32) {
    let (a, b) = (a.tensors(), b.tensors());
    assert_eq!(a.len(), b.len(), "{what}: number of state tensors");
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_close(&format!("{what}: state tensor {k}"), x, y, tol);
    }
}

/// A fixed `[O, I]` matrix: the feedback `y -> y W` for cells whose O is not I.
fn feedback_weight<C: RnnCell>(cell: &C, dev: &Device) -> Tensor<2> {
    normal([cell.output_size(), cell.input_size()], dev).mul_scalar(0.5)
}

/// The greedy loop written out: x_0 = first, (y_t, s) = step(x_t, s), x_{t+1} = y_t W.
fn hand_greedy<C: RnnCell>(
    cell: &C,
    first: Tensor<2>,
    w: &Tensor<2>,
    state: C::State,
    n: usize,
) -> (Tensor<3>, C::State) {
    let (mut x, mut s) = (first, state);
    let mut ys = Vec::new();
    for _ in 0..n {
        let (y, s2) = cell.step(x, s);
        x = y.clone().matmul(w.clone());
        s = s2;
        ys.push(y);
    }
    (Tensor::stack(ys, 1), s)
}

/// A random initial state of the cell's shape, batch B (an LSTM's `c` stays zero: it is not
/// among the "droppable" tensors that `map_droppable` visits).
fn random_state<C: RnnCell>(cell: &C, dev: &Device) -> C::State {
    cell.zero_state(B, dev)
        .map_droppable(&mut |t| normal(t.dims(), dev))
}

/// Teacher forcing (the one-sequence path and the step loop), greedy feedback and scheduled
/// sampling at p = 0 and p = 1 for one cell.
fn check_cell<C: RnnCell>(name: &str, cell: C) {
    let dev = device();
    let inputs = normal([B, N + 1, I], &dev); // one step more than decoded: ignored
    let state = random_state(&cell, &dev);
    let (want, want_state) = dynamic_rnn(
        &cell,
        inputs.clone().narrow(1, 0, N),
        Some(state.clone()),
        None,
    )
    .unwrap();
    let never = |y: &Tensor<2>| {
        let n = y.dims()[0];
        Tensor::<1, Bool>::from_data(TensorData::new(vec![false; n], [n]), &y.device())
    };
    for (how, decoder) in [
        ("teacher", Decoder::teacher_forced(inputs.clone(), N)),
        (
            "teacher, step loop",
            Decoder::teacher_forced(inputs.clone(), N).with_stop(never),
        ),
    ] {
        let got = decoder.run(&cell, Some(state.clone())).unwrap();
        assert_close(&format!("{name} {how}"), &got.outputs, &want, 1e-5);
        assert_states_close(&format!("{name} {how}"), &got.state, &want_state, 1e-5);
        assert_eq!(got.lengths, vec![N; B]);
    }

    let w = feedback_weight(&cell, &dev);
    let first = inputs.clone().narrow(1, 0, 1).reshape([B, I]);
    let (greedy, greedy_state) = hand_greedy(&cell, first.clone(), &w, state.clone(), N);
    let feedback = |y: &Tensor<2>| y.clone().matmul(w.clone());
    let got = Decoder::greedy(first, N)
        .with_feedback(feedback)
        .run(&cell, Some(state.clone()))
        .unwrap();
    assert_close(&format!("{name} greedy"), &got.outputs, &greedy, 1e-5);
    assert_states_close(&format!("{name} greedy"), &got.state, &greedy_state, 1e-5);

    for (p, outputs, final_state) in [(0.0, &want, &want_state), (1.0, &greedy, &greedy_state)] {
        let got = Decoder::scheduled_sampling(inputs.clone(), N, p, 7)
            .with_feedback(feedback)
            .run(&cell, Some(state.clone()))
            .unwrap();
        assert_close(
            &format!("{name} sampling p = {p}"),
            &got.outputs,
            outputs,
            1e-5,
        );
        assert_states_close(
            &format!("{name} sampling p = {p}"),
            &got.state,
            final_state,
            1e-5,
        );
    }
}

#[test]
fn every_cell_and_wrapper_decodes_as_the_references() {
    let dev = device();
    check_cell("basic", BasicRnnCellConfig::new(I, 5).init(&dev).unwrap());
    check_cell("lstm", LstmCellConfig::new(I, 5).init(&dev).unwrap());
    check_cell("gru", GruCellConfig::new(I, 5).init(&dev).unwrap());
    check_cell(
        "multi",
        MultiRnnCell::new(vec![
            LstmCellConfig::new(I, 4).init(&dev).unwrap(),
            LstmCellConfig::new(4, 3).init(&dev).unwrap(),
        ])
        .unwrap(),
    );
    let projected = OutputProjectionWrapperConfig::new(I)
        .init(GruCellConfig::new(I, 6).init(&dev).unwrap(), &dev)
        .unwrap();
    check_cell("projection", projected.clone());

    // O = I: the identity feedback, from the cell's zero state.
    let first = normal([B, I], &dev);
    let (want, _) = hand_greedy(
        &projected,
        first.clone(),
        &Tensor::eye(I, &dev),
        projected.zero_state(B, &dev),
        N,
    );
    let got = Decoder::greedy(first, N)
        .with_feedback(|y| y.clone())
        .run(&projected, None)
        .unwrap();
    assert_close("projection, identity feedback", &got.outputs, &want, 1e-5);
}

#[test]
fn scheduled_sampling_chooses_per_example_and_is_reproducible() {
    let dev = device();
    let batch = 400;
    let cell = BasicRnnCellConfig::new(I, 4).init(&dev).unwrap();
    let w = feedback_weight(&cell, &dev);
    let inputs = normal([batch, 2, I], &dev);
    let run = |p: f64, seed: u64| {
        Decoder::scheduled_sampling(inputs.clone(), 2, p, seed)
            .with_feedback(|y| y.clone().matmul(w.clone()))
            .run(&cell, None)
            .unwrap()
            .outputs
    };
    let (teacher, fed) = (run(0.0, 0), run(1.0, 0));
    let mixed = run(0.3, 11);
    assert_close("same seed", &mixed, &run(0.3, 11), 0.0);
    assert!(
        values(&mixed) != values(&run(0.3, 12)),
        "another seed, other choices"
    );
    // Step 0 is always given; at step 1 each example's output is the teacher-forced or the
    // fed-back one, chosen about 30% of the time (400 draws: 120 +- 4 sd is 92..148).
    // (Teacher forcing at p = 0 runs the fused path: equal up to rounding.)
    let step = |x: &Tensor<3>, t: usize| values(&x.clone().narrow(1, t, 1));
    let near = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(
        near(&step(&mixed, 0), &step(&teacher, 0)),
        "step 0 is given"
    );
    let (m, t, f) = (step(&mixed, 1), step(&teacher, 1), step(&fed, 1));
    let mut n_fed = 0;
    for b in 0..batch {
        let row = |v: &[f32]| v[b * 4..(b + 1) * 4].to_vec();
        if near(&row(&m), &row(&f)) && !near(&row(&m), &row(&t)) {
            n_fed += 1;
        } else {
            assert!(
                near(&row(&m), &row(&t)),
                "example {b}: neither teacher nor feedback"
            );
        }
    }
    assert!(
        (92..=148).contains(&n_fed),
        "{n_fed} of {batch} fed back at p = 0.3"
    );
}

/// A stop function that answers from a script, one `[B]` mask per call, and counts its calls.
fn scripted(
    script: Vec<[bool; B]>,
    calls: &Cell<usize>,
) -> impl Fn(&Tensor<2>) -> Tensor<1, Bool> + '_ {
    move |y: &Tensor<2>| {
        let k = calls.get();
        calls.set(k + 1);
        let mask = script.get(k).copied().unwrap_or([false; B]);
        Tensor::from_data(TensorData::new(mask.to_vec(), [B]), &y.device())
    }
}

#[test]
fn stopped_examples_emit_zeros_and_keep_their_state() {
    let dev = device();
    let cell = LstmCellConfig::new(I, 3).init(&dev).unwrap();
    let w = feedback_weight(&cell, &dev);
    let first = normal([B, I], &dev);
    let feedback = |y: &Tensor<2>| y.clone().matmul(w.clone());
    let run = |n: usize, stop: Option<Vec<[bool; B]>>, calls: &Cell<usize>| {
        let d = Decoder::greedy(first.clone(), n).with_feedback(feedback);
        match stop {
            Some(script) => d.with_stop(scripted(script, calls)),
            None => d,
        }
        .run(&cell, None)
        .unwrap()
    };
    let calls = Cell::new(0);
    let free = run(N, None, &calls);
    // Example 1 stops after step 0, example 0 after step 2 (a later `true` changes nothing),
    // example 2 never.
    let script = vec![
        [false, true, false],
        [false, false, false],
        [true, true, false],
    ];
    let got = run(N, Some(script), &calls);
    assert_eq!(got.lengths, vec![3, 1, N]);
    assert_eq!(calls.get(), N);
    for (b, &len) in got.lengths.iter().enumerate() {
        let row = |x: &Tensor<3>| x.clone().narrow(0, b, 1);
        assert_close(
            &format!("example {b}: emitted steps"),
            &row(&got.outputs).narrow(1, 0, len),
            &row(&free.outputs).narrow(1, 0, len),
            1e-6,
        );
        if len < N {
            let rest = values(&row(&got.outputs).narrow(1, len, N - len));
            assert!(rest.iter().all(|&v| v == 0.0), "example {b}: {rest:?}");
        }
        // Its final state: the state after its last emitted step, from a run of that length.
        let alone = run(len, None, &calls);
        assert_states_close(
            &format!("example {b}: state"),
            &got.state.slice_batch(b..b + 1),
            &alone.state.slice_batch(b..b + 1),
            1e-6,
        );
    }

    // All stopped after step 1: the loop ends there, the rest is zeros.
    let calls = Cell::new(0);
    let got = run(
        N,
        Some(vec![[true, false, false], [false, true, true]]),
        &calls,
    );
    assert_eq!(
        calls.get(),
        2,
        "the loop ran past the step where every example had stopped"
    );
    assert_eq!(got.lengths, vec![1, 2, 2]);
    assert_eq!(got.outputs.dims(), [B, N, 3]);
    assert!(
        values(&got.outputs.narrow(1, 2, N - 2))
            .iter()
            .all(|&v| v == 0.0)
    );

    // A stop from the outputs themselves: the first output above its threshold.
    let threshold = values(&free.outputs.clone().narrow(1, 1, 1).narrow(2, 0, 1))[0];
    let got = Decoder::greedy(first.clone(), N)
        .with_feedback(feedback)
        .with_stop(|y| {
            y.clone()
                .narrow(1, 0, 1)
                .reshape([B])
                .greater_equal_elem(threshold)
        })
        .run(&cell, None)
        .unwrap();
    assert!(got.lengths[0] <= 2, "{:?}", got.lengths);
}

/// Every float parameter's values and gradient, in visit order.
struct Grads<'a> {
    grads: &'a Gradients,
    out: Vec<(Vec<f32>, Vec<f32>)>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let grad = value
            .grad(self.grads)
            .expect("every parameter gets a gradient");
        self.out.push((values(&value), values(&grad)));
    }
}

type Projected = OutputProjectionWrapper<BasicRnnCell>;

/// Finite differences of `L = Σ outputs ⊙ R + Σ state ⊙ S` through each kind of run.
#[test]
fn gradients_match_finite_differences() {
    const EPS: f32 = 1e-2;
    let dev = device().autodiff();
    // Every weight from this thread's deterministic draws, not the device RNG: the "stop" run
    // is discontinuous where an example's first output is within an EPS shift of its threshold, and with
    // random weights one run in ~30 put an example there.
    let base = BasicRnnCell::from_weights(
        normal([I, 3], &dev) * 0.7,
        normal([3, 3], &dev) * 0.5,
        normal([3], &dev) * 0.1,
        Activation::Tanh,
    )
    .unwrap();
    let projection = Linear {
        weight: Param::from_tensor(normal([3, I], &dev) * 0.7),
        bias: Some(Param::from_tensor(normal([I], &dev) * 0.1)),
    };
    let cell = OutputProjectionWrapper::new(base, projection).unwrap();
    let inputs = normal([B, N, I], &dev);
    let r_out = normal([B, N, I], &dev);
    let r_state = normal([B, 3], &dev);
    type Run<'a> = Box<dyn Fn(&Tensor<3>) -> Decoder<'a> + 'a>;
    let runs: Vec<(&str, Run)> = vec![
        (
            "teacher",
            Box::new(|x: &Tensor<3>| Decoder::teacher_forced(x.clone(), N)),
        ),
        (
            "greedy",
            Box::new(|x: &Tensor<3>| {
                Decoder::greedy(x.clone().narrow(1, 0, 1).reshape([B, I]), N)
                    .with_feedback(|y| y.clone().tanh())
            }),
        ),
        (
            "sampling p = 0.5",
            Box::new(|x: &Tensor<3>| {
                Decoder::scheduled_sampling(x.clone(), N, 0.5, 3)
                    .with_feedback(|y| y.clone().tanh())
            }),
        ),
        (
            "stop",
            Box::new(|x: &Tensor<3>| {
                Decoder::teacher_forced(x.clone(), N).with_stop(|y| {
                    // Stops the examples whose first output is above 0.4: with these draws
                    // one example at the first step, the others (0.14 and 0.20 there) never
                    // (the premise is checked below), and no EPS shift moves one across.
                    y.clone().narrow(1, 0, 1).reshape([B]).greater_elem(0.4)
                })
            }),
        ),
    ];
    for (name, make) in &runs {
        let loss = |c: &Projected, x: &Tensor<3>| -> Tensor<1> {
            let d = make(x).run(c, None).unwrap();
            (d.outputs * r_out.clone()).sum() + (d.state * r_state.clone()).sum()
        };
        if *name == "stop" {
            // The premise: these draws stop some examples early and run others to the end.
            let lengths = make(&inputs).run(&cell, None).unwrap().lengths;
            assert!(
                lengths.iter().any(|&l| l < N) && lengths.contains(&N),
                "{lengths:?}"
            );
        }
        let x = inputs.clone().require_grad();
        let grads = loss(&cell, &x).backward();
        let x_grad = values(&x.grad(&grads).unwrap());
        let mut collect = Grads {
            grads: &grads,
            out: Vec::new(),
        };
        cell.visit(&mut collect);
        let value = |c: &Projected, x: &Tensor<3>| values(&loss(c, x))[0] as f64;
        let check = |what: String, autodiff: f32, numeric: f64| {
            let tol = 2e-3 + 2e-2 * numeric.abs();
            assert!(
                (autodiff as f64 - numeric).abs() <= tol,
                "{name}: {what}: autodiff {autodiff} vs finite difference {numeric}"
            );
        };
        for (k, (vals, grad)) in collect.out.iter().enumerate() {
            for j in 0..4.min(vals.len()) {
                let index = (j * 7 + k) % vals.len();
                let numeric = (value(&perturbed(&cell, k, index, EPS), &inputs)
                    - value(&perturbed(&cell, k, index, -EPS), &inputs))
                    / (2.0 * EPS as f64);
                check(format!("param {k}[{index}]"), grad[index], numeric);
            }
        }
        let xv = values(&inputs);
        let mut nonzero = 0;
        for index in 0..xv.len() {
            let shifted = |d: f32| {
                let mut v = xv.clone();
                v[index] += d;
                Tensor::<3>::from_data(TensorData::new(v, [B, N, I]), &dev)
            };
            let numeric =
                (value(&cell, &shifted(EPS)) - value(&cell, &shifted(-EPS))) / (2.0 * EPS as f64);
            check(format!("input[{index}]"), x_grad[index], numeric);
            nonzero += usize::from(x_grad[index] != 0.0);
        }
        assert!(nonzero > 0, "{name}: no gradient reached the inputs");
    }
}

#[test]
fn bad_arguments_are_named() {
    let dev = device();
    let cell = BasicRnnCellConfig::new(I, 3).init(&dev).unwrap();
    let inputs = normal([B, N, I], &dev);
    let first = normal([B, I], &dev);
    let id = |y: &Tensor<2>| y.clone();
    let to_i = |y: &Tensor<2>| y.clone().narrow(1, 0, I);
    let arg = |r: Result<_, RnnError>| match r {
        Err(RnnError::InvalidArgument {
            arg,
            expected,
            actual,
        }) => {
            format!("{arg}: expected {expected}, got {actual}")
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("accepted"),
    };
    let cases: Vec<(String, &str)> = vec![
        (
            arg(Decoder::greedy(first.clone(), 0)
                .with_feedback(to_i)
                .run(&cell, None)),
            "n_steps: expected at least 1, got 0",
        ),
        (
            arg(Decoder::greedy(normal([B, 3], &dev), N)
                .with_feedback(to_i)
                .run(&cell, None)),
            "first_input: expected [B, I] with I = 2",
        ),
        (
            arg(Decoder::teacher_forced(inputs.clone(), N + 1).run(&cell, None)),
            "inputs: expected [B, T, 2] with T >= n_steps = 5, got [3, 4, 2]",
        ),
        (
            arg(Decoder::teacher_forced(normal([B, N, 3], &dev), N).run(&cell, None)),
            "inputs: expected [B, T, I] with I = 2",
        ),
        (
            arg(Decoder::scheduled_sampling(inputs.clone(), N, 1.5, 0)
                .with_feedback(to_i)
                .run(&cell, None)),
            "sampling_probability: expected a probability in [0, 1], got 1.5",
        ),
        (
            arg(Decoder::scheduled_sampling(inputs.clone(), N, -0.1, 0)
                .with_feedback(to_i)
                .run(&cell, None)),
            "sampling_probability: expected a probability in [0, 1], got -0.1",
        ),
        (
            arg(Decoder::scheduled_sampling(inputs.clone(), N, f64::NAN, 0)
                .with_feedback(to_i)
                .run(&cell, None)),
            "sampling_probability: expected a probability in [0, 1], got NaN",
        ),
        (
            arg(Decoder::greedy(first.clone(), N).run(&cell, None)),
            "feedback: expected a feedback function",
        ),
        (
            arg(Decoder::scheduled_sampling(inputs.clone(), N, 0.5, 0).run(&cell, None)),
            "feedback: expected a feedback function",
        ),
        (
            arg(Decoder::greedy(first.clone(), N)
                .with_feedback(id)
                .run(&cell, None)),
            "feedback: expected a function returning [3, 2] ([B, I], the cell's input_size), got [3, 3]",
        ),
        (
            arg(Decoder::teacher_forced(inputs.clone(), N)
                .with_stop(|y| {
                    y.clone()
                        .greater_elem(0.0)
                        .narrow(1, 0, 1)
                        .reshape([1, B])
                        .reshape([B])
                        .narrow(0, 0, 2)
                })
                .run(&cell, None)),
            "stop: expected a function returning a bool mask of shape [3] ([B]), got [2]",
        ),
        (
            arg(Decoder::teacher_forced(inputs.clone(), N)
                .run(&cell, Some(Tensor::zeros([B + 1, 3], &dev)))),
            "initial_state: expected 1 tensor(s) of shapes [3, 3]",
        ),
        (
            arg(Decoder::teacher_forced(inputs.clone(), N)
                .run(&cell, Some(Tensor::zeros([B, 4], &dev)))),
            "initial_state: expected 1 tensor(s) of shapes [3, 3]",
        ),
    ];
    for (message, want) in cases {
        assert!(
            message.starts_with(want),
            "{message}\n  should start with: {want}"
        );
    }
    // One step needs no feedback, and teacher forcing none at all.
    assert!(Decoder::greedy(first, 1).run(&cell, None).is_ok());
    assert!(Decoder::teacher_forced(inputs, N).run(&cell, None).is_ok());
}
