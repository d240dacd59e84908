//! PyTorch weights in and out (`rnn_core::pytorch`, feature `pytorch`).
//!
//! Import: the fixtures of `tests/pytorch_fixtures/` (made by `gen_fixtures.py` from
//! nn.RNN/LSTM/GRU, 1 and 2 layers, bidirectional, with a Linear head, `.pt` and
//! `.safetensors`) are imported and run; rnn-core reproduces PyTorch's outputs and final states
//! to 1e-5. Each wrong file gets its typed error. Export: layout, round trip, and the files
//! `gen_fixtures.py --check-export` loads into PyTorch (`RNN_RS_EXPORT_DIR`).

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Tensor};
use rnn_core::pytorch::{StateDict, TorchCell, TorchError, TorchRnn, TorchRnnKind};
use rnn_core::{
    Activation, BasicRnnCell, BasicRnnCellConfig, GruCell, GruCellConfig, LstmCell, LstmCellConfig,
    LstmState, dynamic_rnn, stack_bidirectional_dynamic_rnn,
};

const TOL: f32 = 1e-5;

fn device() -> Device {
    rnn_core::device::default_device().expect("a device for tests")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pytorch_fixtures")
        .join(name)
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().try_into_vec_as::<f32>().unwrap()
}

#[track_caller]
fn assert_close<const D: usize>(what: &str, a: &Tensor<D>, b: &Tensor<D>, tol: f32) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let d = values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(d <= tol, "{what}: max |a - b| = {d} > {tol}");
}

/// The cells' states as PyTorch's `h`, `c` slices `[B, H]`.
trait TestCell: TorchCell + Clone {
    fn state(h: Tensor<2>, c: Option<Tensor<2>>) -> Self::State;
    fn h_c(state: &Self::State) -> (Tensor<2>, Option<Tensor<2>>);
}

impl TestCell for BasicRnnCell {
    fn state(h: Tensor<2>, _: Option<Tensor<2>>) -> Tensor<2> {
        h
    }
    fn h_c(state: &Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        (state.clone(), None)
    }
}

impl TestCell for GruCell {
    fn state(h: Tensor<2>, _: Option<Tensor<2>>) -> Tensor<2> {
        h
    }
    fn h_c(state: &Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        (state.clone(), None)
    }
}

impl TestCell for LstmCell {
    fn state(h: Tensor<2>, c: Option<Tensor<2>>) -> LstmState {
        LstmState {
            c: c.expect("an LSTM has c0"),
            h,
        }
    }
    fn h_c(state: &LstmState) -> (Tensor<2>, Option<Tensor<2>>) {
        (state.h.clone(), Some(state.c.clone()))
    }
}

/// Entry `j` of PyTorch's `[L*D, B, H]` state stack as `[B, H]`.
fn entry(stack: &Tensor<3>, j: usize) -> Tensor<2> {
    let [_, b, h] = stack.dims();
    stack.clone().narrow(0, j, 1).reshape([b, h])
}

/// What PyTorch's module returns for `x [B, T, I]`: `output [B, T, D*H]`, `h_n [L*D, B, H]`
/// and `c_n` (LSTM). Unidirectional: the `MultiRnnCell` of `into_multi` under `dynamic_rnn`.
/// Bidirectional: `stack_bidirectional_dynamic_rnn` over the imported `fw` and `bw` layers.
fn run<C: TestCell>(
    rnn: &TorchRnn<C>,
    x: Tensor<3>,
    h0: Option<&Tensor<3>>,
    c0: Option<&Tensor<3>>,
) -> (Tensor<3>, Tensor<3>, Option<Tensor<3>>) {
    let dirs = if rnn.is_bidirectional() { 2 } else { 1 };
    let state = |j: usize| -> Option<C::State> {
        h0.map(|h0| C::state(entry(h0, j), c0.map(|c0| entry(c0, j))))
    };
    let (output, finals): (Tensor<3>, Vec<C::State>) = if dirs == 1 {
        let multi = rnn.clone().into_multi().unwrap();
        let states = h0.map(|_| (0..rnn.num_layers()).map(|j| state(j).unwrap()).collect());
        dynamic_rnn(&multi, x, states, None).unwrap()
    } else {
        let states = |d: usize| -> Option<Vec<C::State>> {
            h0.map(|_| {
                (0..rnn.num_layers())
                    .map(|k| state(2 * k + d).unwrap())
                    .collect()
            })
        };
        let (out, fw, bw) =
            stack_bidirectional_dynamic_rnn(&rnn.fw, &rnn.bw, x, states(0), states(1), None)
                .unwrap();
        (
            out,
            fw.into_iter().zip(bw).flat_map(|(f, b)| [f, b]).collect(),
        )
    };
    let (hs, cs): (Vec<_>, Vec<_>) = finals.iter().map(C::h_c).unzip();
    let h_n = Tensor::stack(hs, 0);
    let c_n = cs
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .map(|cs| Tensor::stack(cs, 0));
    (output, h_n, c_n)
}

