//! The one kernel family: the time loop, the input projection, the packed buffers, lengths and
//! direction, the subnormal flush and the weight-gradient GEMMs, written once over [`Gates`]
//! (one step's element-wise maths and recurrent products, `basic.rs`, `lstm.rs`, `gru.rs`).
//!
//! Buffers are packed ([`Layout`]): row `offsets[t] + r` is sorted example `r` at step `t`, so
//! step `t` is one contiguous block of `active[t]` rows and padding is never stored. Forward:
//! `A = b + X W_x` for all `N` rows by one GEMM before the loop; per step the cell adds its
//! recurrent product(s) and runs its gates on the block, writing each new state tensor into
//! `new[s]`; the first `active[t+1]` rows of `new[s]` are copied into `prev[s]`'s next block
//! (examples that ended keep their state in place). Backward, steps in reverse: `dh = dH_t +
//! carry_h` for the running rows, the cell writes `dA` and the gradients of its previous state
//! into `carry` (rows of examples not yet started, in backward order, keep their final state's
//! gradient); then `dW_x = X^T dA`, `db = sum dA`, `dx = dA W_x^T` and the cell's `dW_h` over
//! all N rows. No allocation inside either loop.

use super::gemm::{Mat, matmul_into};
use super::layout::Layout;
use super::rows::{Rows, in_row_blocks, scratch_for};
use super::workspace::{give, take, zeroed};

/// Gradients `|v| <` this are set to zero in the backward loop (by the cells, on `dA` and on
/// every carried gradient). Over long sequences the recurrence decays geometrically into
/// subnormal floats, and every GEMM and pass on subnormals is many times slower on x86
/// (measured: B64 H150 T1024 took 4x longer per step than T256): flush-to-zero in the data
/// rather than in the FPU's control register (which burn's rayon workers would need too).
pub(crate) const FLUSH_BELOW: f32 = 1e-30;

/// `v`, or zero below [`FLUSH_BELOW`].
#[inline(always)]
pub(crate) fn flush(v: f32) -> f32 {
    if v.abs() < FLUSH_BELOW { 0.0 } else { v }
}

/// One step's forward for the `n` running rows of a block (every slice holds exactly them).
pub(crate) struct Fwd<'a> {
    /// Running rows.
    pub n: usize,
    /// H.
    pub h: usize,
    /// `[n, G*H]`: `x_t W_x + b` on entry; on exit what the cell's backward reads (gates).
    pub a: &'a mut [f32],
    /// `[n, H]` per state tensor: the state before the step (h first; LSTM's c second).
    pub prev: [&'a [f32]; 2],
    /// `[n, H]` per state tensor: the state after the step (`new[0]` is the output `h_t`).
    pub new: [&'a mut [f32]; 2],
    /// `[n, X*H]`: what else the backward needs.
    pub extra: &'a mut [f32],
    /// `W_h [H, G*H]`.
    pub wh: &'a [f32],
    /// The cell's second bias (GRU's `b_hn [H]`), else empty.
    pub b2: &'a [f32],
    /// Scratch of [`Gates::scratch`] elements.
    pub scratch: &'a mut [f32],
}

impl Fwd<'_> {
    /// `a += prev_h W_h` (the cells whose recurrent product adds onto all G gate blocks).
    pub fn add_recurrent(&mut self) {
        let (n, h, w) = (self.n, self.h, self.wh.len() / self.h);
        matmul_into(
            self.a,
            Mat::new(self.prev[0], n, h),
            Mat::new(self.wh, h, w),
            true,
        );
    }
}

