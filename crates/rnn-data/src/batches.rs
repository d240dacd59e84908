//! Batches of MNIST as tensors (feature `tensors`, on by default): images `[B, 28, 28]`
//! (28 time steps of 28 pixels, pixel / 255) and labels `[B]`, in seeded per-epoch order.
//!
//! A batch costs two allocations, the two `Vec`s the tensors are built from; examples are
//! gathered straight from the decoded `u8` pixels, nothing is allocated per example.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{DataError, Result};
use crate::idx::{COLS, ROWS};
use crate::mnist::MnistSplit;

impl MnistSplit {
    /// The examples at `indices` as one batch on `device`: images `[B, 28, 28]` (28 steps
    /// of 28 pixels, pixel / 255), labels `[B]`, with `B = indices.len()` (at least 1).
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<MnistBatch> {
        if indices.is_empty() {
            return Err(DataError::invalid(
                "indices",
                "at least one example index",
                "an empty slice",
            ));
        }
        let mut images = Vec::new();
        let mut labels = Vec::new();
        self.gather_into(indices, &mut images, &mut labels)?;
        MnistBatch::from_host(images, labels, device)
    }

    /// The whole split as one batch: images `[len, 28, 28]`, labels `[len]` (the seed feeds
    /// the test set this way). Fails on an empty split.
    pub fn all(&self, device: &Device) -> Result<MnistBatch> {
        let indices: Vec<usize> = (0..self.len()).collect();
        self.batch(&indices, device)
    }

    /// The batches of epoch `epoch` on `device` (see [`BatchOptions`]): each item has
    /// images `[B, 28, 28]` and labels `[B]`, `B = options.batch_size` except possibly the
    /// last (kept unless `options.drop_last`). Fails if the batch size is 0.
    pub fn batches(
        &self,
        options: &BatchOptions,
        epoch: u64,
        device: &Device,
    ) -> Result<Batches<'_>> {
        if options.batch_size == 0 {
            return Err(DataError::invalid("batch_size", "at least 1", 0));
        }
        Ok(Batches {
            split: self,
            order: self.epoch_order(options.shuffle, options.seed, epoch),
            batch_size: options.batch_size,
            drop_last: options.drop_last,
            pos: 0,
            device: device.clone(),
        })
    }

    /// The split in order, in batches of `batch_size` (last one partial, kept): the test
    /// set "as one or more batches". Images `[B, 28, 28]`, labels `[B]`.
    pub fn in_order(&self, batch_size: usize, device: &Device) -> Result<Batches<'_>> {
        self.batches(&BatchOptions::new(batch_size).shuffle(false), 0, device)
    }
}

/// How an epoch is cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Examples per batch, `B` (at least 1).
    pub batch_size: usize,
    /// Shuffle the examples each epoch (seeded by `seed` and the epoch number).
    pub shuffle: bool,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
    /// Drop the last batch when it is smaller than `batch_size` (else it is kept).
    pub drop_last: bool,
}

impl BatchOptions {
    /// `batch_size` examples per batch, shuffled with seed 42, last partial batch kept.
    pub fn new(batch_size: usize) -> Self {
        Self {
            batch_size,
            shuffle: true,
            seed: 42,
            drop_last: false,
        }
    }

