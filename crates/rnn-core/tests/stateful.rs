//! `StatefulRnn` (Keras' `stateful=True`): a long sequence fed in chunks gives the outputs and
//! final state of one long `dynamic_rnn` run, on the fused path and the per-step path
//! (`common::cases::NoFuse`), for the basic, LSTM and GRU cells and a stack; resets (all, some
//! streams) give what a fresh runner gives; the kept state is detached (a later chunk's loss
//! sends no gradient into an earlier chunk); per-stream lengths keep a short stream's state at
//! its last valid step; bad arguments are named errors.

mod common;

use burn::tensor::{Device, Tensor};
use common::cases::{NoFuse, length_tensor, normal};
use common::values;
use rnn_core::{
    Activation, BasicRnnCellConfig, GruCellConfig, LstmCellConfig, MultiRnnCell,
    OutputProjectionWrapperConfig, RnnCell, RnnError, RnnState, StatefulRnn, dynamic_rnn,
};

fn plain() -> Device {
    rnn_core::device::default_device().unwrap()
}

fn max_diff<const D: usize>(a: &Tensor<D>, b: &Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn state_diff<S: RnnState>(a: &S, b: &S) -> f32 {
    let (a, b) = (a.tensors(), b.tensors());
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| max_diff(x, y))
        .fold(0.0, f32::max)
}

/// `x [B, T, I]` fed through a runner in chunks of the given sizes (summing to T): the outputs
/// concatenated `[B, T, O]` and the kept state.
fn chunked<C: RnnCell>(cell: &C, x: &Tensor<3>, sizes: &[usize]) -> (Tensor<3>, C::State) {
    let [b, t, _] = x.dims();
    assert_eq!(sizes.iter().sum::<usize>(), t);
    let mut runner = StatefulRnn::new(cell.clone(), b, &x.device()).unwrap();
    let mut start = 0;
    let mut outputs = Vec::new();
    for &k in sizes {
        outputs.push(runner.run(x.clone().narrow(1, start, k)).unwrap());
        start += k;
    }
    (Tensor::cat(outputs, 1), runner.into_parts().1)
}

/// Chunks of `sizes` against one long run, fused (the cell's own path) and per-step
/// (`NoFuse`), and fused against per-step.
fn chunks_match_one_run<C: RnnCell>(name: &str, cell: C, b: usize, sizes: &[usize], dev: &Device) {
    let t = sizes.iter().sum();
    let x = normal([b, t, cell.input_size()], dev);
    let (long_out, long_state) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
    let no_fuse = NoFuse { cell: cell.clone() };
    let (ref_out, ref_state) = dynamic_rnn(&no_fuse, x.clone(), None, None).unwrap();
    let (fused_out, fused_state) = chunked(&cell, &x, sizes);
    let (step_out, step_state) = chunked(&no_fuse, &x, sizes);
    for (what, d) in [
        (
            "fused chunks vs one fused run, outputs",
            max_diff(&fused_out, &long_out),
        ),
        (
            "fused chunks vs one fused run, state",
            state_diff(&fused_state, &long_state),
        ),
        (
            "per-step chunks vs one per-step run, outputs",
            max_diff(&step_out, &ref_out),
        ),
        (
            "per-step chunks vs one per-step run, state",
            state_diff(&step_state, &ref_state),
        ),
        (
            "fused chunks vs per-step run, outputs",
            max_diff(&fused_out, &ref_out),
        ),
        (
            "fused chunks vs per-step run, state",
            state_diff(&fused_state, &ref_state),
        ),
    ] {
        assert!(d <= 1e-5, "{name}: {what}: max |diff| = {d}");
    }
    // Not vacuous: a run from a zero state at each chunk (no state kept) differs.
    let restarted: Vec<Tensor<3>> = {
        let mut start = 0;
        sizes
            .iter()
            .map(|&k| {
                let out = dynamic_rnn(&cell, x.clone().narrow(1, start, k), None, None)
                    .unwrap()
                    .0;
                start += k;
                out
            })
            .collect()
    };
    let d = max_diff(&Tensor::cat(restarted, 1), &long_out);
    assert!(
        d > 1e-3,
        "{name}: restarting each chunk should change the outputs ({d})"
    );
}

const SIZES: [usize; 5] = [5, 7, 1, 10, 3];

