//! rnn-core with `sequence_length` against PyTorch's packed sequences at the book's sizes
//! (B150 T28 I28 H150, big enough for the multi-threaded GEMMs), forward and bidirectional,
//! with gradients: `dynamic_rnn` and `bidirectional_dynamic_rnn` (the fused path on flex)
//! against `nn.RNN` / `nn.LSTM` / `nn.GRU` over `pack_padded_sequence`. `golden/gen_packed.py`
//! wrote `golden/torch_packed.json` and documents the inputs (formulas both sides compute),
//! the loss and the layout mapping.

use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};
use rnn_core::{
    Activation, BasicRnnCell, GruCell, LstmCell, LstmState, RnnCell, bidirectional_dynamic_rnn,
    dynamic_rnn,
};
use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(include_str!("golden/torch_packed.json")).expect("valid golden JSON")
}

fn device() -> Device {
    rnn_core::device::default_device().unwrap().autodiff()
}

/// The script's `gen`: `scale * sin(0.731 k + 1.37 seed)` in f64, cast to f32.
fn formula<const D: usize>(seed: u32, shape: [usize; D], scale: f64, dev: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|k| (scale * (0.731 * k as f64 + 1.37 * seed as f64).sin()) as f32)
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

/// One direction's PyTorch parameters in PyTorch's layout (the script's seeds, in order).
struct TorchParams {
    w_ih: Tensor<2>,
    w_hh: Tensor<2>,
    b_ih: Tensor<1>,
    b_hh: Tensor<1>,
}

fn torch_params(seed: u32, gates: usize, dev: &Device) -> TorchParams {
    let (i, h) = (28, 150);
    TorchParams {
        w_ih: formula(seed, [gates * h, i], 0.1, dev),
        w_hh: formula(seed + 1, [gates * h, h], 0.1, dev),
        b_ih: formula(seed + 2, [gates * h], 0.1, dev),
        b_hh: formula(seed + 3, [gates * h], 0.1, dev),
    }
}

