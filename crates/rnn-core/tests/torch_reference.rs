//! rnn-core against an independent implementation: PyTorch's nn.RNN / nn.LSTM / nn.GRU with
//! pack_padded_sequence, on fixed weights. `golden/gen_golden.py` wrote `golden/torch_golden.json`
//! and documents the weight-layout mapping.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rnn_core::{
    Activation, BasicRnnCell, GruCell, LstmCell, LstmState, MultiRnnCell,
    OutputProjectionWrapperConfig, RnnState, dynamic_rnn, static_rnn,
};
use serde_json::Value;

const TOL: f32 = 2e-5;

fn golden() -> Value {
    serde_json::from_str(include_str!("golden/torch_golden.json")).expect("valid golden JSON")
}

fn device() -> Device {
    rnn_core::device::default_device().unwrap()
}

fn flatten(v: &Value, out: &mut Vec<f32>, shape: &mut Vec<usize>, depth: usize) {
    match v {
        Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            }
            for item in items {
                flatten(item, out, shape, depth + 1);
            }
        }
        Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
        other => panic!("not a number: {other}"),
    }
}

fn tensor<const D: usize>(v: &Value) -> Tensor<D> {
    let (mut data, mut shape) = (Vec::new(), Vec::new());
    flatten(v, &mut data, &mut shape, 0);
    assert_eq!(shape.len(), D, "rank of golden value");
    Tensor::from_data(TensorData::new(data, shape), &device())
}

fn lengths(case: &Value) -> Tensor<1, Int> {
    let l: Vec<i64> = case["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    Tensor::from_data(TensorData::new(l.clone(), [l.len()]), &device())
}

#[track_caller]
fn assert_close<const D: usize>(what: &str, ours: &Tensor<D>, theirs: &Tensor<D>) {
    assert_eq!(ours.dims(), theirs.dims(), "{what}: shapes");
    let a: Vec<f32> = ours.to_data().try_into_vec_as::<f32>().unwrap();
    let b: Vec<f32> = theirs.to_data().try_into_vec_as::<f32>().unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= TOL, "{what}: max |ours - torch| = {worst} > {TOL}");
}

fn basic_cell(layer: &Value, activation: Activation) -> BasicRnnCell {
    BasicRnnCell::from_weights(
        tensor(&layer["wx"]),
        tensor(&layer["wh"]),
        tensor(&layer["bias"]),
        activation,
    )
    .unwrap()
}

/// dynamic_rnn, and static_rnn on the same steps, must both match torch.
fn check_both_unrolls<C: rnn_core::RnnCell>(
    name: &str,
    cell: &C,
    case: &Value,
    h0: C::State,
    expected_out: &Tensor<3>,
) -> C::State {
    let x: Tensor<3> = tensor(&case["x"]);
    let [b, _, i] = x.dims();
    let (out, state) = dynamic_rnn(cell, x.clone(), Some(h0.clone()), Some(lengths(case))).unwrap();
    assert_close(&format!("{name} dynamic_rnn outputs"), &out, expected_out);
    let steps = x.iter_dim(1).map(|s| s.reshape([b, i])).collect();
    let (outs, static_state) = static_rnn(cell, steps, Some(h0), Some(lengths(case))).unwrap();
    assert_close(
        &format!("{name} static_rnn outputs"),
        &Tensor::stack::<3>(outs, 1),
        expected_out,
    );
    for (k, (a, s)) in state
        .tensors()
        .iter()
        .zip(static_state.tensors())
        .enumerate()
    {
        assert_close(&format!("{name} static vs dynamic state {k}"), a, &s);
    }
    state
}

#[test]
fn basic_tanh_matches_torch_rnn() {
    let g = golden();
    let case = &g["rnn_tanh"];
    let cell = basic_cell(&case["layers"][0], Activation::Tanh);
    let h0: Tensor<3> = tensor(&case["h0"]);
    let [_, b, h] = h0.dims();
    let state = check_both_unrolls(
        "rnn_tanh",
        &cell,
        case,
        h0.reshape([b, h]),
        &tensor(&case["outputs"]),
    );
    assert_close(
        "rnn_tanh h_n",
        &state,
        &tensor::<3>(&case["h_n"]).reshape([b, h]),
    );
}