    /// Sets [`BatchOptions::shuffle`].
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Sets [`BatchOptions::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`BatchOptions::drop_last`].
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }
}

/// One batch of MNIST as the RNN consumes it.
#[derive(Debug, Clone)]
pub struct MnistBatch {
    /// `[B, 28, 28]`: example, time step (image row), input (pixel in the row); pixel / 255.
    pub images: Tensor<3>,
    /// `[B]`: the digits, 0..=9.
    pub labels: Tensor<1, Int>,
}

impl MnistBatch {
    /// Wraps host buffers (`images` `[B * 784]` as produced by
    /// [`MnistSplit::gather_into`], `labels` `[B]`, each 0..=9) into tensors on `device`:
    /// images `[B, 28, 28]`, labels `[B]`. Buffers of disagreeing lengths or a label outside
    /// 0..=9 are [`DataError::InvalidArgument`]; `B = 0` is allowed (an empty batch).
    pub fn from_host(images: Vec<f32>, labels: Vec<i64>, device: &Device) -> Result<Self> {
        let b = labels.len();
        if b.checked_mul(ROWS * COLS) != Some(images.len()) {
            return Err(DataError::invalid(
                "images",
                format!(
                    "{} values ([{b}, 28, 28] for the {b} labels)",
                    b as u128 * (ROWS * COLS) as u128
                ),
                format!("{} values", images.len()),
            ));
        }
        if let Some((at, &bad)) = labels
            .iter()
            .enumerate()
            .find(|&(_, l)| !(0..=9).contains(l))
        {
            return Err(DataError::invalid(
                "labels",
                "digits 0..=9",
                format!("labels[{at}] = {bad}"),
            ));
        }
        Ok(Self {
            images: Tensor::from_data(TensorData::new(images, [b, ROWS, COLS]), device),
            labels: Tensor::from_data(TensorData::new(labels, [b]), device),
        })
    }

    /// The batch size `B`.
    pub fn len(&self) -> usize {
        self.labels.dims()[0]
    }

    /// Whether the batch is empty (never, for batches built by this crate).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The batches of one epoch (from [`MnistSplit::batches`] or [`MnistSplit::in_order`]);
/// yields [`MnistBatch`]es with images `[B, 28, 28]` and labels `[B]`.
#[derive(Debug)]
pub struct Batches<'a> {
    split: &'a MnistSplit,
    order: Vec<usize>,
    batch_size: usize,
    drop_last: bool,
    pos: usize,
    device: Device,
}

impl Batches<'_> {
    /// The indices of the next batch, advancing past it (`None` at the end of the epoch).
    pub fn next_indices(&mut self) -> Option<&[usize]> {
        let remaining = self.order.len() - self.pos;
        if remaining == 0 || (self.drop_last && remaining < self.batch_size) {
            return None;
        }
        let start = self.pos;
        self.pos += remaining.min(self.batch_size);
        Some(&self.order[start..self.pos])
    }
}

impl Iterator for Batches<'_> {
    type Item = MnistBatch;

    fn next(&mut self) -> Option<MnistBatch> {
        let split = self.split;
        let device = self.device.clone();
        let indices = self.next_indices()?;
        let mut images = Vec::new();
        let mut labels = Vec::new();
        // Indices come from `0..len` and the split's labels are digits, so neither step can
        // fail.
        split.gather_into(indices, &mut images, &mut labels).ok()?;
        MnistBatch::from_host(images, labels, &device).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.order.len() - self.pos;
        let n = if self.drop_last {
            remaining / self.batch_size
        } else {
            remaining.div_ceil(self.batch_size)
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches<'_> {}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    #[test]
    fn from_host_checks_lengths_and_labels() {
        let device = Device::default();
        let ok = MnistBatch::from_host(vec![0.5; 2 * 784], vec![3, 9], &device).unwrap();
        assert_eq!((ok.images.dims(), ok.labels.dims()), ([2, 28, 28], [2]));

        let err = MnistBatch::from_host(vec![0.0; 784], vec![1, 2], &device).unwrap_err();
        assert!(
            matches!(err, DataError::InvalidArgument { arg: "images", .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "`images`: expected 1568 values ([2, 28, 28] for the 2 labels), got 784 values"
        );
        let err = MnistBatch::from_host(vec![0.0; 785], vec![1], &device).unwrap_err();
        assert!(err.to_string().ends_with("got 785 values"), "{err}");

        let err = MnistBatch::from_host(vec![0.0; 2 * 784], vec![1, 10], &device).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`labels`: expected digits 0..=9, got labels[1] = 10"
        );
        let err = MnistBatch::from_host(vec![0.0; 784], vec![-1], &device).unwrap_err();
        assert!(err.to_string().ends_with("got labels[0] = -1"), "{err}");

        let empty = MnistBatch::from_host(Vec::new(), Vec::new(), &device).unwrap();
        assert!(empty.is_empty());
    }
}
