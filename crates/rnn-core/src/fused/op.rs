//! The fused sequence as a burn backend extension: one op for every cell, routed to the flex
//! backend, and on an autodiff device ONE graph node whose backward is the kernel family's
//! hand-written BPTT ([`super::kernel::backward`]).

use burn::backend::TensorMetadata;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Slice;

use super::kernel::{self, Gates, Inputs, Needs, Saved};
use super::{Spec, SpecCell};

/// The per-backend kernels. Only flex has them: the driver calls the op for flex `f32`
/// tensors only (`fused::sequence`), and the extension routes the routing type and the
/// autodiff decorator to it, so the default bodies (for those two) are never called.
pub trait FusedKernels: Backend {
    /// Forward: the seven inputs `x [B, T, I]`, `h0, c0 [B, H]` (a `[1]` placeholder for `c0`
    /// when the cell has one state), `wx [I, G*H]`, `wh [H, G*H]`, `b [G*H]`, `b2` (GRU's
    /// `b_hn [H]`, the layer-normalised LSTM's `[10H]`, else a `[1]` placeholder) ->
    /// `[B*T' + S*B, H]` (T' = T, or 1 for the last output only; rows as
    /// [`Layout::out_row`](super::layout::Layout::out_row) and `state_row`), and with `keep`
    /// the saved buffers.
    fn fused_forward(
        inputs: [FloatTensor<Self>; 7],
        spec: Spec,
        keep: Option<Needs>,
    ) -> (FloatTensor<Self>, Option<Saved>) {
        let _ = (inputs, spec, keep);
        unreachable!("the backend extension routes fused_rnn to the tensors' backend")
    }

    /// Backward: the gradients that `needs` asks for, from `dout [B*T' + S*B, H]`.
    fn fused_backward(
        saved: Saved,
        dout: FloatTensor<Self>,
        spec: Spec,
        needs: Needs,
    ) -> [Option<FloatTensor<Self>>; 7] {
        let _ = (saved, dout, spec, needs);
        unreachable!("the graph node calls the tensors' backend's kernels")
    }

    /// Rows `start..start + len` of the op's output `[R, H]` -> `[len, H]`, a view (burn's
    /// narrow).
    fn part_forward(out: FloatTensor<Self>, start: usize, len: usize) -> FloatTensor<Self> {
        let _ = (out, start, len);
        unreachable!("the backend extension routes fused_part to the tensors' backend")
    }

    /// A projection: `x [N, H] w [H, O] + b [O]` -> `[N, O]` ([`super::linear`]).
    fn linear_forward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let _ = (x, w, b);
        unreachable!("the backend extension routes fused_linear to the tensors' backend")
    }

    /// A projection's gradients `dx [N, H]`, `dw [H, O]`, `db [O]` from `dy [N, O]`, each
    /// when `needs` asks.
    fn linear_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        needs: [bool; 3],
    ) -> [Option<FloatTensor<Self>>; 3] {
        let _ = (x, w, dy, needs);
        unreachable!("the graph node calls the tensors' backend's kernels")
    }

    /// The backward of a part: `grad [len, H]` -> `[rows, H]`, zero outside rows
    /// `start..start + len`, in a kept buffer ([`super::kept`]).
    fn part_backward(grad: FloatTensor<Self>, start: usize, rows: usize) -> FloatTensor<Self> {
        let _ = (grad, start, rows);
        unreachable!("the graph node calls the tensors' backend's kernels")
    }
}

/// The backend extension: `fused_rnn` routed by the runtime backend of its inputs.
#[backend_extension(Flex, Autodiff)]
pub trait FusedRnnBackend: FusedKernels {
    /// A whole sequence of one cell: inputs as [`FusedKernels::fused_forward`] ->
    /// `[B*T' + S*B, H]`: first the outputs `[B, T', H]` (contiguous, so narrowing and
    /// reshaping them copies nothing) in input time (zero past each length; T' = T) or each
    /// example's last valid output (T' = 1), then each state tensor's final value `[B, H]`.
    #[allow(clippy::too_many_arguments)]
    fn fused_rnn(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        spec: Spec,
    ) -> FloatTensor<Self> {
        Self::fused_forward([x, h0, c0, wx, wh, b, b2], spec, None).0
    }

