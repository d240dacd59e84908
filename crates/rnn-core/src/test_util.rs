//! Helpers for rnn-core's tests.

use burn::tensor::{Device, Tensor};

/// The device tests run on: `BURN_DEVICE` or the build's default.
pub fn device() -> Device {
    crate::device::default_device().expect("a device for tests")
}

/// The values of a tensor, flattened.
pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().try_into_vec_as::<f32>().unwrap()
}

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff<const D: usize>(a: &Tensor<D>, b: &Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts two tensors agree within `tol` (absolute).
#[track_caller]
pub fn assert_close<const D: usize>(a: &Tensor<D>, b: &Tensor<D>, tol: f32) {
    let d = max_abs_diff(a, b);
    assert!(
        d <= tol,
        "max |a - b| = {d} > {tol}\na = {:?}\nb = {:?}",
        values(a),
        values(b)
    );
}
