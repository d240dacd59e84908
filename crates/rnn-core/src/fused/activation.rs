//! Vectorised activations on `f32` slices, for the CPU kernel of the fused path.
//!
//! burn-flex 0.22 computes `tanh` with scalar libm (`tanhf`), about 20-35 ns per element: on
//! the book's MNIST step (28 x [150, 150] per forward) that was the largest single cost of the
//! whole training step. Here `tanh` is a rational approximation (Eigen's 13/6 form, clamped at
//! +-7.9053, where f32 tanh is +-1) evaluated 8 lanes at a time with AVX2 + FMA when the CPU has
//! them (checked at run time), and with the same formula lane by lane otherwise. Its error
//! against libm's `tanhf` is below 1e-6 absolute. `sigmoid(x) = 0.5 + 0.5 tanh(x / 2)` reuses
//! it; `relu` keeps NaN as NaN (as burn's relu, which zeroes only `x <= 0`).

use crate::Activation;

const CLAMP: f32 = 7.905_311;
const TINY: f32 = 0.0004;
const ALPHA: [f32; 7] = [
    4.893_524_6e-3,
    6.372_619_3e-4,
    1.485_722_4e-5,
    5.122_297e-8,
    -8.604_672e-11,
    2.000_188e-13,
    -2.760_768_5e-16,
];
const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];

/// `tanh` of one value with the kernel's formula (used for the tail of a slice).
#[inline]
pub(crate) fn tanh_scalar(a: f32) -> f32 {
    if a.abs() < TINY {
        return a;
    }
    let x = a.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = x2.mul_add(ALPHA[6], ALPHA[5]);
    for &alpha in ALPHA[..5].iter().rev() {
        p = x2.mul_add(p, alpha);
    }
    p *= x;
    let mut q = x2.mul_add(BETA[3], BETA[2]);
    q = x2.mul_add(q, BETA[1]);
    q = x2.mul_add(q, BETA[0]);
    p / q
}

/// `tanh` in place over `v`.
pub(crate) fn tanh_inplace(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { x86::tanh_avx2(v, 1.0, 0.0, 1.0) };
        return;
    }
    for x in v.iter_mut() {
        *x = tanh_scalar(*x);
    }
}

/// `1 / (1 + e^-x)` in place over `v`, as `0.5 + 0.5 tanh(x / 2)`.
pub(crate) fn sigmoid_inplace(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { x86::tanh_avx2(v, 0.5, 0.5, 0.5) };
        return;
    }
    for x in v.iter_mut() {
        *x = 0.5f32.mul_add(tanh_scalar(0.5 * *x), 0.5);
    }
}

/// Applies `activation` in place over `v`.
pub(crate) fn activate_inplace(v: &mut [f32], activation: Activation) {
    match activation {
        Activation::Tanh => tanh_inplace(v),
        Activation::Sigmoid => sigmoid_inplace(v),
        // A select, not a conditional store: the compiler vectorises it without a branch per
        // element (the branchy form was 11% of `forecast-train`, mispredicting on random
        // signs). NaN stays NaN (`NaN <= 0` is false).
        Activation::Relu => {
            for x in v.iter_mut() {
                *x = if *x <= 0.0 { 0.0 } else { *x };
            }
        }
        Activation::Identity => {}
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{ALPHA, BETA, CLAMP, TINY, tanh_scalar};

    /// `v[i] = scale_out * tanh(scale_in * v[i]) + shift` (tanh: 1, 0, 1; sigmoid: .5, .5, .5).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tanh_avx2(v: &mut [f32], scale_out: f32, shift: f32, scale_in: f32) {
        let n8 = v.len() / 8 * 8;
        let (head, tail) = v.split_at_mut(n8);
        let clamp_hi = _mm256_set1_ps(CLAMP);
        let clamp_lo = _mm256_set1_ps(-CLAMP);
        let tiny = _mm256_set1_ps(TINY);
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let a = ALPHA.map(|c| _mm256_set1_ps(c));
        let b = BETA.map(|c| _mm256_set1_ps(c));
        let s_in = _mm256_set1_ps(scale_in);
        let s_out = _mm256_set1_ps(scale_out);
        let sh = _mm256_set1_ps(shift);
        for chunk in head.chunks_exact_mut(8) {
            let ptr = chunk.as_mut_ptr();
            // SAFETY: `chunk` holds exactly 8 f32; unaligned load/store.
            let raw = _mm256_mul_ps(unsafe { _mm256_loadu_ps(ptr) }, s_in);
            let x = _mm256_max_ps(_mm256_min_ps(raw, clamp_hi), clamp_lo);
            let is_tiny = _mm256_cmp_ps(_mm256_and_ps(raw, abs_mask), tiny, _CMP_LT_OQ);
            let x2 = _mm256_mul_ps(x, x);
            let mut p = _mm256_fmadd_ps(x2, a[6], a[5]);
            p = _mm256_fmadd_ps(x2, p, a[4]);
            p = _mm256_fmadd_ps(x2, p, a[3]);
            p = _mm256_fmadd_ps(x2, p, a[2]);
            p = _mm256_fmadd_ps(x2, p, a[1]);
            p = _mm256_fmadd_ps(x2, p, a[0]);
            p = _mm256_mul_ps(x, p);
            let mut q = _mm256_fmadd_ps(x2, b[3], b[2]);
            q = _mm256_fmadd_ps(x2, q, b[1]);
            q = _mm256_fmadd_ps(x2, q, b[0]);
            let t = _mm256_blendv_ps(_mm256_div_ps(p, q), raw, is_tiny);
            let y = _mm256_fmadd_ps(t, s_out, sh);
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(ptr, y) };
        }
        for x in tail.iter_mut() {
            *x = scale_out.mul_add(tanh_scalar(scale_in * *x), shift);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<f32> {
        (-4000..=4000).map(|k| k as f32 * 0.0031).collect()
    }

    #[test]
    fn fast_tanh_is_within_1e_6_of_libm_everywhere() {
        let xs: Vec<f32> = grid()
            .into_iter()
            .chain([0.0, 1e-5, -3e-4, 20.0, -20.0, 1e30, -1e30])
            .collect();
        let mut v = xs.clone();
        tanh_inplace(&mut v);
        for (x, y) in xs.iter().zip(&v) {
            assert!(
                (y - x.tanh()).abs() <= 1e-6,
                "tanh({x}) = {y}, libm {}",
                x.tanh()
            );
            assert!(
                (tanh_scalar(*x) - y).abs() <= 1e-6,
                "scalar tail differs at {x}"
            );
        }
    }

    #[test]
    fn fast_sigmoid_and_relu_match_their_definitions() {
        let xs = grid();
        let mut s = xs.clone();
        sigmoid_inplace(&mut s);
        let mut r = xs.clone();
        activate_inplace(&mut r, Activation::Relu);
        for ((x, s), r) in xs.iter().zip(&s).zip(&r) {
            let exact = 1.0 / (1.0 + (-*x as f64).exp());
            assert!((*s as f64 - exact).abs() <= 1e-6, "sigmoid({x}) = {s}");
            assert_eq!(*r, x.max(0.0));
        }
        let mut nan = [f32::NAN];
        activate_inplace(&mut nan, Activation::Relu);
        assert!(nan[0].is_nan());
    }
}
