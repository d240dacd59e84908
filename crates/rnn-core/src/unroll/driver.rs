//! The one sequence driver: everything about running a cell over a sequence (initial state,
//! per-example lengths, direction, which outputs the caller keeps) is decided here, once.
//! `dynamic_rnn`, `static_rnn`, the bidirectional functions, `MultiRnnCell`'s fused path and
//! rnn-train's classifier call it. It takes the cell's fused path
//! ([`RnnCell::fused_sequence`]) when there is one and runs `step` per time step otherwise;
//! TF's `sequence_length` contract lives in the per-step loop below and in the fused kernels'
//! packing (`fused/layout.rs`), and both are checked against each other in the tests.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::lengths::SequenceLengths;
use crate::{RnnCell, RnnError, RnnState};

/// How a batch of sequences is run: per-example lengths and direction. Built once per call by
/// the driver from the caller's arguments (lengths checked, read to the host once) and handed to
/// [`RnnCell::fused_sequence`].
#[derive(Debug, Clone, Default)]
pub struct SequencePlan {
    lengths: Option<SequenceLengths>,
    reverse: bool,
    last_only: bool,
    /// `[B, T]` the plan was checked against (`None` for the default plan: any shape, all
    /// examples full length).
    shape: Option<[usize; 2]>,
}

impl SequencePlan {
    /// A plan over `[B, T, _]` inputs: `sequence_length [B]` (each in `0..=T`, checked) or
    /// every example `T` long; `reverse` reads each example backwards within its own length.
    pub fn new(
        sequence_length: Option<Tensor<1, Int>>,
        batch: usize,
        steps: usize,
        reverse: bool,
    ) -> Result<Self, RnnError> {
        let lengths = sequence_length
            .map(|l| SequenceLengths::new(l, batch, steps))
            .transpose()?;
        Ok(Self {
            lengths,
            reverse,
            last_only: false,
            shape: Some([batch, steps]),
        })
    }

    /// The same plan, asking for only each example's last valid output (`[B, 1, O]` from
    /// [`run_with_plan`]: what a sequence classifier reads) instead of all T.
    pub fn last_output_only(mut self) -> Self {
        self.last_only = true;
        self
    }

    /// Whether only each example's last valid output is asked for.
    pub fn is_last_output_only(&self) -> bool {
        self.last_only
    }

    /// The same lengths and direction, every step's output (what a stack's lower layers need).
    pub fn every_output(&self) -> Self {
        Self {
            last_only: false,
            ..self.clone()
        }
    }

    /// The checked lengths, when given.
    pub fn lengths(&self) -> Option<&SequenceLengths> {
        self.lengths.as_ref()
    }

    /// The lengths on the host, `[B]`, when given.
    pub fn host_lengths(&self) -> Option<&[usize]> {
        self.lengths.as_ref().map(SequenceLengths::host)
    }

    /// Whether each example is read from its last valid step to its first.
    pub fn is_reverse(&self) -> bool {
        self.reverse
    }

    /// The same lengths, forward.
    pub fn forward(&self) -> Self {
        Self {
            reverse: false,
            ..self.clone()
        }
    }

    /// The mask of the outputs this plan returns: `[B, T, 1]`, 1 at valid steps and 0 past each
    /// length (`steps` = T), or with [`last_output_only`](Self::last_output_only) `[B, 1, 1]`, 0
    /// for length 0; `None` without lengths. (A wrapper whose output is not zero for a zero
    /// input, as a projection's bias, multiplies by it.)
    pub fn valid_mask(&self, steps: usize, device: &Device) -> Option<Tensor<3>> {
        let host = self.host_lengths()?;
        let (steps, last) = if self.last_only {
            (1, true)
        } else {
            (steps, false)
        };
        let values: Vec<f32> = host
            .iter()
            .flat_map(|&l| {
                (0..steps).map(move |t| if t < l || (last && l > 0) { 1.0 } else { 0.0 })
            })
            .collect();
        Some(Tensor::from_data(
            TensorData::new(values, [host.len(), steps, 1]),
            device,
        ))
    }
}