/// One step's backward for the `n` running rows of a block.
pub(crate) struct Bwd<'a> {
    /// Running rows.
    pub n: usize,
    /// H.
    pub h: usize,
    /// `[n, H]`: the whole gradient of `h_t` (its output's and the later steps').
    pub dh: &'a [f32],
    /// `[n, H]` per state tensor: on entry, for `s >= 1`, the gradient of `new[s]`; on exit,
    /// for every `s`, the gradient of `prev[s]`.
    pub carry: [&'a mut [f32]; 2],
    /// `[n, G*H]`: the gradient of the pre-activations, written by the cell (flushed).
    pub da: &'a mut [f32],
    /// `[n, X*H]`: the cell's own gradient rows for its weight gradients.
    pub dextra: &'a mut [f32],
    /// The forward's `a`, `prev`, `new`, `extra` of this block.
    pub a: &'a [f32],
    /// See [`Fwd::prev`].
    pub prev: [&'a [f32]; 2],
    /// See [`Fwd::new`].
    pub new: [&'a [f32]; 2],
    /// See [`Fwd::extra`].
    pub extra: &'a [f32],
    /// `W_h [H, G*H]`.
    pub wh: &'a [f32],
    /// `W_h^T [G*H, H]`, transposed once per call: the `gemm` crate packs a transposed view's
    /// rows element by element, which was 27% of the H512 training step when every step's
    /// `dA W_h^T` read `W_h` through one.
    pub wh_t: &'a [f32],
    /// See [`Fwd::b2`].
    pub b2: &'a [f32],
    /// Scratch of [`Gates::scratch`] elements.
    pub scratch: &'a mut [f32],
}

impl Bwd<'_> {
    /// `carry_h = dA W_h^T` (the cells whose recurrent product adds onto all G gate blocks).
    pub fn recurrent_grad(&mut self) {
        let (n, h, w) = (self.n, self.h, self.wh_t.len() / self.h);
        let [dh_prev, _] = &mut self.carry;
        matmul_into(
            dh_prev,
            Mat::new(self.da, n, w),
            Mat::new(self.wh_t, w, h),
            false,
        );
    }
}

/// `values` in a workspace buffer (the saved weights: a fresh `to_vec` of `W_h` per call was
/// freed to glibc after the backward and faulted in again by the next call).
fn copied(values: &[f32]) -> Vec<f32> {
    let mut v = take(values.len());
    v.copy_from_slice(values);
    v
}

/// `m [rows, cols]` transposed into `out [cols, rows]` (row-major both).
pub(crate) fn transpose_into(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
}

/// The recurrent weight gradients over all N packed rows.
pub(crate) struct WhGrad<'a> {
    /// N.
    pub rows: usize,
    /// H.
    pub h: usize,
    /// `[N, H]`: the `h` entering each step.
    pub hprev: &'a [f32],
    /// `[N, X*H]`, `[N, G*H]`, `[N, X*H]`: the forward's extra, `dA`, the cell's gradient rows.
    pub extra: &'a [f32],
    /// See above.
    pub da: &'a [f32],
    /// See above.
    pub dextra: &'a [f32],
}

