//! TF's `MultiRNNCell`: a stack of cells, each layer's output the next one's input.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::unroll::driver::run_planned;
use crate::{RnnCell, RnnError, SequencePlan};

/// A stack of cells of one type (sizes may differ per layer). Its state is every layer's
/// state, the first layer first, as TF returns them; its output is the last layer's.
#[derive(Module, Debug)]
pub struct MultiRnnCell<C: RnnCell> {
    /// The layers, input side first.
    pub cells: Vec<C>,
}

impl<C: RnnCell> MultiRnnCell<C> {
    /// Stacks `cells`; fails on an empty stack, or when a layer's input size is not the
    /// output size of the layer below.
    pub fn new(cells: Vec<C>) -> Result<Self, RnnError> {
        if cells.is_empty() {
            return Err(RnnError::invalid(
                "cells",
                "at least one cell",
                "an empty list",
            ));
        }
        for (k, pair) in cells.windows(2).enumerate() {
            let (below, above) = (pair[0].output_size(), pair[1].input_size());
            if below != above {
                return Err(RnnError::invalid(
                    "cells",
                    format!(
                        "cells[{}].input_size() == cells[{k}].output_size() = {below}",
                        k + 1
                    ),
                    above,
                ));
            }
        }
        Ok(Self { cells })
    }

    fn run_layers(
        &self,
        first: (Tensor<2>, C::State),
        mut states: std::vec::IntoIter<C::State>,
    ) -> (Tensor<2>, Vec<C::State>) {
        let (mut x, s0) = first;
        let mut new_states = Vec::with_capacity(self.cells.len());
        new_states.push(s0);
        for cell in &self.cells[1..] {
            let state = states.next().expect("one state per layer");
            let (out, s) = cell.step(x, state);
            x = out;
            new_states.push(s);
        }
        (x, new_states)
    }
}

impl<C: RnnCell> RnnCell for MultiRnnCell<C> {
    type State = Vec<C::State>;

    fn input_size(&self) -> usize {
        self.cells[0].input_size()
    }

    fn output_size(&self) -> usize {
        self.cells[self.cells.len() - 1].output_size()
    }

    fn zero_state(&self, batch_size: usize, device: &Device) -> Vec<C::State> {
        self.cells
            .iter()
            .map(|c| c.zero_state(batch_size, device))
            .collect()
    }

    fn step(&self, input: Tensor<2>, state: Vec<C::State>) -> (Tensor<2>, Vec<C::State>) {
        assert_eq!(
            state.len(),
            self.cells.len(),
            "MultiRnnCell: one state per layer"
        );
        let mut states = state.into_iter();
        let first = self.cells[0].step(input, states.next().expect("non-empty stack"));
        self.run_layers(first, states)
    }

    /// Layer by layer over the whole sequence under `plan` (the same values as step by step:
    /// with lengths and direction, each layer's padding outputs are zero and never read): each
    /// layer's fused sequence feeds the next. `None` when the first layer has no fused path; a
    /// later layer without one runs the driver's per-step loop. Shapes: `inputs [B, T, I]` ->
    /// `outputs [B, T, O_last]`, one state per layer.
    fn fused_sequence(
        &self,
        inputs: &Tensor<3>,
        state: &Vec<C::State>,
        plan: &SequencePlan,
    ) -> Option<(Tensor<3>, Vec<C::State>)> {
        if state.len() != self.cells.len() {
            return None;
        }
        // Every layer but the top one feeds all its outputs to the next.
        let top = self.cells.len() - 1;
        let every = plan.every_output();
        let plan_of = |layer: usize| if layer == top { plan } else { &every };
        let (mut x, s0) = self.cells[0].fused_sequence(inputs, &state[0], plan_of(0))?;
        let mut new_states = Vec::with_capacity(self.cells.len());
        new_states.push(s0);
        for (layer, (cell, s)) in self.cells.iter().zip(state).enumerate().skip(1) {
            let (out, s) = run_planned(cell, x, s.clone(), plan_of(layer));
            x = out;
            new_states.push(s);
        }
        Some((x, new_states))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::test_util::{assert_close, device};
    use crate::{BasicRnnCellConfig, dynamic_rnn};

    #[test]
    fn the_stack_feeds_each_layer_the_one_below_and_returns_every_state() {
        let dev = device();
        let cells: Vec<_> = [(2, 4), (4, 3), (3, 5)]
            .iter()
            .map(|&(i, h)| BasicRnnCellConfig::new(i, h).init(&dev).unwrap())
            .collect();
        let multi = MultiRnnCell::new(cells.clone()).unwrap();
        assert_eq!((multi.input_size(), multi.output_size()), (2, 5));
        let x = Tensor::<3>::random([2, 5, 2], Distribution::Normal(0.0, 1.0), &dev);
        let (out, states) = dynamic_rnn(&multi, x.clone(), None, None).unwrap();
        assert_eq!(states.len(), 3);

        let mut layer_in = x;
        for (k, cell) in cells.iter().enumerate() {
            let (o, s) = dynamic_rnn(cell, layer_in, None, None).unwrap();
            assert_close(&states[k], &s, 1e-5);
            layer_in = o;
        }
        assert_close(&out, &layer_in, 1e-5);
    }

    #[test]
    fn mismatched_layers_and_empty_stacks_are_rejected() {
        let dev = device();
        let cells = vec![
            BasicRnnCellConfig::new(2, 4).init(&dev).unwrap(),
            BasicRnnCellConfig::new(5, 3).init(&dev).unwrap(),
        ];
        let err = MultiRnnCell::new(cells).unwrap_err().to_string();
        assert!(
            err.contains("cells[1].input_size() == cells[0].output_size() = 4")
                && err.contains("got 5"),
            "{err}"
        );
        let err = MultiRnnCell::<crate::BasicRnnCell>::new(vec![])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`cells`") && err.contains("empty"), "{err}");
    }
}