/// Checks `inputs [B, T, I]` against the cell and the initial state against the cell's own
/// (batch, number of tensors, each width), builds the plan, and runs.
pub(crate) fn run<C: RnnCell>(
    cell: &C,
    inputs: Tensor<3>,
    initial_state: Option<C::State>,
    sequence_length: Option<Tensor<1, Int>>,
    reverse: bool,
) -> Result<(Tensor<3>, C::State), RnnError> {
    let dims = inputs.dims();
    super::check_features("inputs", &dims, cell.input_size(), "[B, T, I]")?;
    let [batch, steps, _] = dims;
    let plan = SequencePlan::new(sequence_length, batch, steps, reverse)?;
    let state = resolve_initial_state(cell, initial_state, batch, &inputs.device())?;
    Ok(run_planned(cell, inputs, state, &plan))
}

/// The driver with a plan the caller built ([`SequencePlan::new`], e.g. to read the lengths
/// once for several calls, or [`SequencePlan::last_output_only`]): checks `inputs [B, T, I]`
/// against the cell and the plan (built for the same `[B, T]`), the initial state against the
/// cell (as [`dynamic_rnn`](crate::dynamic_rnn)), and runs. Returns `outputs [B, T, O]` in
/// input time (zeros past each length), or `[B, 1, O]` (each example's last valid output,
/// zeros for length 0) when the plan asks for only that, and the final state.
pub fn run_with_plan<C: RnnCell>(
    cell: &C,
    inputs: Tensor<3>,
    initial_state: Option<C::State>,
    plan: &SequencePlan,
) -> Result<(Tensor<3>, C::State), RnnError> {
    let dims = inputs.dims();
    super::check_features("inputs", &dims, cell.input_size(), "[B, T, I]")?;
    let [batch, steps, _] = dims;
    if let Some([b, t]) = plan.shape.filter(|&s| s != [batch, steps]) {
        return Err(RnnError::invalid(
            "inputs",
            format!("[{b}, {t}, I]: the [B, T] the plan was built for"),
            format!("{dims:?}"),
        ));
    }
    let state = resolve_initial_state(cell, initial_state, batch, &inputs.device())?;
    Ok(run_planned(cell, inputs, state, plan))
}

/// The initial state: the given one after checking it against the cell's zero state (batch
/// size, number of tensors, each tensor's width), else the cell's zero state.
pub(crate) fn resolve_initial_state<C: RnnCell>(
    cell: &C,
    initial_state: Option<C::State>,
    batch_size: usize,
    device: &Device,
) -> Result<C::State, RnnError> {
    let Some(state) = initial_state else {
        return Ok(cell.zero_state(batch_size, device));
    };
    let expected: Vec<usize> = cell
        .zero_state(1, device)
        .shape_tensors()
        .iter()
        .map(|t| t.dims()[1])
        .collect();
    let given: Vec<[usize; 2]> = state.shape_tensors().iter().map(Tensor::dims).collect();
    let want = |e: &[usize]| {
        let shapes: Vec<String> = e.iter().map(|h| format!("[{batch_size}, {h}]")).collect();
        format!("{} tensor(s) of shapes {}", e.len(), shapes.join(", "))
    };
    let ok = given.len() == expected.len()
        && given
            .iter()
            .zip(&expected)
            .all(|(g, &h)| g[0] == batch_size && g[1] == h);
    if !ok {
        let given: Vec<String> = given.iter().map(|d| format!("{d:?}")).collect();
        return Err(RnnError::invalid(
            "initial_state",
            format!(
                "{} (batch size {batch_size}, the cell's state sizes)",
                want(&expected)
            ),
            format!("{} tensor(s) of shapes {}", given.len(), given.join(", ")),
        ));
    }
    // Extras a state carries beyond its shape (a dropout wrapper's masks): batch B too.
    if let Some(dims) = state
        .tensors()
        .iter()
        .map(Tensor::dims)
        .find(|d| d[0] != batch_size)
    {
        return Err(RnnError::invalid(
            "initial_state",
            format!("every tensor of shape [{batch_size}, _] (the batch of `inputs`)"),
            format!("{dims:?}"),
        ));
    }
    Ok(state)
}

