//! Lengths and direction on the fused path: every cell and wrapper with per-example lengths
//! (0 and T included) forward and reversed, against the per-step path (`NoFuse`: `step` per
//! time step, TF's masking, inputs reversed by narrow/flip/cat), every output, final state and
//! gradient; finite differences with lengths and reverse; the bidirectional functions against
//! their definition.

mod common;

use burn::tensor::{Device, Tensor};
use common::cases::{
    Case, Lcg, NoFuse, StateTensors, assert_near, compare, device, fd_check, length_tensor,
    ln_lstm, normal, projected, reverse_within,
};
use common::values;
use rnn_core::{
    Activation, BasicRnnCellConfig, DropoutWrapperConfig, GruCellConfig, LstmCellConfig,
    MultiRnnCell, OutputProjectionWrapperConfig, RnnCell, RnnState, SequencePlan,
    bidirectional_dynamic_rnn, dynamic_rnn, stack_bidirectional_dynamic_rnn,
    static_bidirectional_rnn,
};

/// Random lengths in `0..=t` with at least one 0 and one `t` (when `b >= 2`).
fn lengths(rng: &mut Lcg, b: usize, t: usize) -> Vec<usize> {
    let mut l: Vec<usize> = (0..b).map(|_| rng.below(t + 1)).collect();
    if b >= 2 {
        l[rng.below(b)] = 0;
        let k = (l.iter().position(|&v| v == 0).unwrap() + 1) % b;
        l[k] = t;
    }
    l
}

fn plans(rng: &mut Lcg, b: usize, t: usize) -> Vec<(Option<Vec<usize>>, bool)> {
    vec![
        (Some(lengths(rng, b, t)), false),
        (Some(lengths(rng, b, t)), true),
        (None, true),
        (Some(vec![t; b]), false),
    ]
}

fn name(cell: &str, plan: &(Option<Vec<usize>>, bool)) -> String {
    format!("{cell} lengths {:?} reverse {}", plan.0, plan.1)
}

#[test]
fn every_cell_matches_the_per_step_path_with_lengths_and_in_reverse() {
    let dev = device();
    let mut rng = Lcg(7);
    for round in 0..3 {
        let (b, t, i, h) = (
            1 + rng.below(6),
            1 + rng.below(7),
            1 + rng.below(5),
            1 + rng.below(6),
        );
        for plan in plans(&mut rng, b, t) {
            for activation in [Activation::Tanh, Activation::Relu] {
                let cell = BasicRnnCellConfig::new(i, h)
                    .with_activation(activation)
                    .init(&dev)
                    .unwrap();
                let case = Case::new(cell, b, t, &dev).with_plan(plan.0.clone(), plan.1);
                compare(
                    &name(&format!("{round} basic {activation:?}"), &plan),
                    &case,
                );
            }
            for forget_bias in [0.0, 1.0] {
                let cell = LstmCellConfig::new(i, h)
                    .with_forget_bias(forget_bias)
                    .init(&dev)
                    .unwrap();
                let case = Case::new(cell, b, t, &dev).with_plan(plan.0.clone(), plan.1);
                compare(
                    &name(&format!("{round} lstm fb {forget_bias}"), &plan),
                    &case,
                );
                let case = Case::new(ln_lstm(i, h, forget_bias, &dev), b, t, &dev)
                    .with_plan(plan.0.clone(), plan.1);
                compare(
                    &name(&format!("{round} ln-lstm fb {forget_bias}"), &plan),
                    &case,
                );
            }
            for reset_after in [false, true] {
                let cell = GruCellConfig::new(i, h)
                    .with_reset_after(reset_after)
                    .init(&dev)
                    .unwrap();
                let case = Case::new(cell, b, t, &dev).with_plan(plan.0.clone(), plan.1);
                compare(
                    &name(&format!("{round} gru ra {reset_after}"), &plan),
                    &case,
                );
            }
        }
    }
}

