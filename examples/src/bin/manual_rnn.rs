//! The chapter's first RNN, built by hand: one layer of 5 recurrent neurons unrolled over two
//! steps, `Y0 = tanh(X0 Wx + b)`, `Y1 = tanh(Y0 Wy + X1 Wx + b)`. Prints the random weights
//! `Wx`, `Wy` (b is zero), then `Y0` and `Y1`.
//!
//! Run: `cargo run -p examples --bin manual_rnn [-- --device flex|ndarray|wgpu]`

use burn::tensor::{Distribution, Tensor};
use examples::{X0, X1, device_flag, tensor2};

fn main() -> anyhow::Result<()> {
    let device = examples::device(device_flag().as_deref())?;
    device.seed(42);
    let (n_inputs, n_neurons) = (3, 5);
    let wx = Tensor::<2>::random(
        [n_inputs, n_neurons],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let wy = Tensor::<2>::random(
        [n_neurons, n_neurons],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let b = Tensor::<2>::zeros([1, n_neurons], &device);

    println!("Wx [3, 5]:\n{}", wx);
    println!("Wy [5, 5]:\n{}", wy);
    let x0 = tensor2(&X0, &device);
    let x1 = tensor2(&X1, &device);
    let y0 = (x0.matmul(wx.clone()) + b.clone()).tanh();
    let y1 = (y0.clone().matmul(wy) + x1.matmul(wx) + b).tanh();
    println!("Y0 [4, 5] (outputs at t = 0):\n{}", y0);
    println!("Y1 [4, 5] (outputs at t = 1):\n{}", y1);
    Ok(())
}
