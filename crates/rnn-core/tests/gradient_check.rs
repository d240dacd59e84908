//! Finite-difference gradient checks of every cell and wrapper through dynamic_rnn with
//! sequence lengths: autodiff's gradient of `L = Σ outputs ⊙ R + Σ_k state_k ⊙ S_k` with
//! respect to every parameter (a spread of coordinates each) and the inputs, against central
//! differences `(L(θ + ε) − L(θ − ε)) / 2ε`.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Gradients, Int, Tensor, TensorData};
use common::{perturbed, values};
use rnn_core::{
    Activation, BasicRnnCellConfig, DropoutWrapperConfig, GruCellConfig, LstmCellConfig,
    MultiRnnCell, OutputProjectionWrapperConfig, RnnCell, RnnState, dynamic_rnn,
};

const B: usize = 3;
const T: usize = 4;
const I: usize = 3;
const EPS: f32 = 1e-2;
const COORDS_PER_PARAM: usize = 6;

fn device() -> Device {
    rnn_core::device::default_device().unwrap().autodiff()
}

/// Fixed random weights for the loss, so that the upstream gradient is not uniform.
struct Probe {
    x: Tensor<3>,
    lengths: Tensor<1, Int>,
    r_out: Tensor<3>,
    r_state: Vec<Tensor<2>>,
}

impl Probe {
    fn new<C: RnnCell>(cell: &C, dev: &Device) -> Self {
        let state = cell.zero_state(B, dev);
        Probe {
            x: Tensor::random([B, T, I], Distribution::Normal(0.0, 1.0), dev),
            lengths: Tensor::from_ints([4, 2, 3], dev),
            r_out: Tensor::random(
                [B, T, cell.output_size()],
                Distribution::Normal(0.0, 1.0),
                dev,
            ),
            r_state: state
                .tensors()
                .iter()
                .map(|t| Tensor::random(t.dims(), Distribution::Normal(0.0, 1.0), dev))
                .collect(),
        }
    }

    fn loss<C: RnnCell>(&self, cell: &C, x: Tensor<3>) -> Tensor<1> {
        let (out, state) = dynamic_rnn(cell, x, None, Some(self.lengths.clone())).unwrap();
        let mut loss = (out * self.r_out.clone()).sum();
        for (s, r) in state.tensors().into_iter().zip(&self.r_state) {
            loss = loss + (s * r.clone()).sum();
        }
        loss
    }

    fn loss_value<C: RnnCell>(&self, cell: &C, x: Tensor<3>) -> f64 {
        values(&self.loss(cell, x))[0] as f64
    }
}

struct CollectGrads<'a> {
    grads: &'a Gradients,
    out: Vec<(Vec<f32>, Vec<f32>)>, // (values, gradient) per float parameter, in visit order
}

impl ModuleVisitor for CollectGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let grad = value
            .grad(self.grads)
            .map(|g| values(&g))
            .unwrap_or_else(|| vec![0.0; value.shape().num_elements()]);
        self.out.push((values(&value), grad));
    }
}

#[track_caller]
fn check_close(what: &str, autodiff: f32, numeric: f64) {
    let tol = 2e-3 + 2e-2 * numeric.abs();
    assert!(
        (autodiff as f64 - numeric).abs() <= tol,
        "{what}: autodiff {autodiff} vs finite difference {numeric} (tol {tol})"
    );
}

/// Checks the cell's parameter and input gradients; returns how many coordinates were checked.
fn grad_check<C: RnnCell>(name: &str, cell: C) -> usize {
    let dev = device();
    let probe = Probe::new(&cell, &dev);
    let x = probe.x.clone().require_grad();
    let grads = probe.loss(&cell, x.clone()).backward();
    let x_grad = values(&x.grad(&grads).expect("a gradient for the inputs"));
    let mut collect = CollectGrads {
        grads: &grads,
        out: Vec::new(),
    };
    cell.visit(&mut collect);
    assert!(!collect.out.is_empty(), "{name}: no parameters visited");

    let mut checked = 0;
    for (k, (vals, grad)) in collect.out.iter().enumerate() {
        let n = vals.len();
        for j in 0..COORDS_PER_PARAM.min(n) {
            let index = (j * 7919 + k * 31) % n;
            let plus = probe.loss_value(&perturbed(&cell, k, index, EPS), probe.x.clone());
            let minus = probe.loss_value(&perturbed(&cell, k, index, -EPS), probe.x.clone());
            let numeric = (plus - minus) / (2.0 * EPS as f64);
            check_close(&format!("{name}: param {k}[{index}]"), grad[index], numeric);
            checked += 1;
        }
    }
    let xv = values(&probe.x);
    for j in 0..8 {
        let index = (j * 13 + 5) % xv.len();
        let shifted = |d: f32| {
            let mut v = xv.clone();
            v[index] += d;
            Tensor::<3>::from_data(TensorData::new(v, [B, T, I]), &dev)
        };
        let numeric = (probe.loss_value(&cell, shifted(EPS))
            - probe.loss_value(&cell, shifted(-EPS)))
            / (2.0 * EPS as f64);
        check_close(&format!("{name}: input[{index}]"), x_grad[index], numeric);
        checked += 1;
    }
    // Padded steps (t >= length) get no gradient.
    let b1_t3 = (T + 3) * I; // example 1 (length 2), step 3
    assert!(
        x_grad[b1_t3..b1_t3 + I].iter().all(|&g| g == 0.0),
        "{name}: gradient leaked into padding"
    );
    checked
}