#[test]
fn wrappers_and_stacks_match_the_per_step_path_with_lengths_and_in_reverse() {
    let dev = device();
    let mut rng = Lcg(11);
    let (b, t) = (5, 6);
    for plan in plans(&mut rng, b, t) {
        let lstm = LstmCellConfig::new(3, 4).init(&dev).unwrap();
        let projection = OutputProjectionWrapperConfig::new(2)
            .init(lstm, &dev)
            .unwrap();
        let case = Case::new(projection, b, t, &dev).with_plan(plan.0.clone(), plan.1);
        compare(&name("projection(lstm)", &plan), &case);

        let layers = vec![
            GruCellConfig::new(3, 4).init(&dev).unwrap(),
            GruCellConfig::new(4, 5)
                .with_reset_after(true)
                .init(&dev)
                .unwrap(),
        ];
        let stack = MultiRnnCell::new(layers).unwrap();
        let case = Case::new(stack, b, t, &dev).with_plan(plan.0.clone(), plan.1);
        compare(&name("stack(gru)", &plan), &case);

        // H of 8 and 6: a layer norm over fewer units has rows of tiny variance, whose 1/std
        // amplifies f32 rounding (see `ln_lstm` on the epsilon). Every weight comes from the
        // deterministic draws, so this case is the same every run.
        let stack =
            MultiRnnCell::new(vec![ln_lstm(3, 8, 1.0, &dev), ln_lstm(8, 6, 0.0, &dev)]).unwrap();
        let projection = projected(stack, 2, &dev);
        let case = Case::new(projection, b, t, &dev).with_plan(plan.0.clone(), plan.1);
        assert!(
            case.cell
                .fused_sequence(&case.x, &case.h0, &case.plan())
                .is_some()
        );
        compare(&name("projection(stack(ln-lstm))", &plan), &case);

        // keep = 1: the wrapper is the identity and takes its cell's fused path.
        let cell = BasicRnnCellConfig::new(3, 4).init(&dev).unwrap();
        let dropout = DropoutWrapperConfig::new().init(cell).unwrap();
        let case = Case::new(dropout, b, t, &dev).with_plan(plan.0.clone(), plan.1);
        assert!(
            case.cell
                .fused_sequence(&case.x, &case.h0, &case.plan())
                .is_some()
        );
        compare(&name("dropout keep 1 (basic)", &plan), &case);
    }
}

fn last<C: RnnCell<State: StateTensors>>(
    case: Case<C>,
    plan: &(Option<Vec<usize>>, bool),
) -> Case<C> {
    case.with_plan(plan.0.clone(), plan.1).last_output_only()
}

/// A plan asking for only the last valid output: the fused path returns `[B, 1, O]` (each
/// example's output at input time `len - 1`, zeros for length 0) and its gradients, for every
/// cell and wrapper, forward and reversed, against the per-step path's outputs narrowed per
/// example.
#[test]
fn the_last_output_only_plan_gives_each_examples_last_valid_output() {
    let dev = device();
    let mut rng = Lcg(5);
    let (b, t, i) = (6, 5, 3);
    for plan in plans(&mut rng, b, t) {
        let basic = BasicRnnCellConfig::new(i, 4)
            .with_activation(Activation::Relu)
            .init(&dev)
            .unwrap();
        compare(
            &name("last basic", &plan),
            &last(Case::new(basic, b, t, &dev), &plan),
        );
        let lstm = LstmCellConfig::new(i, 4).init(&dev).unwrap();
        compare(
            &name("last lstm", &plan),
            &last(Case::new(lstm, b, t, &dev), &plan),
        );
        let gru = GruCellConfig::new(i, 4)
            .with_reset_after(true)
            .init(&dev)
            .unwrap();
        compare(
            &name("last gru", &plan),
            &last(Case::new(gru, b, t, &dev), &plan),
        );
        let lstm = LstmCellConfig::new(i, 4).init(&dev).unwrap();
        let projection = OutputProjectionWrapperConfig::new(2)
            .init(lstm, &dev)
            .unwrap();
        let case = last(Case::new(projection, b, t, &dev), &plan);
        compare(&name("last projection(lstm)", &plan), &case);
        let layers = vec![
            BasicRnnCellConfig::new(i, 4).init(&dev).unwrap(),
            BasicRnnCellConfig::new(4, 5).init(&dev).unwrap(),
        ];
        let stack = MultiRnnCell::new(layers).unwrap();
        let case = last(Case::new(stack, b, t, &dev), &plan);
        let (out, _) = case
            .cell
            .fused_sequence(&case.x, &case.h0, &case.plan())
            .unwrap();
        assert_eq!(
            out.dims(),
            [b, 1, 5],
            "the stack's top layer writes the last only"
        );
        compare(&name("last stack(basic)", &plan), &case);
    }
}

