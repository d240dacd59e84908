//! How `dynamic_rnn` unrolls, measured: hoisted vs per-step input matmul, stacked outputs vs
//! `slice_assign`, on the book's MNIST step (B150 T28 I28 H150, loss on the final state) and
//! forecast step (B50 T20 I1 H100, loss on every output). Forward + backward.
//!
//! `cargo bench -p benches --bench unroll` (add `--features wgpu` and `BURN_DEVICE=wgpu` for
//! the GPU).

use criterion::{Criterion, criterion_group, criterion_main};
use rnn_bench::{ForecastStep, MnistStep, UnrollVariant};

fn unroll(c: &mut Criterion) {
    let device = rnn_core::device::default_device().expect("a device");
    let mnist = MnistStep::new(150, 150, &device);
    let forecast = ForecastStep::new(50, 20, 100, &device);

    let mut group = c.benchmark_group("mnist-fwd-bwd");
    group.sample_size(20);
    for v in UnrollVariant::ALL {
        group.bench_function(v.name(), |b| b.iter(|| mnist.run(v)));
    }
    group.finish();

    let mut group = c.benchmark_group("mnist-infer");
    group.sample_size(20);
    for v in UnrollVariant::ALL {
        group.bench_function(v.name(), |b| b.iter(|| mnist.infer(v)));
    }
    group.finish();

    let mut group = c.benchmark_group("forecast-fwd-bwd");
    group.sample_size(30);
    for v in UnrollVariant::ALL {
        group.bench_function(v.name(), |b| b.iter(|| forecast.run(v)));
    }
    group.finish();
}

criterion_group!(benches, unroll);
criterion_main!(benches);
