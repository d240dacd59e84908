//! `bench-worker --against-one-thread`: the workload at rayon's default thread count against
//! the same workload on one thread, interleaved in one process, so that the machine's drift
//! (on the 2-core VMs, up to 2x within minutes) falls on both sides alike.
//!
//! Two instances of the workload are built from the same seed. The default one lives on this
//! thread (outside any rayon pool: rnn-core's kernels and burn's ops use the global pool and
//! rnn-core's helpers); the one-thread one lives on a second thread that is the only thread of
//! its own rayon pool (`use_current_thread`), where `rayon::current_num_threads()` is 1 and
//! rnn-core's kernels never split. They take turns in blocks of steps (~50 ms), the order
//! swapped every pair; only one runs at a time. Each pair gives a ratio, one thread / default:
//! above 1 the default is faster.

use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;

/// Per-pair times (ms per step) of the two sides and their ratios.
pub struct Paired {
    /// ms per step at rayon's default thread count, one entry per pair.
    pub default_ms: Vec<f64>,
    /// ms per step on one thread, one entry per pair.
    pub one_thread_ms: Vec<f64>,
}

impl Paired {
    /// one thread / default, per pair.
    pub fn ratios(&self) -> Vec<f64> {
        self.one_thread_ms
            .iter()
            .zip(&self.default_ms)
            .map(|(one, default)| one / default)
            .collect()
    }
}

/// Runs `pairs` pairs of blocks of `iters` steps of `workload` (see the module doc).
pub fn run(
    workload: &str,
    device: &burn::tensor::Device,
    iters: usize,
    pairs: usize,
) -> anyhow::Result<Paired> {
    let (to_one, one_rx) = mpsc::channel::<usize>();
    let (one_tx, from_one) = mpsc::channel::<anyhow::Result<f64>>();
    let name = workload.to_string();
    let dev = device.clone();
    let one = std::thread::Builder::new()
        .name("bench-one-thread".into())
        .spawn(move || -> anyhow::Result<()> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .use_current_thread()
                .build()
                .context("a one-thread rayon pool")?;
            dev.seed(0);
            let mut w = rnn_bench::suite::build(&name, &dev).map_err(anyhow::Error::msg)?;
            w.step();
            if one_tx.send(Ok(0.0)).is_err() {
                return Ok(());
            }
            while let Ok(n) = one_rx.recv() {
                let t0 = Instant::now();
                for _ in 0..n {
                    w.step();
                }
                if one_tx
                    .send(Ok(t0.elapsed().as_secs_f64() * 1e3 / n as f64))
                    .is_err()
                {
                    break;
                }
            }
            drop(pool);
            Ok(())
        })
        .context("starting the one-thread side")?;
    from_one
        .recv()
        .context("the one-thread side stopped before its warm-up")??;
    device.seed(0);
    let mut w = rnn_bench::suite::build(workload, device).map_err(anyhow::Error::msg)?;
    w.step();
    let mut default_block = || {
        let t0 = Instant::now();
        for _ in 0..iters {
            w.step();
        }
        t0.elapsed().as_secs_f64() * 1e3 / iters as f64
    };
    let one_block = || -> anyhow::Result<f64> {
        to_one.send(iters).context("the one-thread side stopped")?;
        from_one.recv().context("the one-thread side stopped")?
    };
    let mut out = Paired {
        default_ms: Vec::with_capacity(pairs),
        one_thread_ms: Vec::with_capacity(pairs),
    };
    for k in 0..pairs {
        let (d, o) = if k % 2 == 0 {
            let d = default_block();
            (d, one_block()?)
        } else {
            let o = one_block()?;
            (default_block(), o)
        };
        out.default_ms.push(d);
        out.one_thread_ms.push(o);
    }
    drop(to_one);
    match one.join() {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("the one-thread side panicked"),
    }
    Ok(out)
}
