//! `LayerNormLstmCell` with `sequence_length` against an independent PyTorch composite of TF's
//! `LayerNormBasicLSTMCell` (`torch.nn.functional.layer_norm` per gate and on the memory) at
//! the book's sizes (B150 T28 I28 H150: the multi-threaded GEMMs), one direction
//! (`dynamic_rnn`) and two (`bidirectional_dynamic_rnn`), every output, final state and
//! gradient, on the fused path (flex, the default) and on the per-step path (`NoFuse`).
//! `golden/gen_ln_lstm.py` wrote `golden/torch_ln_lstm.json` and documents the inputs
//! (formulas both sides compute), the loss and the mapping from TF's layout.

mod common;

use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};
use common::cases::NoFuse;
use rnn_core::{
    LayerNormLstmCell, LayerNormWeights, LstmState, RnnCell, SequencePlan,
    bidirectional_dynamic_rnn, dynamic_rnn,
};
use serde_json::Value;

const B: usize = 150;
const T: usize = 28;
const I: usize = 28;
const H: usize = 150;

fn golden() -> Value {
    serde_json::from_str(include_str!("golden/torch_ln_lstm.json")).expect("valid golden JSON")
}

fn device() -> Device {
    rnn_core::device::default_device().unwrap().autodiff()
}

/// The script's `uniform`: a value in `[-1, 1)` from an integer hash of `(seed, k)`.
fn uniform(seed: u64, k: u64) -> f64 {
    let m = 0xFFFF_FFFFu64;
    let mut v = (k * 2_654_435_761 + seed * 97_531) & m;
    v = ((v ^ (v >> 15)) * 2_246_822_519) & m;
    v ^= v >> 13;
    v as f64 / 2f64.powi(32) * 2.0 - 1.0
}

/// The script's `gen`: `offset + scale * uniform(seed, k)` in f64, cast to f32.
fn formula<const D: usize>(
    seed: u32,
    shape: [usize; D],
    scale: f64,
    offset: f64,
    dev: &Device,
) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|k| (offset + scale * uniform(seed as u64, k as u64)) as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().try_into_vec_as::<f32>().unwrap()
}

