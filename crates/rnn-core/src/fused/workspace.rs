//! The kernel family's scratch buffers, kept per thread between calls.
//!
//! A training step runs the same fused op with the same sizes every time; allocating its
//! multi-megabyte buffers afresh each call made glibc map and page-fault them every step
//! (measured: the book's MNIST step 16.4 ms with the buffers of an earlier kernel, 20-24 ms
//! with three more fresh buffers per call, on the same machine in alternating runs). Buffers
//! taken here are returned when the op (or its backward) is done and reused by the next call
//! on the thread, so a program gets this without tuning its allocator. A thread keeps at most
//! [`KEEP_BYTES`] and [`KEEP_BUFFERS`]; the contents of a taken buffer are unspecified (every
//! caller writes each element before reading it).

use std::cell::RefCell;

/// The most bytes one thread keeps between calls.
pub(crate) const KEEP_BYTES: usize = 256 << 20;
/// The most buffers one thread keeps between calls.
pub(crate) const KEEP_BUFFERS: usize = 48;

thread_local! {
    static KEPT: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A kept buffer serves a request of `len` only up to this many times `len` (or
/// [`SMALL`] floats): a small request does not take a large buffer, which the next large
/// request would then have to grow again (zero-filling it: 3% of the MNIST step in perf).
const OVERSIZE: usize = 4;
/// Requests up to this many floats may take any kept buffer.
const SMALL: usize = 4096;

/// A buffer of `len` floats with unspecified contents: a kept one of the right size, else a
/// new one. Among the kept buffers whose capacity is at least `len` and at most
/// [`OVERSIZE`] times it, one already holding `len` elements is preferred (it needs no
/// zero-fill), then the smallest.
pub(crate) fn take(len: usize) -> Vec<f32> {
    let reused = KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        let most = len.saturating_mul(OVERSIZE).max(SMALL);
        let best = kept
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= most)
            .min_by_key(|(_, v)| (v.len() < len, v.capacity()))
            .map(|(k, _)| k);
        best.map(|k| kept.swap_remove(k))
    });
    match reused {
        Some(mut v) => {
            if v.len() >= len {
                v.truncate(len);
            } else {
                v.resize(len, 0.0);
            }
            v
        }
        None => vec![0.0; len],
    }
}

/// [`take`] with every element zero.
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.fill(0.0);
    v
}

/// Gives `buffers` back for the next call on this thread (dropping the smallest when over the
/// limits; dropping them all while the thread is exiting).
pub(crate) fn give(buffers: impl IntoIterator<Item = Vec<f32>>) {
    let _ = KEPT.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        kept.extend(buffers.into_iter().filter(|v| v.capacity() > 0));
        kept.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
        let mut bytes = 0;
        let keep = kept
            .iter()
            .take_while(|v| {
                bytes += v.capacity() * 4;
                bytes <= KEEP_BYTES
            })
            .count()
            .min(KEEP_BUFFERS);
        kept.truncate(keep);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_the_thread_keeps_a_bounded_amount() {
        let v = take(1000);
        let ptr = v.as_ptr();
        give([v]);
        let again = take(800);
        assert_eq!((again.as_ptr(), again.len()), (ptr, 800));
        give([again]);
        // A small request does not take the large buffer; a request of the size a buffer
        // last held gets that one (no zero-fill), not a longer-capacity one.
        let big = take(100_000);
        let big_ptr = big.as_ptr();
        give([big]);
        let small = take(5000);
        assert_ne!(
            small.as_ptr(),
            big_ptr,
            "5000 floats took a buffer of 100000"
        );
        let again = take(100_000);
        assert_eq!((again.as_ptr(), again.len()), (big_ptr, 100_000));
        give([small, again]);
        give((0..60).map(|_| vec![0.0; 10]));
        KEPT.with(|k| assert!(k.borrow().len() <= KEEP_BUFFERS));
        give([vec![0.0f32; (KEEP_BYTES / 4) + 1]]);
        KEPT.with(|k| {
            let kept: usize = k.borrow().iter().map(|v| v.capacity() * 4).sum();
            assert!(kept <= KEEP_BYTES);
        });
    }
}
