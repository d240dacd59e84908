//! One step of the time loop in blocks of rows on the helper threads ([`super::pool`]).
//!
//! Every cell's step is row-local: row `r` of the new state, the gates and the gradients
//! depends only on row `r` of the previous state and of `A` (and on the weights). So a step of
//! `n` rows splits into blocks of rows, each running the cell's whole step (its recurrent
//! products and its element-wise gates) for its rows, with one wait per step instead of one per
//! product, and the element-wise work split too.

use std::ops::Range;

use super::gemm::threads_for;
use super::pool::Pool;

/// A mutable buffer shared by the blocks of one step, each borrowing its own rows.
#[derive(Clone, Copy)]
pub(crate) struct Rows {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: the blocks of a step borrow disjoint ranges (the contract of `Rows::get`), and the
// step's caller holds the unique borrow of the whole buffer until every block has finished.
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

impl Rows {
    /// The buffer, borrowed for the step.
    pub(crate) fn new(v: &mut [f32]) -> Self {
        Self {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }

    /// Elements `start..start + len`.
    ///
    /// # Safety
    /// No other live borrow from this buffer may overlap them, and the buffer given to
    /// [`Rows::new`] must outlive the returned slice.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(
            start + len <= self.len,
            "rows {start}..{} of a buffer of {}",
            start + len,
            self.len
        );
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Runs `f(block, rows, per)` for the blocks of `n` rows (a step's, whose recurrent products
/// take `work` multiply-adds; or a product's output rows or columns, `gemm.rs`), and returns
/// once all have finished: one block of all the rows
/// when the work is small ([`threads_for`]) or the helpers are busy with another thread's
/// step, else blocks of `per` rows (the last one shorter), block 0 on this thread.
pub(crate) fn in_row_blocks(
    n: usize,
    work: usize,
    f: &(dyn Fn(usize, Range<usize>, usize) + Sync),
) {
    let blocks = threads_for(work, n);
    if blocks > 1 {
        let per = n.div_ceil(blocks);
        let block = |k: usize| {
            let start = k * per;
            if start < n {
                f(k, start..(start + per).min(n), per);
            }
        };
        if Pool::get().run(blocks, &block) {
            return;
        }
    }
    f(0, 0..n, n);
}

/// The most scratch elements a step of at most `n` rows needs when each of its blocks gets
/// `per_block(rows)` elements at `block * per_block(per)`: over every split
/// [`in_row_blocks`] can make.
pub(crate) fn scratch_for(n: usize, per_block: impl Fn(usize) -> usize) -> usize {
    let width = Pool::get().width();
    (1..=width.max(1))
        .map(|blocks| {
            let per = n.div_ceil(blocks);
            blocks * per_block(per)
        })
        .max()
        .unwrap_or(0)
        .max(per_block(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[test]
    fn the_blocks_cover_every_row_once() {
        for (n, work) in [
            (1, 0),
            (150, 1 << 30),
            (33, 1 << 30),
            (7, 1 << 30),
            (150, 10),
        ] {
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            in_row_blocks(n, work, &|k, rows, per| {
                assert_eq!(rows.start, k * per);
                assert!(rows.len() <= per && !rows.is_empty());
                for r in rows {
                    seen[r].fetch_add(1, SeqCst);
                }
            });
            assert!(seen.iter().all(|c| c.load(SeqCst) == 1), "n {n}");
        }
    }

    #[test]
    fn a_block_writes_only_its_rows() {
        let mut v = vec![0.0f32; 40 * 3];
        let rows = Rows::new(&mut v);
        in_row_blocks(40, 1 << 30, &|_, block, _| {
            // SAFETY: each block borrows its own rows.
            let mine = unsafe { rows.get(block.start * 3, block.len() * 3) };
            for (j, x) in mine.iter_mut().enumerate() {
                *x = (block.start * 3 + j) as f32;
            }
        });
        assert!(v.iter().enumerate().all(|(j, &x)| x == j as f32));
    }

    #[test]
    fn scratch_covers_every_split() {
        // The layer-normalised LSTM's n * h + h, with h = 4.
        let per_block = |rows: usize| rows * 4 + 4;
        let total = scratch_for(33, per_block);
        assert!(total >= per_block(33));
        let width = Pool::get().width();
        for blocks in 1..=width {
            let per = 33usize.div_ceil(blocks);
            assert!(total >= blocks * per_block(per));
        }
    }
}
