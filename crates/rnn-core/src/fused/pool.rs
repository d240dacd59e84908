//! The helper threads that compute the blocks of one split product ([`super::gemm`]): started
//! once, one fewer than the cores, each waiting for the next product by spinning briefly and
//! then sleeping.
//!
//! Why not rayon's pool or a scoped thread per block: a product sent to rayon's pool from
//! outside it blocks the caller while the pool's threads compute, and they then spin
//! (`sched_yield`) before sleeping, so with one pool thread per core the caller's sequential
//! time loop shares its core with a spinning thread (measured on the book's MNIST step, 2-core
//! VM: 11-18 ms per step against 7-9 on one thread). Scoped threads avoid that but cost a
//! spawn and a join per product (~50 us on the 2-core VM, as long as a `[150, 150] x [150,
//! 150]` product takes on one thread). Here the caller computes block 0 itself and the
//! helpers, never more than the cores minus one, compute the rest; a helper that just finished
//! spins for [`SPIN`] (the next step's product usually comes sooner) and then sleeps, so an
//! idle program has no thread running.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long a helper spins for the next product before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// One product's blocks: `f(b)` for `b` in `0..blocks` (block 0 on the caller).
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    blocks: usize,
}

struct Shared {
    /// Bumped once per product; a helper runs the job when it sees a new value.
    epoch: AtomicU64,
    /// The current product; written only while no helper can read it (before the epoch bump,
    /// after every helper has reported the previous one done).
    job: UnsafeCell<Job>,
    /// Helpers that have not yet reported the current product done.
    pending: AtomicUsize,
    /// Helpers asleep (or about to sleep) on `wake`.
    sleeping: AtomicUsize,
    /// A helper's block panicked: the caller panics once all blocks are done.
    panicked: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written by the one caller that holds `Pool::busy`, only while every helper
// is between products (see `Shared::job`), and read by helpers only between seeing a new
// epoch and reporting done; the function it points to is `Sync`.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// The process's helpers, started on first use.
pub(crate) struct Pool {
    shared: &'static Shared,
    helpers: usize,
    /// The process that started the helpers: a child made by `fork` has none of them.
    pid: u32,
    /// Held by the one caller whose product is running; another caller (a second thread
    /// running a model at the same time) computes its product on its own thread.
    busy: Mutex<()>,
}

impl Pool {
    /// The process's pool: `available_parallelism() - 1` helpers, at most 63.
    pub(crate) fn get() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Pool::start(cores.clamp(1, 64) - 1)
        })
    }

    fn start(helpers: usize) -> Pool {
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(Job {
                f: &|_: usize| {},
                blocks: 0,
            }),
            pending: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        let started = (0..helpers)
            .take_while(|&k| {
                std::thread::Builder::new()
                    .name(format!("rnn-core-gemm-{}", k + 1))
                    .spawn(move || helper(shared, k + 1))
                    .is_ok()
            })
            .count();
        Pool {
            shared,
            helpers: started,
            pid: std::process::id(),
            busy: Mutex::new(()),
        }
    }

    /// The most blocks one product can be split into: the helpers plus the caller (only the
    /// caller in a process forked after the helpers started).
    pub(crate) fn width(&self) -> usize {
        match std::process::id() == self.pid {
            true => self.helpers + 1,
            false => 1,
        }
    }

    /// Runs `f(b)` for every `b` in `0..blocks`, block 0 on this thread, and returns once all
    /// have finished. Returns `false`, having run nothing, when another thread's product is
    /// running or `blocks` is more than [`Pool::width`]: the caller then computes its product
    /// alone.
    pub(crate) fn run(&self, blocks: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
        if blocks > self.width() {
            return false;
        }
        // A poisoned lock only means an earlier product panicked (after all its blocks ended).
        let _busy = match self.busy.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let s = self.shared;
        // SAFETY: only the lifetime is erased: every helper reports done (`pending` back to 0)
        // before this function returns, and none reads the job after reporting.
        let f: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        // SAFETY: we hold `busy` and every helper has reported the previous product done, so
        // no helper reads `job` now (see `Shared::job`).
        unsafe { *s.job.get() = Job { f, blocks } };
        s.pending.store(self.helpers, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        if s.sleeping.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f_call(f, 0)));
        let mut spin = Spin::new();
        while s.pending.load(SeqCst) > 0 {
            if spin.on() {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Err(panic) = mine {
            std::panic::resume_unwind(panic);
        }
        if s.panicked.swap(false, SeqCst) {
            panic!("a block of a split product panicked on a helper thread");
        }
        true
    }
}

