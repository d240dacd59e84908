//! TF's `sequence_length`: per example b, steps `t >= len[b]` give zero outputs and leave the
//! state as it was, so the final state is the one after step `len[b] - 1`.

use burn::tensor::{Bool, Int, Tensor};

use crate::RnnError;

/// Checked lengths of a batch, on the host (for the loop bounds) and on the device (masks).
#[derive(Debug, Clone)]
pub struct SequenceLengths {
    /// `[B]` on the device of the inputs.
    lengths: Tensor<1, Int>,
    /// The shortest length: steps below it need no mask.
    pub min: usize,
    /// The longest length: steps from it on are all padding and are not computed.
    pub max: usize,
    /// The lengths on the host, `[B]`.
    host: Vec<usize>,
}

impl SequenceLengths {
    /// Checks `lengths` (`[B]`, each in `0..=n_steps`) against a batch of `batch_size`.
    /// Reads the B lengths back to the host once.
    pub fn new(
        lengths: Tensor<1, Int>,
        batch_size: usize,
        n_steps: usize,
    ) -> Result<Self, RnnError> {
        let [b] = lengths.dims();
        if b != batch_size {
            return Err(RnnError::invalid(
                "sequence_length",
                format!("shape [{batch_size}] (one length per example of `inputs`)"),
                format!("[{b}]"),
            ));
        }
        let host: Vec<i64> = lengths.to_data().try_into_vec_as::<i64>().map_err(|e| {
            RnnError::invalid("sequence_length", "an integer tensor", format!("{e:?}"))
        })?;
        for (index, &value) in host.iter().enumerate() {
            if value < 0 || value as usize > n_steps {
                return Err(RnnError::SequenceLength {
                    index,
                    value,
                    n_steps,
                });
            }
        }
        Ok(Self {
            lengths,
            min: host.iter().copied().min().unwrap_or(0) as usize,
            max: host.iter().copied().max().unwrap_or(0) as usize,
            host: host.iter().map(|&v| v as usize).collect(),
        })
    }

    /// The examples still running at step `t`: `len[b] > t`, `[B]`.
    pub fn valid_at(&self, t: usize) -> Tensor<1, Bool> {
        self.lengths.clone().greater_elem(t as i64)
    }

    /// The lengths on the host, `[B]`.
    pub fn host(&self) -> &[usize] {
        &self.host
    }

    /// The lengths on the device, `[B]`.
    pub fn tensor(&self) -> &Tensor<1, Int> {
        &self.lengths
    }

    /// Whether step `t` needs masking (some example ended at or before it).
    pub fn masks_step(&self, t: usize) -> bool {
        t >= self.min
    }
}