/// Imports `file`'s module under `prefix` and checks it against PyTorch's run in the file.
fn check_fixture<C: TestCell>(
    file: &str,
    prefix: &str,
    head: Option<&str>,
    import: impl Fn(&StateDict, &Device) -> Result<TorchRnn<C>, TorchError>,
    num_layers: usize,
    bidirectional: bool,
) {
    let dev = device();
    let dict = StateDict::load(fixture(file)).unwrap();
    let rnn = import(&dict, &dev).unwrap();
    assert_eq!(rnn.num_layers(), num_layers, "{file}");
    assert_eq!(rnn.is_bidirectional(), bidirectional, "{file}");
    let info = dict.detect(prefix).unwrap();
    assert_eq!(info.kind, C::KIND, "{file}");
    assert_eq!(
        (info.num_layers, info.bidirectional),
        (num_layers, bidirectional)
    );
    let io = |k: &str| dict.tensor::<3>(&format!("io.{k}"), &dev).unwrap();
    let c0 = (C::KIND == TorchRnnKind::Lstm).then(|| io("c0"));
    let (output, h_n, c_n) = run(&rnn, io("x"), Some(&io("h0")), c0.as_ref());
    assert_close(&format!("{file}: output"), &output, &io("output"), TOL);
    assert_close(&format!("{file}: h_n"), &h_n, &io("h_n"), TOL);
    if let Some(c_n) = c_n {
        assert_close(&format!("{file}: c_n"), &c_n, &io("c_n"), TOL);
    }
    // From zero initial states (the unrolls' default).
    let (output0, _, _) = run(&rnn, io("x"), None, None);
    if head.is_none() {
        assert_close(&format!("{file}: output0"), &output0, &io("output0"), TOL);
    }
    if let Some(head) = head {
        let linear = dict.import_linear(head, &dev).unwrap();
        let y = linear.forward(output);
        assert_close(&format!("{file}: y"), &y, &io("y"), TOL);
        let y0 = linear.forward(output0);
        assert_close(&format!("{file}: y0"), &y0, &io("y0"), TOL);
        if !bidirectional {
            // The same through OutputProjectionWrapper<MultiRnnCell<_>> and dynamic_rnn.
            let model = rnn.into_projected(linear).unwrap();
            let states = (0..num_layers)
                .map(|j| C::state(entry(&io("h0"), j), c0.as_ref().map(|c0| entry(c0, j))))
                .collect();
            let (y2, _) = dynamic_rnn(&model, io("x"), Some(states), None).unwrap();
            assert_close(&format!("{file}: y (wrapper)"), &y2, &io("y"), TOL);
        }
    }
}

#[test]
fn rnn_fixtures_reproduce_pytorch() {
    let tanh = |d: &StateDict, dev: &Device| d.import_rnn("", Activation::Tanh, dev);
    check_fixture("rnn_tanh_l1.pt", "", None, tanh, 1, false);
    check_fixture(
        "rnn_relu_l2.safetensors",
        "",
        None,
        |d, dev| d.import_rnn("", Activation::Relu, dev),
        2,
        false,
    );
    // bias=False: no bias keys, zeros.
    check_fixture("rnn_tanh_nobias_l2_bidir.pt", "", None, tanh, 2, true);
    let dict = StateDict::load(fixture("rnn_tanh_nobias_l2_bidir.pt")).unwrap();
    assert!(!dict.detect("").unwrap().bias);
    let rnn = dict.import_rnn("", Activation::Tanh, &device()).unwrap();
    assert!(values(&rnn.bw[1].bias.val()).iter().all(|&b| b == 0.0));
}

#[test]
fn lstm_fixtures_reproduce_pytorch() {
    let lstm = |p: &'static str| move |d: &StateDict, dev: &Device| d.import_lstm(p, dev);
    check_fixture("lstm_l1.safetensors", "", None, lstm(""), 1, false);
    check_fixture("lstm_l2_bidir.pt", "", None, lstm(""), 2, true);
    check_fixture(
        "lstm_l2_head.pt",
        "rnn.",
        Some("fc."),
        lstm("rnn."),
        2,
        false,
    );
    let rnn = StateDict::load(fixture("lstm_l1.safetensors"))
        .unwrap()
        .import_lstm("", &device())
        .unwrap();
    assert_eq!(rnn.fw[0].forget_bias, 0.0);
}