#[test]
fn chunks_equal_one_long_run_for_every_cell() {
    let dev = plain();
    let basic = BasicRnnCellConfig::new(3, 6).init(&dev).unwrap();
    chunks_match_one_run("basic tanh", basic, 4, &SIZES, &dev);
    let relu = BasicRnnCellConfig::new(1, 8)
        .with_activation(Activation::Relu)
        .init(&dev)
        .unwrap();
    let forecaster = OutputProjectionWrapperConfig::new(1)
        .init(relu, &dev)
        .unwrap();
    chunks_match_one_run("relu + projection", forecaster, 3, &SIZES, &dev);
    let lstm = LstmCellConfig::new(3, 5).init(&dev).unwrap();
    chunks_match_one_run("lstm", lstm, 4, &SIZES, &dev);
    let gru = GruCellConfig::new(3, 5).init(&dev).unwrap();
    chunks_match_one_run("gru", gru, 4, &SIZES, &dev);
    let gru_pt = GruCellConfig::new(3, 5)
        .with_reset_after(true)
        .init(&dev)
        .unwrap();
    chunks_match_one_run("gru reset_after", gru_pt, 2, &SIZES, &dev);
    let stack = MultiRnnCell::new(vec![
        LstmCellConfig::new(3, 6).init(&dev).unwrap(),
        LstmCellConfig::new(6, 4).init(&dev).unwrap(),
    ])
    .unwrap();
    chunks_match_one_run("stack of 2 lstm", stack, 3, &SIZES, &dev);
}

#[test]
fn chunks_equal_one_long_run_on_the_autodiff_device() {
    let dev = plain().autodiff();
    let lstm = LstmCellConfig::new(2, 4).init(&dev).unwrap();
    chunks_match_one_run("lstm, autodiff", lstm, 3, &[4, 4, 2], &dev);
    let basic = BasicRnnCellConfig::new(2, 4).init(&dev).unwrap();
    chunks_match_one_run("basic, autodiff", basic, 3, &[1, 6, 3], &dev);
}

#[test]
fn reset_gives_what_a_fresh_runner_gives() {
    let dev = plain();
    let cell = GruCellConfig::new(2, 5).init(&dev).unwrap();
    let x = normal([3, 12, 2], &dev);
    let mut runner = StatefulRnn::new(cell.clone(), 3, &dev).unwrap();
    runner.run(x.clone().narrow(1, 0, 4)).unwrap();
    runner.run(x.clone().narrow(1, 4, 4)).unwrap();
    let tail = x.narrow(1, 8, 4);
    let kept = runner.clone().run(tail.clone()).unwrap();
    runner.reset();
    let after_reset = runner.run(tail.clone()).unwrap();
    let fresh = StatefulRnn::new(cell, 3, &dev).unwrap().run(tail).unwrap();
    assert_eq!(values(&after_reset), values(&fresh));
    assert!(max_diff(&kept, &fresh) > 1e-3, "the kept state mattered");
}

#[test]
fn resetting_some_streams_leaves_the_others_unchanged() {
    let dev = plain();
    let cell = LstmCellConfig::new(2, 4).init(&dev).unwrap();
    let x = normal([4, 10, 2], &dev);
    let (first, second) = (x.clone().narrow(1, 0, 6), x.narrow(1, 6, 4));
    let mut runner = StatefulRnn::new(cell.clone(), 4, &dev).unwrap();
    runner.run(first).unwrap();
    let mut untouched = runner.clone();
    runner.reset_streams(&[1, 3, 1]).unwrap();
    let got = runner.run(second.clone()).unwrap();
    let kept = untouched.run(second.clone()).unwrap();
    let fresh = StatefulRnn::new(cell, 4, &dev)
        .unwrap()
        .run(second)
        .unwrap();
    let row = |t: &Tensor<3>, b: usize| t.clone().narrow(0, b, 1);
    for b in [0, 2] {
        assert_eq!(values(&row(&got, b)), values(&row(&kept, b)), "stream {b}");
    }
    for b in [1, 3] {
        assert_eq!(values(&row(&got, b)), values(&row(&fresh, b)), "stream {b}");
        assert!(
            max_diff(&row(&kept, b), &row(&fresh, b)) > 1e-3,
            "stream {b} had a state"
        );
    }
    // The mask form, and a mask with nothing set, agree with the index form.
    let mut by_mask = untouched.clone();
    let mut by_index = untouched.clone();
    by_mask.reset_where(&[false, false, true, false]).unwrap();
    by_index.reset_streams(&[2]).unwrap();
    assert_eq!(state_diff(by_mask.state(), by_index.state()), 0.0);
    let before = untouched.state().clone();
    untouched.reset_where(&[false; 4]).unwrap();
    assert_eq!(state_diff(untouched.state(), &before), 0.0);
}

