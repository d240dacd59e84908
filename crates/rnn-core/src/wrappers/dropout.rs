//! TF's `DropoutWrapper`: dropout on a cell's inputs, outputs and new state.

use burn::config::Config;
use burn::module::{Flag, Module, Param};
use burn::tensor::{Bool, Device, Distribution, Tensor};

use crate::{RnnCell, RnnError, RnnState, SequencePlan};

/// Keep probabilities of a [`DropoutWrapper`], TF's names. 1.0 means no dropout there.
#[derive(Config, Debug)]
pub struct DropoutWrapperConfig {
    /// Probability of keeping each input feature.
    #[config(default = 1.0)]
    pub input_keep_prob: f64,
    /// Probability of keeping each output feature.
    #[config(default = 1.0)]
    pub output_keep_prob: f64,
    /// Probability of keeping each feature of the new state (an LSTM's `c` is never dropped,
    /// as with TF's default state filter).
    #[config(default = 1.0)]
    pub state_keep_prob: f64,
    /// `true`: one mask per sequence, the same at every step (Gal & Ghahramani, TF's
    /// `variational_recurrent`); `false`: a fresh mask at every step.
    #[config(default = false)]
    pub variational_recurrent: bool,
}

/// Dropout around a cell. Kept values are scaled by `1 / keep_prob`.
///
/// Active only while training: the module's training flag is on (see [`Module::valid`]) and the
/// tensors are on an autodiff device, as burn's `Dropout`. In evaluation, or with every keep
/// probability 1.0, it is the identity.
#[derive(Module, Debug)]
pub struct DropoutWrapper<C: RnnCell> {
    /// The wrapped cell.
    pub cell: C,
    /// Probability of keeping an input feature.
    #[module(skip)]
    pub input_keep_prob: f64,
    /// Probability of keeping an output feature.
    #[module(skip)]
    pub output_keep_prob: f64,
    /// Probability of keeping a state feature.
    #[module(skip)]
    pub state_keep_prob: f64,
    /// Same mask at every step of a sequence.
    #[module(skip)]
    pub variational_recurrent: bool,
    /// Whether to behave as during training (cleared by `valid()`).
    pub training: Param<Flag>,
}

/// The state of a [`DropoutWrapper`]: the inner cell's state, and in variational mode the
/// masks drawn at the first step of the sequence (each `[B, n]`, already scaled by `1/keep`).
#[derive(Debug, Clone)]
pub struct DropoutState<S> {
    /// The wrapped cell's state.
    pub inner: S,
    /// The per-sequence masks (variational mode while training), drawn lazily.
    pub noise: Option<VariationalNoise>,
}

impl<S> DropoutState<S> {
    /// Wraps an inner state, with no masks drawn yet.
    pub fn new(inner: S) -> Self {
        Self { inner, noise: None }
    }
}

/// Masks reused at every step of one sequence, each `[B, n]` and scaled by `1 / keep_prob`.
#[derive(Debug, Clone)]
pub struct VariationalNoise {
    /// Input mask `[B, I]`, when input_keep_prob < 1.
    pub input: Option<Tensor<2>>,
    /// Output mask `[B, O]`, when output_keep_prob < 1.
    pub output: Option<Tensor<2>>,
    /// One mask per droppable state tensor, when state_keep_prob < 1.
    pub state: Vec<Tensor<2>>,
}

impl VariationalNoise {
    fn map(self, f: impl Fn(Tensor<2>) -> Tensor<2>) -> Self {
        Self {
            input: self.input.map(&f),
            output: self.output.map(&f),
            state: self.state.into_iter().map(&f).collect(),
        }
    }
}

impl<S: RnnState> RnnState for DropoutState<S> {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    fn select_rows(take_new: &Tensor<1, Bool>, new: Self, old: Self) -> Self {
        // The masks are fixed per sequence: whichever side has them holds the same values.
        Self {
            inner: S::select_rows(take_new, new.inner, old.inner),
            noise: new.noise.or(old.noise),
        }
    }

    fn detach(self) -> Self {
        Self {
            inner: self.inner.detach(),
            noise: self.noise,
        }
    }

    fn slice_batch(&self, range: core::ops::Range<usize>) -> Self {
        Self {
            inner: self.inner.slice_batch(range.clone()),
            noise: self
                .noise
                .clone()
                .map(|n| n.map(|t| t.narrow(0, range.start, range.len()))),
        }
    }

