//! Shared glue for the chapter's binaries (see `src/bin/`). Each binary is one section of the
//! book's RNN chapter; this library holds only what several of them need.

use anyhow::Context;
use burn::tensor::Device;

/// The device a binary runs on: `--device NAME` if given, else `BURN_DEVICE`, else the build's
/// preferred backend (wgpu when compiled in, else flex).
pub fn device(flag: Option<&str>) -> anyhow::Result<Device> {
    match flag {
        Some(name) => rnn_core::device::device_from_name(name).context("--device"),
        None => rnn_core::device::default_device().context("BURN_DEVICE"),
    }
}
