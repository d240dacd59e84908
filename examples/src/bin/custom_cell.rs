//! A user's own cell on rnn-core's trait: a "minimal gated" cell (one gate),
//! `f = σ(x W_f + h U_f + b_f)`, `h' = f ⊙ h + (1 − f) ⊙ tanh(x W + (f ⊙ h) U + b)`.
//! Implementing `RnnCell` is all it takes: it unrolls with `dynamic_rnn` and `static_rnn`,
//! handles `sequence_length`, stacks in `MultiRnnCell`, and takes an `OutputProjectionWrapper`.
//!
//! Run: `cargo run -p examples --bin custom_cell [-- --device flex|ndarray|wgpu]`

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor};
use rnn_core::{MultiRnnCell, OutputProjectionWrapperConfig, RnnCell, dynamic_rnn};

/// The minimal gated unit: state and output `[B, H]`.
#[derive(Module, Debug)]
struct MinimalGatedCell {
    /// `[I, 2H]`: the gate's and the candidate's input kernels side by side.
    wx: Param<Tensor<2>>,
    /// `[H, H]`, the gate's recurrent kernel.
    uf: Param<Tensor<2>>,
    /// `[H, H]`, the candidate's recurrent kernel.
    u: Param<Tensor<2>>,
    /// `[2H]`.
    bias: Param<Tensor<1>>,
}

impl MinimalGatedCell {
    fn new(n_inputs: usize, n_neurons: usize, device: &Device) -> Self {
        // Glorot needs the fans: burn's `init` without them panics, so pass them.
        let glorot = |rows: usize, cols: usize| {
            Initializer::XavierUniform { gain: 1.0 }.init_with(
                [rows, cols],
                Some(rows),
                Some(cols),
                device,
            )
        };
        Self {
            wx: glorot(n_inputs, 2 * n_neurons),
            uf: glorot(n_neurons, n_neurons),
            u: glorot(n_neurons, n_neurons),
            bias: Initializer::Zeros.init([2 * n_neurons], device),
        }
    }
}

impl RnnCell for MinimalGatedCell {
    type State = Tensor<2>; // a plain [B, H] state already implements RnnState

    fn input_size(&self) -> usize {
        self.wx.shape()[0]
    }

    fn output_size(&self) -> usize {
        self.u.shape()[0]
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> Tensor<2> {
        Tensor::zeros([batch_size, self.output_size()], device)
    }

    fn step(&self, x: Tensor<2>, h: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let n = self.output_size();
        let xw = x.matmul(self.wx.val()) + self.bias.val().unsqueeze_dim::<2>(0);
        let f = sigmoid(xw.clone().narrow(1, 0, n) + h.clone().matmul(self.uf.val()));
        let candidate = (xw.narrow(1, n, n) + (f.clone() * h.clone()).matmul(self.u.val())).tanh();
        let new_h = candidate.clone() + f * (h - candidate);
        (new_h.clone(), new_h)
    }
}

fn main() -> anyhow::Result<()> {
    let flag = std::env::args().skip_while(|a| a != "--device").nth(1);
    let device = examples::device(flag.as_deref())?;
    let (n_inputs, n_neurons, n_outputs) = (3, 8, 2);

    let stack = MultiRnnCell::new(vec![
        MinimalGatedCell::new(n_inputs, n_neurons, &device),
        MinimalGatedCell::new(n_neurons, n_neurons, &device),
    ])?;
    let model = OutputProjectionWrapperConfig::new(n_outputs).init(stack, &device)?;

    let x = Tensor::<3>::random([4, 5, n_inputs], Distribution::Normal(0.0, 1.0), &device);
    let lengths = Tensor::<1, Int>::from_ints([5, 3, 1, 4], &device);
    let (outputs, states) = dynamic_rnn(&model, x, None, Some(lengths))?;

    println!("device: {}", rnn_core::device::device_name(&device));
    println!("outputs [B, T, O] = {:?}", outputs.dims());
    println!("{outputs}");
    println!(
        "final state of each layer [B, H] = {:?}",
        states.iter().map(|s| s.dims()).collect::<Vec<_>>()
    );
    Ok(())
}
