//! `f32` matrix products straight into the fused CPU kernels' own buffers, through the `gemm`
//! crate (the GEMM burn-flex itself calls, with its AVX-512 kernels: see Cargo.toml).
//!
//! Calling burn-flex's `float_matmul` allocates a fresh output per product; over a sequence
//! that is one allocation, one page-faulting first touch and one copy per step (21% of the
//! fused MNIST step, measured with perf). Here every product writes into (or accumulates onto)
//! a slice the kernel already owns: the input projection of step `t` is computed in the slot
//! where `h_t` will live, and the recurrent product is added onto it.

use super::pool::Pool;
use super::rows::in_row_blocks;

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

/// Products of at least this many multiply-adds (`m * n * k`, 1 Mi) are split across the
/// caller and the helper threads (see [`threads_for`]); below it one thread is as fast.
/// Measured on the 2-core VM (`Pool::run` with two blocks of rows against one `gemm` call,
/// best of 7, three runs, the range over the runs): `[64, 100] x [100, 100]` (deep3's step,
/// 0.64M) 1.43-1.48x; `[100, 100] x [100, 100]` 1.10-1.18x; `[150, 150] x [150, 150]` (the
/// MNIST step's recurrence, 3.4M) 0.99-1.77x; `[150, 150] x [150, 600]` (the LSTM's) 1.43-1.74x;
/// `[150, 600] x [600, 150]` (its backward) 1.07-1.83x; `[64, 512] x [512, 512]` (H512)
/// 1.61-2.11x (columns, 1.61-2.04x). That is with the helpers awake (they spin between
/// products); a product that would wake them splits only from [`WAKE_THRESHOLD`]. The same
/// threshold decides whether a step of the time loop runs in blocks of rows (`rows.rs`, the recurrent product's work): on the bench's
/// steps (user mode, 3 alternating rounds, median) 1 Mi against 4 Mi gave `mnist-train` 5.2
/// against 6.3 ms and `lstm-train` 22.2 against 20.9 (rounds 18.7-31.9 and 20.7-22.2), and
/// 256 Ki did not speed up the smaller `forecast-train` and `deep3-t20` steps.
pub(crate) const SPLIT_THRESHOLD: usize = 1 << 20;

/// Products that would have to wake the helpers (asleep: no product or step came for
/// [`super::pool`]'s spin time) split only from this many multiply-adds (64 Mi). A sleeping
/// helper takes ~100 us or more to start on the 2-core VMs, so a one-off product of the small
/// models gained nothing from it: `matmul_into` split against one thread, medians of 300
/// alternations, two runs, with the helper spinning / after 1 ms of sleep: `[100, 1280] x
/// [1280, 100]` (deep3's weight gradient) 1.10-1.11x / 0.60-0.80x; `[1280, 100] x [100,
/// 100]` (its input projection) 1.22-1.76x / 0.87-1.00x; `[100, 1000] x [1000, 100]`
/// (forecast's) 1.69x / 0.78-0.96x; `[64, 512] x [512, 512]` 1.27-1.93x / 0.83-0.96x;
/// `[150, 4200] x [4200, 150]` (the MNIST step's) 0.97-1.05x / 1.07-1.22x. The small models'
/// steps are below [`SPLIT_THRESHOLD`], so their helpers sleep and they run on one thread, as
/// fast as a one-thread pool; a bigger model's steps keep the helpers spinning, and the
/// products around its time loop split from [`SPLIT_THRESHOLD`].
pub(crate) const WAKE_THRESHOLD: usize = 64 << 20;

/// The multiply-adds by which a product of `work` is split ([`threads_for`]): none (0) when
/// it is below [`WAKE_THRESHOLD`] and the helpers are asleep.
fn product_work(work: usize) -> usize {
    match work >= WAKE_THRESHOLD || Pool::get().awake() {
        true => work,
        false => 0,
    }
}

/// Fewest output rows (or columns) one thread of a split product gets.
const MIN_SPLIT: usize = 16;