#[test]
fn gru_fixtures_reproduce_pytorch() {
    let gru = |p: &'static str| move |d: &StateDict, dev: &Device| d.import_gru(p, dev);
    check_fixture("gru_l1.pt", "", None, gru(""), 1, false);
    // torch.save's pickle stream (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`).
    check_fixture("gru_l1_legacy.pt", "", None, gru(""), 1, false);
    check_fixture("gru_l2_bidir.safetensors", "", None, gru(""), 2, true);
    check_fixture(
        "gru_bidir_head.safetensors",
        "encoder.",
        Some("head."),
        gru("encoder."),
        1,
        true,
    );
    let rnn = StateDict::load(fixture("gru_l1.pt"))
        .unwrap()
        .import_gru("", &device())
        .unwrap();
    assert!(rnn.fw[0].reset_after());
}

// ---- wrong files ----

fn err_text<T: std::fmt::Debug>(r: Result<T, TorchError>) -> (TorchError, String) {
    let e = r.unwrap_err();
    let text = e.to_string();
    (e, text)
}

#[test]
fn a_missing_key_is_named() {
    let dev = device();
    let mut dict = StateDict::load(fixture("lstm_l1.safetensors")).unwrap();
    // The wrong prefix: nothing under `rnn.`.
    let (e, text) = err_text(dict.import_lstm("rnn.", &dev));
    assert!(matches!(e, TorchError::MissingKey { ref key, .. } if key == "rnn.weight_ih_l0"));
    assert_eq!(
        text,
        "missing key `rnn.weight_ih_l0` (layer 0 of nn.LSTM under prefix \"rnn.\"); the \
         state_dict has 11 tensors: bias_hh_l0, bias_ih_l0, io.c0, io.c_n, io.h0, io.h_n, \
         io.output, io.output0, ..."
    );
    // One bias of two: bias=True, so the other is missing.
    assert!(dict.remove("bias_hh_l0"));
    let (e, text) = err_text(dict.import_lstm("", &dev));
    assert!(matches!(e, TorchError::MissingKey { ref key, .. } if key == "bias_hh_l0"));
    assert!(
        text.starts_with(
            "missing key `bias_hh_l0` (layer 0 of nn.LSTM under prefix \"\"; bias=True since"
        ),
        "{text}"
    );
    // A bidirectional file without one `_reverse` weight.
    let mut dict = StateDict::load(fixture("gru_l2_bidir.safetensors")).unwrap();
    assert!(dict.remove("weight_hh_l1_reverse"));
    let (_, text) = err_text(dict.import_gru("", &dev));
    assert!(
        text.starts_with(
            "missing key `weight_hh_l1_reverse` (layer 1, reverse direction, of nn.GRU"
        ),
        "{text}"
    );
    // The head.
    let dict = StateDict::load(fixture("lstm_l2_head.pt")).unwrap();
    let (_, text) = err_text(dict.import_linear("head.", &dev));
    assert!(
        text.starts_with("missing key `head.weight` (nn.Linear under prefix \"head.\")"),
        "{text}"
    );
}

