//! The fused basic-RNN sequence on the flex CPU backend, on raw `f32` buffers.
//!
//! Same maths and same matmuls as [`super::kernels`], but on time-major buffers the kernel owns,
//! with every product written or accumulated in place by [`super::gemm::matmul_into`] (reading
//! transposed views through strides, without copies) and every element-wise step one pass
//! written by hand. Forward: `h_t = act(b + x_t wx + h_{t-1} wh)` is built in slot `t + 1` of
//! one `[T+1, B, H]` buffer whose slot 0 is `h0` (vectorised tanh/sigmoid, see
//! [`super::activation`]); the output `[B, T, H]` is a view of it (no concatenation).
//! Backward: `dz_t = (dH_t + dh_next) * act'(h_t)` in one pass into a time-major
//! `dZ [T*B, H]`; `Hprev` is slots `0..T` of the saved buffer, read in place.
//! Only `f32` tensors take this path; anything else falls back to the generic kernels.

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorData};

use super::activation::activate_inplace;
use super::gemm::{Mat, matmul_into};
use super::kernels::{Needs, SavedSequence, SequenceGrads};
use crate::Activation;

/// True when every tensor is `f32` (the only dtype this kernel handles).
pub(crate) fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// A contiguous `f32` copy-free view of `t` when it already is one, else a contiguous copy.
pub(crate) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

pub(crate) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (checked by the caller)")
}

pub(crate) fn tensor(values: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `x [B, T, I]` copied time-major: `[T*B, I]`, row `s*B + r` is `x[r, s]`.
pub(crate) fn time_major(x: &FlexTensor) -> FlexTensor {
    let [bs, t, i] = x.shape().dims::<3>();
    let xc = contiguous(x);
    let xv = values(&xc);
    let mut tm = vec![0.0f32; t * bs * i];
    for r in 0..bs {
        for s in 0..t {
            tm[(s * bs + r) * i..][..i].copy_from_slice(&xv[(r * t + s) * i..][..i]);
        }
    }
    tensor(tm, [t * bs, i])
}

/// Forward, `hs [B, T, H]` (a batch-major view of a time-major buffer), and with `needs`
/// what the backward keeps. One `[T+1, B, H]` buffer, slot 0 `h0`: before the loop every slot
/// `1..=T` gets the bias and then `x_t wx` added by one `[T*B, I] x [I, H]` GEMM; per step the
/// recurrent GEMM adds `h_{t-1} wh` onto slot `t` and the activation runs in place there. No
/// allocation inside the loop.
pub(crate) fn forward(
    x: FlexTensor,
    h0: FlexTensor,
    wx: FlexTensor,
    wh: FlexTensor,
    b: FlexTensor,
    activation: Activation,
    needs: Option<Needs>,
) -> (FlexTensor, Option<SavedSequence<Flex>>) {
    let [bs, t, i] = x.shape().dims::<3>();
    let h = wh.shape().dims::<2>()[1];
    let n = bs * h;
    let x_tm = time_major(&x);
    let (wx_c, wh_c, b_c) = (contiguous(&wx), contiguous(&wh), contiguous(&b));
    let mut all = vec![0.0f32; (t + 1) * n];
    all[..n].copy_from_slice(values(&contiguous(&h0)));
    for row in all[n..].chunks_exact_mut(h) {
        row.copy_from_slice(values(&b_c));
    }
    let xv = values(&x_tm);
    matmul_into(
        &mut all[n..],
        Mat::new(xv, t * bs, i),
        Mat::new(values(&wx_c), i, h),
        true,
    );
    let whv = values(&wh_c);
    for s in 0..t {
        let (prev, cur) = all.split_at_mut((s + 1) * n);
        let cur = &mut cur[..n];
        matmul_into(
            cur,
            Mat::new(&prev[s * n..], bs, h),
            Mat::new(whv, h, h),
            true,
        );
        activate_inplace(cur, activation);
    }
    let all = FlexTensor::from_data(TensorData::new(all, [t + 1, bs, h]));
    let out = all.narrow(0, 1, t).transpose(0, 1);
    let saved = needs.map(|needs| SavedSequence {
        x: needs.wx.then_some(x_tm),
        h0: None,
        wx: needs.x.then_some(wx),
        wh,
        hs: all,
        activation,
        time_major: true,
    });
    (out, saved)
}

/// Gradients `|dz| <` this are set to zero in the backward's time loop.
///
/// Over long sequences the dh recurrence decays geometrically into subnormal floats, and every
/// GEMM and element-wise pass on subnormals is many times slower on x86 (measured: B64 H150
/// T1024 took 4x longer per step than T256). This is flush-to-zero done in the data rather than
/// in the FPU's control register (which would have to be set on burn's rayon workers too), with
/// headroom: a `dz` kept is at least 1e-30, so its products with weights stay normal. Such
/// values are below f32's resolution next to any gradient above ~1e-23 in the same sum.
pub(crate) const FLUSH_BELOW: f32 = 1e-30;

/// One step of the dh recurrence for every example: `dz = (dH_t + dh_next) * d(h_t)` into
/// `dz [B, H]`, values below [`FLUSH_BELOW`] flushed to zero; `dhs [B, T, H]` is batch-major,
/// `h_t` and `dh_next` are `[B, H]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dz_rows(
    dz: &mut [f32],
    dhs: &[f32],
    dh_next: Option<&[f32]>,
    h_t: &[f32],
    s: usize,
    t: usize,
    h: usize,
    deriv: impl Fn(f32) -> f32 + Copy,
) {
    for (r, (dz, h_row)) in dz.chunks_exact_mut(h).zip(h_t.chunks_exact(h)).enumerate() {
        let dh_row = &dhs[(r * t + s) * h..][..h];
        match dh_next {
            Some(n) => {
                let n_row = &n[r * h..(r + 1) * h];
                for (((o, g), n), y) in dz.iter_mut().zip(dh_row).zip(n_row).zip(h_row) {
                    let v = (g + n) * deriv(*y);
                    *o = if v.abs() < FLUSH_BELOW { 0.0 } else { v };
                }
            }
            None => {
                for ((o, g), y) in dz.iter_mut().zip(dh_row).zip(h_row) {
                    let v = g * deriv(*y);
                    *o = if v.abs() < FLUSH_BELOW { 0.0 } else { v };
                }
            }
        }
    }
}

