//! Truncated backpropagation through time: a long sequence in chunks of k steps, the state
//! carried from one chunk to the next but cut from the graph (detached), so gradients never
//! cross a chunk boundary and memory holds at most k steps.

use core::ops::Range;

use burn::tensor::Tensor;
use rnn_core::RnnState;

use crate::TrainError;

/// Truncated BPTT in chunks of `chunk` steps.
#[derive(Debug, Clone, Copy)]
pub struct Tbptt {
    /// k, the number of steps a gradient can travel back.
    pub chunk: usize,
}

impl Tbptt {
    /// Chunks of `chunk >= 1` steps.
    pub fn new(chunk: usize) -> Result<Self, TrainError> {
        if chunk == 0 {
            return Err(TrainError::invalid("chunk", "at least 1 step", 0));
        }
        Ok(Self { chunk })
    }

    /// The step ranges of a sequence of `n_steps`: `0..k, k..2k, ...`, the last one shorter.
    pub fn chunks(&self, n_steps: usize) -> Vec<Range<usize>> {
        (0..n_steps)
            .step_by(self.chunk)
            .map(|s| s..(s + self.chunk).min(n_steps))
            .collect()
    }

    /// Runs `step` on each chunk in order: `step(model, inputs_chunk [B, k, I],
    /// targets_chunk [B, k, O], state)` returns the updated model (after its optimiser step)
    /// and the state after the chunk; that state is detached before the next chunk.
    /// `inputs: [B, T, I]`, `targets: [B, T, O]`. Returns the model and the final state.
    pub fn run<M, S: RnnState>(
        &self,
        mut model: M,
        inputs: Tensor<3>,
        targets: Tensor<3>,
        initial_state: S,
        mut step: impl FnMut(M, Tensor<3>, Tensor<3>, S) -> Result<(M, S), TrainError>,
    ) -> Result<(M, S), TrainError> {
        let [bi, t, _] = inputs.dims();
        let [bt, tt, _] = targets.dims();
        if (bi, t) != (bt, tt) {
            return Err(TrainError::invalid(
                "targets",
                format!("shape [{bi}, {t}, _] (batch and steps of `inputs`)"),
                format!("{:?}", targets.dims()),
            ));
        }
        let mut state = initial_state.detach();
        for range in self.chunks(t) {
            let x = inputs.clone().narrow(1, range.start, range.len());
            let y = targets.clone().narrow(1, range.start, range.len());
            let (m, s) = step(model, x, y, state)?;
            model = m;
            state = s.detach();
        }
        Ok((model, state))
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Distribution, Gradients};
    use rnn_core::{BasicRnnCell, BasicRnnCellConfig, RnnCell, dynamic_rnn};

    use super::*;

    fn device() -> burn::tensor::Device {
        rnn_core::device::default_device().unwrap().autodiff()
    }

    #[test]
    fn chunks_cover_the_sequence() {
        assert_eq!(Tbptt::new(3).unwrap().chunks(7), vec![0..3, 3..6, 6..7]);
        assert_eq!(Tbptt::new(10).unwrap().chunks(7), vec![0..7]);
        assert!(Tbptt::new(0).unwrap_err().to_string().contains("`chunk`"));
    }

    #[test]
    fn gradients_do_not_cross_a_chunk_boundary() {
        let dev = device();
        let cell = BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
        let x = Tensor::<3>::random([2, 6, 2], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let y = Tensor::<3>::zeros([2, 6, 3], &dev);
        let mut input_grads = Vec::new();
        Tbptt::new(3)
            .unwrap()
            .run(
                cell.clone(),
                x.clone(),
                y,
                cell.zero_state(2, &dev),
                |c: BasicRnnCell, xc, _yc, s| {
                    let (out, s) = dynamic_rnn(&c, xc, Some(s), None)?;
                    let grads = out.sum().backward();
                    input_grads.push(x.grad(&grads).unwrap());
                    Ok((c, s))
                },
            )
            .unwrap();
        // The second chunk's loss has no gradient on the first chunk's inputs.
        let second: Vec<f32> = input_grads[1]
            .clone()
            .narrow(1, 0, 3)
            .into_data()
            .try_into_vec_as()
            .unwrap();
        assert!(second.iter().all(|&g| g == 0.0), "{second:?}");
        let own: Vec<f32> = input_grads[1]
            .clone()
            .narrow(1, 3, 3)
            .into_data()
            .try_into_vec_as()
            .unwrap();
        assert!(own.iter().any(|&g| g != 0.0));

        // Without the detach, the same loss reaches the first chunk: the test can fail.
        let (out, _) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
        let grads = out.narrow(1, 3, 3).sum().backward();
        let through: Vec<f32> = x
            .grad(&grads)
            .unwrap()
            .narrow(1, 0, 3)
            .into_data()
            .try_into_vec_as()
            .unwrap();
        assert!(through.iter().any(|&g| g != 0.0));
    }

    struct Collect<'a>(&'a Gradients, Vec<Vec<f32>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.1.push(
                p.val()
                    .grad(self.0)
                    .unwrap()
                    .into_data()
                    .try_into_vec_as()
                    .unwrap(),
            );
        }
    }

    fn param_grads(cell: &BasicRnnCell, grads: &Gradients) -> Vec<Vec<f32>> {
        let mut c = Collect(grads, Vec::new());
        cell.visit(&mut c);
        c.1
    }

    #[test]
    fn a_chunk_as_long_as_the_sequence_is_full_bptt() {
        let dev = device();
        let cell = BasicRnnCellConfig::new(2, 3).init(&dev).unwrap();
        let x = Tensor::<3>::random([2, 5, 2], Distribution::Normal(0.0, 1.0), &dev);
        let r = Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &dev);
        let (out, _) = dynamic_rnn(&cell, x.clone(), None, None).unwrap();
        let full = param_grads(&cell, &(out * r.clone()).sum().backward());

        let per_chunk = |k: usize| {
            let mut got = Vec::new();
            Tbptt::new(k)
                .unwrap()
                .run(
                    cell.clone(),
                    x.clone(),
                    r.clone(),
                    cell.zero_state(2, &dev),
                    |c: BasicRnnCell, xc, rc, s| {
                        let (out, s) = dynamic_rnn(&c, xc, Some(s), None)?;
                        got.push(param_grads(&c, &(out * rc).sum().backward()));
                        Ok((c, s))
                    },
                )
                .unwrap();
            got
        };
        for k in [5, 8] {
            let got = per_chunk(k);
            assert_eq!(got.len(), 1);
            for (a, b) in got[0].iter().zip(&full) {
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-5, "k = {k}: {x} vs {y}");
                }
            }
        }
        // k = 2 truncates: summed over chunks, W_h's gradient differs from full BPTT.
        let got = per_chunk(2);
        let wh_sum: Vec<f32> = (0..full[1].len())
            .map(|i| got.iter().map(|g| g[1][i]).sum())
            .collect();
        let diff = wh_sum
            .iter()
            .zip(&full[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff > 1e-4, "truncation should change W_h's gradient");
    }
}