    /// The inner state's tensors, then the variational masks drawn so far (input `[B, I]`,
    /// output `[B, O]`, one `[B, H_k]` per droppable state tensor): the unrolls check every one
    /// against the batch of `inputs`, so a state whose masks come from another batch size is
    /// refused as `initial_state` instead of failing inside a step.
    fn tensors(&self) -> Vec<Tensor<2>> {
        let mut tensors = self.inner.tensors();
        if let Some(noise) = &self.noise {
            tensors.extend(noise.input.iter().cloned());
            tensors.extend(noise.output.iter().cloned());
            tensors.extend(noise.state.iter().cloned());
        }
        tensors
    }

    fn shape_tensors(&self) -> Vec<Tensor<2>> {
        self.inner.shape_tensors()
    }

    fn map_droppable(self, f: &mut dyn FnMut(Tensor<2>) -> Tensor<2>) -> Self {
        Self {
            inner: self.inner.map_droppable(f),
            noise: self.noise,
        }
    }
}

/// A keep probability in (0, 1] whose scale `1 / keep` is a finite f32: a smaller one (below
/// about 2.94e-39) would scale the kept values by infinity, and the dropped ones to NaN (0 * inf).
fn check_keep(arg: &'static str, keep: f64) -> Result<(), RnnError> {
    let in_range = keep.is_finite() && keep > 0.0 && keep <= 1.0;
    if in_range && ((1.0 / keep) as f32).is_finite() {
        Ok(())
    } else {
        let shown = if keep != 0.0 && keep.abs() < 1e-4 {
            format!("{keep:e}")
        } else {
            keep.to_string()
        };
        Err(RnnError::invalid(
            arg,
            format!(
                "a probability in (0, 1] with a finite f32 scale 1 / keep (keep >= about {:.2e})",
                1.0 / f64::from(f32::MAX)
            ),
            shown,
        ))
    }
}

/// A dropout mask shaped like `shape`: Bernoulli(keep) / keep.
fn mask<const D: usize>(shape: [usize; D], keep: f64, device: &Device) -> Tensor<D> {
    Tensor::<D>::random(shape, Distribution::Bernoulli(keep), device) * (1.0 / keep)
}

impl DropoutWrapperConfig {
    /// Wraps `cell`; fails when a keep probability is outside (0, 1].
    pub fn init<C: RnnCell>(&self, cell: C) -> Result<DropoutWrapper<C>, RnnError> {
        check_keep("input_keep_prob", self.input_keep_prob)?;
        check_keep("output_keep_prob", self.output_keep_prob)?;
        check_keep("state_keep_prob", self.state_keep_prob)?;
        Ok(DropoutWrapper {
            cell,
            input_keep_prob: self.input_keep_prob,
            output_keep_prob: self.output_keep_prob,
            state_keep_prob: self.state_keep_prob,
            variational_recurrent: self.variational_recurrent,
            training: Param::from_bool(true),
        })
    }
}

impl<C: RnnCell> DropoutWrapper<C> {
    /// Whether dropout acts on tensors of `device`: training flag on and an autodiff device.
    pub fn is_active(&self, device: &Device) -> bool {
        self.training.is_enabled() && device.is_autodiff()
    }

    fn draw_noise(&self, input: &Tensor<2>, inner: &C::State) -> VariationalNoise {
        let device = input.device();
        let batch = input.dims()[0];
        let mut state = Vec::new();
        if self.state_keep_prob < 1.0 {
            let keep = self.state_keep_prob;
            inner.clone().map_droppable(&mut |t| {
                state.push(mask(t.dims(), keep, &device));
                t
            });
        }
        VariationalNoise {
            input: (self.input_keep_prob < 1.0).then(|| {
                mask(
                    [batch, self.cell.input_size()],
                    self.input_keep_prob,
                    &device,
                )
            }),
            output: (self.output_keep_prob < 1.0).then(|| {
                mask(
                    [batch, self.cell.output_size()],
                    self.output_keep_prob,
                    &device,
                )
            }),
            state,
        }
    }

    /// One step with dropout on the input, the new state and the output.
    fn step_impl(
        &self,
        x: Tensor<2>,
        state: DropoutState<C::State>,
    ) -> (Tensor<2>, DropoutState<C::State>) {
        let active = self.is_active(&x.device());
        let any =
            self.input_keep_prob < 1.0 || self.output_keep_prob < 1.0 || self.state_keep_prob < 1.0;
        if !active || !any {
            let (out, inner) = self.cell.step(x, state.inner);
            return (
                out,
                DropoutState {
                    inner,
                    noise: state.noise,
                },
            );
        }
        let noise = match (self.variational_recurrent, state.noise) {
            (true, Some(noise)) => Some(noise),
            (true, None) => Some(self.draw_noise(&x, &state.inner)),
            (false, _) => None,
        };
        let device = x.device();
        let x = if self.input_keep_prob < 1.0 {
            match noise.as_ref().and_then(|n| n.input.clone()) {
                Some(m) => x * m,
                None => x.clone() * mask(x.dims(), self.input_keep_prob, &device),
            }
        } else {
            x
        };
        let (out, inner) = self.cell.step(x, state.inner);
        let inner = if self.state_keep_prob < 1.0 {
            let keep = self.state_keep_prob;
            let mut k = 0;
            inner.map_droppable(&mut |t| {
                let m = match &noise {
                    Some(n) => n.state[k].clone(),
                    None => mask(t.dims(), keep, &device),
                };
                k += 1;
                t * m
            })
        } else {
            inner
        };
        let out = if self.output_keep_prob < 1.0 {
            match noise.as_ref().and_then(|n| n.output.clone()) {
                Some(m) => out * m,
                None => out.clone() * mask(out.dims(), self.output_keep_prob, &device),
            }
        } else {
            out
        };
        (out, DropoutState { inner, noise })
    }
}

