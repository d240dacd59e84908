//! A decoder loop (what TF 1.x's `raw_rnn` made possible, and `tf.contrib.seq2seq`'s
//! `dynamic_decode` with its training, greedy and scheduled-sampling helpers): a cell run for N
//! steps from an initial state, each step's input either given (teacher forcing) or computed
//! from the previous step's output (feedback), mixed per example and step by a sampling
//! probability, with an optional per-example stop.
//!
//! ```
//! use burn::tensor::Tensor;
//! use rnn_core::{BasicRnnCellConfig, Decoder, OutputProjectionWrapperConfig};
//!
//! let device = rnn_core::device::default_device().unwrap();
//! let cell = BasicRnnCellConfig::new(1, 8).init(&device).unwrap();
//! let cell = OutputProjectionWrapperConfig::new(1).init(cell, &device).unwrap(); // O = I = 1
//! // Greedy: step 0 reads `first [B, I]`, every later step the previous output.
//! let first = Tensor::<2>::zeros([4, 1], &device);
//! let decoded = Decoder::greedy(first, 10)
//!     .with_feedback(|y| y.clone())
//!     .run(&cell, None)
//!     .unwrap();
//! assert_eq!(decoded.outputs.dims(), [4, 10, 1]); // [B, N, O]
//! assert_eq!(decoded.lengths, vec![10; 4]);
//! ```

use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::{RnnCell, RnnError, RnnState, SequencePlan};

/// `[B, O] -> [B, I]`: the next step's input from this step's output (an identity when O = I,
/// a projection, an embedding of the arg-max, a sigmoid...). Gradients flow through it.
pub type Feedback<'a> = dyn Fn(&Tensor<2>) -> Tensor<2> + 'a;

/// `[B, O] -> [B]` (bool): which examples stop after emitting this output.
pub type StopFn<'a> = dyn Fn(&Tensor<2>) -> Tensor<1, Bool> + 'a;

/// Where the inputs of a [`Decoder`] come from.
enum Source {
    /// Step 0 reads `first [B, I]`; step t >= 1 reads the feedback of step t - 1's output.
    Greedy { first: Tensor<2> },
    /// Step t reads `inputs[:, t]` (`[B, T, I]`, T >= N) or, for t >= 1, with probability
    /// `sampling_probability` per example and step, the feedback of step t - 1's output.
    Targets {
        inputs: Tensor<3>,
        sampling_probability: f64,
        seed: u64,
    },
}

/// A decoder loop over any [`RnnCell`]: built by [`greedy`](Decoder::greedy),
/// [`teacher_forced`](Decoder::teacher_forced) or
/// [`scheduled_sampling`](Decoder::scheduled_sampling), given a feedback function and an
/// optional stop, and [`run`](Decoder::run) on a cell from an initial state. Arguments are
/// checked by `run`, which returns an [`RnnError`] naming the argument, the expected and the
/// actual value.
///
/// - Teacher forcing (TF's `TrainingHelper`): step t reads `inputs[:, t]`. Without a stop
///   function it is one sequence run ([`dynamic_rnn`](crate::dynamic_rnn)'s driver, so the
///   fused path where the cell has one); otherwise step by step.
/// - Greedy feedback (`GreedyEmbeddingHelper`, `raw_rnn`'s `loop_fn`): step 0 reads a given
///   first input (TF's GO token), step t >= 1 reads `feedback(output_{t-1})`.
/// - Scheduled sampling (`ScheduledOutputTrainingHelper`, Bengio et al. 2015): as teacher
///   forcing, but at each step t >= 1 each example independently reads the feedback instead
///   of `inputs[:, t]` with probability p, drawn on the host from `seed` (the same seed gives
///   the same choices). p = 0 is teacher forcing, p = 1 greedy feedback from `inputs[:, 0]`.
/// - Stop (`dynamic_decode`'s `finished`, with `impute_finished`): after step t, examples whose
///   `stop(output_t)` is true are finished. The output of the step that stops is emitted; later
///   outputs of a finished example are zeros and its state is carried through unchanged, so the
///   final state is the one after its stopping step. The loop ends when every example has
///   stopped; the remaining steps are zeros.
///
/// Everything is differentiable with autodiff (the feedback too: detach in it to stop
/// gradients through fed-back outputs).
pub struct Decoder<'a> {
    n_steps: usize,
    source: Source,
    feedback: Option<Box<Feedback<'a>>>,
    stop: Option<Box<StopFn<'a>>>,
}

/// What a [`Decoder`] run produced.
#[derive(Debug, Clone)]
pub struct Decoded<S> {
    /// `[B, N, O]`: step t's output at `[:, t]`; zeros for an example after its stopping step.
    pub outputs: Tensor<3>,
    /// The final state, batch B: each example's state after its last emitted step.
    pub state: S,
    /// Per example (`B` entries), the number of emitted steps: N, or the stopping step + 1.
    pub lengths: Vec<usize>,
}