/// What a direction's cell gives back: its parameter gradients under the script's names.
trait Golden: RnnCell + Sized {
    const GATES: usize;
    fn build(p: TorchParams) -> Self;
    fn grads(&self, g: &Gradients) -> Vec<(&'static str, Tensor<2>)>;
    fn initial(h0: Tensor<2>, c0: Tensor<2>) -> Self::State;
    /// The final state tensors in the script's order (`h_n`, then `c_n`).
    fn finals(state: &Self::State) -> Vec<Tensor<2>>;
}

fn g2(p: &burn::module::Param<Tensor<2>>, g: &Gradients) -> Tensor<2> {
    p.val().grad(g).expect("parameter gradient")
}

fn g1(p: &burn::module::Param<Tensor<1>>, g: &Gradients) -> Tensor<2> {
    let v = p.val().grad(g).expect("parameter gradient");
    let n = v.dims()[0];
    v.reshape([1, n])
}

impl Golden for BasicRnnCell {
    const GATES: usize = 1;
    fn build(p: TorchParams) -> Self {
        BasicRnnCell::from_weights(
            p.w_ih.transpose(),
            p.w_hh.transpose(),
            p.b_ih + p.b_hh,
            Activation::Tanh,
        )
        .unwrap()
    }
    fn grads(&self, g: &Gradients) -> Vec<(&'static str, Tensor<2>)> {
        vec![
            ("dwx", g2(&self.wx, g)),
            ("dwh", g2(&self.wh, g)),
            ("dbias", g1(&self.bias, g)),
        ]
    }
    fn initial(h0: Tensor<2>, _: Tensor<2>) -> Tensor<2> {
        h0
    }
    fn finals(state: &Tensor<2>) -> Vec<Tensor<2>> {
        vec![state.clone()]
    }
}

impl Golden for LstmCell {
    const GATES: usize = 4;
    fn build(p: TorchParams) -> Self {
        LstmCell::from_weights(p.w_ih.transpose(), p.w_hh.transpose(), p.b_ih + p.b_hh, 0.0)
            .unwrap()
    }
    fn grads(&self, g: &Gradients) -> Vec<(&'static str, Tensor<2>)> {
        vec![
            ("dwx", g2(&self.wx, g)),
            ("dwh", g2(&self.wh, g)),
            ("dbias", g1(&self.bias, g)),
        ]
    }
    fn initial(h: Tensor<2>, c: Tensor<2>) -> LstmState {
        LstmState { c, h }
    }
    fn finals(state: &LstmState) -> Vec<Tensor<2>> {
        vec![state.h.clone(), state.c.clone()]
    }
}

impl Golden for GruCell {
    const GATES: usize = 3;
    fn build(p: TorchParams) -> Self {
        let h = 150;
        let wh = p.w_hh.transpose();
        let bias = Tensor::cat(
            vec![
                p.b_ih.clone().narrow(0, 0, 2 * h) + p.b_hh.clone().narrow(0, 0, 2 * h),
                p.b_ih.narrow(0, 2 * h, h),
            ],
            0,
        );
        GruCell::from_weights(
            p.w_ih.transpose(),
            wh.clone().narrow(1, 0, 2 * h),
            wh.narrow(1, 2 * h, h),
            bias,
            Some(p.b_hh.narrow(0, 2 * h, h)),
        )
        .unwrap()
    }
    fn grads(&self, g: &Gradients) -> Vec<(&'static str, Tensor<2>)> {
        let hn = self.bias_hn.as_ref().expect("reset_after form");
        vec![
            ("dwx", g2(&self.wx, g)),
            ("dwh_gates", g2(&self.wh_gates, g)),
            ("dwh_candidate", g2(&self.wh_candidate, g)),
            ("dbias", g1(&self.bias, g)),
            ("dbias_hn", g1(hn, g)),
        ]
    }
    fn initial(h0: Tensor<2>, _: Tensor<2>) -> Tensor<2> {
        h0
    }
    fn finals(state: &Tensor<2>) -> Vec<Tensor<2>> {
        vec![state.clone()]
    }
}

fn run_case<C: Golden>(case: &Value, lengths: &[i64]) {
    let dev = device();
    let (b, t, i, h) = (150, 28, 28, 150);
    let bidirectional = case["bidirectional"].as_bool().unwrap();
    let dirs = if bidirectional { 2 } else { 1 };
    let name = format!("{} bidirectional {bidirectional}", case["kind"]);
    let fw = C::build(torch_params(10, C::GATES, &dev));
    let bw = C::build(torch_params(14, C::GATES, &dev));
    let x = formula(1, [b, t, i], 1.0, &dev).require_grad();
    let h0 = formula(2, [dirs, b, h], 0.5, &dev).require_grad();
    let c0 = formula(3, [dirs, b, h], 0.5, &dev).require_grad();
    let init = |d: usize| {
        let pick = |s: &Tensor<3>| s.clone().narrow(0, d, 1).reshape([b, h]);
        C::initial(pick(&h0), pick(&c0))
    };
    let lens = Tensor::<1, Int>::from_data(TensorData::new(lengths.to_vec(), [b]), &dev);
    let (out, finals) = if bidirectional {
        let ((out_fw, out_bw), (s_fw, s_bw)) = bidirectional_dynamic_rnn(
            &fw,
            &bw,
            x.clone(),
            Some(init(0)),
            Some(init(1)),
            Some(lens),
        )
        .unwrap();
        let finals: Vec<Tensor<3>> = C::finals(&s_fw)
            .into_iter()
            .zip(C::finals(&s_bw))
            .map(|(f, r)| Tensor::stack(vec![f, r], 0))
            .collect();
        (Tensor::cat(vec![out_fw, out_bw], 2), finals)
    } else {
        let (out, s) = dynamic_rnn(&fw, x.clone(), Some(init(0)), Some(lens)).unwrap();
        let finals = C::finals(&s)
            .into_iter()
            .map(|f| f.unsqueeze_dim(0))
            .collect();
        (out, finals)
    };
    let mut loss = (out.clone() * formula(4, out.dims(), 1.0, &dev)).sum();
    for (k, f) in finals.iter().enumerate() {
        loss = loss + (f.clone() * formula(5 + k as u32, f.dims(), 1.0, &dev)).sum();
    }
    let expected = case["loss"].as_f64().unwrap() as f32;
    let got = values(&loss)[0];
    assert!(
        (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
        "{name} loss: ours {got} vs torch {expected}"
    );
    check(&format!("{name} outputs"), &out, &case["outputs"]);
    check(&format!("{name} h_n"), &finals[0], &case["h_n"]);
    if finals.len() > 1 {
        check(&format!("{name} c_n"), &finals[1], &case["c_n"]);
    }
    let grads = loss.backward();
    check(&format!("{name} dx"), &x.grad(&grads).unwrap(), &case["dx"]);
    check(
        &format!("{name} dh0"),
        &h0.grad(&grads).unwrap(),
        &case["dh0"],
    );
    if finals.len() > 1 {
        check(
            &format!("{name} dc0"),
            &c0.grad(&grads).unwrap(),
            &case["dc0"],
        );
    }
    let cells: Vec<(&str, &C)> = if bidirectional {
        vec![("fw", &fw), ("bw", &bw)]
    } else {
        vec![("fw", &fw)]
    };
    for (tag, cell) in cells {
        for (param, grad) in cell.grads(&grads) {
            let key = format!("{tag}_{param}");
            let golden = &case[key.as_str()];
            let grad = if golden["shape"].as_array().unwrap().len() == 1 {
                let n = grad.dims()[1];
                check::<1>(&format!("{name} {key}"), &grad.reshape([n]), golden);
                continue;
            } else {
                grad
            };
            check(&format!("{name} {key}"), &grad, golden);
        }
    }
}

fn run_kind(kind: &str) {
    let g = golden();
    let lengths: Vec<i64> = g["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let cases: Vec<&Value> = g["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .collect();
    assert_eq!(cases.len(), 2, "{kind}: one and two directions");
    for case in cases {
        match kind {
            "rnn" => run_case::<BasicRnnCell>(case, &lengths),
            "lstm" => run_case::<LstmCell>(case, &lengths),
            _ => run_case::<GruCell>(case, &lengths),
        }
    }
}

#[test]
fn basic_cell_with_lengths_matches_packed_nn_rnn_in_one_and_two_directions() {
    run_kind("rnn");
}

#[test]
fn lstm_with_lengths_matches_packed_nn_lstm_in_one_and_two_directions() {
    run_kind("lstm");
}

#[test]
fn gru_with_lengths_matches_packed_nn_gru_in_one_and_two_directions() {
    run_kind("gru");
}
