//! The helper threads that compute the blocks of one split product ([`super::gemm`]) or step
//! ([`super::rows`]): started once, one fewer than the cores, each waiting for the next job by
//! spinning briefly and then sleeping.
//!
//! Why not rayon's pool or a scoped thread per block: a product sent to rayon's pool from
//! outside it blocks the caller while the pool's threads compute, and they then spin
//! (`sched_yield`) before sleeping, so with one pool thread per core the caller's sequential
//! time loop shares its core with a spinning thread (measured on the book's MNIST step, 2-core
//! VM: 11-18 ms per step against 7-9 on one thread). Scoped threads avoid that but cost a
//! spawn and a join per product (~50 us on the 2-core VM, as long as a `[150, 150] x [150,
//! 150]` product takes on one thread).
//!
//! Blocks are claimed, not assigned: the caller and every helper take the next unclaimed block
//! until none is left, and the caller then waits only for the blocks a helper is still
//! computing. A helper that is asleep, or whose core the host has lent elsewhere (these are
//! VMs), thus costs nothing: the caller computes its blocks too, where with one block per
//! thread it waited for that helper's whole block (on `deep3-t20`, 6% of the step's samples
//! were the caller waiting in this function). A helper that just finished spins for [`SPIN`]
//! (the next product usually comes sooner) and then sleeps, so an idle program has no thread
//! running.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long a helper spins for the next product before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// Most blocks of one job (the claim word keeps the count in 16 bits).
pub(crate) const MAX_BLOCKS: usize = u16::MAX as usize;

/// The claim word: the job's number (high 32 bits), its block count (16 bits) and the next
/// unclaimed block (low 16 bits). One compare-and-swap claims a block of exactly that job.
fn claim_word(job: u64, blocks: usize, next: usize) -> u64 {
    (job << 32) | ((blocks as u64) << 16) | next as u64
}

/// The job number, the block count and the next block of a claim word.
fn parts(word: u64) -> (u64, usize, usize) {
    (
        word >> 32,
        ((word >> 16) & 0xffff) as usize,
        (word & 0xffff) as usize,
    )
}

/// One job's function: `f(b)` for `b` in `0..blocks`.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
}

struct Shared {
    /// See [`claim_word`]; the job number is bumped once per job (wrapping in 32 bits).
    claim: AtomicU64,
    /// The current job's function; written only while no block of any job is claimed and
    /// unfinished (before the job number is bumped, after every block of the previous job
    /// has finished), read by a thread only between claiming a block and finishing it.
    job: UnsafeCell<Job>,
    /// Blocks of the current job that have finished.
    done: AtomicUsize,
    /// Helpers asleep (or about to sleep) on `wake`.
    sleeping: AtomicUsize,
    /// A helper's block panicked: the caller panics once all blocks are done.
    panicked: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written by the one caller that holds `Pool::busy`, only while no block is
// claimed and unfinished (see `Shared::job`), and read only by a thread holding a claimed,
// unfinished block of the job it was written for; the function it points to is `Sync`.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl Shared {
    /// Claims the next block of job `job`, if that job is still the current one and has a
    /// block left.
    fn claim(&self, job: u64) -> Option<usize> {
        let mut word = self.claim.load(SeqCst);
        loop {
            let (now, blocks, next) = parts(word);
            if now != job || next >= blocks {
                return None;
            }
            let claimed = claim_word(job, blocks, next + 1);
            match self
                .claim
                .compare_exchange_weak(word, claimed, SeqCst, SeqCst)
            {
                Ok(_) => return Some(next),
                Err(seen) => word = seen,
            }
        }
    }
}