#[test]
fn a_wrong_shape_names_key_expected_and_actual() {
    let dev = device();
    let mut dict = StateDict::load(fixture("lstm_l1.safetensors")).unwrap();
    dict.insert("weight_hh_l0", Tensor::<2>::zeros([16, 5], &dev));
    let (e, text) = err_text(dict.import_lstm("", &dev));
    assert!(matches!(
        e,
        TorchError::Shape { ref key, ref actual, .. } if key == "weight_hh_l0" && actual == &[16, 5]
    ));
    assert_eq!(
        text,
        "`weight_hh_l0`: expected shape [16, 4] ([4H, H] of nn.LSTM, H = 4 from \
         `weight_ih_l0`), got [16, 5]"
    );

    // A GRU's file read as an LSTM: the shapes say which module it is.
    let dict = StateDict::load(fixture("gru_l1.pt")).unwrap();
    let (_, text) = err_text(dict.import_lstm("", &dev));
    assert_eq!(
        text,
        "`weight_hh_l0`: expected shape [12, 3] ([4H, H] of nn.LSTM, H = 3 from \
         `weight_ih_l0`; the file's shape is that of an nn.GRU), got [12, 4]"
    );
    assert_eq!(dict.detect("").unwrap().kind, TorchRnnKind::Gru);

    // A bias of the wrong length, a tensor of the wrong rank.
    let mut dict = StateDict::load(fixture("rnn_relu_l2.safetensors")).unwrap();
    dict.insert("bias_ih_l1", Tensor::<1>::zeros([5], &dev));
    let (_, text) = err_text(dict.import_rnn("", Activation::Relu, &dev));
    assert!(
        text.starts_with("`bias_ih_l1`: expected shape [4] ([H] of nn.RNN, H = 4"),
        "{text}"
    );
    let mut dict = StateDict::load(fixture("rnn_relu_l2.safetensors")).unwrap();
    dict.insert("weight_ih_l0", Tensor::<1>::zeros([4], &dev));
    let (_, text) = err_text(dict.import_rnn("", Activation::Relu, &dev));
    assert_eq!(
        text,
        "`weight_ih_l0`: expected shape [H, I] with H >= 1 and I >= 1 (nn.RNN), got [4]"
    );

    // A head that does not fit the stack.
    let mut dict = StateDict::load(fixture("lstm_l2_head.pt")).unwrap();
    dict.insert("fc.weight", Tensor::<2>::zeros([2, 5], &dev));
    let rnn = dict.import_lstm("rnn.", &dev).unwrap();
    let head = dict.import_linear("fc.", &dev).unwrap();
    let (_, text) = err_text(rnn.into_projected(head));
    assert_eq!(
        text,
        "`projection.weight`: expected [4, O] with O >= 1 (H = 4, the cell's output_size), \
         got [5, 2]"
    );
    dict.insert("fc.bias", Tensor::<1>::zeros([3], &dev));
    let (_, text) = err_text(dict.import_linear("fc.", &dev));
    assert_eq!(
        text,
        "`fc.bias`: expected shape [2] ([O], O = 2 from `fc.weight`), got [3]"
    );
}

#[test]
fn proj_size_is_refused() {
    let dict = StateDict::load(fixture("lstm_proj_size.pt")).unwrap();
    let (e, text) = err_text(dict.import_lstm("", &device()));
    assert!(matches!(e, TorchError::Unsupported { ref what, .. } if what == "weight_hr_l0"));
    assert!(
        text.starts_with(
            "`weight_hr_l0`: expected nn.LSTM without proj_size, got a projection weight"
        ),
        "{text}"
    );
    let (_, text) = err_text(dict.detect(""));
    assert!(
        text.starts_with("`weight_hr_l0`: expected nn.LSTM without proj_size"),
        "{text}"
    );
}

#[test]
fn a_bidirectional_module_is_no_multi_rnn_cell() {
    let rnn = StateDict::load(fixture("lstm_l2_bidir.pt"))
        .unwrap()
        .import_lstm("", &device())
        .unwrap();
    let (_, text) = err_text(rnn.into_multi());
    assert!(
        text.starts_with("`bidirectional`: expected a unidirectional module"),
        "{text}"
    );
}

#[test]
fn wrong_or_damaged_files_are_format_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // Not a state_dict at all.
    let p = write("notes.pt", b"just some text, not a checkpoint");
    let (e, text) = err_text(StateDict::load(&p));
    assert!(matches!(e, TorchError::Format { .. }));
    assert!(
        text.contains("got neither a zip archive (\"PK\"), a pickle stream (0x80) nor")
            && text.contains("6a75737420736f6d"),
        "{text}"
    );
    // A truncated torch.save archive (the zip's directory is at its end).
    let pt = std::fs::read(fixture("lstm_l2_bidir.pt")).unwrap();
    let p = write("truncated.pt", &pt[..pt.len() / 2]);
    let (e, text) = err_text(StateDict::load(&p));
    assert!(matches!(e, TorchError::Format { .. }), "{text}");
    assert!(text.contains("a damaged PyTorch checkpoint"), "{text}");
    // A zip archive that holds no pickle.
    let p = write(
        "empty.zip",
        b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    );
    let (_, text) = err_text(StateDict::load(&p));
    assert!(text.contains("a damaged PyTorch checkpoint"), "{text}");
    // A safetensors file cut inside its data, and one whose header is not JSON.
    let st = std::fs::read(fixture("lstm_l1.safetensors")).unwrap();
    let p = write("truncated.safetensors", &st[..st.len() - 100]);
    let (_, text) = err_text(StateDict::load(&p));
    assert!(text.contains("a damaged safetensors file"), "{text}");
    let mut bad = st.clone();
    bad[9] = b'#';
    let (_, text) = err_text(StateDict::from_safetensors_bytes(bad));
    assert!(
        text.starts_with("`<bytes>`: expected a PyTorch state_dict")
            && text.contains("a damaged safetensors file"),
        "{text}"
    );
    // No file.
    let (e, text) = err_text(StateDict::load(dir.path().join("absent.pt")));
    assert!(matches!(e, TorchError::Io { .. }));
    assert!(text.contains("absent.pt"), "{text}");
}