/// The untracked forward of `case` (on the plain device: the kernel's one-block buffers)
/// against its tracked forward (the whole-sequence buffers a backward reads).
fn untracked_matches<C: RnnCell<State: StateTensors>>(name: &str, case: &Case<C>) {
    let tracked = case.run(true);
    let cell = case.cell.valid();
    let x = case.x.clone().inner();
    let h0 = case.h0.clone().map_each(&mut |_, s| s.inner());
    assert!(!x.device().is_autodiff());
    let (out, state) = cell
        .fused_sequence(&x, &h0, &case.plan())
        .expect("a fused path on the plain device");
    assert_near(&format!("{name} outputs"), &values(&out), &tracked.outputs);
    for (k, (s, r)) in state.tensors().iter().zip(&tracked.state).enumerate() {
        assert_near(&format!("{name} state {k}"), &values(s), r);
    }
}

/// `case` under `plan`, asking for the last output only when `last_only`.
fn planned<C: RnnCell<State: StateTensors>>(
    case: Case<C>,
    plan: &(Option<Vec<usize>>, bool),
    last_only: bool,
) -> Case<C> {
    let case = case.with_plan(plan.0.clone(), plan.1);
    match last_only {
        true => case.last_output_only(),
        false => case,
    }
}

/// A call with nothing to differentiate runs the forward step by step in one block's buffers
/// instead of the whole sequence's: the same outputs and final states as the tracked forward,
/// for every cell, with lengths (0 and T), reversed, all outputs or only the last.
#[test]
fn an_untracked_forward_matches_the_tracked_one() {
    let dev = device();
    let mut rng = Lcg(11);
    let (b, t, i, h) = (7, 6, 3, 5);
    for plan in plans(&mut rng, b, t) {
        for last_only in [false, true] {
            let tag = |cell: &str| format!("{} last_only {last_only}", name(cell, &plan));
            let basic = BasicRnnCellConfig::new(i, h)
                .with_activation(Activation::Relu)
                .init(&dev)
                .unwrap();
            let case = planned(Case::new(basic, b, t, &dev), &plan, last_only);
            untracked_matches(&tag("basic"), &case);
            let lstm = LstmCellConfig::new(i, h).init(&dev).unwrap();
            let case = planned(Case::new(lstm, b, t, &dev), &plan, last_only);
            untracked_matches(&tag("lstm"), &case);
            let case = planned(
                Case::new(ln_lstm(i, h, 1.0, &dev), b, t, &dev),
                &plan,
                last_only,
            );
            untracked_matches(&tag("ln-lstm"), &case);
            for reset_after in [false, true] {
                let gru = GruCellConfig::new(i, h)
                    .with_reset_after(reset_after)
                    .init(&dev)
                    .unwrap();
                let case = planned(Case::new(gru, b, t, &dev), &plan, last_only);
                untracked_matches(&tag(&format!("gru ra {reset_after}")), &case);
            }
        }
    }
}

#[test]
fn the_books_mnist_shape_with_uniform_lengths_stays_close() {
    let dev = device();
    let mut rng = Lcg(3);
    let lens: Vec<usize> = (0..150).map(|_| 1 + rng.below(28)).collect();
    let cell = LstmCellConfig::new(28, 150).init(&dev).unwrap();
    let case = Case::new(cell, 150, 28, &dev).with_plan(Some(lens.clone()), true);
    compare("lstm B150 T28 H150 reverse", &case);
    let cell = BasicRnnCellConfig::new(28, 150).init(&dev).unwrap();
    let case = Case::new(cell, 150, 28, &dev).with_plan(Some(lens.clone()), false);
    compare("basic B150 T28 H150", &case);
    let case = Case::new(ln_lstm(28, 150, 1.0, &dev), 150, 28, &dev).with_plan(Some(lens), true);
    compare("ln-lstm B150 T28 H150 reverse", &case);
}