#[test]
fn relu_with_output_projection_matches_torch_rnn_and_linear() {
    let g = golden();
    let case = &g["rnn_relu_projection"];
    let dev = device();
    let cell = basic_cell(&case["layers"][0], Activation::Relu);
    let mut wrapped = OutputProjectionWrapperConfig::new(2)
        .init(cell, &dev)
        .unwrap();
    wrapped.projection.weight = burn::module::Param::from_tensor(tensor(&case["proj_w"]));
    wrapped.projection.bias = Some(burn::module::Param::from_tensor(tensor(&case["proj_b"])));
    let h0: Tensor<3> = tensor(&case["h0"]);
    let [_, b, h] = h0.dims();
    let state = check_both_unrolls(
        "relu+projection",
        &wrapped,
        case,
        h0.reshape([b, h]),
        &tensor(&case["projected"]),
    );
    assert_close(
        "relu h_n",
        &state,
        &tensor::<3>(&case["h_n"]).reshape([b, h]),
    );
}

#[test]
fn three_layer_stack_matches_torch_rnn_num_layers_3() {
    let g = golden();
    let case = &g["rnn_tanh_3_layers"];
    let layers = case["layers"].as_array().unwrap();
    let multi = MultiRnnCell::new(
        layers
            .iter()
            .map(|l| basic_cell(l, Activation::Tanh))
            .collect(),
    )
    .unwrap();
    let h0: Tensor<3> = tensor(&case["h0"]);
    let h0: Vec<Tensor<2>> = h0.iter_dim(0).map(|t| t.squeeze_dim(0)).collect();
    let states = check_both_unrolls("3 layers", &multi, case, h0, &tensor(&case["outputs"]));
    let h_n: Tensor<3> = tensor(&case["h_n"]);
    for (k, expected) in h_n.iter_dim(0).enumerate() {
        assert_close(
            &format!("layer {k} h_n"),
            &states[k],
            &expected.squeeze_dim(0),
        );
    }
}

#[test]
fn lstm_matches_torch_lstm() {
    let g = golden();
    let case = &g["lstm"];
    let cell = LstmCell::from_weights(
        tensor(&case["wx"]),
        tensor(&case["wh"]),
        tensor(&case["bias"]),
        0.0,
    )
    .unwrap();
    let h0 = LstmState {
        c: tensor(&case["c0"]),
        h: tensor(&case["h0"]),
    };
    let state = check_both_unrolls("lstm", &cell, case, h0, &tensor(&case["outputs"]));
    assert_close("lstm h_n", &state.h, &tensor(&case["h_n"]));
    assert_close("lstm c_n", &state.c, &tensor(&case["c_n"]));
}

#[test]
fn gru_reset_after_matches_torch_gru() {
    let g = golden();
    let case = &g["gru"];
    let cell = GruCell::from_weights(
        tensor(&case["wx"]),
        tensor(&case["wh_gates"]),
        tensor(&case["wh_candidate"]),
        tensor(&case["bias"]),
        Some(tensor(&case["bias_hn"])),
    )
    .unwrap();
    let state = check_both_unrolls(
        "gru",
        &cell,
        case,
        tensor(&case["h0"]),
        &tensor(&case["outputs"]),
    );
    assert_close("gru h_n", &state, &tensor(&case["h_n"]));
}

#[test]
fn gru_reset_before_matches_tf_formula() {
    let g = golden();
    let case = &g["gru_tf"];
    let cell = GruCell::from_weights(
        tensor(&case["wx"]),
        tensor(&case["wh_gates"]),
        tensor(&case["wh_candidate"]),
        tensor(&case["bias"]),
        None,
    )
    .unwrap();
    let state = check_both_unrolls(
        "gru_tf",
        &cell,
        case,
        tensor(&case["h0"]),
        &tensor(&case["outputs"]),
    );
    assert_close("gru_tf h_n", &state, &tensor(&case["h_n"]));
}
