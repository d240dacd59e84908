//! The fused basic-RNN sequence on the flex CPU backend, on raw `f32` buffers.
//!
//! Same maths and same matmuls as [`super::kernels`] (burn-flex's GEMM, which reads transposed
//! views through strides without copying), but on time-major buffers and with every
//! element-wise step one pass written by hand. Forward: `h_t = act(h_{t-1} wh + xp_t + b)` is
//! computed in place in the GEMM's fresh output (vectorised
//! tanh/sigmoid, see [`super::activation`]) and copied into slot `t + 1` of one
//! `[T+1, B, H]` buffer whose slot 0 is `h0`; the output `[B, T, H]` is a view of it (no
//! concatenation). Backward: `dz_t = (dH_t + dh_next) * act'(h_t)` in one pass into a
//! time-major `dZ [T*B, H]`; `Hprev` is slots `0..T` of the saved buffer, read in place.
//! Only `f32` tensors take this path; anything else falls back to the generic kernels.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Shape, TensorMetadata};
use burn::tensor::{DType, TensorData};

use super::activation::activate_inplace;
use super::kernels::{Needs, SavedSequence, SequenceGrads};
use crate::Activation;

/// True when every tensor is `f32` (the only dtype this kernel handles).
pub(crate) fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// A contiguous `f32` copy-free view of `t` when it already is one, else a contiguous copy.
fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (checked by the caller)")
}

fn tensor(values: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A uniquely owned, contiguous tensor whose storage can be written in place.
fn owned(t: FlexTensor) -> FlexTensor {
    if t.is_unique() && t.is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        FlexTensor::from_data(t.into_data())
    }
}

/// Forward, `hs [B, T, H]` (a batch-major view of a time-major buffer), and with `needs`
/// what the backward keeps. Before the loop: `x` copied time-major, one `[T*B, I] x [I, H]`
/// GEMM. Per step: one `[B, H] x [H, H]` GEMM, one pass over `[B, H]` (add `xp_t + b`), the
/// activation in place, one contiguous copy into slot `t + 1` of the
/// `[T+1, B, H]` buffer whose slot 0 is `h0`.
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
    let x_tm = {
        let xc = contiguous(&x);
        let xv = values(&xc);
        let mut tm = vec![0.0f32; t * bs * i];
        for r in 0..bs {
            for s in 0..t {
                tm[(s * bs + r) * i..][..i].copy_from_slice(&xv[(r * t + s) * i..][..i]);
            }
        }
        tensor(tm, [t * bs, i])
    };
    let xp = contiguous(&Flex::float_matmul(x_tm.clone(), wx.clone()));
    let xp = values(&xp);
    let b = contiguous(&b);
    let bias = values(&b);
    let mut all = vec![0.0f32; (t + 1) * n];
    let h0c = contiguous(&h0);
    all[..n].copy_from_slice(values(&h0c));
    let mut hprev = h0;
    for s in 0..t {
        let mut m = owned(Flex::float_matmul(hprev, wh.clone()));
        let ms: &mut [f32] = &mut m.storage_mut::<f32>()[..n];
        for (row, x_row) in ms.chunks_exact_mut(h).zip(xp[s * n..].chunks_exact(h)) {
            for ((v, xv), bv) in row.iter_mut().zip(x_row).zip(bias) {
                *v += xv + bv;
            }
        }
        activate_inplace(ms, activation);
        all[(s + 1) * n..(s + 2) * n].copy_from_slice(ms);
        hprev = m;
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
/// [`super::kernels::backward`]. `dZ` is built time-major, so `Hprev` (slots `0..T` of the
/// saved `[T+1, B, H]` buffer) and `X` (saved time-major) are read in place by the
/// weight-gradient GEMMs.
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
    let (hs, dhs) = (contiguous(&hs), contiguous(&dhs));
    let (hs_v, dhs_v) = (values(&hs), values(&dhs));
    let wh_t = Flex::float_transpose(wh);
    let mut dz_all = vec![0.0f32; t * n];
    let mut dh_next: Option<FlexTensor> = None;
    for s in (0..t).rev() {
        let mut dz = vec![0.0f32; n];
        let next = dh_next.take().map(|n| contiguous(&n));
        let nv = next.as_ref().map(values);
        let hv = &hs_v[(s + 1) * n..(s + 2) * n];
        let args = (&mut dz[..], dhs_v, nv, hv, s, t, h);
        match activation {
            Activation::Tanh => call(args, |y| 1.0 - y * y),
            Activation::Sigmoid => call(args, |y| y * (1.0 - y)),
            Activation::Relu => call(args, |y| if y > 0.0 { 1.0 } else { 0.0 }),
            Activation::Identity => call(args, |_| 1.0),
        }
        dz_all[s * n..(s + 1) * n].copy_from_slice(&dz);
        if s > 0 || needs.h0 {
            dh_next = Some(Flex::float_matmul(tensor(dz, [bs, h]), wh_t.clone()));
        }
    }
    let dz = tensor(dz_all, [t * bs, h]);

    let wh_grad = needs.wh.then(|| {
        let hprev = hs.narrow(0, 0, t).reshape(Shape::new([t * bs, h]));
        Flex::float_matmul(Flex::float_transpose(hprev), dz.clone())
    });
    let wx_grad = needs.wx.then(|| {
        let x_tm = x.expect("x kept when wx needs a gradient");
        Flex::float_matmul(Flex::float_transpose(x_tm), dz.clone())
    });
    let b_grad = needs
        .b
        .then(|| Flex::float_reshape(Flex::float_sum_dim(dz.clone(), 0), Shape::new([h])));
    let x_grad = needs.x.then(|| {
        let wx = wx.expect("wx kept when x needs a gradient");
        let i = wx.shape().dims::<2>()[0];
        let dx = Flex::float_matmul(dz, Flex::float_transpose(wx));
        contiguous(&dx.reshape(Shape::new([t, bs, i])).transpose(0, 1))
    });
    SequenceGrads {
        x: x_grad,
        h0: if needs.h0 { dh_next } else { None },
        wx: wx_grad,
        wh: wh_grad,
        b: b_grad,
    }
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