#[test]
fn an_integer_weight_is_a_dtype_error() {
    let bytes: Vec<u8> = (0..12i64).flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![4, 3], &bytes).unwrap();
    let file = safetensors::serialize([("fc.weight", view)], None).unwrap();
    let dict = StateDict::from_safetensors_bytes(file).unwrap();
    let (e, text) = err_text(dict.import_linear("fc.", &device()));
    assert!(matches!(e, TorchError::DType { .. }));
    assert_eq!(
        text,
        "`fc.weight`: expected a floating-point tensor (f16, bf16, f32 or f64), got I64"
    );
}

// ---- export ----

fn random<const D: usize>(shape: [usize; D], dev: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 0.5), dev)
}

fn params_equal<C: TorchCell>(a: &C, b: &C) {
    let (wa, wb) = (a.to_torch().unwrap(), b.to_torch().unwrap());
    assert_eq!(values(&wa.weight_ih), values(&wb.weight_ih));
    assert_eq!(values(&wa.weight_hh), values(&wb.weight_hh));
    assert_eq!(values(&wa.bias_ih), values(&wb.bias_ih));
    assert_eq!(values(&wa.bias_hh), values(&wb.bias_hh));
}

#[test]
fn export_writes_pytorchs_names_and_layout() {
    let dev = device();
    let (wx, wh, bias) = (
        random([3, 16], &dev),
        random([4, 16], &dev),
        random([16], &dev),
    );
    let cell = LstmCell::from_weights(wx.clone(), wh.clone(), bias.clone(), 0.0).unwrap();
    let above = LstmCellConfig::new(4, 4).init(&dev).unwrap();
    let rnn = TorchRnn::unidirectional(vec![cell, above]).unwrap();
    let mut dict = StateDict::new();
    dict.insert_rnn("", &rnn).unwrap();
    let keys: Vec<&str> = dict.keys().collect();
    assert_eq!(
        keys,
        [
            "bias_hh_l0",
            "bias_hh_l1",
            "bias_ih_l0",
            "bias_ih_l1",
            "weight_hh_l0",
            "weight_hh_l1",
            "weight_ih_l0",
            "weight_ih_l1"
        ]
    );
    let bytes = dict.to_safetensors_bytes().unwrap();
    let back = StateDict::from_safetensors_bytes(bytes).unwrap();
    assert_eq!(back.shape("weight_ih_l0"), Some(vec![16, 3]));
    assert_eq!(back.shape("weight_hh_l1"), Some(vec![16, 4]));
    assert_eq!(back.shape("bias_ih_l0"), Some(vec![16]));
    let w_ih: Tensor<2> = back.tensor("weight_ih_l0", &dev).unwrap();
    assert_close("weight_ih = wx^T", &w_ih, &wx.transpose(), 0.0);
    let w_hh: Tensor<2> = back.tensor("weight_hh_l0", &dev).unwrap();
    assert_close("weight_hh = wh^T", &w_hh, &wh.transpose(), 0.0);
    let b_ih: Tensor<1> = back.tensor("bias_ih_l0", &dev).unwrap();
    assert_close("bias_ih = bias", &b_ih, &bias, 0.0);
    let b_hh: Tensor<1> = back.tensor("bias_hh_l0", &dev).unwrap();
    assert!(values(&b_hh).iter().all(|&v| v == 0.0));
    let meta = back.metadata();
    assert_eq!(meta["format"], "pt");
    assert_eq!(meta["rnn_rs.module"], "LSTM");
    assert_eq!(meta["rnn_rs.num_layers"], "2");
    assert_eq!(meta["rnn_rs.bidirectional"], "false");

    // GRU: weight_hh = [wh_gates | wh_candidate]^T, bias_hh = [0, 0, b_hn].
    let gru = GruCellConfig::new(3, 4)
        .with_reset_after(true)
        .init(&dev)
        .unwrap();
    let gru = GruCell::from_weights(
        gru.wx.val(),
        gru.wh_gates.val(),
        gru.wh_candidate.val(),
        gru.bias.val(),
        Some(random([4], &dev)),
    )
    .unwrap();
    let w = gru.to_torch().unwrap();
    assert_close(
        "weight_hh n rows",
        &w.weight_hh.clone().narrow(0, 8, 4),
        &gru.wh_candidate.val().transpose(),
        0.0,
    );
    assert_close(
        "weight_hh r, z rows",
        &w.weight_hh.narrow(0, 0, 8),
        &gru.wh_gates.val().transpose(),
        0.0,
    );
    let b_hh = values(&w.bias_hh);
    assert!(b_hh[..8].iter().all(|&v| v == 0.0));
    assert_eq!(b_hh[8..], values(&gru.bias_hn.as_ref().unwrap().val()));
}