    /// One part of [`FusedRnnBackend::fused_rnn`]'s output `[R, H]`: rows
    /// `start..start + len` -> `[len, H]` (the outputs, or one state tensor's final value).
    /// burn's narrow, except that on an autodiff device its backward writes the whole `[R, H]`
    /// gradient into a kept buffer instead of a fresh zero tensor (a third of
    /// `forecast-train`'s page faults were those).
    fn fused_part(out: FloatTensor<Self>, start: usize, len: usize) -> FloatTensor<Self> {
        Self::part_forward(out, start, len)
    }

    /// `x [N, H] w [H, O] + b [O]` -> `[N, O]`: a projection of a sequence's outputs as one
    /// graph node whose tensors are kept buffers ([`super::linear`]).
    fn fused_linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::linear_forward(x, w, b)
    }
}

fn host(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    let values = |t: &FlexTensor| -> Vec<f32> {
        t.to_contiguous()
            .as_slice::<f32>()
            .expect("f32 (checked by fused::sequence)")
            .to_vec()
    };
    match t.is_contiguous() {
        true => std::borrow::Cow::Borrowed(t.as_slice::<f32>().expect("f32 (checked)")),
        false => std::borrow::Cow::Owned(values(t)),
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    super::kept::tensor(values, shape)
}

fn run_forward<C: Gates>(
    cell: &C,
    t: &[FlexTensor; 7],
    spec: &Spec,
    keep: Option<Needs>,
) -> (Vec<f32>, Option<Saved>) {
    let [x, h0, c0, wx, wh, b, b2] = t.each_ref().map(host);
    let inputs = Inputs {
        x: &x,
        init: [&h0, if C::S > 1 { &c0 } else { &[] }],
        wx: &wx,
        wh: &wh,
        b: &b,
        b2: if spec.has_b2() { &b2 } else { &[] },
    };
    kernel::forward(cell, inputs, spec.layout.as_ref().clone(), keep)
}

impl FusedKernels for Flex {
    fn fused_forward(
        inputs: [FlexTensor; 7],
        spec: Spec,
        keep: Option<Needs>,
    ) -> (FlexTensor, Option<Saved>) {
        let (out, saved) = match spec.cell {
            SpecCell::Basic(c) => run_forward(&c, &inputs, &spec, keep),
            SpecCell::Lstm(c) => run_forward(&c, &inputs, &spec, keep),
            SpecCell::Gru(c) => run_forward(&c, &inputs, &spec, keep),
            SpecCell::LnLstm(c) => run_forward(&c, &inputs, &spec, keep),
        };
        let l = &spec.layout;
        (flex(out, vec![l.out_rows(spec.states()), spec.h]), saved)
    }

    fn fused_backward(
        saved: Saved,
        dout: FlexTensor,
        spec: Spec,
        needs: Needs,
    ) -> [Option<FlexTensor>; 7] {
        let dout = host(&dout);
        let g = match spec.cell {
            SpecCell::Basic(c) => kernel::backward(&c, saved, &dout, needs),
            SpecCell::Lstm(c) => kernel::backward(&c, saved, &dout, needs),
            SpecCell::Gru(c) => kernel::backward(&c, saved, &dout, needs),
            SpecCell::LnLstm(c) => kernel::backward(&c, saved, &dout, needs),
        };
        let (l, h, i, gh) = (&spec.layout, spec.h, spec.i, spec.gates() * spec.h);
        let [init0, init1] = g.init;
        [
            g.x.map(|v| flex(v, vec![l.batch, l.steps, i])),
            init0.map(|v| flex(v, vec![l.batch, h])),
            init1.map(|v| flex(v, vec![l.batch, h])),
            g.wx.map(|v| flex(v, vec![i, gh])),
            g.wh.map(|v| flex(v, vec![h, gh])),
            g.b.map(|v| flex(v, vec![gh])),
            g.b2.map(|v| flex(v, vec![spec.b2_len()])),
        ]
    }

    fn part_forward(out: FlexTensor, start: usize, len: usize) -> FlexTensor {
        let h = out.shape()[1];
        Flex::float_slice(out, &[Slice::from(start..start + len), Slice::from(0..h)])
    }

    fn linear_forward(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        let [n, h] = [x.shape()[0], x.shape()[1]];
        let o = w.shape()[1];
        let y = super::linear::forward(&host(&x), &host(&w), &host(&b), n, h);
        flex(y, vec![n, o])
    }

    fn linear_backward(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        needs: [bool; 3],
    ) -> [Option<FlexTensor>; 3] {
        let [n, h] = [x.shape()[0], x.shape()[1]];
        let o = w.shape()[1];
        let [dx, dw, db] =
            super::linear::backward(&host(&x), &host(&w), &host(&dy), (n, h, o), needs);
        [
            dx.map(|v| flex(v, vec![n, h])),
            dw.map(|v| flex(v, vec![h, o])),
            db.map(|v| flex(v, vec![o])),
        ]
    }

    fn part_backward(grad: FlexTensor, start: usize, rows: usize) -> FlexTensor {
        let h = grad.shape()[1];
        let grad = host(&grad);
        // Zero only the rows outside the part; the part's rows are overwritten.
        let (begin, end) = (start * h, start * h + grad.len());
        let mut full = super::workspace::take(rows * h);
        full[..begin].fill(0.0);
        full[begin..end].copy_from_slice(&grad);
        full[end..].fill(0.0);
        flex(full, vec![rows, h])
    }
}
impl FusedRnnBackend for Flex {}

// The routing type and the autodiff decorator need the supertrait; the extension routes their
// calls to the concrete backend (and `Autodiff` calls its inner one), so these never run.
impl FusedKernels for Dispatch {}
impl<B: Backend, C: CheckpointStrategy> FusedKernels for Autodiff<B, C> {}

/// The graph node of one fused sequence.
#[derive(Debug)]
struct FusedSequenceBackward;

impl<B: FusedKernels> Backward<B, 7> for FusedSequenceBackward {
    type State = (Saved, Spec);

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let needs = ops.parents.each_ref().map(Option::is_some);
        let dout = grads.consume::<B>(&ops.node);
        let (saved, spec) = ops.state;
        let g = B::fused_backward(saved, dout, spec, needs);
        for (node, grad) in ops.parents.into_iter().zip(g) {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

/// The graph node of one part of a fused sequence's output.
#[derive(Debug)]
struct PartBackward;

impl<B: FusedKernels> Backward<B, 1> for PartBackward {
    /// The part's first row and the rows of the whole output.
    type State = (usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (start, rows) = ops.state;
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            grads.register::<B>(parent.id, B::part_backward(grad, start, rows));
        }
    }
}

/// The graph node of one projection.
#[derive(Debug)]
struct LinearBackward;

impl<B: FusedKernels> Backward<B, 3> for LinearBackward {
    /// The input `x` and the weight `w` (shared, not copied).
    type State = (B::FloatTensorPrimitive, B::FloatTensorPrimitive);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let needs = ops.parents.each_ref().map(Option::is_some);
        let dy = grads.consume::<B>(&ops.node);
        let (x, w) = ops.state;
        let g = B::linear_backward(x, w, dy, needs);
        for (node, grad) in ops.parents.into_iter().zip(g) {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: FusedRnnBackend, C: CheckpointStrategy> FusedRnnBackend for Autodiff<B, C> {
    fn fused_linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let ((x, gx), (w, gw), (b, gb)) = (x.into_parts(), w.into_parts(), b.into_parts());
        match LinearBackward
            .prepare::<C>([gx, gw, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::fused_linear(x.clone(), w.clone(), b);
                prep.finish((x, w), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_linear(x, w, b)),
        }
    }

    fn fused_part(out: FloatTensor<Self>, start: usize, len: usize) -> FloatTensor<Self> {
        let rows = out.primitive().shape()[0];
        let (inner, guard) = out.into_parts();
        match PartBackward
            .prepare::<C>([guard])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((start, rows), B::fused_part(inner, start, len)),
            OpsKind::UnTracked(prep) => prep.finish(B::fused_part(inner, start, len)),
        }
    }

    fn fused_rnn(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        wx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        b: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        spec: Spec,
    ) -> FloatTensor<Self> {
        let all = [x, h0, c0, wx, wh, b, b2];
        // Which inputs need a gradient decides what the forward keeps for the backward.
        let needs = all.each_ref().map(|t| t.is_tracked());
        // Guards first (burn 0.22), then the inner primitives.
        let parts = all.map(|t| t.into_parts());
        let [p0, p1, p2, p3, p4, p5, p6] = parts;
        let guards = [p0.1, p1.1, p2.1, p3.1, p4.1, p5.1, p6.1];
        let inner = [p0.0, p1.0, p2.0, p3.0, p4.0, p5.0, p6.0];
        match FusedSequenceBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, saved) = B::fused_forward(inner, spec.clone(), Some(needs));
                prep.finish((saved.expect("saved when needs are given"), spec), out)
            }
            OpsKind::UnTracked(prep) => {
                let [x, h0, c0, wx, wh, b, b2] = inner;
                prep.finish(B::fused_rnn(x, h0, c0, wx, wh, b, b2, spec))
            }
        }
    }
}
