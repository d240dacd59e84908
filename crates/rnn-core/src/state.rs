//! What a cell carries from one step to the next, and what the unrolls need to do with it.

use core::ops::Range;

use burn::tensor::{Bool, Tensor};

/// A recurrent state: one `[B, H]` tensor (basic, GRU), a pair (LSTM's `c`, `h`), one per layer
/// (a `Vec` for [`MultiRnnCell`](crate::MultiRnnCell)), or a wrapper's state around another.
///
/// The unrolls use it to carry a finished example's state through padded steps
/// ([`select_rows`](RnnState::select_rows)); training code to cut the graph between truncated
/// BPTT chunks ([`detach`](RnnState::detach)); tests and callers to look at single examples
/// ([`slice_batch`](RnnState::slice_batch)).
pub trait RnnState: Clone + Send + core::fmt::Debug + Sized {
    /// The batch size B shared by every tensor of the state.
    fn batch_size(&self) -> usize;

    /// Row by row: `new` where `take_new[b]` is true, `old` elsewhere. `take_new: [B]`.
    fn select_rows(take_new: &Tensor<1, Bool>, new: Self, old: Self) -> Self;

    /// The same values, cut from the autodiff graph (no gradient flows back through it).
    fn detach(self) -> Self;

    /// The examples `range` of the batch (`[B, ..] -> [range.len(), ..]`).
    fn slice_batch(&self, range: Range<usize>) -> Self;

    /// Every tensor of the state, in a fixed order, each `[B, H_k]`: for inspection and tests.
    fn tensors(&self) -> Vec<Tensor<2>>;

    /// The tensors that must match the cell's zero state in number and width (each
    /// `[B, H_k]`); by default all of [`tensors`](RnnState::tensors). A wrapper whose state
    /// also carries per-sequence extras (a dropout wrapper's masks) leaves them out; the
    /// driver still checks every tensor's batch size.
    fn shape_tensors(&self) -> Vec<Tensor<2>> {
        self.tensors()
    }

    /// Applies `f` to each tensor that TF's `DropoutWrapper` drops by default (all but an
    /// LSTM's memory cell `c`), in a fixed order. Shapes are kept.
    fn map_droppable(self, f: &mut dyn FnMut(Tensor<2>) -> Tensor<2>) -> Self;
}

/// `[B] -> [B, H]` mask expanded to the shape of `like`.
pub(crate) fn expand_rows(take_new: &Tensor<1, Bool>, like: &Tensor<2>) -> Tensor<2, Bool> {
    let [b, h] = like.dims();
    take_new.clone().unsqueeze_dim::<2>(1).expand([b, h])
}

impl RnnState for Tensor<2> {
    fn batch_size(&self) -> usize {
        self.dims()[0]
    }

    fn select_rows(take_new: &Tensor<1, Bool>, new: Self, old: Self) -> Self {
        let mask = expand_rows(take_new, &new);
        old.mask_where(mask, new)
    }

    fn detach(self) -> Self {
        Tensor::detach(self)
    }

    fn slice_batch(&self, range: Range<usize>) -> Self {
        self.clone().narrow(0, range.start, range.len())
    }

    fn tensors(&self) -> Vec<Tensor<2>> {
        vec![self.clone()]
    }

    fn map_droppable(self, f: &mut dyn FnMut(Tensor<2>) -> Tensor<2>) -> Self {
        f(self)
    }
}

/// A stack's state: one entry per layer, the first layer first (TF's tuple of states).
impl<S: RnnState> RnnState for Vec<S> {
    fn batch_size(&self) -> usize {
        self.first().map_or(0, RnnState::batch_size)
    }

    fn select_rows(take_new: &Tensor<1, Bool>, new: Self, old: Self) -> Self {
        new.into_iter()
            .zip(old)
            .map(|(n, o)| S::select_rows(take_new, n, o))
            .collect()
    }

    fn detach(self) -> Self {
        self.into_iter().map(RnnState::detach).collect()
    }

    fn slice_batch(&self, range: Range<usize>) -> Self {
        self.iter().map(|s| s.slice_batch(range.clone())).collect()
    }

    fn tensors(&self) -> Vec<Tensor<2>> {
        self.iter().flat_map(RnnState::tensors).collect()
    }

    fn shape_tensors(&self) -> Vec<Tensor<2>> {
        self.iter().flat_map(RnnState::shape_tensors).collect()
    }

    fn map_droppable(self, f: &mut dyn FnMut(Tensor<2>) -> Tensor<2>) -> Self {
        self.into_iter().map(|s| s.map_droppable(f)).collect()
    }
}