impl<'a> Decoder<'a> {
    /// Greedy feedback for `n_steps` (N >= 1) steps: step 0 reads `first_input [B, I]`,
    /// step t >= 1 reads the feedback ([`with_feedback`](Decoder::with_feedback), required)
    /// of step t - 1's output.
    pub fn greedy(first_input: Tensor<2>, n_steps: usize) -> Self {
        Self::new(n_steps, Source::Greedy { first: first_input })
    }

    /// Teacher forcing for `n_steps` (N >= 1) steps: step t reads `inputs[:, t]`, with
    /// `inputs [B, T, I]` and T >= N (steps past N are ignored). Needs no feedback.
    pub fn teacher_forced(inputs: Tensor<3>, n_steps: usize) -> Self {
        Self::scheduled_sampling(inputs, n_steps, 0.0, 0)
    }

    /// Scheduled sampling for `n_steps` (N >= 1) steps over `inputs [B, T, I]` (T >= N): step
    /// 0 reads `inputs[:, 0]`; at step t >= 1 each example reads the feedback of its previous
    /// output with probability `sampling_probability` (in `[0, 1]`), else `inputs[:, t]`. The
    /// choices are drawn from `seed`. The feedback is required when the probability is above 0.
    pub fn scheduled_sampling(
        inputs: Tensor<3>,
        n_steps: usize,
        sampling_probability: f64,
        seed: u64,
    ) -> Self {
        Self::new(
            n_steps,
            Source::Targets {
                inputs,
                sampling_probability,
                seed,
            },
        )
    }

    fn new(n_steps: usize, source: Source) -> Self {
        Self {
            n_steps,
            source,
            feedback: None,
            stop: None,
        }
    }

    /// The feedback, `[B, O] -> [B, I]`: the next input from an output.
    pub fn with_feedback(mut self, feedback: impl Fn(&Tensor<2>) -> Tensor<2> + 'a) -> Self {
        self.feedback = Some(Box::new(feedback));
        self
    }

    /// A per-example stop, `[B, O] -> [B]` (bool): true stops that example after this output.
    pub fn with_stop(mut self, stop: impl Fn(&Tensor<2>) -> Tensor<1, Bool> + 'a) -> Self {
        self.stop = Some(Box::new(stop));
        self
    }

    /// N, the number of steps.
    pub fn n_steps(&self) -> usize {
        self.n_steps
    }

    /// Runs `cell` from `initial_state` (batch B and the cell's state sizes; `None` for the
    /// cell's zero state). Returns `outputs [B, N, O]`, the final state and each example's
    /// number of emitted steps.
    ///
    /// Fails, naming the argument, when N is 0; when the first input is not `[B, I]` or the
    /// inputs not `[B, T, I]` with T >= N (I = `cell.input_size()`); when the probability is
    /// outside `[0, 1]`; when a feedback is needed and missing, or returns other than `[B, I]`;
    /// when the stop returns other than `[B]`; when the initial state does not fit.
    pub fn run<C: RnnCell>(
        &self,
        cell: &C,
        initial_state: Option<C::State>,
    ) -> Result<Decoded<C::State>, RnnError> {
        if self.n_steps == 0 {
            return Err(RnnError::invalid("n_steps", "at least 1", 0));
        }
        let n_inputs = cell.input_size();
        let (batch, device, p) = match &self.source {
            Source::Greedy { first } => {
                let dims = first.dims();
                super::check_features("first_input", &dims, n_inputs, "[B, I]")?;
                (dims[0], first.device(), 1.0)
            }
            Source::Targets {
                inputs,
                sampling_probability,
                ..
            } => {
                let dims = inputs.dims();
                super::check_features("inputs", &dims, n_inputs, "[B, T, I]")?;
                if dims[1] < self.n_steps {
                    return Err(RnnError::invalid(
                        "inputs",
                        format!("[B, T, {n_inputs}] with T >= n_steps = {}", self.n_steps),
                        format!("{dims:?}"),
                    ));
                }
                let p = *sampling_probability;
                if !(0.0..=1.0).contains(&p) {
                    return Err(RnnError::invalid(
                        "sampling_probability",
                        "a probability in [0, 1]",
                        p,
                    ));
                }
                (dims[0], inputs.device(), p)
            }
        };
        if p > 0.0 && self.n_steps > 1 && self.feedback.is_none() {
            return Err(RnnError::invalid(
                "feedback",
                "a feedback function (greedy decoding and sampling_probability > 0 feed outputs \
                 back; see Decoder::with_feedback)",
                "none",
            ));
        }
        let state = super::driver::resolve_initial_state(cell, initial_state, batch, &device)?;

        if let (Source::Targets { inputs, .. }, None, true) = (&self.source, &self.stop, p == 0.0) {
            // Pure teacher forcing is one sequence: the driver (fused where the cell has it).
            let inputs = inputs.clone().narrow(1, 0, self.n_steps);
            let (outputs, state) =
                super::driver::run_planned(cell, inputs, state, &SequencePlan::default());
            return Ok(Decoded {
                outputs,
                state,
                lengths: vec![self.n_steps; batch],
            });
        }
        self.run_steps(cell, state, batch, p, &device)
    }