/// The process's helpers, started on first use.
pub(crate) struct Pool {
    shared: &'static Shared,
    helpers: usize,
    /// The process that started the helpers: a child made by `fork` has none of them.
    pid: u32,
    /// Held by the one caller whose job is running; another caller (a second thread
    /// running a model at the same time) computes its job on its own thread.
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
            claim: AtomicU64::new(0),
            job: UnsafeCell::new(Job { f: &|_: usize| {} }),
            done: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        let started = (0..helpers)
            .take_while(|&k| {
                std::thread::Builder::new()
                    .name(format!("rnn-core-gemm-{}", k + 1))
                    .spawn(move || helper(shared))
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

    /// The threads that can compute one job's blocks at once: the helpers plus the caller
    /// (only the caller in a process forked after the helpers started).
    pub(crate) fn width(&self) -> usize {
        match std::process::id() == self.pid {
            true => self.helpers + 1,
            false => 1,
        }
    }

    /// Whether the helpers are awake (spinning after a recent job, or computing one): a job
    /// now starts on them without a wake-up. False without helpers.
    pub(crate) fn awake(&self) -> bool {
        self.width() > 1 && self.shared.sleeping.load(SeqCst) == 0
    }

    /// Runs `f(b)` for every `b` in `0..blocks`, each block on whichever thread claims it
    /// first (the caller claims until none is left), and returns once all have finished.
    /// Returns `false`, having run nothing, when another thread's job is running, this
    /// process has no helpers, or `blocks` is 0 or more than [`MAX_BLOCKS`]: the caller then
    /// computes its job alone.
    pub(crate) fn run(&self, blocks: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
        if self.width() < 2 || blocks == 0 || blocks > MAX_BLOCKS {
            return false;
        }
        // A poisoned lock only means an earlier job panicked (after all its blocks ended).
        let _busy = match self.busy.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let s = self.shared;
        // SAFETY: only the lifetime is erased: every claimed block finishes before this
        // function returns, and no thread reads the job without a claimed, unfinished block.
        let f: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        // SAFETY: we hold `busy` and every block of the previous job has finished, so no
        // thread reads `job` now (see `Shared::job`).
        unsafe { *s.job.get() = Job { f } };
        s.done.store(0, SeqCst);
        let (previous, _, _) = parts(s.claim.load(SeqCst));
        let job = (previous + 1) & u64::from(u32::MAX);
        s.claim.store(claim_word(job, blocks, 0), SeqCst);
        if s.sleeping.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mut failed = None;
        while let Some(b) = s.claim(job) {
            if failed.is_none()
                && let Err(panic) = catch_unwind(AssertUnwindSafe(|| f_call(f, b)))
            {
                failed = Some(panic);
            }
            s.done.fetch_add(1, SeqCst);
        }
        let mut spin = Spin::new();
        while s.done.load(SeqCst) < blocks {
            if spin.on() {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Some(panic) = failed {
            std::panic::resume_unwind(panic);
        }
        if s.panicked.swap(false, SeqCst) {
            panic!("a block of a split job panicked on a helper thread");
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

/// A helper's loop: wait for a new job, claim and run its blocks until none is left.
fn helper(s: &'static Shared) {
    let mut seen = parts(s.claim.load(SeqCst)).0;
    loop {
        let mut spin = Spin::new();
        loop {
            let now = parts(s.claim.load(SeqCst)).0;
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
            while parts(s.claim.load(SeqCst)).0 == seen {
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            s.sleeping.fetch_sub(1, SeqCst);
        }
        while let Some(b) = s.claim(seen) {
            // SAFETY: block `b` of job `seen` is claimed and unfinished, so the job was written
            // for it and is not rewritten before `done` counts the block.
            let job = unsafe { *s.job.get() };
            if catch_unwind(AssertUnwindSafe(|| f_call(job.f, b))).is_err() {
                s.panicked.store(true, SeqCst);
            }
            s.done.fetch_add(1, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_block_runs_once_per_job_across_many_jobs() {
        let pool = Pool::start(3);
        for blocks in [1, 2, 3, 4, 4, 9, 2, 1, 17] {
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..17).map(|_| AtomicUsize::new(0)).collect();
                assert!(pool.run(blocks, &|b| {
                    hits[b].fetch_add(1, SeqCst);
                }));
                let counts: Vec<usize> = hits.iter().map(|h| h.load(SeqCst)).collect();
                let expected: Vec<usize> = (0..17).map(|b| usize::from(b < blocks)).collect();
                assert_eq!(counts, expected, "{blocks} blocks");
            }
        }
    }

    #[test]
    fn the_caller_computes_the_blocks_a_slow_helper_has_not_claimed() {
        // A helper that claims a block stalls in it until the other 7 blocks are done: only
        // the caller can do them (with one block per thread, the caller would wait).
        let pool = Pool::start(1);
        let caller = std::thread::current().id();
        for _ in 0..50 {
            let finished = AtomicUsize::new(0);
            let on_caller = AtomicUsize::new(0);
            let stalled_ok = AtomicBool::new(true);
            assert!(pool.run(8, &|_| {
                if std::thread::current().id() == caller {
                    on_caller.fetch_add(1, SeqCst);
                } else {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while finished.load(SeqCst) < 7 {
                        if Instant::now() > deadline {
                            stalled_ok.store(false, SeqCst);
                            break;
                        }
                        std::hint::spin_loop();
                    }
                }
                finished.fetch_add(1, SeqCst);
            }));
            assert_eq!(finished.load(SeqCst), 8);
            assert!(on_caller.load(SeqCst) >= 7);
            assert!(
                stalled_ok.load(SeqCst),
                "the caller waited for the helper's block"
            );
        }
    }

    #[test]
    fn a_helper_that_slept_wakes_for_the_next_product() {
        let pool = Pool::start(1);
        let hits = AtomicUsize::new(0);
        assert!(pool.run(2, &|_| {
            hits.fetch_add(1, SeqCst);
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.awake() && Instant::now() < deadline {
            std::thread::sleep(SPIN * 5);
        }
        assert!(
            !pool.awake(),
            "the helper still spins 10 s after its last job"
        );
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
    fn no_blocks_too_many_blocks_or_no_helper_are_refused() {
        let pool = Pool::start(1);
        assert!(!pool.run(0, &|_| unreachable!("nothing runs")));
        assert!(!pool.run(MAX_BLOCKS + 1, &|_| unreachable!("nothing runs")));
        assert!(!Pool::start(0).run(2, &|_| unreachable!("nothing runs")));
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
