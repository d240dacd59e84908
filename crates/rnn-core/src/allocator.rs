//! Keeping freed memory in the process: an opt-in setting of the C allocator for binaries that
//! train (rnn-core calls it nowhere itself).
//!
//! Every step of a training loop allocates and frees the same large buffers (the fused
//! kernels' saved gates and states, burn's gradients: megabytes each). glibc's malloc serves
//! blocks above its mmap threshold with fresh `mmap`s and hands freed heap back to the kernel
//! above its trim threshold, so each step pays page faults and the kernel's zeroing of every
//! page again. Measured (`cargo xtask bench --threads 1`, flex, 2-core VM, alternating runs):
//! mnist-train 9.1-9.4 ms per step by default, 7.0-7.3 ms with the thresholds raised;
//! lstm-train 40.7-42.1 vs 34.8-35.6 ms. The price is memory: freed blocks stay mapped in the
//! process (its peak RSS does not grow, but it no longer shrinks after the peak).

/// Largest block glibc lets `M_MMAP_THRESHOLD` keep on the heap (32 MiB on 64-bit targets).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Raises glibc's mmap threshold (to 32 MiB) and trim threshold (to 1 GiB), so that the
/// buffers a training step frees are reused by the next step instead of being unmapped and
/// faulted in again. Returns `true` when applied (Linux with glibc), `false` elsewhere (where
/// it does nothing). Call it once at the start of `main`, before the first tensor.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes two allocator parameters; it is safe to call at any
        // time (glibc serialises it with the allocator's own lock).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        assert!(super::retain_freed_memory());
    }
}
