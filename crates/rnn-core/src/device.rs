//! The one place that maps cargo features to a burn [`Device`].
//!
//! burn 0.22 picks the backend at run time from a `Device`; the cargo features `flex`,
//! `ndarray` and `wgpu` decide which backends are compiled in. Binaries call
//! [`default_device`] (honouring `BURN_DEVICE`) or [`device_from_name`] (for `--device`).
//! burn marks ndarray deprecated; this module is the only place allowed to name it.
#![allow(deprecated)]

use burn::tensor::Device;

use crate::RnnError;

/// The environment variable that overrides the default device (`flex`, `ndarray`, `wgpu`).
pub const DEVICE_ENV: &str = "BURN_DEVICE";

/// The device names this build offers, the preferred one first: `wgpu` when compiled in
/// (a binary built with `--features wgpu` means it), then the CPU backends, `flex` (faster
/// here, burn's recommended CPU backend) before `ndarray`.
pub fn available_devices() -> Vec<&'static str> {
    [
        cfg!(feature = "wgpu").then_some("wgpu"),
        cfg!(feature = "flex").then_some("flex"),
        cfg!(feature = "ndarray").then_some("ndarray"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The device named `name` (`flex`, `ndarray`, `wgpu`; `cpu` means the preferred CPU
/// backend), without autodiff. Call `.autodiff()` on it to train.
pub fn device_from_name(name: &str) -> Result<Device, RnnError> {
    let unknown = || RnnError::UnknownDevice {
        name: name.to_string(),
        available: available_devices().join(", "),
    };
    match name.trim().to_ascii_lowercase().as_str() {
        #[cfg(feature = "flex")]
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(all(feature = "ndarray", not(feature = "flex")))]
        "cpu" => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        "wgpu" | "gpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        _ => Err(unknown()),
    }
}

/// The device binaries and tests use: `BURN_DEVICE` when set and non-empty, else the first
/// of [`available_devices`].
pub fn default_device() -> Result<Device, RnnError> {
    match std::env::var(DEVICE_ENV) {
        Ok(name) if !name.trim().is_empty() => device_from_name(&name),
        _ => match available_devices().first() {
            Some(name) => device_from_name(name),
            None => Err(RnnError::UnknownDevice {
                name: "<default>".into(),
                available: "none".into(),
            }),
        },
    }
}

/// The name of the backend behind `device` (`flex`, `ndarray`, `wgpu`, ...), for printing.
pub fn device_name(device: &Device) -> String {
    let debug = format!("{device:?}");
    for name in ["Flex", "NdArray", "Cube", "Wgpu", "Vulkan"] {
        if debug.contains(name) {
            return match name {
                "Cube" | "Vulkan" | "Wgpu" => "wgpu".into(),
                other => other.to_ascii_lowercase(),
            };
        }
    }
    debug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_device_names_the_choices() {
        let err = device_from_name("tpu").unwrap_err().to_string();
        assert!(err.contains("`tpu`"), "{err}");
        for name in available_devices() {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn every_available_name_gives_a_device() {
        assert!(!available_devices().is_empty());
        for name in available_devices() {
            device_from_name(name).unwrap();
        }
    }
}