/// Hand-written BPTT on the forward's time-major buffers; the same gradients as
/// [`super::kernels::backward`]. `dZ [T*B, H]` is built time-major, so `Hprev` (slots `0..T`
/// of the saved `[T+1, B, H]` buffer) and `X` (saved time-major) are read in place by the
/// weight-gradient GEMMs. The loop reuses one `dh_next` buffer: no allocation per step.
pub(crate) fn backward(
    saved: SavedSequence<Flex>,
    dhs: FlexTensor,
    needs: Needs,
) -> SequenceGrads<Flex> {
    let SavedSequence {
        x,
        wx,
        wh,
        hs,
        activation,
        ..
    } = saved;
    let [t1, bs, h] = hs.shape().dims::<3>();
    let (t, n) = (t1 - 1, bs * h);
    let (hs, dhs, wh) = (contiguous(&hs), contiguous(&dhs), contiguous(&wh));
    let (hs_v, dhs_v, whv) = (values(&hs), values(&dhs), values(&wh));
    let mut dz_all = vec![0.0f32; t * n];
    let mut dh_next = vec![0.0f32; n];
    let mut have_next = false;
    for s in (0..t).rev() {
        let dz = &mut dz_all[s * n..(s + 1) * n];
        let nv = have_next.then_some(&dh_next[..]);
        let hv = &hs_v[(s + 1) * n..(s + 2) * n];
        let args = (&mut dz[..], dhs_v, nv, hv, s, t, h);
        match activation {
            Activation::Tanh => call(args, |y| 1.0 - y * y),
            Activation::Sigmoid => call(args, |y| y * (1.0 - y)),
            Activation::Relu => call(args, |y| if y > 0.0 { 1.0 } else { 0.0 }),
            Activation::Identity => call(args, |_| 1.0),
        }
        if s > 0 || needs.h0 {
            matmul_into(
                &mut dh_next,
                Mat::new(dz, bs, h),
                Mat::new(whv, h, h).t(),
                false,
            );
            have_next = true;
        }
    }
    let dz = Mat::new(&dz_all, t * bs, h);
    let wh_grad = needs.wh.then(|| {
        let mut g = vec![0.0f32; h * h];
        matmul_into(&mut g, Mat::new(&hs_v[..t * n], t * bs, h).t(), dz, false);
        tensor(g, [h, h])
    });
    let x_tm = x.map(|x| contiguous(&x));
    let wx_grad = needs.wx.then(|| {
        let x_tm = x_tm.as_ref().expect("x kept when wx needs a gradient");
        let i = x_tm.shape().dims::<2>()[1];
        let mut g = vec![0.0f32; i * h];
        matmul_into(&mut g, Mat::new(values(x_tm), t * bs, i).t(), dz, false);
        tensor(g, [i, h])
    });
    let b_grad = needs.b.then(|| column_sums(&dz_all, h));
    let x_grad = needs.x.then(|| {
        let wx = contiguous(&wx.expect("wx kept when x needs a gradient"));
        let i = wx.shape().dims::<2>()[0];
        let mut dx = vec![0.0f32; t * bs * i];
        matmul_into(&mut dx, dz, Mat::new(values(&wx), i, h).t(), false);
        batch_major(&dx, t, bs, i)
    });
    SequenceGrads {
        x: x_grad,
        h0: (needs.h0 && have_next).then(|| tensor(dh_next, [bs, h])),
        wx: wx_grad,
        wh: wh_grad,
        b: b_grad,
    }
}

/// The sums of the columns of a row-major `[rows, width]` slice: `[width]`.
pub(crate) fn column_sums(v: &[f32], width: usize) -> FlexTensor {
    let mut sums = vec![0.0f32; width];
    for row in v.chunks_exact(width) {
        for (acc, x) in sums.iter_mut().zip(row) {
            *acc += x;
        }
    }
    FlexTensor::from_data(TensorData::new(sums, [width]))
}

/// A time-major `[T*B, W]` slice (row `s*B + r`) as a batch-major `[B, T, W]` tensor.
pub(crate) fn batch_major(v: &[f32], t: usize, bs: usize, w: usize) -> FlexTensor {
    let mut out = vec![0.0f32; t * bs * w];
    for s in 0..t {
        for r in 0..bs {
            out[(r * t + s) * w..][..w].copy_from_slice(&v[(s * bs + r) * w..][..w]);
        }
    }
    FlexTensor::from_data(TensorData::new(out, [bs, t, w]))
}

type DzArgs<'a> = (
    &'a mut [f32],
    &'a [f32],
    Option<&'a [f32]>,
    &'a [f32],
    usize,
    usize,
    usize,
);

#[inline(always)]
fn call(args: DzArgs<'_>, deriv: impl Fn(f32) -> f32 + Copy) {
    let (dz, dhs, n, h_t, s, t, h) = args;
    dz_rows(dz, dhs, n, h_t, s, t, h, deriv);
}