#[track_caller]
fn check<const D: usize>(what: &str, ours: &Tensor<D>, golden: &Value) {
    let shape: Vec<usize> = golden["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(ours.dims().to_vec(), shape, "{what}: shape");
    let stride = golden["stride"].as_u64().unwrap() as usize;
    let theirs: Vec<f32> = golden["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let ours = values(ours);
    let scale = theirs.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let tol = 2e-4 * scale;
    for (k, t) in theirs.iter().enumerate() {
        let o = ours[k * stride];
        assert!(
            (o - t).abs() <= tol,
            "{what}[{}]: ours {o} vs torch {t} (tol {tol})",
            k * stride
        );
    }
}

/// TF's column blocks `i, j, f, o` -> rnn-core's `i, f, g (= j), o`.
fn reorder(kernel: Tensor<2>) -> Tensor<2> {
    let b: Vec<Tensor<2>> = kernel.chunk(4, 1);
    Tensor::cat(
        vec![b[0].clone(), b[2].clone(), b[1].clone(), b[3].clone()],
        1,
    )
}

/// One direction's cell from the script's TF variables (`params(seed)`): the kernel
/// `[I + H, 4H]`, then gamma and beta of the scopes input, transform, forget, output, state.
fn cell(seed: u32, epsilon: f64, forget_bias: f64, dev: &Device) -> LayerNormLstmCell {
    let kernel = formula(seed, [I + H, 4 * H], 0.3, 0.0, dev);
    let gamma = |k: u32| formula(seed + 1 + k, [H], 0.2, 1.0, dev);
    let beta = |k: u32| formula(seed + 6 + k, [H], 0.2, 0.0, dev);
    // Scopes 0 input, 1 transform (g), 2 forget, 3 output, 4 state; rnn-core's order i, f, g, o.
    let gates = |p: &dyn Fn(u32) -> Tensor<1>| Tensor::cat(vec![p(0), p(2), p(1), p(3)], 0);
    let norm = LayerNormWeights {
        gate_gain: gates(&gamma),
        gate_shift: gates(&beta),
        state_gain: gamma(4),
        state_shift: beta(4),
    };
    LayerNormLstmCell::from_weights(
        reorder(kernel.clone().narrow(0, 0, I)),
        reorder(kernel.narrow(0, I, H)),
        norm,
        forget_bias,
        epsilon,
    )
    .unwrap()
}

fn param_grads(cell: &LayerNormLstmCell, g: &Gradients) -> Vec<(&'static str, Vec<f32>)> {
    let two = |p: &burn::module::Param<Tensor<2>>| values(&p.val().grad(g).expect("gradient"));
    let one = |p: &burn::module::Param<Tensor<1>>| values(&p.val().grad(g).expect("gradient"));
    vec![
        ("dwx", two(&cell.wx)),
        ("dwh", two(&cell.wh)),
        ("dgate_gain", one(&cell.gate_gain)),
        ("dgate_shift", one(&cell.gate_shift)),
        ("dstate_gain", one(&cell.state_gain)),
        ("dstate_shift", one(&cell.state_shift)),
    ]
}

/// `golden[key]` against flat values (the shapes are checked through `check` on a tensor).
fn check_flat(what: &str, ours: Vec<f32>, golden: &Value, dev: &Device) {
    let n = ours.len();
    check::<1>(
        what,
        &Tensor::from_data(TensorData::new(ours, [n]), dev),
        golden,
    );
}

/// Runs one golden case; `fused: false` wraps both cells in `NoFuse` (the per-step path).
fn run_case(g: &Value, case: &Value, fused: bool) {
    let dev = device();
    let bidirectional = case["bidirectional"].as_bool().unwrap();
    let name = format!("bidirectional {bidirectional} fused {fused}");
    let (eps, fb) = (
        g["epsilon"].as_f64().unwrap(),
        g["forget_bias"].as_f64().unwrap(),
    );
    let lengths: Vec<i64> = g["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let lens = Tensor::<1, Int>::from_data(TensorData::new(lengths, [B]), &dev);
    let dirs = if bidirectional { 2 } else { 1 };
    let fw = cell(10, eps, fb, &dev);
    let bw = cell(30, eps, fb, &dev);
    let x = formula(1, [B, T, I], 1.0, 0.0, &dev).require_grad();
    let h0 = formula(2, [dirs, B, H], 0.5, 0.0, &dev).require_grad();
    let c0 = formula(3, [dirs, B, H], 0.5, 0.0, &dev).require_grad();
    let init = |d: usize| {
        let pick = |s: &Tensor<3>| s.clone().narrow(0, d, 1).reshape([B, H]);
        LstmState {
            c: pick(&c0),
            h: pick(&h0),
        }
    };
    if fused {
        let plan = SequencePlan::default();
        let taken = fw.fused_sequence(&x, &init(0), &plan).is_some();
        assert!(taken, "the fused path runs on this device");
    }
    let (out, states) = match (bidirectional, fused) {
        (false, true) => {
            let (o, s) = dynamic_rnn(&fw, x.clone(), Some(init(0)), Some(lens)).unwrap();
            (o, vec![s])
        }
        (false, false) => {
            let nf = NoFuse { cell: fw.clone() };
            let (o, s) = dynamic_rnn(&nf, x.clone(), Some(init(0)), Some(lens)).unwrap();
            (o, vec![s])
        }
        (true, true) => {
            let ((of, ob), (sf, sb)) = bidirectional_dynamic_rnn(
                &fw,
                &bw,
                x.clone(),
                Some(init(0)),
                Some(init(1)),
                Some(lens),
            )
            .unwrap();
            (Tensor::cat(vec![of, ob], 2), vec![sf, sb])
        }
        (true, false) => {
            let ((of, ob), (sf, sb)) = bidirectional_dynamic_rnn(
                &NoFuse { cell: fw.clone() },
                &NoFuse { cell: bw.clone() },
                x.clone(),
                Some(init(0)),
                Some(init(1)),
                Some(lens),
            )
            .unwrap();
            (Tensor::cat(vec![of, ob], 2), vec![sf, sb])
        }
    };
    let h_n = Tensor::stack::<3>(states.iter().map(|s| s.h.clone()).collect(), 0);
    let c_n = Tensor::stack::<3>(states.iter().map(|s| s.c.clone()).collect(), 0);
    let loss = (out.clone() * formula(4, out.dims(), 1.0, 0.0, &dev)).sum()
        + (h_n.clone() * formula(5, h_n.dims(), 1.0, 0.0, &dev)).sum()
        + (c_n.clone() * formula(6, c_n.dims(), 1.0, 0.0, &dev)).sum();
    let expected = case["loss"].as_f64().unwrap() as f32;
    let got = values(&loss)[0];
    assert!(
        (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
        "{name} loss: ours {got} vs torch {expected}"
    );
    check(&format!("{name} outputs"), &out, &case["outputs"]);
    check(&format!("{name} h_n"), &h_n, &case["h_n"]);
    check(&format!("{name} c_n"), &c_n, &case["c_n"]);
    let grads = loss.backward();
    check(&format!("{name} dx"), &x.grad(&grads).unwrap(), &case["dx"]);
    check(
        &format!("{name} dh0"),
        &h0.grad(&grads).unwrap(),
        &case["dh0"],
    );
    check(
        &format!("{name} dc0"),
        &c0.grad(&grads).unwrap(),
        &case["dc0"],
    );
    let cells = if bidirectional {
        vec![("fw", &fw), ("bw", &bw)]
    } else {
        vec![("fw", &fw)]
    };
    for (tag, cell) in cells {
        for (param, grad) in param_grads(cell, &grads) {
            let key = format!("{tag}_{param}");
            let golden = &case[key.as_str()];
            let what = format!("{name} {key}");
            if golden["shape"].as_array().unwrap().len() == 2 {
                let dims = if param == "dwx" {
                    [I, 4 * H]
                } else {
                    [H, 4 * H]
                };
                check::<2>(
                    &what,
                    &Tensor::from_data(TensorData::new(grad, dims), &dev),
                    golden,
                );
            } else {
                check_flat(&what, grad, golden, &dev);
            }
        }
    }
}

fn run_all(fused: bool) {
    let g = golden();
    let cases = g["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2, "one and two directions");
    for case in cases {
        run_case(&g, case, fused);
    }
}

#[test]
fn fused_ln_lstm_with_lengths_matches_pytorch_in_one_and_two_directions() {
    run_all(true);
}

#[test]
fn per_step_ln_lstm_with_lengths_matches_pytorch_in_one_and_two_directions() {
    run_all(false);
}