#[test]
fn basic_tanh_cell() {
    grad_check(
        "basic",
        BasicRnnCellConfig::new(I, 4).init(&device()).unwrap(),
    );
}

#[test]
fn basic_sigmoid_cell_with_random_bias() {
    let cfg = BasicRnnCellConfig::new(I, 4)
        .with_activation(Activation::Sigmoid)
        .with_bias_initializer(burn::nn::Initializer::Normal {
            mean: 0.0,
            std: 0.5,
        });
    grad_check("basic-sigmoid", cfg.init(&device()).unwrap());
}

#[test]
fn lstm_cell() {
    grad_check("lstm", LstmCellConfig::new(I, 4).init(&device()).unwrap());
}

#[test]
fn gru_cell_tf_and_torch_variants() {
    grad_check("gru", GruCellConfig::new(I, 4).init(&device()).unwrap());
    grad_check(
        "gru-reset-after",
        GruCellConfig::new(I, 4)
            .with_reset_after(true)
            .init(&device())
            .unwrap(),
    );
}

#[test]
fn output_projection_wrapper() {
    let dev = device();
    let cell = OutputProjectionWrapperConfig::new(2)
        .init(BasicRnnCellConfig::new(I, 4).init(&dev).unwrap(), &dev)
        .unwrap();
    grad_check("projection", cell);
}

#[test]
fn multi_rnn_cell_of_lstms() {
    let dev = device();
    let cells = vec![
        LstmCellConfig::new(I, 4).init(&dev).unwrap(),
        LstmCellConfig::new(4, 3).init(&dev).unwrap(),
    ];
    let n = grad_check("multi", MultiRnnCell::new(cells).unwrap());
    assert!(n >= 6 * COORDS_PER_PARAM);
}

#[test]
fn dropout_wrapper_keep_one_and_evaluating() {
    // Dropout draws fresh masks at every call, so finite differences see it as the identity
    // only where it is one: keep = 1.0 on a training device, and any keep after `valid()`
    // (whose gradient path is the inner cell's, checked on the inner device below).
    let dev = device();
    let cell = DropoutWrapperConfig::new()
        .init(GruCellConfig::new(I, 4).init(&dev).unwrap())
        .unwrap();
    grad_check("dropout-keep-1", cell);
}

#[test]
fn dropout_wrapper_with_a_fixed_variational_mask_is_exact() {
    // A variational mask drawn once and held in the initial state makes dropout a fixed
    // linear map, so its gradient is checkable: same loss, same masks, every evaluation.
    let dev = device();
    let cell = DropoutWrapperConfig::new()
        .with_output_keep_prob(0.6)
        .with_state_keep_prob(0.7)
        .with_variational_recurrent(true)
        .init(BasicRnnCellConfig::new(I, 4).init(&dev).unwrap())
        .unwrap();
    let probe = Probe::new(&cell, &dev);
    let (_, first) = cell.step(
        probe.x.clone().narrow(1, 0, 1).reshape([B, I]),
        cell.zero_state(B, &dev),
    );
    let masked_state = rnn_core::DropoutState {
        inner: cell.zero_state(B, &dev).inner,
        noise: first.noise,
    };
    let loss = |c: &rnn_core::DropoutWrapper<rnn_core::BasicRnnCell>| {
        let (out, state) = dynamic_rnn(
            c,
            probe.x.clone(),
            Some(masked_state.clone()),
            Some(probe.lengths.clone()),
        )
        .unwrap();
        (out * probe.r_out.clone()).sum() + (state.inner * probe.r_state[0].clone()).sum()
    };
    let grads = loss(&cell).backward();
    let mut collect = CollectGrads {
        grads: &grads,
        out: Vec::new(),
    };
    cell.visit(&mut collect);
    for (k, (vals, grad)) in collect.out.iter().enumerate() {
        for j in 0..COORDS_PER_PARAM.min(vals.len()) {
            let index = (j * 7919 + k * 31) % vals.len();
            let plus = values(&loss(&perturbed(&cell, k, index, EPS)))[0] as f64;
            let minus = values(&loss(&perturbed(&cell, k, index, -EPS)))[0] as f64;
            check_close(
                &format!("variational dropout: param {k}[{index}]"),
                grad[index],
                (plus - minus) / (2.0 * EPS as f64),
            );
        }
    }
}
