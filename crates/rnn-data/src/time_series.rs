//! The seed's time series, `t sin(t) / 3 + 2 sin(5t)` on `[0, 30]`, and its random training
//! windows (the generator of the book's RNN forecasting example, exactly).

#[cfg(feature = "tensors")]
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{DataError, Result};

/// Start of the series' time range.
pub const T_MIN: f64 = 0.0;
/// End of the series' time range.
pub const T_MAX: f64 = 30.0;
/// Time between two consecutive steps of a window.
pub const RESOLUTION: f64 = 0.1;
/// Where the seed's test instance starts (`t_instance`).
pub const T_INSTANCE_START: f64 = 12.2;
/// Points of the full curve the examples plot (`linspace(0, 30, 300)`).
pub const CURVE_POINTS: usize = 300;
/// The most host memory one call of [`TimeSeries::next_windows`] may ask for: 1 GiB, i.e.
/// about 134 million window values (the book's batch, 50 windows of 20 steps, needs 8.4 KB).
/// [`TimeSeries::next_batch`] copies the buffers once more into tensors, and a training step
/// needs several times the batch again, so a request past this would exhaust a typical
/// machine rather than train; it is refused up front, naming the memory it would need.
pub const MAX_WINDOW_BYTES: u64 = 1 << 30;

/// The series: `t * sin(t) / 3 + 2 * sin(5 t)`.
pub fn time_series(t: f64) -> f64 {
    t * t.sin() / 3.0 + 2.0 * (5.0 * t).sin()
}

/// `n` evenly spaced points from `start` to `stop`, both included (numpy's `linspace`);
/// `[start]` when `n == 1`, empty when `n == 0`.
pub fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (n - 1) as f64;
            (0..n)
                .map(|i| {
                    if i == n - 1 {
                        stop
                    } else {
                        start + step * i as f64
                    }
                })
                .collect()
        }
    }
}

/// The full curve the examples plot: `t = linspace(0, 30, 300)` and `time_series(t)`, both
/// `[300]`.
pub fn full_curve() -> (Vec<f64>, Vec<f64>) {
    let t = linspace(T_MIN, T_MAX, CURVE_POINTS);
    let y = t.iter().map(|&t| time_series(t)).collect();
    (t, y)
}

/// The seed's test instance: `t_instance = linspace(12.2, 12.2 + RESOLUTION * (n_steps + 1),
/// n_steps + 1)` and the series at those times, both `[n_steps + 1]`. The model's input is
/// the first `n_steps` values, its target the last `n_steps`.
pub fn test_instance(n_steps: usize) -> (Vec<f64>, Vec<f64>) {
    let t = linspace(
        T_INSTANCE_START,
        T_INSTANCE_START + RESOLUTION * (n_steps + 1) as f64,
        n_steps + 1,
    );
    let y = t.iter().map(|&t| time_series(t)).collect();
    (t, y)
}

/// One batch of windows as host buffers, row-major `[batch_size, n_steps, 1]` each.
#[derive(Debug, Clone, PartialEq)]
pub struct SineWindows {
    /// `[batch_size, n_steps, 1]`: the series at `t0 + k * RESOLUTION`, `k = 0..n_steps`.
    pub inputs: Vec<f32>,
    /// `[batch_size, n_steps, 1]`: the same shifted one step, `k = 1..=n_steps`.
    pub targets: Vec<f32>,
    /// The window starts `t0`, `[batch_size]`.
    pub starts: Vec<f64>,
    /// `B`.
    pub batch_size: usize,
    /// Steps per window.
    pub n_steps: usize,
}

/// One batch of windows as tensors (feature `tensors`).
#[cfg(feature = "tensors")]
#[derive(Debug, Clone)]
pub struct SineBatch {
    /// `[B, n_steps, 1]`: the series at `t0 + k * RESOLUTION`, `k = 0..n_steps`.
    pub inputs: Tensor<3>,
    /// `[B, n_steps, 1]`: the series one step later (`targets[k] == inputs[k + 1]`).
    pub targets: Tensor<3>,
}

