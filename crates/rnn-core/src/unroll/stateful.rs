//! Stateful streaming (Keras' `stateful=True`): a cell and the state of B streams kept across
//! calls, so a long series fed in chunks gives what one long [`dynamic_rnn`] run gives.
//!
//! Each call runs one chunk `[B, T, I]` through [`dynamic_rnn`] from the kept state (so the
//! fused path, lengths and every check are the driver's), keeps the final state, and cuts it
//! from the autodiff graph: the graph never grows across calls. For training that is truncated
//! BPTT with the chunk as the window; rnn-train's `Tbptt` is the same contract for one sequence
//! already in memory (it splits it and calls a training closure per chunk), while this runner
//! serves streams that arrive over time. Both detach through [`RnnState::detach`].

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::driver::resolve_initial_state;
use crate::{RnnCell, RnnError, RnnState, dynamic_rnn};

/// A cell run over B streams, one chunk per call, the state of each stream kept between calls
/// (Keras' `stateful=True`, TF 1.x's pattern of feeding `final_state` back as `initial_state`).
///
/// - [`run`](StatefulRnn::run): chunk `[B, T, I]` -> outputs `[B, T, O]`; stream b's state
///   after the chunk is kept for the next call, detached (no gradient reaches earlier chunks).
/// - [`run_with_lengths`](StatefulRnn::run_with_lengths): the same with TF's `sequence_length`
///   `[B]`: a stream whose chunk is shorter keeps the state of its last valid step, and its
///   outputs past its length are zero.
/// - [`reset`](StatefulRnn::reset), [`reset_streams`](StatefulRnn::reset_streams),
///   [`reset_where`](StatefulRnn::reset_where): back to the cell's zero state, for all streams
///   or chosen ones (a stream that ended and is replaced by a new one).
///
/// Outputs equal one long `dynamic_rnn` over the concatenated chunks (tested to 1e-5 for the
/// basic, LSTM and GRU cells and stacks, fused and per-step). Every public function returns a
/// [`RnnError`] naming the argument, the expected and the actual value instead of panicking.
///
/// ```
/// use burn::tensor::Tensor;
/// use rnn_core::{LstmCellConfig, StatefulRnn};
///
/// let device = rnn_core::device::default_device().unwrap();
/// let cell = LstmCellConfig::new(1, 8).init(&device).unwrap(); // n_inputs 1, n_neurons 8
/// let mut runner = StatefulRnn::new(cell, 3, &device).unwrap(); // 3 streams
/// for _ in 0..4 {
///     let chunk = Tensor::<3>::ones([3, 20, 1], &device);       // [B, T, I]
///     let outputs = runner.run(chunk).unwrap();                 // [B, T, O]
///     assert_eq!(outputs.dims(), [3, 20, 8]);
/// }
/// runner.reset_streams(&[1]).unwrap(); // stream 1 starts over, 0 and 2 go on
/// ```
#[derive(Debug, Clone)]
pub struct StatefulRnn<C: RnnCell> {
    cell: C,
    /// The streams' state, batch B, detached.
    state: C::State,
    /// B, the number of streams.
    streams: usize,
    /// Where the state lives; chunks must be on it (autodiff or not included).
    device: Device,
}

impl<C: RnnCell> StatefulRnn<C> {
    /// `streams` streams (B >= 1) starting from `cell.zero_state(B)` on `device` (use an
    /// autodiff device to train through the outputs).
    pub fn new(cell: C, streams: usize, device: &Device) -> Result<Self, RnnError> {
        if streams == 0 {
            return Err(RnnError::invalid("streams", "at least 1 stream", 0));
        }
        let state = cell.zero_state(streams, device);
        Ok(Self {
            cell,
            state,
            streams,
            device: device.clone(),
        })
    }

    /// Streams starting from `state`: batch B >= 1 and the cell's state sizes (each tensor
    /// `[B, H_k]`, checked as `dynamic_rnn` checks an `initial_state`), on `device`. The state
    /// is detached: no gradient flows back into it.
    pub fn with_state(cell: C, state: C::State, device: &Device) -> Result<Self, RnnError> {
        let mut runner = Self::new(cell, state.batch_size(), device).map_err(|_| {
            RnnError::invalid("state", "a state of batch size >= 1", "batch size 0")
        })?;
        runner.set_state(state)?;
        Ok(runner)
    }

    /// Runs `chunk [B, T, I]` (B = [`streams`](Self::streams), I = `cell.input_size()`,
    /// T >= 1; on the runner's device) from the kept state. Returns `outputs [B, T, O]`, whose
    /// graph (on an autodiff device) reaches the weights and this chunk, never an earlier one;
    /// keeps the final state, detached.
    pub fn run(&mut self, chunk: Tensor<3>) -> Result<Tensor<3>, RnnError> {
        self.run_inner(chunk, None)
    }

    /// As [`run`](Self::run), with `sequence_length [B]` (Int, each in `0..=T`): stream b runs
    /// its first `len[b]` steps; its outputs from step `len[b]` on are zero and its kept state
    /// is the one after step `len[b] - 1` (unchanged for length 0), TF's contract, so its next
    /// chunk continues from its last valid step.
    pub fn run_with_lengths(
        &mut self,
        chunk: Tensor<3>,
        sequence_length: Tensor<1, Int>,
    ) -> Result<Tensor<3>, RnnError> {
        let lengths_device = sequence_length.device();
        if lengths_device != self.device {
            return Err(RnnError::invalid(
                "sequence_length",
                format!("a tensor on the runner's device {:?}", self.device),
                format!("{lengths_device:?}"),
            ));
        }
        self.run_inner(chunk, Some(sequence_length))
    }

