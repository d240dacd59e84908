//! The fused op's tensors over kept buffers: a flex tensor whose `f32` buffer goes back to the
//! kernels' per-thread workspace ([`super::workspace`]) when burn drops it, instead of to the
//! C allocator.
//!
//! A training step makes the same tensors every time: the op's output `[B*T' + S*B, H]`, its
//! gradients, the upstream gradient of its outputs ([`super::rows`]'s graph node). Freed to
//! glibc, buffers of hundreds of kilobytes are unmapped or trimmed at the end of a step and
//! page-faulted in again by the next one (measured in `forecast-train`: a quarter of the
//! step's page faults were the op's output alone). Kept, the next step reuses them, and a
//! program gets this without tuning its allocator.

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorData};
use burn_std::{AccessError, AccessPolicy, AllocationController, AllocationProperty, Bytes};

use super::workspace;

/// Owns a buffer taken from the workspace; gives it back when dropped.
struct Kept(Vec<f32>);

impl Kept {
    fn bytes(&self) -> &[MaybeUninit<u8>] {
        let v = &self.0;
        // SAFETY: a `Vec<f32>`'s initialised elements seen as bytes (any bit pattern of `u8`
        // is valid, and `MaybeUninit<u8>` has `u8`'s layout).
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 4) }
    }
}

impl AllocationController for Kept {
    /// The pointer's actual alignment, up to 16 (burn asks for 16 at most): the buffer is
    /// never freed through a layout of this alignment (`try_detach` keeps its default `None`).
    fn alloc_align(&self) -> usize {
        let p = self.0.as_ptr() as usize;
        1 << p.trailing_zeros().clamp(2, 4)
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Other
    }

    unsafe fn memory_mut(
        &mut self,
        _: AccessPolicy,
    ) -> Result<&mut [MaybeUninit<u8>], AccessError> {
        let v = &mut self.0;
        // SAFETY: as in `bytes`; the caller writes only initialised bytes (the trait's
        // contract), so every element stays a valid `f32`.
        Ok(unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 4) })
    }

    fn memory(&self, _: AccessPolicy) -> Result<&[MaybeUninit<u8>], AccessError> {
        Ok(self.bytes())
    }

    fn capacity(&self) -> usize {
        self.0.len() * 4
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        workspace::give([std::mem::take(&mut self.0)]);
    }
}

/// `values` as a flex `f32` tensor of `shape`, without a copy; its buffer returns to the
/// dropping thread's workspace.
///
/// # Panics
///
/// When `shape` does not hold `values.len()` elements (the kernels' callers size both).
pub(crate) fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(data(values, shape))
}

/// `values` as `f32` tensor data of `shape` over the same controller (flex's `from_data` keeps
/// it without a copy; other backends copy from it).
///
/// # Panics
///
/// As [`tensor`].
pub(crate) fn data(values: Vec<f32>, shape: Vec<usize>) -> TensorData {
    assert_eq!(
        shape.iter().product::<usize>(),
        values.len(),
        "kept::tensor: shape {shape:?} for {} values",
        values.len()
    );
    let len = values.len() * 4;
    // SAFETY: the controller's memory is `len` initialised bytes.
    let bytes = unsafe { Bytes::from_controller(Box::new(Kept(values)), len) };
    TensorData::from_bytes(bytes, shape, DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_returns_to_the_workspace_when_the_tensor_is_dropped() {
        let mut v = workspace::take(1 << 16);
        v.iter_mut().enumerate().for_each(|(k, x)| *x = k as f32);
        let ptr = v.as_ptr();
        let t = tensor(v, vec![256, 256]);
        assert_eq!(t.as_slice::<f32>().unwrap()[300], 300.0);
        assert_eq!(t.as_slice::<f32>().unwrap().as_ptr(), ptr, "copied");
        drop(t);
        let again = workspace::take(1 << 16);
        assert_eq!(again.as_ptr(), ptr, "not given back");
        workspace::give([again]);
    }
}