#[test]
fn gradients_with_lengths_and_reverse_match_finite_differences() {
    let dev = device();
    let lens = Some(vec![4, 0, 2, 5]);
    for reverse in [false, true] {
        let cell = LstmCellConfig::new(3, 4).init(&dev).unwrap();
        fd_check(
            &format!("lstm reverse {reverse}"),
            false,
            &Case::new(cell, 4, 5, &dev).with_plan(lens.clone(), reverse),
        );
        let cell = ln_lstm(3, 8, 1.0, &dev);
        fd_check(
            &format!("ln-lstm reverse {reverse}"),
            false,
            &Case::new(cell.clone(), 4, 5, &dev).with_plan(lens.clone(), reverse),
        );
        fd_check(
            &format!("ln-lstm per-step reverse {reverse}"),
            false,
            &Case::new(NoFuse { cell }, 4, 5, &dev).with_plan(lens.clone(), reverse),
        );
        for reset_after in [false, true] {
            let cell = GruCellConfig::new(3, 4)
                .with_reset_after(reset_after)
                .init(&dev)
                .unwrap();
            fd_check(
                &format!("gru ra {reset_after} reverse {reverse}"),
                false,
                &Case::new(cell, 4, 5, &dev).with_plan(lens.clone(), reverse),
            );
        }
        let cell = BasicRnnCellConfig::new(3, 4).init(&dev).unwrap();
        fd_check(
            &format!("basic reverse {reverse}"),
            false,
            &Case::new(cell, 4, 5, &dev).with_plan(lens.clone(), reverse),
        );
    }
}

fn assert_same(what: &str, a: &Tensor<3>, b: &Tensor<3>) {
    common::cases::assert_near(what, &values(a), &values(b));
}

/// `bidirectional_dynamic_rnn` is, by definition, the forward cell over the inputs and the
/// backward cell over each example reversed within its length, its outputs reversed back.
#[test]
fn bidirectional_dynamic_rnn_is_forward_plus_reversed_backward() {
    let dev: Device = device();
    let (b, t) = (4, 5);
    let lens = vec![5, 0, 3, 1];
    let fw = LstmCellConfig::new(3, 4).init(&dev).unwrap();
    let bw = LstmCellConfig::new(3, 2).init(&dev).unwrap();
    let x = normal([b, t, 3], &dev);
    let ((out_fw, out_bw), (s_fw, s_bw)) = bidirectional_dynamic_rnn(
        &fw,
        &bw,
        x.clone(),
        None,
        None,
        Some(length_tensor(&lens, &dev)),
    )
    .unwrap();
    let (ref_fw, ref_s_fw) = dynamic_rnn(
        &NoFuse { cell: fw.clone() },
        x.clone(),
        None,
        Some(length_tensor(&lens, &dev)),
    )
    .unwrap();
    let (rev_out, ref_s_bw) = dynamic_rnn(
        &NoFuse { cell: bw.clone() },
        reverse_within(&x, Some(&lens)),
        None,
        Some(length_tensor(&lens, &dev)),
    )
    .unwrap();
    let ref_bw = reverse_within(&rev_out, Some(&lens));
    assert_same("fw outputs", &out_fw, &ref_fw);
    assert_same("bw outputs", &out_bw, &ref_bw);
    for (a, r) in s_fw.tensors().iter().zip(ref_s_fw.tensors()) {
        common::cases::assert_near("fw state", &values(a), &values(&r));
    }
    for (a, r) in s_bw.tensors().iter().zip(ref_s_bw.tensors()) {
        common::cases::assert_near("bw state", &values(a), &values(&r));
    }
    // Padding is zero in both directions; the backward output at t = 0 of example 2 has read
    // all its 3 steps, so it equals its final backward h.
    let bw_v = values(&out_bw);
    for (row, &l) in lens.iter().enumerate() {
        for s in l..t {
            assert!(bw_v[(row * t + s) * 2..][..2].iter().all(|&v| v == 0.0));
        }
    }
    common::cases::assert_near(
        "bw output at t=0 is the final h",
        &bw_v[(2 * t) * 2..][..2],
        &values(&s_bw.h)[2 * 2..][..2],
    );

    // static and stacked forms agree with the dynamic one.
    let steps = x.clone().iter_dim(1).map(|s| s.reshape([b, 3])).collect();
    let (outs, _, _) = static_bidirectional_rnn(
        &fw,
        &bw,
        steps,
        None,
        None,
        Some(length_tensor(&lens, &dev)),
    )
    .unwrap();
    let joined = Tensor::cat(vec![out_fw.clone(), out_bw.clone()], 2);
    assert_same("static", &Tensor::stack(outs, 1), &joined);
    let (stacked, states_fw, states_bw) = stack_bidirectional_dynamic_rnn(
        std::slice::from_ref(&fw),
        &[LstmCellConfig::new(3, 4).init(&dev).unwrap()],
        x,
        None,
        None,
        Some(length_tensor(&lens, &dev)),
    )
    .unwrap();
    assert_eq!(stacked.dims(), [b, t, 8]);
    assert_eq!((states_fw.len(), states_bw.len()), (1, 1));
    common::cases::assert_near(
        "stacked fw half",
        &values(&stacked.narrow(2, 0, 4)),
        &values(&out_fw),
    );
}