/// How many threads compute a product of `work` multiply-adds whose split dimension is `len`
/// long: 1 below [`SPLIT_THRESHOLD`], on a rayon worker (the caller already runs in parallel)
/// or where rayon's pool has one thread (`RAYON_NUM_THREADS=1`, or a one-thread pool
/// `install`ed); else rayon's thread count, at most the helper pool's width
/// ([`super::pool`]: the caller and one helper per other core) and one per [`MIN_SPLIT`]
/// rows.
pub(crate) fn threads_for(work: usize, len: usize) -> usize {
    if work < SPLIT_THRESHOLD || rayon::current_thread_index().is_some() {
        return 1;
    }
    let threads = rayon::current_num_threads().min(len / MIN_SPLIT);
    if threads <= 1 {
        return 1;
    }
    threads.min(Pool::get().width())
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` with `accumulate`; `dst` is row-major
/// `[lhs.rows, rhs.cols]` at the start of the slice. Panics on mismatched shapes.
pub(crate) fn matmul_into(dst: &mut [f32], lhs: Mat<'_>, rhs: Mat<'_>, accumulate: bool) {
    matmul_into_rows(dst, rhs.cols, lhs, rhs, accumulate);
}

/// As [`matmul_into`], with rows of `dst` `dst_stride` elements apart (a column block of a
/// wider row-major buffer: row `r` of the product is `dst[r * dst_stride..][..rhs.cols]`).
/// A large product is split into blocks of rows (or of columns, when it has more columns than
/// rows) computed by the caller and the helper threads ([`threads_for`], [`super::pool`]).
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
    // Blocks of rows where each thread gets at least MIN_SPLIT of them (measured as fast as or
    // faster than columns on every shape above), else blocks of the longer side.
    let by_rows = m >= n || m >= 2 * MIN_SPLIT;
    let len = if by_rows { m } else { n };
    let out = Out(dst.as_mut_ptr());
    // One block (the whole product) when it is small, would wake the helpers for too little,
    // or the helpers are busy; else the blocks of rows (or columns) split over the caller and
    // the helpers, as a step's rows are.
    in_row_blocks(
        len,
        product_work(m.saturating_mul(n).saturating_mul(k)),
        &|_, block, _| {
            // SAFETY: the blocks of rows (or columns) are disjoint and inside `dst` (checked above).
            unsafe {
                split_block(
                    out,
                    dst_stride,
                    lhs,
                    rhs,
                    accumulate,
                    by_rows,
                    block.start,
                    block.len(),
                )
            }
        },
    );
}

/// The output pointer, sent to the threads of a split product (each writes its own block).
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: the threads of one product write disjoint blocks of the one `dst` the caller
// borrows mutably for the whole scope.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

/// Rows (`by_rows`) or columns `start..start + count` of the product into their block of `out`.
///
/// # Safety
/// The block must lie inside the output the caller checked, and no other thread may write it.
#[allow(clippy::too_many_arguments)]
unsafe fn split_block(
    out: Out,
    dst_stride: usize,
    lhs: Mat<'_>,
    rhs: Mat<'_>,
    accumulate: bool,
    by_rows: bool,
    start: usize,
    count: usize,
) {
    if by_rows {
        let lhs = Mat {
            data: &lhs.data[start * lhs.row_stride..],
            rows: count,
            ..lhs
        };
        // SAFETY: rows `start..start + count` of the output (the caller's contract).
        unsafe {
            gemm_block(
                Out(out.0.add(start * dst_stride)),
                dst_stride,
                lhs,
                rhs,
                accumulate,
            )
        }
    } else {
        let rhs = Mat {
            data: &rhs.data[start * rhs.col_stride..],
            cols: count,
            ..rhs
        };
        // SAFETY: columns `start..start + count` of the output (the caller's contract).
        unsafe { gemm_block(Out(out.0.add(start)), dst_stride, lhs, rhs, accumulate) }
    }
}

/// One single-threaded `gemm` call: `out[r * dst_stride + c] (+)= (lhs · rhs)[r, c]`.
///
/// # Safety
/// Every `out` element of the `[lhs.rows, rhs.cols]` block must be writable by this thread
/// alone; `lhs` and `rhs` are in bounds by construction of [`Mat`].
unsafe fn gemm_block(out: Out, dst_stride: usize, lhs: Mat<'_>, rhs: Mat<'_>, accumulate: bool) {
    // SAFETY: every element gemm reads lies inside `lhs.data` / `rhs.data` (checked when the
    // `Mat`s were built; a sub-block only shortens them) and every element it writes inside the
    // caller's block; the output overlaps neither input (it is a unique borrow).
    unsafe {
        gemm::gemm(
            lhs.rows,
            rhs.cols,
            lhs.cols,
            out.0,
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
            gemm::Parallelism::None,
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
            // Above SPLIT_THRESHOLD: split by rows (m >= n, then m >= 2 * MIN_SPLIT), then by
            // columns (m < 2 * MIN_SPLIT and m < n), on the caller and the helpers.
            (420, 300, 300),
            (40, 3000, 300),
            (20, 500, 400),
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
    fn only_large_products_off_rayons_threads_are_split() {
        assert_eq!(threads_for(SPLIT_THRESHOLD - 1, 10_000), 1);
        assert_eq!(threads_for(SPLIT_THRESHOLD, MIN_SPLIT), 1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // On a worker of the pool: the caller is already parallel.
        assert_eq!(pool.install(|| threads_for(usize::MAX, 10_000)), 1);
        assert_eq!(
            threads_for(usize::MAX, 10_000),
            rayon::current_num_threads().min(Pool::get().width())
        );
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
