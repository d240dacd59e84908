//! `f32` matrix products straight into the fused CPU kernels' own buffers, through the `gemm`
//! crate (the GEMM burn-flex itself calls, with its AVX-512 kernels: see Cargo.toml).
//!
//! Calling burn-flex's `float_matmul` allocates a fresh output per product; over a sequence
//! that is one allocation, one page-faulting first touch and one copy per step (21% of the
//! fused MNIST step, measured with perf). Here every product writes into (or accumulates onto)
//! a slice the kernel already owns: the input projection of step `t` is computed in the slot
//! where `h_t` will live, and the recurrent product is added onto it.

/// A read-only `rows x cols` matrix in a slice: element `(r, c)` is
/// `data[r * row_stride + c * col_stride]` (strides in elements, non-negative). A transposed
/// view is the same slice with the strides swapped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `[rows, cols]` matrix at the start of `data`.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// Any strides; panics when an element would fall outside `data`.
    pub(crate) fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
            assert!(
                last < data.len(),
                "matrix [{rows}, {cols}] with strides ({row_stride}, {col_stride}) needs {} \
                 elements, the slice has {}",
                last + 1,
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// The transpose, `[cols, rows]`, without a copy.
    pub(crate) fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

/// Products of at least this many multiply-adds (`m * n * k`) run on the rayon pool, as in
/// burn-flex (192^3): below it, splitting costs more than it gains.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// `dst = lhs · rhs`, or `dst += lhs · rhs` with `accumulate`; `dst` is row-major
/// `[lhs.rows, rhs.cols]` at the start of the slice. Panics on mismatched shapes.
pub(crate) fn matmul_into(dst: &mut [f32], lhs: Mat<'_>, rhs: Mat<'_>, accumulate: bool) {
    matmul_into_rows(dst, rhs.cols, lhs, rhs, accumulate);
}

/// As [`matmul_into`], with rows of `dst` `dst_stride` elements apart (a column block of a
/// wider row-major buffer: row `r` of the product is `dst[r * dst_stride..][..rhs.cols]`).
pub(crate) fn matmul_into_rows(
    dst: &mut [f32],
    dst_stride: usize,
    lhs: Mat<'_>,
    rhs: Mat<'_>,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(
        rhs.rows, k,
        "inner dimensions: [{m}, {k}] x [{}, {n}]",
        rhs.rows
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst_stride >= n && dst.len() > (m - 1) * dst_stride + n - 1,
        "output [{m}, {n}] with row stride {dst_stride} does not fit in {} elements",
        dst.len()
    );
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                dst[row * dst_stride..][..n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every element gemm reads lies inside `lhs.data` / `rhs.data` (checked when the
    // `Mat`s were built) and every element it writes inside `dst` (checked above); `dst` is a
    // unique borrow, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
        let mut out = vec![0.0f32; a.rows * b.cols];
        for r in 0..a.rows {
            for c in 0..b.cols {
                out[r * b.cols + c] = (0..a.cols)
                    .map(|j| {
                        a.data[r * a.row_stride + j * a.col_stride]
                            * b.data[j * b.row_stride + c * b.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|k| {
                ((k as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn products_match_the_naive_sum_for_plain_transposed_and_accumulated_operands() {
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 2),
            (17, 9, 33),
            (150, 28, 150),
            (200, 210, 190),
        ] {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let (am, bm) = (Mat::new(&a, m, k), Mat::new(&b, k, n));
            let expected = naive(am, bm);
            let mut out = vec![f32::NAN; m * n];
            matmul_into(&mut out, am, bm, false);
            let close = |x: &[f32], y: &[f32]| {
                x.iter()
                    .zip(y)
                    .all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + q.abs()))
            };
            assert!(close(&out, &expected), "[{m},{k}]x[{k},{n}]");
            // The same product from transposed storage: a^T stored [k, m], b^T stored [n, k].
            let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|x| b[(x % k) * n + x / k]).collect();
            let mut out_t = vec![0.0f32; m * n];
            matmul_into(
                &mut out_t,
                Mat::new(&at, k, m).t(),
                Mat::new(&bt, n, k).t(),
                false,
            );
            assert!(close(&out_t, &expected), "transposed [{m},{k}]x[{k},{n}]");
            // Accumulating onto an existing value adds.
            let mut acc = vec![1.5f32; m * n];
            matmul_into(&mut acc, am, bm, true);
            let plus: Vec<f32> = expected.iter().map(|v| v + 1.5).collect();
            assert!(close(&acc, &plus), "accumulated [{m},{k}]x[{k},{n}]");
        }
    }

    #[test]
    #[should_panic(expected = "needs 7 elements, the slice has 6")]
    fn a_view_past_the_end_of_its_slice_is_refused() {
        let v = [0.0f32; 6];
        let _ = Mat::strided(&v, 2, 2, 5, 1);
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn mismatched_inner_dimensions_are_refused() {
        let (a, b) = ([0.0f32; 6], [0.0f32; 6]);
        let mut out = [0.0f32; 4];
        matmul_into(&mut out, Mat::new(&a, 2, 3), Mat::new(&b, 2, 3), false);
    }
}