#[test]
fn import_of_export_is_the_same_model() {
    let dev = device();
    fn round_trip<C: TestCell>(
        rnn: &TorchRnn<C>,
        import: impl Fn(&StateDict) -> Result<TorchRnn<C>, TorchError>,
    ) {
        let mut dict = StateDict::new();
        dict.insert_rnn("rnn.", rnn).unwrap();
        let back = StateDict::from_safetensors_bytes(dict.to_safetensors_bytes().unwrap()).unwrap();
        let again = import(&back).unwrap();
        assert_eq!(again.num_layers(), rnn.num_layers());
        assert_eq!(again.is_bidirectional(), rnn.is_bidirectional());
        for (a, b) in rnn
            .fw
            .iter()
            .chain(&rnn.bw)
            .zip(again.fw.iter().chain(&again.bw))
        {
            params_equal(a, b);
        }
    }
    for file in ["lstm_l1.safetensors", "lstm_l2_bidir.pt"] {
        let rnn = StateDict::load(fixture(file))
            .unwrap()
            .import_lstm("", &dev)
            .unwrap();
        round_trip(&rnn, |d| d.import_lstm("rnn.", &dev));
    }
    for file in ["gru_l1.pt", "gru_l2_bidir.safetensors"] {
        let rnn = StateDict::load(fixture(file))
            .unwrap()
            .import_gru("", &dev)
            .unwrap();
        round_trip(&rnn, |d| d.import_gru("rnn.", &dev));
        // Field by field: import(export(m)) holds m's tensors.
        let mut dict = StateDict::new();
        dict.insert_rnn("", &rnn).unwrap();
        let again = dict.import_gru("", &dev).unwrap();
        let (a, b) = (&rnn.fw[0], &again.fw[0]);
        assert_eq!(values(&a.bias.val()), values(&b.bias.val()));
        assert_eq!(values(&a.wh_gates.val()), values(&b.wh_gates.val()));
        assert_eq!(
            values(&a.bias_hn.as_ref().unwrap().val()),
            values(&b.bias_hn.as_ref().unwrap().val())
        );
    }
    for (file, act) in [
        ("rnn_tanh_nobias_l2_bidir.pt", Activation::Tanh),
        ("rnn_relu_l2.safetensors", Activation::Relu),
    ] {
        let rnn = StateDict::load(fixture(file))
            .unwrap()
            .import_rnn("", act, &dev)
            .unwrap();
        round_trip(&rnn, |d| d.import_rnn("rnn.", act, &dev));
        let mut dict = StateDict::new();
        dict.insert_rnn("", &rnn).unwrap();
        let expected = if act == Activation::Tanh {
            "tanh"
        } else {
            "relu"
        };
        assert_eq!(dict.metadata()["rnn_rs.nonlinearity"], expected);
    }
    // The head: burn's [D, O] written as PyTorch's [O, D] and read back.
    let linear = Linear {
        weight: Param::from_tensor(random([4, 2], &dev)),
        bias: Some(Param::from_tensor(random([2], &dev))),
    };
    let mut dict = StateDict::new();
    dict.insert_linear("fc.", &linear);
    assert_eq!(dict.shape("fc.weight"), Some(vec![2, 4]));
    let back = dict.import_linear("fc.", &dev).unwrap();
    assert_close("head weight", &back.weight.val(), &linear.weight.val(), 0.0);
    assert_close(
        "head bias",
        &back.bias.unwrap().val(),
        &linear.bias.unwrap().val(),
        0.0,
    );
}

#[test]
fn a_tf_lstm_exports_its_forget_bias_inside_the_bias() {
    let dev = device();
    let cell = LstmCellConfig::new(3, 4).init(&dev).unwrap(); // forget_bias 1.0
    let cell =
        LstmCell::from_weights(cell.wx.val(), cell.wh.val(), random([16], &dev), 1.0).unwrap();
    let rnn = TorchRnn::unidirectional(vec![cell.clone()]).unwrap();
    let mut dict = StateDict::new();
    dict.insert_rnn("", &rnn).unwrap();
    let again = dict.import_lstm("", &dev).unwrap();
    assert_eq!(again.fw[0].forget_bias, 0.0);
    let (b0, b1) = (values(&cell.bias.val()), values(&again.fw[0].bias.val()));
    for j in 0..16 {
        let shift = if (4..8).contains(&j) { 1.0 } else { 0.0 };
        assert!((b1[j] - b0[j] - shift).abs() < 1e-6, "bias[{j}]");
    }
    let x = random([2, 6, 3], &dev);
    let (a, _) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
    let (b, _) = dynamic_rnn(&again.fw[0], x, None, None).unwrap();
    assert_close("outputs", &a, &b, 1e-6);
}