/// A cell's contribution to the family: its sizes, one step forward and backward, `dW_h`.
pub(crate) trait Gates: Sync {
    /// G: `W_x` is `[I, G*H]`, `W_h` `[H, G*H]`, `b` `[G*H]`.
    const G: usize;
    /// S: state tensors, `h` first (1 or 2).
    const S: usize;
    /// X: extra saved columns per row, in units of H.
    const X: usize;
    /// Scratch elements for a block of `n` rows.
    fn scratch(&self, n: usize, h: usize) -> usize;
    /// One step forward (see [`Fwd`]).
    fn forward(&self, s: Fwd<'_>);
    /// One step backward (see [`Bwd`]).
    fn backward(&self, s: Bwd<'_>);
    /// `dW_h [H, G*H]` and the second bias's gradient (empty when the cell has none); by
    /// default [`recurrent_weight_grad`] and no second bias.
    fn wh_grad(&self, g: WhGrad<'_>) -> (Vec<f32>, Vec<f32>) {
        (recurrent_weight_grad(&g, Self::G), Vec::new())
    }
}

/// `dW_h = Hprev^T dA [H, G*H]` (every gate block's recurrent input is `h_{t-1}`).
pub(crate) fn recurrent_weight_grad(g: &WhGrad<'_>, gates: usize) -> Vec<f32> {
    let w = gates * g.h;
    // The product overwrites every element: no zeroing first.
    let mut dwh = take(g.h * w);
    let hprev = Mat::new(g.hprev, g.rows, g.h).t();
    matmul_into(&mut dwh, hprev, Mat::new(g.da, g.rows, w), false);
    dwh
}

/// The inputs of one sequence, host `f32` slices: `x [B, T, I]`, `init[s] [B, H]`,
/// `wx [I, G*H]`, `wh [H, G*H]`, `b [G*H]`, `b2`.
pub(crate) struct Inputs<'a> {
    pub x: &'a [f32],
    pub init: [&'a [f32]; 2],
    pub wx: &'a [f32],
    pub wh: &'a [f32],
    pub b: &'a [f32],
    pub b2: &'a [f32],
}

/// What the backward reads, kept by a tracked forward.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    pub layout: Layout,
    /// I, H.
    pub i: usize,
    pub h: usize,
    /// Packed inputs `[N, I]`, kept when `W_x` needs a gradient.
    pub x: Option<Vec<f32>>,
    /// `W_x`, kept when `x` needs a gradient.
    pub wx: Option<Vec<f32>>,
    pub wh: Vec<f32>,
    pub b2: Vec<f32>,
    pub a: Vec<f32>,
    pub prev: [Vec<f32>; 2],
    pub new: [Vec<f32>; 2],
    pub extra: Vec<f32>,
}

/// Gradients of the inputs, each when asked for: `dx [B, T, I]`, `dinit[s] [B, H]`,
/// `dwx`, `dwh`, `db`, `db2`.
#[derive(Debug, Default)]
pub(crate) struct Grads {
    pub x: Option<Vec<f32>>,
    pub init: [Option<Vec<f32>>; 2],
    pub wx: Option<Vec<f32>>,
    pub wh: Option<Vec<f32>>,
    pub b: Option<Vec<f32>>,
    pub b2: Option<Vec<f32>>,
}

/// Which inputs need a gradient, in the order `x, init[0], init[1], wx, wh, b, b2`.
pub(crate) type Needs = [bool; 7];

fn split2(v: &mut [Vec<f32>; 2]) -> (&mut Vec<f32>, &mut Vec<f32>) {
    let [a, b] = v;
    (a, b)
}

/// One step forward for the rows of `s` (see [`Fwd`]), in blocks of rows on the helper
/// threads ([`in_row_blocks`]); `s.scratch` holds [`scratch_for`] elements.
fn step_forward<C: Gates>(cell: &C, s: Fwd<'_>) {
    let Fwd {
        n,
        h,
        a,
        prev,
        new,
        extra,
        wh,
        b2,
        scratch,
    } = s;
    let (gh, c1, xh) = (C::G * h, if C::S > 1 { h } else { 0 }, C::X * h);
    let [n0, n1] = new;
    let (a, n0, n1) = (Rows::new(a), Rows::new(n0), Rows::new(n1));
    let (extra, scratch) = (Rows::new(extra), Rows::new(scratch));
    in_row_blocks(n, n * h * gh, &|k, rows, per| {
        let (r0, m) = (rows.start, rows.len());
        // SAFETY: the blocks' rows are disjoint, and so are their scratch ranges (block k's
        // starts at k * scratch(per)); the buffers outlive `in_row_blocks`.
        let s = unsafe {
            Fwd {
                n: m,
                h,
                a: a.get(r0 * gh, m * gh),
                prev: [&prev[0][r0 * h..][..m * h], &prev[1][r0 * c1..][..m * c1]],
                new: [n0.get(r0 * h, m * h), n1.get(r0 * c1, m * c1)],
                extra: extra.get(r0 * xh, m * xh),
                wh,
                b2,
                scratch: scratch.get(k * cell.scratch(per, h), cell.scratch(m, h)),
            }
        };
        cell.forward(s);
    });
}

/// One step backward for the rows of `s` (see [`Bwd`]), in blocks of rows as
/// [`step_forward`].
fn step_backward<C: Gates>(cell: &C, s: Bwd<'_>) {
    let Bwd {
        n,
        h,
        dh,
        carry: [c0, cc1],
        da,
        dextra,
        a,
        prev,
        new,
        extra,
        wh,
        wh_t,
        b2,
        scratch,
    } = s;
    let (gh, c1, xh) = (C::G * h, if C::S > 1 { h } else { 0 }, C::X * h);
    let (c0, cc1, da) = (Rows::new(c0), Rows::new(cc1), Rows::new(da));
    let (dextra, scratch) = (Rows::new(dextra), Rows::new(scratch));
    in_row_blocks(n, n * h * gh, &|k, rows, per| {
        let (r0, m) = (rows.start, rows.len());
        // SAFETY: as in `step_forward`.
        let s = unsafe {
            Bwd {
                n: m,
                h,
                dh: &dh[r0 * h..][..m * h],
                carry: [c0.get(r0 * h, m * h), cc1.get(r0 * c1, m * c1)],
                da: da.get(r0 * gh, m * gh),
                dextra: dextra.get(r0 * xh, m * xh),
                a: &a[r0 * gh..][..m * gh],
                prev: [&prev[0][r0 * h..][..m * h], &prev[1][r0 * c1..][..m * c1]],
                new: [&new[0][r0 * h..][..m * h], &new[1][r0 * c1..][..m * c1]],
                extra: &extra[r0 * xh..][..m * xh],
                wh,
                wh_t,
                b2,
                scratch: scratch.get(k * cell.scratch(per, h), cell.scratch(m, h)),
            }
        };
        cell.backward(s);
    });
}

/// The forward of an untracked call (a plain device, or no input needing a gradient): the
/// same maths and output as [`forward`], step by step in buffers of one block (`[B, ...]`,
/// the input projection per step) instead of `[N, ...]` for the whole sequence, since no
/// backward will read them. Inference over a large batch then touches one step's memory at a
/// time (`mnist-infer`, 10,000 sequences: ~170 MB per whole-sequence buffer, above what the
/// workspace keeps, so each call mapped and faulted them afresh).
fn forward_rolling<C: Gates>(cell: &C, inp: &Inputs<'_>, layout: &Layout) -> Vec<f32> {
    let bs = layout.batch;
    let gh = inp.b.len();
    let h = gh / C::G;
    let i = inp.wx.len() / gh;
    // The first step's block is the largest (blocks shrink as examples end).
    let most = layout.active.first().copied().unwrap_or(0);
    let mut x = take(most * i);
    let mut a = take(most * gh);
    let block = || [take(most * h), take((C::S - 1) * most * h)];
    let (mut prev, mut new) = (block(), block());
    let mut extra = take(most * C::X * h);
    let mut scratch = take(scratch_for(bs, |rows| cell.scratch(rows, h)));
    for (init, prev) in inp.init.iter().zip(prev.iter_mut()).take(C::S) {
        for r in 0..most {
            prev[r * h..][..h].copy_from_slice(&init[layout.order[r] * h..][..h]);
        }
    }
    let mut out = zeroed(layout.out_rows(C::S) * h);
    for step in 0..layout.longest() {
        let n = layout.active[step];
        for r in 0..n {
            let src = layout.order[r] * layout.steps + layout.time(r, step);
            x[r * i..][..i].copy_from_slice(&inp.x[src * i..][..i]);
        }
        let a = &mut a[..n * gh];
        for row in a.chunks_exact_mut(gh) {
            row.copy_from_slice(inp.b);
        }
        matmul_into(a, Mat::new(&x, n, i), Mat::new(inp.wx, i, gh), true);
        let l1 = if C::S > 1 { n * h } else { 0 };
        let (n0, n1) = split2(&mut new);
        step_forward(
            cell,
            Fwd {
                n,
                h,
                a,
                prev: [&prev[0][..n * h], &prev[1][..l1]],
                new: [&mut n0[..n * h], &mut n1[..l1]],
                extra: &mut extra[..n * C::X * h],
                wh: inp.wh,
                b2: inp.b2,
                scratch: &mut scratch,
            },
        );
        for r in 0..n {
            if let Some(slot) = layout.output_slot(r, step) {
                let dst = layout.out_row(layout.order[r], slot) * h;
                out[dst..][..h].copy_from_slice(&new[0][r * h..][..h]);
            }
        }
        // Rows that end at this step: their state now is their final state.
        let next = layout.active.get(step + 1).copied().unwrap_or(0);
        for r in next..n {
            for (s, state) in new.iter().enumerate().take(C::S) {
                let dst = layout.state_row(s, layout.order[r]) * h;
                out[dst..][..h].copy_from_slice(&state[r * h..][..h]);
            }
        }
        // The running rows stay the first rows of the block: this step's state is the next
        // step's previous state.
        std::mem::swap(&mut prev, &mut new);
    }
    // Examples of length 0 end where they started.
    for r in most..bs {
        let b = layout.order[r];
        for s in 0..C::S {
            out[layout.state_row(s, b) * h..][..h].copy_from_slice(&inp.init[s][b * h..][..h]);
        }
    }
    let [p0, p1] = prev;
    let [n0, n1] = new;
    give([x, a, p0, p1, n0, n1, extra, scratch]);
    out
}

/// The forward over the whole batch: `[B*T' + S*B, H]` rows (outputs `[B, T', H]` in input
/// time, zero past each length, or with `layout.last_only` (T' = 1) each example's last valid
/// output; then the final value of each state tensor) and, with `keep`, the saved buffers.
pub(crate) fn forward<C: Gates>(
    cell: &C,
    inp: Inputs<'_>,
    layout: Layout,
    keep: Option<Needs>,
) -> (Vec<f32>, Option<Saved>) {
    let Some(needs) = keep else {
        return (forward_rolling(cell, &inp, &layout), None);
    };
    let bs = layout.batch;
    let gh = inp.b.len();
    let h = gh / C::G;
    let i = inp.wx.len() / gh;
    let rows = layout.rows();
    let mut x = take(rows * i);
    layout.for_each_row(|p, src| x[p * i..][..i].copy_from_slice(&inp.x[src * i..][..i]));
    let mut a = take(rows * gh);
    for row in a.chunks_exact_mut(gh) {
        row.copy_from_slice(inp.b);
    }
    matmul_into(&mut a, Mat::new(&x, rows, i), Mat::new(inp.wx, i, gh), true);
    let zeros = || [take(rows * h), take((C::S - 1) * rows * h)];
    let (mut prev, mut new) = (zeros(), zeros());
    let mut extra = take(rows * C::X * h);
    let mut scratch = take(scratch_for(bs, |rows| cell.scratch(rows, h)));
    for (init, prev) in inp.init.iter().zip(prev.iter_mut()).take(C::S) {
        for r in 0..layout.active.first().copied().unwrap_or(0) {
            let src = &init[layout.order[r] * h..][..h];
            prev[r * h..][..h].copy_from_slice(src);
        }
    }
    for step in 0..layout.longest() {
        let (n, off) = (layout.active[step], layout.offsets[step]);
        let (o1, l1) = (off * h, n * h);
        let (o1c, len1) = if C::S > 1 { (o1, l1) } else { (0, 0) };
        let (og, lg) = (off * gh, n * gh);
        let (ox, lx) = (off * C::X * h, n * C::X * h);
        let (n0, n1) = split2(&mut new);
        step_forward(
            cell,
            Fwd {
                n,
                h,
                a: &mut a[og..og + lg],
                prev: [&prev[0][o1..o1 + l1], &prev[1][o1c..o1c + len1]],
                new: [&mut n0[o1..o1 + l1], &mut n1[o1c..o1c + len1]],
                extra: &mut extra[ox..ox + lx],
                wh: inp.wh,
                b2: inp.b2,
                scratch: &mut scratch,
            },
        );
        if let Some(&next) = layout.active.get(step + 1) {
            let off_next = layout.offsets[step + 1];
            for s in 0..C::S {
                let src = &new[s][off * h..][..next * h];
                prev[s][off_next * h..][..next * h].copy_from_slice(src);
            }
        }
    }
    let mut out = zeroed(layout.out_rows(C::S) * h);
    for (step, (&n, &off)) in layout.active.iter().zip(&layout.offsets).enumerate() {
        for r in 0..n {
            if let Some(slot) = layout.output_slot(r, step) {
                let dst = layout.out_row(layout.order[r], slot) * h;
                out[dst..][..h].copy_from_slice(&new[0][(off + r) * h..][..h]);
            }
        }
    }
    for (r, &b) in layout.order.iter().enumerate() {
        for s in 0..C::S {
            let value = match layout.last_row(r) {
                Some(p) => &new[s][p * h..][..h],
                None => &inp.init[s][b * h..][..h],
            };
            out[layout.state_row(s, b) * h..][..h].copy_from_slice(value);
        }
    }
    give([scratch]);
    let x = if needs[3] {
        Some(x)
    } else {
        give([x]);
        None
    };
    let saved = Saved {
        layout,
        i,
        h,
        x,
        wx: needs[0].then(|| copied(inp.wx)),
        wh: copied(inp.wh),
        b2: copied(inp.b2),
        a,
        prev,
        new,
        extra,
    };
    (out, Some(saved))
}

/// Hand-written BPTT over the saved buffers; `dout [B*T' + S*B, H]` is the upstream gradient
/// of the forward's output.
pub(crate) fn backward<C: Gates>(cell: &C, saved: Saved, dout: &[f32], needs: Needs) -> Grads {
    let Saved {
        layout,
        i,
        h,
        x,
        wx,
        wh,
        b2,
        a,
        prev,
        new,
        extra,
    } = saved;
    let (bs, t, rows, gh) = (layout.batch, layout.steps, layout.rows(), C::G * h);
    let mut carry = [take(bs * h), take((C::S - 1) * bs * h)];
    for (r, &b) in layout.order.iter().enumerate() {
        for s in 0..C::S {
            carry[s][r * h..][..h].copy_from_slice(&dout[layout.state_row(s, b) * h..][..h]);
        }
    }
    let mut da = take(rows * gh);
    let mut dextra = take(rows * C::X * h);
    let mut dh = take(bs * h);
    let mut scratch = take(scratch_for(bs, |rows| cell.scratch(rows, h)));
    let mut wh_t = take(wh.len());
    transpose_into(&wh, h, gh, &mut wh_t);
    for step in (0..layout.longest()).rev() {
        let (n, off) = (layout.active[step], layout.offsets[step]);
        for r in 0..n {
            let (d, c) = (&mut dh[r * h..][..h], &carry[0][r * h..][..h]);
            match layout.output_slot(r, step) {
                Some(slot) => {
                    let src = layout.out_row(layout.order[r], slot) * h;
                    for ((d, g), c) in d.iter_mut().zip(&dout[src..src + h]).zip(c) {
                        *d = g + c;
                    }
                }
                None => d.copy_from_slice(c),
            }
        }
        let (o1, l1) = (off * h, n * h);
        let (o1c, len1) = if C::S > 1 { (o1, l1) } else { (0, 0) };
        let (og, lg) = (off * gh, n * gh);
        let (ox, lx) = (off * C::X * h, n * C::X * h);
        let (c0, c1) = split2(&mut carry);
        step_backward(
            cell,
            Bwd {
                n,
                h,
                dh: &dh[..l1],
                carry: [&mut c0[..l1], &mut c1[..len1]],
                da: &mut da[og..og + lg],
                dextra: &mut dextra[ox..ox + lx],
                a: &a[og..og + lg],
                prev: [&prev[0][o1..o1 + l1], &prev[1][o1c..o1c + len1]],
                new: [&new[0][o1..o1 + l1], &new[1][o1c..o1c + len1]],
                extra: &extra[ox..ox + lx],
                wh: &wh,
                wh_t: &wh_t,
                b2: &b2,
                scratch: &mut scratch,
            },
        );
    }
    give([wh_t]);
    let mut grads = Grads::default();
    for s in 0..C::S {
        if needs[1 + s] {
            let mut g = zeroed(bs * h);
            for (r, &b) in layout.order.iter().enumerate() {
                g[b * h..][..h].copy_from_slice(&carry[s][r * h..][..h]);
            }
            grads.init[s] = Some(g);
        }
    }
    let da_mat = Mat::new(&da, rows, gh);
    if needs[3] {
        let x = x.as_deref().expect("x kept when wx needs a gradient");
        let mut g = take(i * gh);
        matmul_into(&mut g, Mat::new(x, rows, i).t(), da_mat, false);
        grads.wx = Some(g);
    }
    if needs[5] {
        grads.b = Some(column_sums(&da, gh));
    }
    if needs[0] {
        let wx = wx.as_deref().expect("wx kept when x needs a gradient");
        let mut packed = take(rows * i);
        matmul_into(&mut packed, da_mat, Mat::new(wx, i, gh).t(), false);
        let mut dx = zeroed(bs * t * i);
        layout.for_each_row(|p, src| dx[src * i..][..i].copy_from_slice(&packed[p * i..][..i]));
        give([packed]);
        grads.x = Some(dx);
    }
    if needs[4] || needs[6] {
        let (dwh, db2) = cell.wh_grad(WhGrad {
            rows,
            h,
            hprev: &prev[0],
            extra: &extra,
            da: &da,
            dextra: &dextra,
        });
        grads.wh = needs[4].then_some(dwh);
        grads.b2 = needs[6].then_some(db2);
    }
    let [p0, p1] = prev;
    let [n0, n1] = new;
    let [c0, c1] = carry;
    give([a, p0, p1, n0, n1, extra, da, dextra, dh, scratch, c0, c1]);
    give(x);
    give(wx);
    give([wh, b2]);
    grads
}

/// The sums of the columns of a row-major `[rows, width]` slice: `[width]`.
pub(crate) fn column_sums(v: &[f32], width: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; width];
    for row in v.chunks_exact(width) {
        for (acc, x) in sums.iter_mut().zip(row) {
            *acc += x;
        }
    }
    sums
}