    /// The step-by-step loop (greedy, scheduled sampling, or any run with a stop).
    fn run_steps<C: RnnCell>(
        &self,
        cell: &C,
        mut state: C::State,
        batch: usize,
        p: f64,
        device: &Device,
    ) -> Result<Decoded<C::State>, RnnError> {
        let n_inputs = cell.input_size();
        let mut sampler = match &self.source {
            Source::Targets { seed, .. } => SplitMix64(*seed),
            Source::Greedy { .. } => SplitMix64(0),
        };
        let mut finished = vec![false; batch];
        let mut lengths = vec![0; batch];
        let mut outputs: Vec<Tensor<2>> = Vec::with_capacity(self.n_steps);
        let mut previous: Option<Tensor<2>> = None;
        for t in 0..self.n_steps {
            let input = match (&self.source, previous.take()) {
                (Source::Greedy { first }, None) => first.clone(),
                (Source::Targets { inputs, .. }, None) => given(inputs, t, batch, n_inputs),
                (Source::Greedy { .. }, Some(prev)) => self.fed_back(&prev, batch, n_inputs)?,
                (Source::Targets { inputs, .. }, Some(prev)) => {
                    let choose: Vec<bool> = (0..batch).map(|_| sampler.uniform() < p).collect();
                    if choose.iter().all(|&c| c) {
                        self.fed_back(&prev, batch, n_inputs)?
                    } else if choose.iter().all(|&c| !c) {
                        given(inputs, t, batch, n_inputs)
                    } else {
                        let mask =
                            Tensor::<1, Bool>::from_data(TensorData::new(choose, [batch]), device);
                        let mask = mask.unsqueeze_dim::<2>(1).expand([batch, n_inputs]);
                        let fed = self.fed_back(&prev, batch, n_inputs)?;
                        given(inputs, t, batch, n_inputs).mask_where(mask, fed)
                    }
                }
            };
            let any_finished = finished.iter().any(|&f| f);
            let old = any_finished.then(|| state.clone());
            let (out, new_state) = cell.step(input, state);
            let emitted: Vec<bool> = finished.iter().map(|&f| !f).collect();
            match old {
                Some(old) => {
                    let valid = Tensor::<1, Bool>::from_data(
                        TensorData::new(emitted.clone(), [batch]),
                        device,
                    );
                    outputs.push(super::zero_finished(out.clone(), &valid));
                    state = C::State::select_rows(&valid, new_state, old);
                }
                None => {
                    outputs.push(out.clone());
                    state = new_state;
                }
            }
            for (l, e) in lengths.iter_mut().zip(&emitted) {
                *l += usize::from(*e);
            }
            if let Some(stop) = &self.stop {
                for (f, s) in finished.iter_mut().zip(stop_mask(stop, &out, batch)?) {
                    *f |= s;
                }
                if finished.iter().all(|&f| f) {
                    break;
                }
            }
            previous = Some(out);
        }
        let n_run = outputs.len();
        let mut outputs: Tensor<3> = Tensor::stack(outputs, 1);
        if n_run < self.n_steps {
            let o = outputs.dims()[2];
            let padding = Tensor::zeros([batch, self.n_steps - n_run, o], device);
            outputs = Tensor::cat(vec![outputs, padding], 1);
        }
        Ok(Decoded {
            outputs,
            state,
            lengths,
        })
    }

    /// The feedback of `prev [B, O]`, checked to be `[B, I]`.
    fn fed_back(
        &self,
        prev: &Tensor<2>,
        batch: usize,
        n_inputs: usize,
    ) -> Result<Tensor<2>, RnnError> {
        let feedback = self
            .feedback
            .as_ref()
            .ok_or_else(|| RnnError::invalid("feedback", "a feedback function", "none"))?;
        let next = feedback(prev);
        if next.dims() != [batch, n_inputs] {
            return Err(RnnError::invalid(
                "feedback",
                format!(
                    "a function returning [{batch}, {n_inputs}] ([B, I], the cell's input_size)"
                ),
                format!("{:?}", next.dims()),
            ));
        }
        Ok(next)
    }
}

/// `inputs[:, t]`, `[B, T, I] -> [B, I]`.
fn given(inputs: &Tensor<3>, t: usize, batch: usize, n_inputs: usize) -> Tensor<2> {
    inputs.clone().narrow(1, t, 1).reshape([batch, n_inputs])
}

/// The stop function's `[B]` mask on the host.
fn stop_mask(stop: &StopFn<'_>, out: &Tensor<2>, batch: usize) -> Result<Vec<bool>, RnnError> {
    let mask = stop(out);
    if mask.dims() != [batch] {
        return Err(RnnError::invalid(
            "stop",
            format!("a function returning a bool mask of shape [{batch}] ([B])"),
            format!("{:?}", mask.dims()),
        ));
    }
    let host = mask
        .int()
        .into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| RnnError::invalid("stop", "a readable bool mask", format!("{e:?}")))?;
    Ok(host.into_iter().map(|v| v != 0).collect())
}

/// SplitMix64 (Steele et al.): the scheduled-sampling draws, seeded and the same everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    /// Uniform in `[0, 1)` from the top 53 bits.
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