#[test]
fn what_pytorch_cannot_hold_is_refused_on_export() {
    let dev = device();
    let mut dict = StateDict::new();
    let tf_gru =
        TorchRnn::unidirectional(vec![GruCellConfig::new(3, 4).init(&dev).unwrap()]).unwrap();
    let (_, text) = err_text(dict.insert_rnn("", &tf_gru));
    assert!(
        text.starts_with("`reset_after`: expected a GruCell with reset_after = true"),
        "{text}"
    );
    let sigmoid = BasicRnnCellConfig::new(3, 4)
        .with_activation(Activation::Sigmoid)
        .init(&dev)
        .unwrap();
    let (_, text) =
        err_text(dict.insert_rnn("", &TorchRnn::unidirectional(vec![sigmoid]).unwrap()));
    assert_eq!(
        text,
        "`activation`: expected Tanh or Relu (nn.RNN's nonlinearity), got Sigmoid, which \
         nn.RNN cannot express"
    );
    let mixed = vec![
        BasicRnnCellConfig::new(3, 4).init(&dev).unwrap(),
        BasicRnnCellConfig::new(4, 5).init(&dev).unwrap(),
    ];
    let (_, text) = err_text(dict.insert_rnn("", &TorchRnn::unidirectional(mixed).unwrap()));
    assert_eq!(
        text,
        "`layer 1`: expected (input, hidden) sizes (4, 4) (nn.RNN has one hidden_size, and \
         layer k > 0 reads 1 * hidden_size), got (4, 5)"
    );
    assert!(dict.is_empty(), "nothing written on failure: {dict:?}");
    let (_, text) = err_text(TorchRnn::bidirectional(
        vec![BasicRnnCellConfig::new(3, 4).init(&dev).unwrap()],
        vec![],
    ));
    assert_eq!(
        text,
        "`bw`: expected one backward cell per forward cell (1, at least 1), got 0 cells"
    );
}