    fn run_inner(
        &mut self,
        chunk: Tensor<3>,
        sequence_length: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<3>, RnnError> {
        self.check_chunk(&chunk)?;
        let (outputs, state) =
            dynamic_rnn(&self.cell, chunk, Some(self.state.clone()), sequence_length)?;
        self.state = state.detach();
        Ok(outputs)
    }

    /// `chunk` is `[B, T >= 1, I]` on the runner's device (an autodiff chunk for an autodiff
    /// runner and a plain one for a plain runner: burn cannot mix the two in one op).
    fn check_chunk(&self, chunk: &Tensor<3>) -> Result<(), RnnError> {
        let dims = chunk.dims();
        let [b, t, i] = dims;
        let n_inputs = self.cell.input_size();
        if b != self.streams || t == 0 || i != n_inputs {
            return Err(RnnError::invalid(
                "chunk",
                format!(
                    "shape [{}, T, {n_inputs}] with T >= 1 (B = the runner's {} streams, \
                     I = the cell's input_size)",
                    self.streams, self.streams
                ),
                format!("{dims:?}"),
            ));
        }
        let device = chunk.device();
        if device != self.device || device.is_autodiff() != self.device.is_autodiff() {
            return Err(RnnError::invalid(
                "chunk",
                format!("a tensor on the runner's device {}", describe(&self.device)),
                describe(&device),
            ));
        }
        Ok(())
    }

    /// Every stream back to the cell's zero state (a fresh runner with the same cell).
    pub fn reset(&mut self) {
        self.state = self.cell.zero_state(self.streams, &self.device);
    }

    /// The streams `indices` (each `< B`, repeats allowed) back to the cell's zero state; the
    /// others keep theirs. An index out of range changes nothing and is an error naming it.
    pub fn reset_streams(&mut self, indices: &[usize]) -> Result<(), RnnError> {
        let mut mask = vec![false; self.streams];
        for (k, &index) in indices.iter().enumerate() {
            let Some(slot) = mask.get_mut(index) else {
                return Err(RnnError::invalid(
                    "indices",
                    format!(
                        "stream indices in 0..{} (the runner's {} streams)",
                        self.streams, self.streams
                    ),
                    format!("indices[{k}] = {index}"),
                ));
            };
            *slot = true;
        }
        self.reset_where(&mask)
    }

    /// Stream b back to the cell's zero state where `mask[b]` is true; `mask` has one entry
    /// per stream (`[B]`).
    pub fn reset_where(&mut self, mask: &[bool]) -> Result<(), RnnError> {
        if mask.len() != self.streams {
            return Err(RnnError::invalid(
                "mask",
                format!("{} entries (one per stream)", self.streams),
                format!("{} entries", mask.len()),
            ));
        }
        if !mask.contains(&true) {
            return Ok(());
        }
        let take_zero = Tensor::<1, Bool>::from_bool(
            TensorData::new(mask.to_vec(), [self.streams]),
            &self.device,
        );
        let zero = self.cell.zero_state(self.streams, &self.device);
        self.state = C::State::select_rows(&take_zero, zero, self.state.clone());
        Ok(())
    }

    /// The kept state of the B streams (batch B, detached): what the next chunk starts from.
    pub fn state(&self) -> &C::State {
        &self.state
    }

    /// Replaces the kept state: batch B and the cell's state sizes (each tensor `[B, H_k]`),
    /// on the runner's device; detached.
    pub fn set_state(&mut self, state: C::State) -> Result<(), RnnError> {
        if let Some(t) = state.tensors().into_iter().find(|t| {
            let d = t.device();
            d != self.device || d.is_autodiff() != self.device.is_autodiff()
        }) {
            return Err(RnnError::invalid(
                "state",
                format!("tensors on the runner's device {}", describe(&self.device)),
                describe(&t.device()),
            ));
        }
        let state = resolve_initial_state(&self.cell, Some(state), self.streams, &self.device)
            .map_err(|e| match e {
                RnnError::InvalidArgument {
                    expected, actual, ..
                } => RnnError::invalid("state", expected, actual),
                other => other,
            })?;
        self.state = state.detach();
        Ok(())
    }

    /// The cell.
    pub fn cell(&self) -> &C {
        &self.cell
    }

    /// Replaces the cell, keeping the streams' state (an optimiser step between chunks: the
    /// truncated-BPTT use). The new cell must have the runner's input size and state sizes.
    pub fn set_cell(&mut self, cell: C) -> Result<(), RnnError> {
        let sizes = |c: &C| {
            let widths: Vec<usize> = c
                .zero_state(1, &self.device)
                .shape_tensors()
                .iter()
                .map(|t| t.dims()[1])
                .collect();
            (c.input_size(), widths)
        };
        let (want, got) = (sizes(&self.cell), sizes(&cell));
        if want != got {
            return Err(RnnError::invalid(
                "cell",
                format!(
                    "input_size {} and state widths {:?} (the runner's cell)",
                    want.0, want.1
                ),
                format!("input_size {} and state widths {:?}", got.0, got.1),
            ));
        }
        self.cell = cell;
        Ok(())
    }

    /// B, the number of streams.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// The device of the state, on which chunks must be.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The cell and the kept state (batch B, detached).
    pub fn into_parts(self) -> (C, C::State) {
        (self.cell, self.state)
    }
}

/// A device for an error message: its hardware and whether it records autodiff graphs.
fn describe(device: &Device) -> String {
    format!(
        "{device:?} ({})",
        if device.is_autodiff() {
            "autodiff"
        } else {
            "plain"
        }
    )
}
