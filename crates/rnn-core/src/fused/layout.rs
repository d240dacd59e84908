//! Where each step of each example lives in the kernel's buffers: TF's `sequence_length` and
//! `reverse_sequence`, decided once per call.
//!
//! Examples are sorted by length, longest first (stable), as PyTorch's packed sequences: at
//! step `t` the examples still running are the first `n_t` sorted rows, so every buffer holds
//! step `t` as one contiguous block of `n_t` rows starting at row `offsets[t]`, and the
//! `N = sum(lengths)` rows of all blocks are what every big GEMM runs over. Padding is never
//! stored, computed or multiplied. Reverse reads example `b`'s step `t` from input time
//! `len[b] - 1 - t`, so padding never enters a reversed sequence.

/// The packing of one batch: sorted rows, active rows per step, block offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// B, the batch size.
    pub batch: usize,
    /// T, the steps of the input tensor (outputs keep this length; padding is zero).
    pub steps: usize,
    /// Sorted row `r` is example `order[r]`.
    pub order: Vec<usize>,
    /// The length of sorted row `r`, non-increasing.
    pub lengths: Vec<usize>,
    /// `active[t]`: rows running at step `t` (`t < max length`), non-increasing.
    pub active: Vec<usize>,
    /// `offsets[t]`: the first row of step `t`'s block; `offsets[max length]` = N.
    pub offsets: Vec<usize>,
    /// Each example read backwards within its own length.
    pub reverse: bool,
    /// Only each example's last valid output is returned (input time `len - 1`), not all T.
    pub last_only: bool,
}

impl Layout {
    /// The layout of a batch of `batch` sequences of `steps` steps, with per-example
    /// `lengths` (each `<= steps`, checked by the caller) or all `steps` long.
    pub fn new(batch: usize, steps: usize, lengths: Option<&[usize]>, reverse: bool) -> Self {
        let all = vec![steps; batch];
        let given = lengths.unwrap_or(&all);
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by(|&a, &b| given[b].cmp(&given[a]));
        let lengths: Vec<usize> = order.iter().map(|&b| given[b]).collect();
        let longest = lengths.first().copied().unwrap_or(0);
        let active: Vec<usize> = (0..longest)
            .map(|t| lengths.iter().take_while(|&&l| l > t).count())
            .collect();
        let mut offsets = Vec::with_capacity(longest + 1);
        let mut total = 0;
        for &n in &active {
            offsets.push(total);
            total += n;
        }
        offsets.push(total);
        Self {
            batch,
            steps,
            order,
            lengths,
            active,
            offsets,
            reverse,
            last_only: false,
        }
    }

    /// The same packing, returning only each example's last valid output.
    pub fn last_output_only(mut self, last_only: bool) -> Self {
        self.last_only = last_only;
        self
    }

    /// The time slots of the output tensor: T, or 1 when only the last output is returned.
    pub fn out_steps(&self) -> usize {
        if self.last_only { 1 } else { self.steps }
    }

    /// The output slot that sorted row `r`'s step `t` (`t < lengths[r]`) is written to: its
    /// input time, or with `last_only` slot 0 for input time `len - 1` and none otherwise.
    pub fn output_slot(&self, r: usize, t: usize) -> Option<usize> {
        let time = self.time(r, t);
        match self.last_only {
            false => Some(time),
            true => (time + 1 == self.lengths[r]).then_some(0),
        }
    }

    /// The rows of the op's output `[B*T' + S*B, H]` for `states` state tensors: first the
    /// outputs, batch-major (so rows `0..B*T'` are `[B, T', H]` with no copy), then each state
    /// tensor's final value, `[B, H]` each.
    pub fn out_rows(&self, states: usize) -> usize {
        self.batch * (self.out_steps() + states)
    }

    /// The output row of example `b`'s output slot `slot` (see [`Layout::output_slot`]).
    pub fn out_row(&self, b: usize, slot: usize) -> usize {
        b * self.out_steps() + slot
    }

    /// The output row of example `b`'s final value of state tensor `s`.
    pub fn state_row(&self, s: usize, b: usize) -> usize {
        self.batch * (self.out_steps() + s) + b
    }

    /// N, the rows of every packed buffer (the sum of the lengths).
    pub fn rows(&self) -> usize {
        self.offsets[self.active.len()]
    }