#[test]
fn the_kept_state_is_detached_between_calls() {
    let dev = plain().autodiff();
    let cell = BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
    let x = normal([2, 8, 2], &dev).require_grad();
    let h0 = normal([2, 3], &dev).require_grad();
    let grads_of = |x_grad: Tensor<3>, range: (usize, usize)| {
        values(&x_grad.narrow(1, range.0, range.1 - range.0))
    };

    let mut runner = StatefulRnn::with_state(cell.clone(), h0.clone(), &dev).unwrap();
    runner.run(x.clone().narrow(1, 0, 5)).unwrap();
    let second = runner.run(x.clone().narrow(1, 5, 3)).unwrap();
    let grads = second.sum().backward();
    let dx = x.grad(&grads).unwrap();
    assert!(
        grads_of(dx.clone(), (0, 5)).iter().all(|&g| g == 0.0),
        "no gradient into chunk 1"
    );
    assert!(
        grads_of(dx, (5, 8)).iter().any(|&g| g != 0.0),
        "chunk 2's own inputs get one"
    );
    assert!(
        h0.grad(&grads)
            .is_none_or(|g| values(&g).iter().all(|&v| v == 0.0))
    );
    // The kept state itself carries no graph (untracked), while the state a plain
    // dynamic_rnn hands back is tracked (below).
    assert!(runner.state().tensors().iter().all(|t| !t.is_tracked()));

    // Without the detach (the state handed on by hand), the same loss reaches chunk 1: the
    // check above can fail.
    let (_, s) = dynamic_rnn(&cell, x.clone().narrow(1, 0, 5), Some(h0.clone()), None).unwrap();
    assert!(s.is_tracked());
    let (out, _) = dynamic_rnn(&cell, x.clone().narrow(1, 5, 3), Some(s), None).unwrap();
    let grads = out.sum().backward();
    assert!(
        grads_of(x.grad(&grads).unwrap(), (0, 5))
            .iter()
            .any(|&g| g != 0.0)
    );
    assert!(values(&h0.grad(&grads).unwrap()).iter().any(|&g| g != 0.0));
}

#[test]
fn a_shorter_chunk_keeps_its_state_at_its_last_valid_step() {
    let dev = plain();
    let cell = LstmCellConfig::new(2, 4).init(&dev).unwrap();
    let (b, t) = (3, 6);
    let chunks = [normal([b, t, 2], &dev), normal([b, t, 2], &dev)];
    let lens = [[6, 2, 0], [3, 6, 4]];
    let mut runner = StatefulRnn::new(cell.clone(), b, &dev).unwrap();
    let outs: Vec<Tensor<3>> = chunks
        .iter()
        .zip(lens)
        .map(|(x, l)| {
            runner
                .run_with_lengths(x.clone(), length_tensor(&l, &dev))
                .unwrap()
        })
        .collect();
    for s in 0..b {
        // Stream s alone: its valid steps of both chunks, one run.
        let valid: Vec<Tensor<3>> = chunks
            .iter()
            .zip(lens)
            .filter(|(_, l)| l[s] > 0)
            .map(|(x, l)| x.clone().narrow(0, s, 1).narrow(1, 0, l[s]))
            .collect();
        let (long, state) = dynamic_rnn(&cell, Tensor::cat(valid, 1), None, None).unwrap();
        let got: Vec<Tensor<3>> = outs
            .iter()
            .zip(lens)
            .filter(|(_, l)| l[s] > 0)
            .map(|(o, l)| o.clone().narrow(0, s, 1).narrow(1, 0, l[s]))
            .collect();
        assert!(max_diff(&Tensor::cat(got, 1), &long) <= 1e-5, "stream {s}");
        assert!(
            state_diff(&runner.state().slice_batch(s..s + 1), &state) <= 1e-5,
            "stream {s}"
        );
        for (o, l) in outs.iter().zip(lens).filter(|(_, l)| l[s] < t) {
            let pad = values(&o.clone().narrow(0, s, 1).narrow(1, l[s], t - l[s]));
            assert!(
                pad.iter().all(|&v| v == 0.0),
                "stream {s}: zero past its length"
            );
        }
    }
}

