//! The sine-like series and the seed's `next_batch` windows.

mod common;

use rnn_data::time_series::{
    MAX_WINDOW_BYTES, RESOLUTION, T_MAX, T_MIN, full_curve, linspace, test_instance, time_series,
};
use rnn_data::{DataError, TimeSeries};

#[test]
fn values_by_hand() {
    // t = 0: 0 * sin 0 / 3 + 2 sin 0 = 0.
    assert_eq!(time_series(0.0), 0.0);
    // t = pi: pi sin(pi) / 3 ~ 0, 2 sin(5 pi) ~ 0.
    assert!(time_series(std::f64::consts::PI).abs() < 1e-12);
    // t = pi / 2: (pi/2)(1)/3 + 2 sin(5 pi / 2) = pi/6 + 2.
    let v = time_series(std::f64::consts::FRAC_PI_2);
    assert!(
        (v - (std::f64::consts::PI / 6.0 + 2.0)).abs() < 1e-12,
        "{v}"
    );
    // t = 1: sin(1)/3 + 2 sin(5) = 0.280490328 - 1.917848549 = -1.637358221.
    assert!((time_series(1.0) - (-1.637_358_221)).abs() < 1e-8);
    // t = 12.2: 12.2 sin(12.2)/3 + 2 sin(61) = -1.4567991 - 1.9322355 (to 1e-7).
    let v = time_series(12.2);
    let by_hand = 12.2 * 12.2f64.sin() / 3.0 + 2.0 * 61.0f64.sin();
    assert_eq!(v, by_hand);
    assert!((v - (-1.456_799_1 + -1.932_235_5)).abs() < 1e-6, "{v}");
}

#[test]
fn curve_and_test_instance() {
    let (t, y) = full_curve();
    assert_eq!((t.len(), y.len()), (300, 300));
    assert_eq!((t[0], t[299]), (0.0, 30.0));
    assert!((t[1] - 30.0 / 299.0).abs() < 1e-12);
    assert_eq!(y[150], time_series(t[150]));

    let (t, y) = test_instance(20);
    assert_eq!((t.len(), y.len()), (21, 21));
    assert_eq!(t[0], 12.2);
    assert!((t[20] - (12.2 + 0.1 * 21.0)).abs() < 1e-12);
    // numpy's spacing: (stop - start) / (num - 1) = 2.1 / 20 = 0.105 (the book's quirk).
    assert!((t[1] - t[0] - 0.105).abs() < 1e-12);
    assert_eq!(y[3], time_series(t[3]));

    assert_eq!(linspace(1.0, 2.0, 0), Vec::<f64>::new());
    assert_eq!(linspace(1.0, 2.0, 1), vec![1.0]);
    assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
}

#[test]
fn windows_are_aligned_and_in_range() {
    let n_steps = 20;
    let w = TimeSeries::new(42).next_windows(50, n_steps).unwrap();
    assert_eq!(w.inputs.len(), 50 * n_steps);
    assert_eq!(w.targets.len(), 50 * n_steps);
    let max_t0 = T_MAX - T_MIN - n_steps as f64 * RESOLUTION;
    for (b, &t0) in w.starts.iter().enumerate() {
        assert!((0.0..max_t0).contains(&t0), "t0 {t0}");
        let inputs = &w.inputs[b * n_steps..(b + 1) * n_steps];
        let targets = &w.targets[b * n_steps..(b + 1) * n_steps];
        for k in 0..n_steps {
            let t = t0 + k as f64 * RESOLUTION;
            assert_eq!(inputs[k], time_series(t) as f32);
            assert_eq!(targets[k], time_series(t + RESOLUTION) as f32);
            if k + 1 < n_steps {
                assert_eq!(targets[k], inputs[k + 1], "target[k] == input[k + 1]");
            }
        }
    }
    // |y| <= 30/3 + 2 on [0, 30].
    assert!(w.inputs.iter().chain(&w.targets).all(|v| v.abs() <= 12.0));
}

#[test]
fn tensors_have_the_seed_shapes() {
    let device = common::device();
    let batch = TimeSeries::new(1).next_batch(50, 20, &device).unwrap();
    assert_eq!(batch.inputs.dims(), [50, 20, 1]);
    assert_eq!(batch.targets.dims(), [50, 20, 1]);
    let host = TimeSeries::new(1).next_windows(50, 20).unwrap();
    let inputs: Vec<f32> = batch.inputs.into_data().try_to_vec().unwrap();
    assert_eq!(inputs, host.inputs);
}

#[test]
fn deterministic_for_a_seed() {
    let mut a = TimeSeries::new(7);
    let mut b = TimeSeries::new(7);
    let (a1, a2) = (
        a.next_windows(8, 20).unwrap(),
        a.next_windows(8, 20).unwrap(),
    );
    assert_eq!(a1, b.next_windows(8, 20).unwrap());
    assert_eq!(a2, b.next_windows(8, 20).unwrap());
    assert_ne!(a1.starts, a2.starts, "the generator advances");
    assert_ne!(
        a1.starts,
        TimeSeries::new(8).next_windows(8, 20).unwrap().starts
    );
}

#[test]
fn bad_arguments_are_errors_naming_the_argument() {
    let mut ts = TimeSeries::new(0);
    let err = ts.next_windows(0, 20).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::InvalidArgument {
                arg: "batch_size",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "`batch_size`: expected at least 1, got 0");
    for n in [0, 300, 1000, usize::MAX] {
        let err = ts.next_windows(5, n).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`n_steps`: expected 1..300 (a window of n_steps + 1 values 0.1 apart must fit \
                 in [0, 30]), got {n}"
            )
        );
    }
    assert!(ts.next_windows(1, 299).is_ok());
}

#[test]
fn a_huge_batch_is_refused_up_front_with_the_memory_it_needs() {
    let mut ts = TimeSeries::new(0);
    // 2^40 windows of 20 steps: 168 bytes each, 168 TiB in all; nothing is allocated.
    let err = ts.next_windows(1 << 40, 20).unwrap_err();
    assert!(
        matches!(err, DataError::TooMuchMemory { needed, limit, .. }
            if needed == 168 << 40 && limit == MAX_WINDOW_BYTES),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "next_windows(batch_size = 1099511627776, n_steps = 20) (inputs and targets \
         [1099511627776, 20, 1] f32, starts [1099511627776] f64) would need 168.0 TiB of host \
         memory (184717953466368 bytes), more than the 1.0 GiB limit (1073741824 bytes); ask \
         for less"
    );
    // usize::MAX windows of 299 steps: no overflow on the way to the error.
    let err = ts.next_windows(usize::MAX, 299).unwrap_err();
    assert!(
        err.to_string().contains("18446744073709551615, 299, 1"),
        "{err}"
    );
    assert!(matches!(err, DataError::TooMuchMemory { .. }), "{err}");
    // Just under and just over the limit (168 bytes per 20-step window).
    let most = (MAX_WINDOW_BYTES / 168) as usize;
    assert!(matches!(
        ts.next_windows(most + 1, 20),
        Err(DataError::TooMuchMemory { .. })
    ));
    let w = ts.next_windows(1000, 20).unwrap();
    assert_eq!(w.inputs.len(), 20_000);
    // The tensor path refuses the same request the same way.
    let err = ts.next_batch(1 << 40, 20, &common::device()).unwrap_err();
    assert!(matches!(err, DataError::TooMuchMemory { .. }), "{err}");
}