    /// The number of steps run: the longest length.
    pub fn longest(&self) -> usize {
        self.active.len()
    }

    /// The input time of sorted row `r` at step `t` (`t < lengths[r]`).
    pub fn time(&self, r: usize, t: usize) -> usize {
        if self.reverse {
            self.lengths[r] - 1 - t
        } else {
            t
        }
    }

    /// Copies rows between a batch-major `[B, T, W]` tensor and the packed `[N, W]` buffer:
    /// `f(packed_row, batch_major_row)` for every stored (step, example).
    pub fn for_each_row(&self, mut f: impl FnMut(usize, usize)) {
        for (t, (&n, &off)) in self.active.iter().zip(&self.offsets).enumerate() {
            for r in 0..n {
                f(off + r, self.order[r] * self.steps + self.time(r, t));
            }
        }
    }

    /// The packed row of sorted row `r`'s last step, `None` for length 0.
    pub fn last_row(&self, r: usize) -> Option<usize> {
        let len = self.lengths[r];
        (len > 0).then(|| self.offsets[len - 1] + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_by_length_and_blocks_hold_only_running_examples() {
        let l = Layout::new(4, 5, Some(&[2, 5, 0, 3]), false);
        assert_eq!(l.order, vec![1, 3, 0, 2]);
        assert_eq!(l.lengths, vec![5, 3, 2, 0]);
        assert_eq!(l.active, vec![3, 3, 2, 1, 1]);
        assert_eq!(l.offsets, vec![0, 3, 6, 8, 9, 10]);
        assert_eq!(l.rows(), 10);
        assert_eq!(
            (l.last_row(0), l.last_row(2), l.last_row(3)),
            (Some(9), Some(5), None)
        );
        let mut seen = Vec::new();
        l.for_each_row(|p, b| seen.push((p, b)));
        // Step 1: example 1 at t=1 (row 1*5+1), example 3 (3*5+1), example 0 (0*5+1).
        assert_eq!(&seen[3..6], &[(3, 6), (4, 16), (5, 1)]);
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn reverse_reads_each_example_backwards_within_its_length() {
        let l = Layout::new(2, 4, Some(&[2, 4]), true);
        let mut seen = Vec::new();
        l.for_each_row(|p, b| seen.push((p, b)));
        // Step 0 reads example 1 at time 3 and example 0 at time 1 (never its padding).
        assert_eq!(seen, vec![(0, 7), (1, 1), (2, 6), (3, 0), (4, 5), (5, 4)]);
        let last = Layout::new(2, 4, Some(&[2, 4]), true).last_output_only(true);
        // Sorted rows: 0 is example 1 (length 4), 1 is example 0 (length 2). Reversed, input
        // time len - 1 is the first step run; forward, the last.
        let slots =
            |l: &Layout, steps: [(usize, usize); 2]| steps.map(|(r, t)| l.output_slot(r, t));
        assert_eq!(slots(&last, [(0, 0), (1, 0)]), [Some(0), Some(0)]);
        assert_eq!(slots(&last, [(0, 3), (1, 1)]), [None, None]);
        let fwd = Layout::new(2, 4, Some(&[2, 4]), false).last_output_only(true);
        assert_eq!(slots(&fwd, [(0, 3), (1, 1)]), [Some(0), Some(0)]);
        assert_eq!(slots(&fwd, [(0, 2), (1, 0)]), [None, None]);
        let all = Layout::new(2, 4, Some(&[2, 4]), true);
        assert_eq!(
            (fwd.out_steps(), last.out_steps(), all.out_steps()),
            (1, 1, 4)
        );
        let full = Layout::new(3, 2, None, false);
        assert_eq!(full.rows(), 6);
        // Output rows: [B*T' + S*B, H], outputs batch-major first, then the states.
        assert_eq!(full.out_rows(2), 12);
        assert_eq!((full.out_row(1, 1), full.out_row(2, 0)), (3, 4));
        assert_eq!((full.state_row(0, 2), full.state_row(1, 0)), (8, 9));
        assert_eq!((last.out_row(1, 0), last.state_row(0, 1)), (1, 3));
        assert_eq!((full.order, full.active), (vec![0, 1, 2], vec![3, 3]));
    }
}