#[test]
fn bad_arguments_are_named_errors() {
    let dev = plain();
    let cell = BasicRnnCellConfig::new(3, 4).init(&dev).unwrap();
    let msg = |e: RnnError| e.to_string();

    let e = msg(StatefulRnn::new(cell.clone(), 0, &dev).unwrap_err());
    assert!(
        e.contains("`streams`") && e.contains("at least 1") && e.contains("got 0"),
        "{e}"
    );

    let mut runner = StatefulRnn::new(cell.clone(), 2, &dev).unwrap();
    let before = runner.state().clone();
    for (dims, actual) in [
        ([3, 5, 3], "[3, 5, 3]"),
        ([2, 5, 4], "[2, 5, 4]"),
        ([2, 0, 3], "[2, 0, 3]"),
    ] {
        let e = msg(runner.run(Tensor::zeros(dims, &dev)).unwrap_err());
        assert!(
            e.contains("`chunk`") && e.contains("[2, T, 3]") && e.contains(actual),
            "{e}"
        );
    }
    // A chunk on the autodiff device for a plain runner: burn cannot mix them.
    let e = msg(runner
        .run(Tensor::zeros([2, 5, 3], &dev.clone().autodiff()))
        .unwrap_err());
    assert!(
        e.contains("`chunk`") && e.contains("autodiff") && e.contains("plain"),
        "{e}"
    );

    let x = Tensor::<3>::zeros([2, 5, 3], &dev);
    let e = runner
        .run_with_lengths(x.clone(), length_tensor(&[5, 6], &dev))
        .unwrap_err();
    assert_eq!(
        e,
        RnnError::SequenceLength {
            index: 1,
            value: 6,
            n_steps: 5
        }
    );
    let e = msg(runner
        .run_with_lengths(x, length_tensor(&[5, 5, 5], &dev))
        .unwrap_err());
    assert!(
        e.contains("`sequence_length`") && e.contains("[2]") && e.contains("[3]"),
        "{e}"
    );

    let e = msg(runner.reset_streams(&[0, 2]).unwrap_err());
    assert!(
        e.contains("`indices`") && e.contains("0..2") && e.contains("indices[1] = 2"),
        "{e}"
    );
    let e = msg(runner.reset_where(&[true]).unwrap_err());
    assert!(
        e.contains("`mask`") && e.contains("2 entries") && e.contains("1 entries"),
        "{e}"
    );

    let e = msg(runner.set_state(Tensor::zeros([3, 4], &dev)).unwrap_err());
    assert!(
        e.contains("`state`") && e.contains("[2, 4]") && e.contains("[3, 4]"),
        "{e}"
    );
    let e = msg(runner.set_state(Tensor::zeros([2, 5], &dev)).unwrap_err());
    assert!(
        e.contains("`state`") && e.contains("[2, 4]") && e.contains("[2, 5]"),
        "{e}"
    );
    let e =
        msg(StatefulRnn::with_state(cell.clone(), Tensor::zeros([0, 4], &dev), &dev).unwrap_err());
    assert!(e.contains("`state`") && e.contains("batch size 0"), "{e}");

    let wider = BasicRnnCellConfig::new(3, 5).init(&dev).unwrap();
    let e = msg(runner.set_cell(wider).unwrap_err());
    assert!(
        e.contains("`cell`") && e.contains("[4]") && e.contains("[5]"),
        "{e}"
    );
    let other_input = BasicRnnCellConfig::new(2, 4).init(&dev).unwrap();
    let e = msg(runner.set_cell(other_input).unwrap_err());
    assert!(
        e.contains("`cell`") && e.contains("input_size 3") && e.contains("input_size 2"),
        "{e}"
    );

    // None of the failures touched the kept state.
    assert_eq!(state_diff(runner.state(), &before), 0.0);
}

#[test]
fn set_cell_keeps_the_state_for_the_next_chunk() {
    // The truncated-BPTT use: new weights between chunks, the streams go on.
    let dev = plain();
    let a = BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
    let b = BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
    let x = normal([2, 7, 2], &dev);
    let mut runner = StatefulRnn::new(a.clone(), 2, &dev).unwrap();
    runner.run(x.clone().narrow(1, 0, 4)).unwrap();
    let carried = runner.state().clone();
    runner.set_cell(b.clone()).unwrap();
    let got = runner.run(x.clone().narrow(1, 4, 3)).unwrap();
    let (want, _) = dynamic_rnn(&b, x.narrow(1, 4, 3), Some(carried), None).unwrap();
    assert_eq!(values(&got), values(&want));
}