/// rnn-core models written for PyTorch: the state_dict as `NAME.safetensors` (only the
/// module's keys, so that PyTorch's strict `load_state_dict` takes it) and rnn-core's run as
/// `NAME.io.safetensors` (`io.x`, `io.output`, `io.h_n`, `io.c_n`, `io.y`), into
/// `RNN_RS_EXPORT_DIR` when set (`gen_fixtures.py --check-export` loads them into PyTorch),
/// else a temporary directory. Here: each file re-imports to the same outputs.
#[test]
fn export_files_for_pytorch() {
    let dev = device();
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("RNN_RS_EXPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let x = random([2, 5, 3], &dev);

    fn write<C: TestCell>(
        dir: &Path,
        name: &str,
        rnn: &TorchRnn<C>,
        prefix: &str,
        head: Option<(&str, &Linear)>,
        x: &Tensor<3>,
        import: impl Fn(&StateDict) -> Result<TorchRnn<C>, TorchError>,
    ) {
        let mut dict = StateDict::new();
        dict.insert_rnn(prefix, rnn).unwrap();
        let (output, h_n, c_n) = run(rnn, x.clone(), None, None);
        let mut io = StateDict::new();
        io.insert("io.x", x.clone());
        io.insert("io.output", output.clone());
        io.insert("io.h_n", h_n.clone());
        if let Some(c_n) = c_n {
            io.insert("io.c_n", c_n);
        }
        if let Some((head_prefix, linear)) = head {
            dict.insert_linear(head_prefix, linear);
            io.insert("io.y", linear.forward(output.clone()));
        }
        let path = dir.join(format!("{name}.safetensors"));
        dict.save_safetensors(&path).unwrap();
        io.save_safetensors(dir.join(format!("{name}.io.safetensors")))
            .unwrap();
        // The file as PyTorch will see it: re-imported, the same run.
        let back = StateDict::load(&path).unwrap();
        assert_eq!(back.metadata()["rnn_rs.prefix"], prefix);
        let again = import(&back).unwrap();
        let (output2, h_n2, _) = run(&again, x.clone(), None, None);
        assert_close(&format!("{name}: output"), &output2, &output, 1e-6);
        assert_close(&format!("{name}: h_n"), &h_n2, &h_n, 1e-6);
    }

    let basic = |i, act| {
        BasicRnnCellConfig::new(i, 4)
            .with_activation(act)
            .init(&dev)
            .unwrap()
    };
    let tanh2 =
        TorchRnn::unidirectional(vec![basic(3, Activation::Tanh), basic(4, Activation::Tanh)])
            .unwrap();
    write(&dir, "rnn_tanh_l2", &tanh2, "", None, &x, |d| {
        d.import_rnn("", Activation::Tanh, &dev)
    });
    // The book's forecaster shape: relu cell + OutputProjectionWrapper.
    let relu = TorchRnn::unidirectional(vec![basic(3, Activation::Relu)]).unwrap();
    let fc = Linear {
        weight: Param::from_tensor(random([4, 1], &dev)),
        bias: Some(Param::from_tensor(random([1], &dev))),
    };
    write(
        &dir,
        "rnn_relu_head",
        &relu,
        "rnn.",
        Some(("fc.", &fc)),
        &x,
        |d| d.import_rnn("rnn.", Activation::Relu, &dev),
    );
    // TF's LSTM (forget_bias 1.0), two layers.
    let lstm2 = TorchRnn::unidirectional(vec![
        LstmCellConfig::new(3, 4).init(&dev).unwrap(),
        LstmCellConfig::new(4, 4).init(&dev).unwrap(),
    ])
    .unwrap();
    write(&dir, "lstm_tf_l2", &lstm2, "", None, &x, |d| {
        d.import_lstm("", &dev)
    });
    let gru = |i| {
        GruCellConfig::new(i, 4)
            .with_reset_after(true)
            .init(&dev)
            .unwrap()
    };
    let gru_bidir = TorchRnn::bidirectional(vec![gru(3)], vec![gru(3)]).unwrap();
    write(&dir, "gru_bidir", &gru_bidir, "", None, &x, |d| {
        d.import_gru("", &dev)
    });
    let lstm = |i| LstmCellConfig::new(i, 4).init(&dev).unwrap();
    let lstm_bidir =
        TorchRnn::bidirectional(vec![lstm(3), lstm(8)], vec![lstm(3), lstm(8)]).unwrap();
    let head = Linear {
        weight: Param::from_tensor(random([8, 3], &dev)),
        bias: Some(Param::from_tensor(random([3], &dev))),
    };
    write(
        &dir,
        "lstm_bidir_l2_head",
        &lstm_bidir,
        "encoder.",
        Some(("head.", &head)),
        &x,
        |d| d.import_lstm("encoder.", &dev),
    );
    let written = std::fs::read_dir(&dir).unwrap().count();
    assert!(written >= 10, "{written} files in {}", dir.display());
}

/// Damaged files never reach a panic: every fixture with bytes overwritten, cut short or
/// extended (seeded, 100 variants each) loads to a `TorchError` or to a state_dict whose import
/// is an `Ok` or a `TorchError`.
#[test]
fn mutated_files_give_errors_not_panics() {
    let dev = device();
    let dir = tempfile::tempdir().unwrap();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut loaded, mut refused) = (0, 0);
    for (file, kind) in [
        ("lstm_l2_bidir.pt", TorchRnnKind::Lstm),
        ("gru_l1_legacy.pt", TorchRnnKind::Gru),
        ("rnn_relu_l2.safetensors", TorchRnnKind::Rnn),
    ] {
        let original = std::fs::read(fixture(file)).unwrap();
        for variant in 0..100 {
            let mut bytes = original.clone();
            match variant % 4 {
                0 => bytes.truncate(next() as usize % bytes.len()),
                1 => bytes.extend((0..next() % 64).map(|_| next() as u8)),
                _ => {
                    for _ in 0..1 + next() % 8 {
                        let at = next() as usize % bytes.len();
                        bytes[at] = next() as u8;
                    }
                }
            }
            let path = dir.path().join(format!("{variant}-{file}"));
            std::fs::write(&path, &bytes).unwrap();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let dict = StateDict::load(&path)?;
                match kind {
                    TorchRnnKind::Lstm => dict.import_lstm("", &dev).map(|_| ()),
                    TorchRnnKind::Gru => dict.import_gru("", &dev).map(|_| ()),
                    TorchRnnKind::Rnn => dict.import_rnn("", Activation::Relu, &dev).map(|_| ()),
                }
            }));
            match outcome {
                Ok(Ok(())) => loaded += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!("{file}, variant {variant}: the loader panicked"),
            }
        }
    }
    assert!(refused > 100, "{refused} refused, {loaded} loaded");
}