#[test]
fn stacked_bidirectional_layers_read_both_directions_and_bad_arguments_are_named() {
    let dev = device();
    let fw = vec![
        GruCellConfig::new(3, 4).init(&dev).unwrap(),
        GruCellConfig::new(8, 2).init(&dev).unwrap(),
    ];
    let bw = vec![
        GruCellConfig::new(3, 4).init(&dev).unwrap(),
        GruCellConfig::new(8, 3).init(&dev).unwrap(),
    ];
    let x = normal([2, 4, 3], &dev);
    let (out, sf, sb) =
        stack_bidirectional_dynamic_rnn(&fw, &bw, x.clone(), None, None, None).unwrap();
    assert_eq!(out.dims(), [2, 4, 5]);
    assert_eq!((sf.len(), sb.len()), (2, 2));
    let ((f1, b1), _) =
        bidirectional_dynamic_rnn(&fw[0], &bw[0], x.clone(), None, None, None).unwrap();
    let layer2_in = Tensor::cat(vec![f1, b1], 2);
    let ((f2, _), _) =
        bidirectional_dynamic_rnn(&fw[1], &bw[1], layer2_in, None, None, None).unwrap();
    assert_same("layer 2 forward", &out.clone().narrow(2, 0, 2), &f2);

    let err = stack_bidirectional_dynamic_rnn(&fw, &bw[..1], x.clone(), None, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`cells_bw`") && err.contains("2 cell(s)") && err.contains("got 1"),
        "{err}"
    );
    let err = stack_bidirectional_dynamic_rnn(&fw, &bw, x.clone(), Some(vec![]), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`initial_states_fw`") && err.contains("0 state(s)"),
        "{err}"
    );
    let err = bidirectional_dynamic_rnn(
        &fw[0],
        &bw[0],
        x,
        Some(Tensor::zeros([2, 5], &dev)),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`initial_state`") && err.contains("[2, 4]") && err.contains("[2, 5]"),
        "{err}"
    );
    let plan = SequencePlan::default();
    assert!(!plan.is_reverse() && plan.lengths().is_none());
}

/// `fused_sequence` is public: called directly with shapes the kernel cannot run (T = 0, a
/// state of another width or batch) it declines (`None`) instead of panicking; the unrolls
/// refuse the same inputs with a named error.
#[test]
fn direct_calls_with_impossible_shapes_decline_instead_of_panicking() {
    let dev = device();
    let cell = LstmCellConfig::new(3, 4).init(&dev).unwrap();
    let plan = SequencePlan::default();
    let empty = Tensor::<3>::zeros([2, 0, 3], &dev);
    assert!(
        cell.fused_sequence(&empty, &cell.zero_state(2, &dev), &plan)
            .is_none()
    );
    let x = normal([2, 5, 3], &dev);
    let wide = rnn_core::LstmState {
        c: Tensor::zeros([2, 7], &dev),
        h: Tensor::zeros([2, 7], &dev),
    };
    assert!(cell.fused_sequence(&x, &wide, &plan).is_none());
    assert!(
        cell.fused_sequence(&x, &cell.zero_state(3, &dev), &plan)
            .is_none()
    );
    let err = dynamic_rnn(&cell, x, Some(wide), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`initial_state`") && err.contains("[2, 7]"),
        "{err}"
    );
}