/// Runs a checked plan: the fused path when the cell has one, else the per-step loop.
pub(crate) fn run_planned<C: RnnCell>(
    cell: &C,
    inputs: Tensor<3>,
    state: C::State,
    plan: &SequencePlan,
) -> (Tensor<3>, C::State) {
    let (outputs, state) = match cell.fused_sequence(&inputs, &state, plan) {
        Some(done) => done,
        None => per_step(cell, inputs, state, plan),
    };
    let [b, t, o] = outputs.dims();
    match plan.is_last_output_only() && t != 1 {
        true => (last_valid_output(outputs, plan).reshape([b, 1, o]), state),
        false => (outputs, state),
    }
}

/// `[B, T, F]` with each example's first `len[b]` steps reversed (TF's `reverse_sequence`;
/// padding stays where it is); all T steps without lengths.
pub(crate) fn reverse_sequence(x: Tensor<3>, plan: &SequencePlan) -> Tensor<3> {
    let [b, t, f] = x.dims();
    let Some(host) = plan.host_lengths() else {
        return x.flip([1]);
    };
    let index: Vec<i64> = host
        .iter()
        .flat_map(|&l| (0..t).map(move |s| if s < l { (l - 1 - s) as i64 } else { s as i64 }))
        .collect();
    let device = x.device();
    let index = Tensor::<3, Int>::from_data(TensorData::new(index, [b, t, 1]), &device);
    x.gather(1, index.expand([b, t, f]))
}

/// The per-step loop: `cell.step` on each step's slice, TF's `sequence_length` contract
/// (outputs of steps `t >= len[b]` are zero, the state is carried through), steps past the
/// longest length not computed, masks only at steps where some example has ended. Reverse
/// reverses each example within its length before and after (outputs in input time).
pub(crate) fn per_step<C: RnnCell>(
    cell: &C,
    inputs: Tensor<3>,
    mut state: C::State,
    plan: &SequencePlan,
) -> (Tensor<3>, C::State) {
    let [batch, n_steps, n_inputs] = inputs.dims();
    let device = inputs.device();
    let inputs = if plan.is_reverse() {
        reverse_sequence(inputs, plan)
    } else {
        inputs
    };
    let lengths = plan.lengths();
    let n_run = lengths.map_or(n_steps, |l| l.max);
    let n_outputs = cell.output_size();
    if n_run == 0 {
        return (Tensor::zeros([batch, n_steps, n_outputs], &device), state);
    }
    let mut outputs = Vec::with_capacity(n_run);
    for (t, x) in inputs.narrow(1, 0, n_run).iter_dim(1).enumerate() {
        // Keep the old state only where a finished example needs it carried through.
        let masked = lengths.filter(|l| l.masks_step(t));
        let old = masked.map(|_| state.clone());
        let (out, new_state) = cell.step(x.reshape([batch, n_inputs]), state);
        match (masked, old) {
            (Some(l), Some(old)) => {
                let valid = l.valid_at(t);
                outputs.push(super::zero_finished(out, &valid));
                state = C::State::select_rows(&valid, new_state, old);
            }
            _ => {
                outputs.push(out);
                state = new_state;
            }
        }
    }
    let mut outputs: Tensor<3> = Tensor::stack(outputs, 1);
    if n_run < n_steps {
        let padding = Tensor::zeros([batch, n_steps - n_run, n_outputs], &device);
        outputs = Tensor::cat(vec![outputs, padding], 1);
    }
    if plan.is_reverse() {
        outputs = reverse_sequence(outputs, plan);
    }
    (outputs, state)
}