/// The seed's `next_batch` generator, with its own seeded RNG (same seed, same batches).
#[derive(Debug, Clone)]
pub struct TimeSeries {
    rng: StdRng,
}

impl TimeSeries {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next `batch_size` windows as host buffers: for each, `t0` uniform in
    /// `[0, T_MAX - T_MIN - n_steps * RESOLUTION)`, times `t0 + k * RESOLUTION` for
    /// `k = 0..=n_steps`; inputs the first `n_steps` values, targets the last `n_steps`
    /// (`[batch_size, n_steps, 1]` each). Fails ([`DataError::InvalidArgument`]) when
    /// `batch_size` or `n_steps` is 0 or the window does not fit in the range
    /// (`n_steps * RESOLUTION >= 30`), and ([`DataError::TooMuchMemory`]) before allocating
    /// anything when the buffers would need more than [`MAX_WINDOW_BYTES`].
    pub fn next_windows(&mut self, batch_size: usize, n_steps: usize) -> Result<SineWindows> {
        let span = T_MAX - T_MIN - n_steps as f64 * RESOLUTION;
        if batch_size == 0 {
            return Err(DataError::invalid("batch_size", "at least 1", 0));
        }
        let max_steps = ((T_MAX - T_MIN) / RESOLUTION).round();
        if n_steps == 0 || span <= 0.0 {
            return Err(DataError::invalid(
                "n_steps",
                format!(
                    "1..{max_steps} (a window of n_steps + 1 values {RESOLUTION} apart must fit \
                     in [{T_MIN}, {T_MAX}])"
                ),
                n_steps,
            ));
        }
        // inputs and targets: f32 each per value; starts: one f64 per window. n_steps < 300,
        // so this cannot overflow a u128.
        let needed =
            batch_size as u128 * (2 * n_steps * size_of::<f32>() + size_of::<f64>()) as u128;
        if needed > u128::from(MAX_WINDOW_BYTES) {
            return Err(DataError::TooMuchMemory {
                what: format!(
                    "next_windows(batch_size = {batch_size}, n_steps = {n_steps}) (inputs and \
                     targets [{batch_size}, {n_steps}, 1] f32, starts [{batch_size}] f64)"
                ),
                needed,
                limit: MAX_WINDOW_BYTES,
            });
        }
        let mut inputs = Vec::with_capacity(batch_size * n_steps);
        let mut targets = Vec::with_capacity(batch_size * n_steps);
        let mut starts = Vec::with_capacity(batch_size);
        for _ in 0..batch_size {
            // As numpy: rand() in [0, 1) times the span.
            let t0 = self.rng.random::<f64>() * span;
            starts.push(t0);
            let ys: Vec<f32> = (0..=n_steps)
                .map(|k| time_series(t0 + k as f64 * RESOLUTION) as f32)
                .collect();
            inputs.extend_from_slice(&ys[..n_steps]);
            targets.extend_from_slice(&ys[1..]);
        }
        Ok(SineWindows {
            inputs,
            targets,
            starts,
            batch_size,
            n_steps,
        })
    }

    #[cfg(feature = "tensors")]
    /// The next batch as tensors on `device`: inputs and targets `[batch_size, n_steps, 1]`
    /// (see [`TimeSeries::next_windows`] for the windows and the errors).
    pub fn next_batch(
        &mut self,
        batch_size: usize,
        n_steps: usize,
        device: &Device,
    ) -> Result<SineBatch> {
        let w = self.next_windows(batch_size, n_steps)?;
        let shape = [batch_size, n_steps, 1];
        Ok(SineBatch {
            inputs: Tensor::from_data(TensorData::new(w.inputs, shape), device),
            targets: Tensor::from_data(TensorData::new(w.targets, shape), device),
        })
    }
}