/// A spin of at most [`SPIN`] that reads the clock once every [`Spin::CHECK_EVERY`] turns
/// (reading it every turn was 17% of the book's MNIST step's samples, as `clock_gettime`).
struct Spin {
    started: Instant,
    turns: u32,
    on: bool,
}

impl Spin {
    const CHECK_EVERY: u32 = 64;

    fn new() -> Self {
        Self {
            started: Instant::now(),
            turns: 0,
            on: true,
        }
    }

    /// Whether to keep spinning (else the caller yields or sleeps).
    fn on(&mut self) -> bool {
        self.turns = self.turns.wrapping_add(1);
        if self.on && self.turns.is_multiple_of(Self::CHECK_EVERY) {
            self.on = self.started.elapsed() < SPIN;
        }
        self.on
    }
}

fn f_call(f: *const (dyn Fn(usize) + Sync), block: usize) {
    // SAFETY: the caller of `Pool::run` keeps the function alive until every block is done.
    unsafe { (*f)(block) }
}

/// A helper's loop: wait for a new epoch, run its block if the product has one, report done.
fn helper(s: &'static Shared, block: usize) {
    let mut seen = 0;
    loop {
        let mut spin = Spin::new();
        loop {
            let now = s.epoch.load(SeqCst);
            if now != seen {
                seen = now;
                break;
            }
            if spin.on() {
                std::hint::spin_loop();
                continue;
            }
            let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleeping.fetch_add(1, SeqCst);
            while s.epoch.load(SeqCst) == seen {
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            s.sleeping.fetch_sub(1, SeqCst);
        }
        // SAFETY: a new epoch was published after the job was written, and the caller does not
        // write the next one before this helper reports done below.
        let job = unsafe { *s.job.get() };
        if block < job.blocks && catch_unwind(AssertUnwindSafe(|| f_call(job.f, block))).is_err() {
            s.panicked.store(true, SeqCst);
        }
        s.pending.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_block_runs_once_per_product_across_many_products() {
        let pool = Pool::start(3);
        for blocks in [1, 2, 3, 4, 4, 2, 1, 4] {
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
                assert!(pool.run(blocks, &|b| {
                    hits[b].fetch_add(1, SeqCst);
                }));
                let counts: Vec<usize> = hits.iter().map(|h| h.load(SeqCst)).collect();
                let expected: Vec<usize> = (0..4).map(|b| usize::from(b < blocks)).collect();
                assert_eq!(counts, expected, "{blocks} blocks");
            }
        }
    }

    #[test]
    fn a_helper_that_slept_wakes_for_the_next_product() {
        let pool = Pool::start(1);
        let hits = AtomicUsize::new(0);
        assert!(pool.run(2, &|_| {
            hits.fetch_add(1, SeqCst);
        }));
        std::thread::sleep(SPIN * 20);
        assert!(pool.run(2, &|_| {
            hits.fetch_add(1, SeqCst);
        }));
        assert_eq!(hits.load(SeqCst), 4);
    }

    #[test]
    fn a_panicking_block_panics_the_caller_and_the_pool_keeps_working() {
        let pool = Pool::start(1);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, &|b| assert!(b == 0, "block {b} fails"));
        }));
        assert!(caught.is_err());
        let hits = AtomicUsize::new(0);
        assert!(pool.run(2, &|_| {
            hits.fetch_add(1, SeqCst);
        }));
        assert_eq!(hits.load(SeqCst), 2);
    }

    #[test]
    fn more_blocks_than_threads_are_refused() {
        let pool = Pool::start(1);
        assert!(!pool.run(3, &|_| unreachable!("nothing runs")));
    }

    #[test]
    fn a_second_caller_while_one_runs_is_told_to_compute_alone() {
        let pool = Pool::start(1);
        let inner = AtomicBool::new(true);
        assert!(pool.run(2, &|b| {
            if b == 0 {
                inner.store(pool.run(2, &|_| {}), SeqCst);
            }
        }));
        assert!(!inner.load(SeqCst));
    }
}