/// The output of each example's last valid step, `[B, T, O] -> [B, O]` (zeros for length
/// 0): what a sequence classifier reads. A narrow of one step when every example has the same
/// length; otherwise the sum over time of the outputs times a one-hot `[B, T, 1]` mask of each
/// last step (element-wise ops whose backward is one multiply, measured ~5 ms cheaper per
/// MNIST training step than a gather, whose backward scatters into a zeroed `[B, T, O]`).
pub fn last_valid_output(outputs: Tensor<3>, plan: &SequencePlan) -> Tensor<2> {
    let [b, t, o] = outputs.dims();
    let host = plan.host_lengths().unwrap_or(&[]);
    if host.windows(2).all(|w| w[0] == w[1]) {
        return match host.first().copied().unwrap_or(t) {
            0 => Tensor::zeros([b, o], &outputs.device()),
            len => outputs.narrow(1, len - 1, 1).reshape([b, o]),
        };
    }
    let onehot: Vec<f32> = host
        .iter()
        .flat_map(|&l| (0..t).map(move |s| if s + 1 == l { 1.0 } else { 0.0 }))
        .collect();
    let mask = Tensor::<3>::from_data(TensorData::new(onehot, [b, t, 1]), &outputs.device());
    (outputs * mask).sum_dim(1).reshape([b, o])
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Int, Tensor};

    use super::*;
    use crate::test_util::{assert_close, device, values};

    #[test]
    fn the_last_valid_output_is_each_examples_step_len_minus_one() {
        let dev = device();
        let x = Tensor::<3>::random([3, 4, 2], Distribution::Normal(0.0, 1.0), &dev);
        for lens in [[3, 0, 1], [2, 2, 2], [0, 0, 0], [4, 4, 4]] {
            let plan =
                SequencePlan::new(Some(Tensor::<1, Int>::from_ints(lens, &dev)), 3, 4, false)
                    .unwrap();
            let got = last_valid_output(x.clone(), &plan);
            for (row, &l) in lens.iter().enumerate() {
                let want = match l {
                    0 => vec![0.0; 2],
                    l => values(&x.clone().narrow(0, row, 1).narrow(1, l - 1, 1)),
                };
                assert_eq!(values(&got.clone().narrow(0, row, 1)), want, "{lens:?}");
            }
        }
        let all = last_valid_output(x.clone(), &SequencePlan::default());
        assert_close(&all, &x.narrow(1, 3, 1).reshape([3, 2]), 0.0);
    }

    #[test]
    fn a_plan_built_for_other_inputs_is_refused_naming_both_shapes() {
        let dev = device();
        let cell = crate::BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
        let lens = Tensor::<1, Int>::from_ints([3, 1], &dev);
        let plan = SequencePlan::new(Some(lens), 2, 4, false)
            .unwrap()
            .last_output_only();
        let x = Tensor::<3>::random([2, 5, 2], Distribution::Normal(0.0, 1.0), &dev);
        let err = run_with_plan(&cell, x, None, &plan)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inputs") && err.contains("[2, 4, I]") && err.contains("[2, 5, 2]"),
            "{err}"
        );
        let x = Tensor::<3>::random([2, 4, 2], Distribution::Normal(0.0, 1.0), &dev);
        let (last, state) = run_with_plan(&cell, x.clone(), None, &plan).unwrap();
        let lens = plan.lengths().map(|l| l.tensor().clone());
        let (all, final_state) = crate::dynamic_rnn(&cell, x, None, lens).unwrap();
        assert_eq!(last.dims(), [2, 1, 3]);
        assert_close(&last.reshape([2, 3]), &last_valid_output(all, &plan), 1e-6);
        assert_close(&state, &final_state, 1e-6);
    }
}