impl<C: RnnCell> RnnCell for DropoutWrapper<C> {
    type State = DropoutState<C::State>;

    fn input_size(&self) -> usize {
        self.cell.input_size()
    }

    fn output_size(&self) -> usize {
        self.cell.output_size()
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> Self::State {
        DropoutState::new(self.cell.zero_state(batch_size, device))
    }

    fn step(&self, input: Tensor<2>, state: Self::State) -> (Tensor<2>, Self::State) {
        self.step_impl(input, state)
    }

    /// The inner cell's fused sequence when dropout does nothing here (evaluation, a plain
    /// device, or every keep probability 1.0); `None` while it drops, since the masks act
    /// between steps. Shapes as [`RnnCell::fused_sequence`]; the state's masks pass through.
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &Self::State,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, Self::State)> {
        let drops =
            self.input_keep_prob < 1.0 || self.output_keep_prob < 1.0 || self.state_keep_prob < 1.0;
        if drops && self.is_active(&inputs.device()) {
            return None;
        }
        let (outputs, inner) = self.cell.fused_sequence(inputs, &state.inner, plan)?;
        Some((
            outputs,
            DropoutState {
                inner,
                noise: state.noise.clone(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::test_util::{assert_close, device, values};
    use crate::{BasicRnnCellConfig, LstmCellConfig, dynamic_rnn};

    fn input(dev: &Device, b: usize, t: usize, i: usize) -> Tensor<3> {
        Tensor::random([b, t, i], Distribution::Normal(0.0, 1.0), dev)
    }

    #[test]
    fn keep_probabilities_outside_0_1_are_rejected() {
        let cell = BasicRnnCellConfig::new(2, 3).init(&device()).unwrap();
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            let err = DropoutWrapperConfig::new()
                .with_state_keep_prob(bad)
                .init(cell.clone())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`state_keep_prob`") && err.contains("(0, 1]"),
                "{err}"
            );
        }
        // So small that 1 / keep overflows f32: the kept values would be inf, the dropped NaN.
        let err = DropoutWrapperConfig::new()
            .with_input_keep_prob(1e-40)
            .init(cell.clone())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`input_keep_prob`: expected a probability in (0, 1] with a finite f32 scale \
             1 / keep (keep >= about 2.94e-39), got 1e-40"
        );
        // The smallest accepted keep gives finite scaled values.
        let keep = 3e-39;
        let wrapper = DropoutWrapperConfig::new()
            .with_output_keep_prob(keep)
            .init(cell.clone())
            .unwrap();
        assert_eq!(wrapper.output_keep_prob, keep);
        let m = mask([1000], keep, &device());
        assert!(values(&m).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn a_variational_state_from_another_batch_size_is_refused() {
        let dev = device().autodiff();
        let wrapped = DropoutWrapperConfig::new()
            .with_output_keep_prob(0.5)
            .with_variational_recurrent(true)
            .init(BasicRnnCellConfig::new(3, 4).init(&dev).unwrap())
            .unwrap();
        // Masks drawn for a batch of 5, carried into a batch of 2.
        let (_, state5) =
            wrapped.step(Tensor::<2>::ones([5, 3], &dev), wrapped.zero_state(5, &dev));
        assert_eq!(state5.tensors().len(), 2, "h, then the output mask");
        let stale = DropoutState {
            inner: wrapped.cell.zero_state(2, &dev),
            noise: state5.noise,
        };
        let err = dynamic_rnn(&wrapped, input(&dev, 2, 4, 3), Some(stale), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`initial_state`: expected every tensor of shape [2, _] (the batch of `inputs`), got [5, 4]"
        );
    }

    #[test]
    fn identity_when_evaluating_off_autodiff_or_keeping_everything() {
        let dev = device().autodiff();
        let cell = BasicRnnCellConfig::new(4, 6).init(&dev).unwrap();
        let x = input(&dev, 5, 3, 4);
        let (expected, _) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();

        let keep_all = DropoutWrapperConfig::new().init(cell.clone()).unwrap();
        let (out, _) = dynamic_rnn(&keep_all, x.clone(), None, None).unwrap();
        assert_close(&out, &expected, 0.0);

        let dropping = DropoutWrapperConfig::new()
            .with_input_keep_prob(0.5)
            .with_output_keep_prob(0.5)
            .with_state_keep_prob(0.5)
            .init(cell.clone())
            .unwrap();
        let (train_out, _) = dynamic_rnn(&dropping, x.clone(), None, None).unwrap();
        assert!(
            values(&train_out).iter().filter(|&&v| v == 0.0).count() > 10,
            "training drops"
        );

        let eval = dropping.valid();
        let x_plain = x.clone().inner();
        let (eval_out, _) = dynamic_rnn(&eval, x_plain.clone(), None, None).unwrap();
        assert_close(&eval_out, &expected.clone().inner(), 1e-6);

        let plain = DropoutWrapperConfig::new()
            .with_output_keep_prob(0.5)
            .init(BasicRnnCellConfig::new(4, 6).init(&device()).unwrap())
            .unwrap();
        let (out, _) = dynamic_rnn(&plain, x_plain.clone(), None, None).unwrap();
        let (inner_out, _) = dynamic_rnn(&plain.cell, x_plain, None, None).unwrap();
        assert_close(&out, &inner_out, 0.0);
    }

    #[test]
    fn keep_rate_and_scaling_within_statistical_bounds() {
        let dev = device().autodiff();
        let keep = 0.7;
        let cell = BasicRnnCellConfig::new(8, 100).init(&dev).unwrap();
        let wrapped = DropoutWrapperConfig::new()
            .with_output_keep_prob(keep)
            .init(cell.clone())
            .unwrap();
        let x = input(&dev, 100, 10, 8); // 100 * 10 * 100 = 100_000 outputs
        let (out, _) = dynamic_rnn(&wrapped, x.clone(), None, None).unwrap();
        let (inner, _) = dynamic_rnn(&cell, x, None, None).unwrap();
        let (out, inner) = (values(&out), values(&inner));
        let n = out.len() as f64;
        let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / n;
        let sigma = (keep * (1.0 - keep) / n).sqrt();
        assert!(
            (kept - keep).abs() < 5.0 * sigma,
            "kept {kept}, expected {keep} ± {}",
            5.0 * sigma
        );
        for (o, i) in out.iter().zip(&inner) {
            if *o != 0.0 {
                assert!(
                    (o - i / keep as f32).abs() < 1e-5,
                    "kept value {o} != {i} / {keep}"
                );
            }
        }
    }

    /// The zero pattern of the outputs across steps: same mask at each step iff variational.
    fn output_masks(variational: bool) -> Vec<Vec<bool>> {
        let dev = device().autodiff();
        let cell = BasicRnnCellConfig::new(3, 50).init(&dev).unwrap();
        let wrapped = DropoutWrapperConfig::new()
            .with_output_keep_prob(0.5)
            .with_state_keep_prob(0.8)
            .with_variational_recurrent(variational)
            .init(cell)
            .unwrap();
        let (out, _) = dynamic_rnn(&wrapped, input(&dev, 4, 6, 3), None, None).unwrap();
        (0..6)
            .map(|t| {
                values(&out.clone().narrow(1, t, 1))
                    .iter()
                    .map(|&v| v == 0.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn variational_mask_is_the_same_at_every_step() {
        let masks = output_masks(true);
        assert!(masks[0].iter().any(|&z| z));
        for m in &masks[1..] {
            assert_eq!(m, &masks[0]);
        }
        let masks = output_masks(false);
        assert!(
            masks[1..].iter().any(|m| m != &masks[0]),
            "a fresh mask per step"
        );
    }

    #[test]
    fn state_dropout_leaves_the_lstm_memory_alone() {
        let dev = device().autodiff();
        let cell = LstmCellConfig::new(3, 40).init(&dev).unwrap();
        let wrapped = DropoutWrapperConfig::new()
            .with_state_keep_prob(0.5)
            .init(cell.clone())
            .unwrap();
        let x = Tensor::<2>::random([6, 3], Distribution::Normal(0.0, 1.0), &dev);
        let (_, state) = wrapped.step(x.clone(), wrapped.zero_state(6, &dev));
        let (_, inner) = cell.step(x, cell.zero_state(6, &dev));
        assert_close(&state.inner.c, &inner.c, 1e-6);
        let h = values(&state.inner.h);
        assert!(h.iter().filter(|&&v| v == 0.0).count() > 40, "h is dropped");
    }
}
