//! Checks of command-line values that every training binary shares, written once: the learning
//! rate (`--lr`) and the device (`--device`, else `BURN_DEVICE`, else the build's first).

use burn::tensor::Device;

use crate::TrainError;

/// `value` must be a finite number > 0 (a learning rate); the error names `flag`.
pub fn check_positive(flag: &'static str, value: f64) -> Result<(), TrainError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(TrainError::invalid(flag, "a finite number > 0", value))
    }
}

/// A command-line parser for a finite number > 0 (`--lr`), for clap's `value_parser`:
/// `"0.001"` -> `0.001`; `"-1"`, `"nan"`, `"inf"`, `"0"` and non-numbers are errors saying
/// what was expected (clap adds the flag).
pub fn positive_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("`{s}` is not a number: {e}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("expected a finite number > 0, got {s}"))
    }
}

/// The device a binary runs on: `flag` (`--device NAME`) if given, else `BURN_DEVICE`, else
/// the build's preferred backend ([`rnn_core::device::default_device`]); plain (call
/// `.autodiff()` to train). An unknown name is [`TrainError::Device`] naming where it came
/// from.
pub fn device(flag: Option<&str>) -> Result<Device, TrainError> {
    match flag {
        Some(name) => {
            rnn_core::device::device_from_name(name).map_err(|source| TrainError::Device {
                from: "--device",
                source,
            })
        }
        None => rnn_core::device::default_device().map_err(|source| TrainError::Device {
            from: rnn_core::device::DEVICE_ENV,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rates_and_devices() {
        assert_eq!(positive_f64("0.001"), Ok(0.001));
        for bad in ["0", "-1", "nan", "inf"] {
            assert_eq!(
                positive_f64(bad).unwrap_err(),
                format!("expected a finite number > 0, got {bad}")
            );
        }
        assert!(
            positive_f64("x")
                .unwrap_err()
                .starts_with("`x` is not a number")
        );
        assert_eq!(
            check_positive("--lr", -1.0).unwrap_err().to_string(),
            "`--lr`: expected a finite number > 0, got -1"
        );
        let err = device(Some("tpu")).unwrap_err();
        assert!(err.to_string().starts_with("--device: "), "{err}");
        assert!(err.to_string().contains("`tpu`"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
