//! The engine's threads: the calling thread plus `threads − 1` persistent workers, created
//! once at load and shared by every session of an engine.
//!
//! A job (one matmul, one attention step) is cut into tasks that the caller and the invited
//! workers claim from a shared counter, then joined by a barrier. Between jobs the workers
//! spin for up to [`SPIN`] — decode runs a job every few tens of microseconds, and waking a
//! parked thread costs about that much — then park, so an idle engine uses no CPU.

use std::any::Any;
use std::cell::Cell;
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a worker keeps polling for the next job before it parks.
pub const SPIN: Duration = Duration::from_micros(500);

/// Bits of [`Shared::signal`] below the epoch: how many workers a job invites.
const INVITED_BITS: u32 = 16;

thread_local! {
    /// Whether this thread is running a task of some pool (a job started inside a task runs
    /// inline instead of waiting for workers that may be busy with the outer job).
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// A fixed set of threads for the engine's parallel work. A job never runs on more than
/// [`threads`](Self::threads) threads at once: the thread that submits it (which always takes
/// part) and up to `threads − 1` workers.
///
/// [`split`](Self::split) cuts work into at most [`active_threads`](Self::active_threads)
/// ranges (the thermal governor lowers it between tokens), and a job invites at most that many
/// threads, so one matmul never keeps more threads busy at once; the other workers park.
/// Jobs from several threads (sessions generating at once) run one after another.
#[derive(Debug)]
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
    /// CPUs the workers (and a submitting thread, see [`pin_caller`](Self::pin_caller)) are
    /// restricted to, if pinned.
    cpus: Option<Vec<usize>>,
    /// Most ranges `split` makes, in `1..=threads`.
    active: AtomicUsize,
    /// Held while a job runs: one job at a time.
    submit: Mutex<()>,
}

/// What the submitting thread and the workers share.
#[derive(Debug, Default)]
struct Shared {
    /// `epoch << INVITED_BITS | invited`: a new epoch publishes a job that workers
    /// `0..invited` take part in.
    signal: AtomicU64,
    /// The current job; valid until all its invited workers have counted themselves in
    /// `finished`.
    job: AtomicPtr<Job<'static>>,
    /// Invited workers done with the current job.
    finished: AtomicUsize,
    /// Set once when the pool drops; workers exit.
    stop: AtomicBool,
    /// Workers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// One job: `tasks` calls of `task(i)`, claimed through `next` by every taking-part thread.
struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    /// The first panic of a task, re-raised on the submitting thread after the barrier.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Claims and runs tasks until none is left, catching panics.
    fn run_tasks(&self) {
        let outer = IN_TASK.replace(true);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.tasks {
                break;
            }
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| (self.task)(i))) {
                lock(&self.panic).get_or_insert(payload);
            }
        }
        IN_TASK.set(outer);
    }
}

impl Shared {
    /// Worker `index`'s life: wait for each new epoch, run the job if invited, count itself done.
    fn work(&self, index: usize) {
        let mut seen = 0;
        while let Some(signal) = self.next_signal(seen) {
            seen = signal >> INVITED_BITS;
            if (index as u64) < signal & ((1 << INVITED_BITS) - 1) {
                let job = self.job.load(Ordering::Acquire);
                // SAFETY: this worker is invited to the job published with `signal`, and the
                // submitting thread (`ThreadPool::run`) keeps that job alive, and publishes no
                // other, until every invited worker has added itself to `finished` below.
                unsafe { &*job }.run_tasks();
                self.finished.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// The first signal whose epoch is not `seen`: polled for up to [`SPIN`], then waited for
    /// parked. `None` once the pool stops.
    fn next_signal(&self, seen: u64) -> Option<u64> {
        let fresh = |signal: u64| (signal >> INVITED_BITS != seen).then_some(signal);
        let started = Instant::now();
        for polls in 1u32.. {
            if let Some(signal) = fresh(self.signal.load(Ordering::Acquire)) {
                return (!self.stop.load(Ordering::Acquire)).then_some(signal);
            }
            std::hint::spin_loop();
            if polls.is_multiple_of(256) && started.elapsed() > SPIN {
                break;
            }
        }
        let mut guard = lock(&self.lock);
        // SeqCst pairs with `publish`: it stores the signal, then reads `sleepers`; this
        // counts itself, then reads the signal — one of the two sees the other.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let signal = loop {
            if let Some(signal) = fresh(self.signal.load(Ordering::SeqCst)) {
                break signal;
            }
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        (!self.stop.load(Ordering::Acquire)).then_some(signal)
    }

    /// Starts a new epoch inviting workers `0..invited` and wakes parked workers.
    fn publish(&self, invited: usize) {
        let epoch = (self.signal.load(Ordering::Relaxed) >> INVITED_BITS) + 1;
        self.signal
            .store(epoch << INVITED_BITS | invited as u64, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.wake.notify_all();
        }
    }
}

/// Locks `m`, ignoring poisoning (what these mutexes guard stays valid across a panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ThreadPool {
    /// A pool for `threads` threads (at least 1): the submitting thread and `threads − 1`
    /// workers named `bitnet-worker-N`.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        Self::build(threads, None)
    }

    /// Like [`new`](Self::new), with every worker restricted to the CPUs `cpus` as it starts,
    /// and [`pin_caller`](Self::pin_caller) restricting a submitting thread the same way
    /// (Linux/Android; elsewhere, or when the OS refuses, threads run unpinned and a warning
    /// is logged).
    pub fn pinned(threads: usize, cpus: Vec<usize>) -> std::io::Result<Self> {
        Self::build(threads, Some(cpus))
    }

    fn build(threads: usize, cpus: Option<Vec<usize>>) -> std::io::Result<Self> {
        let threads = threads.clamp(1, 1 << INVITED_BITS);
        let shared = Arc::new(Shared::default());
        let mut pool = ThreadPool {
            shared: Arc::clone(&shared),
            workers: Vec::with_capacity(threads - 1),
            threads,
            cpus,
            active: AtomicUsize::new(threads),
            submit: Mutex::new(()),
        };
        for index in 0..threads - 1 {
            let shared = Arc::clone(&shared);
            let cpus = pool.cpus.clone();
            let worker = std::thread::Builder::new()
                .name(format!("bitnet-worker-{index}"))
                .spawn(move || {
                    if let Some(cpus) = cpus {
                        pin(&cpus, &format!("bitnet-worker-{index}"));
                    }
                    shared.work(index);
                })?;
            // On an error above, dropping `pool` stops and joins the workers started so far.
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// Threads a job may run on (the submitting thread included).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Most threads one piece of work (one [`split`](Self::split)) runs on, in
    /// `1..=threads()`; `threads()` unless lowered.
    pub fn active_threads(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Lets later splits use `n` threads, clamped to `1..=threads()` (the pool's size stays the
    /// hard limit); returns the value set. Work already split keeps its ranges.
    pub fn set_active_threads(&self, n: usize) -> usize {
        let n = n.clamp(1, self.threads);
        self.active.store(n, Ordering::Relaxed);
        n
    }

    /// For a pinned pool, restricts the calling thread — which takes part in the jobs it
    /// submits — to the pool's CPUs until the returned guard drops (then its previous CPUs
    /// are restored). Does nothing for an unpinned pool.
    pub fn pin_caller(&self) -> CallerPin {
        CallerPin(self.cpus.as_ref().and_then(|cpus| {
            let previous = super::topology::current_affinity().ok()?;
            pin(cpus, "the submitting thread");
            Some(previous)
        }))
    }

    /// Splits `0..len` into at most [`active_threads`](Self::active_threads) contiguous ranges
    /// whose lengths are multiples of `block` (the last one takes the rest) and returns them in
    /// order.
    pub fn split(&self, len: usize, block: usize) -> Vec<Range<usize>> {
        let block = block.max(1);
        let blocks = len.div_ceil(block);
        let parts = self.active_threads().min(blocks).max(1);
        let per_part = blocks.div_ceil(parts) * block;
        (0..len)
            .step_by(per_part.max(1))
            .map(|start| start..(start + per_part).min(len))
            .collect()
    }

    /// Splits `0..len` into at most [`active_threads`](Self::active_threads) contiguous ranges
    /// of about equal total `cost(i)` (a range ends once the cost so far reaches its share of
    /// the total, so each exceeds its share by less than one item's cost), in order.
    pub fn split_by_cost(&self, len: usize, cost: impl Fn(usize) -> usize) -> Vec<Range<usize>> {
        let total: usize = (0..len).map(&cost).sum();
        let parts = self.active_threads().min(len).max(1);
        let mut ranges = Vec::with_capacity(parts);
        let (mut begin, mut done) = (0, 0);
        for i in 0..len {
            done += cost(i);
            // Range `k` (0-based) ends once the cost so far reaches (k + 1) / parts of the total.
            if done * parts >= total * (ranges.len() + 1) && ranges.len() + 1 < parts {
                ranges.push(begin..i + 1);
                begin = i + 1;
            }
        }
        if begin < len {
            ranges.push(begin..len);
        }
        ranges
    }

    /// Runs `task(i)` for every `i` in `0..tasks` on the calling thread and up to
    /// `active_threads() − 1` workers, returning when all have run. A panic in a task is
    /// re-raised here once every task has finished.
    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let invited = tasks.min(self.active_threads()).min(self.threads) - 1;
        if tasks == 0 || invited == 0 || IN_TASK.get() {
            (0..tasks).for_each(task);
            return;
        }
        let _one_job = lock(&self.submit);
        let job = Job {
            task,
            tasks,
            next: AtomicUsize::new(0),
            panic: Mutex::new(None),
        };
        let shared = &self.shared;
        shared.finished.store(0, Ordering::Relaxed);
        // Released by `publish`'s store of the signal.
        shared.job.store(
            (&raw const job).cast::<Job<'static>>().cast_mut(),
            Ordering::Relaxed,
        );
        shared.publish(invited);
        job.run_tasks();
        // The barrier: `job` must outlive every invited worker's use of it.
        let mut polls = 0u32;
        while shared.finished.load(Ordering::Acquire) < invited {
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(1024) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        let panicked = lock(&job.panic).take();
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
    }

    /// Runs `f` on every range (the calling thread takes part) and returns the results in
    /// range order.
    pub fn map<T: Send>(
        &self,
        ranges: &[Range<usize>],
        f: impl Fn(Range<usize>) -> T + Sync,
    ) -> Vec<T> {
        let results: Vec<Mutex<Option<T>>> = ranges.iter().map(|_| Mutex::new(None)).collect();
        self.run(ranges.len(), &|i| {
            let result = f(ranges[i].clone());
            *lock(&results[i]) = Some(result);
        });
        // `run` returned normally, so every task stored its result.
        results
            .into_iter()
            .filter_map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }

    /// Runs `f(range, chunk)` for consecutive chunks of `out`, one per range of `ranges`
    /// (which must tile `0..out.len()` in order; the calling thread takes part); returns the
    /// results in range order.
    pub fn for_each_chunk<T: Send, R: Send>(
        &self,
        ranges: &[Range<usize>],
        out: &mut [T],
        f: impl Fn(Range<usize>, &mut [T]) -> R + Sync,
    ) -> Vec<R> {
        let mut chunks = Vec::with_capacity(ranges.len());
        let mut rest = out;
        for r in ranges {
            let (head, tail) = rest.split_at_mut(r.len().min(rest.len()));
            chunks.push(Mutex::new(Some((r.clone(), head))));
            rest = tail;
        }
        self.map(
            &(0..chunks.len()).map(|i| i..i + 1).collect::<Vec<_>>(),
            |i| {
                lock(&chunks[i.start])
                    .take()
                    .map(|(range, chunk)| f(range, chunk))
            },
        )
        .into_iter()
        .flatten()
        .collect()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.publish(0);
        for worker in self.workers.drain(..) {
            // A worker only exits by returning (tasks' panics are caught).
            let _ = worker.join();
        }
    }
}

/// Restricts the calling thread to `cpus`, logging (not failing) when the OS refuses.
fn pin(cpus: &[usize], who: &str) {
    if let Err(e) = super::topology::pin_current_thread(cpus) {
        log::warn!("{who} not pinned to CPUs {cpus:?}: {e}");
    }
}

/// Keeps the thread that called [`ThreadPool::pin_caller`] on the pool's CPUs; restores the
/// CPUs it had before when dropped.
#[derive(Debug)]
#[must_use = "the thread is unpinned again when the guard drops"]
pub struct CallerPin(Option<super::topology::Affinity>);

impl Drop for CallerPin {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            if let Err(e) = previous.restore() {
                log::warn!("could not restore the submitting thread's CPUs: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn split_tiles_the_range_in_block_multiples() {
        let pool = ThreadPool::new(3).expect("pool");
        let parts = pool.split(100, 16);
        assert_eq!(parts, vec![0..48, 48..96, 96..100]);
        assert_eq!(pool.split(10, 16), vec![0..10]);
        assert_eq!(pool.split(0, 16), Vec::<Range<usize>>::new());
        let pool = ThreadPool::new(2).expect("pool");
        assert_eq!(pool.split(64, 16), vec![0..32, 32..64]);
    }

    #[test]
    fn split_by_cost_balances_growing_costs() {
        let pool = ThreadPool::new(3).expect("pool");
        // Attention in prefill: item i (a token's head) costs its positions, 1..=30.
        let cost = |i: usize| i + 1;
        let ranges = pool.split_by_cost(30, cost);
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(30));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        let total: usize = (0..30).map(cost).sum();
        for r in &ranges {
            let c: usize = r.clone().map(cost).sum();
            assert!(c <= total / 3 + 30, "{r:?} costs {c} of {total}");
        }
        // Equal costs: equal ranges; fewer items than threads: one each; none: no range.
        assert_eq!(pool.split_by_cost(9, |_| 5), vec![0..3, 3..6, 6..9]);
        assert_eq!(pool.split_by_cost(2, |_| 1), vec![0..1, 1..2]);
        assert!(pool.split_by_cost(0, |_| 1).is_empty());
        pool.set_active_threads(1);
        assert_eq!(pool.split_by_cost(30, cost), vec![0..30]);
    }

    #[test]
    fn work_runs_on_at_most_the_configured_threads_the_caller_included() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads).expect("pool");
            let seen = Mutex::new(HashSet::new());
            let ranges: Vec<_> = (0..64).map(|i| i..i + 1).collect();
            let out = pool.map(&ranges, |r| {
                seen.lock()
                    .expect("lock")
                    .insert(std::thread::current().id());
                std::thread::sleep(std::time::Duration::from_millis(1));
                r.start * 2
            });
            assert_eq!(out, (0..64).map(|i| i * 2).collect::<Vec<_>>());
            let seen = seen.into_inner().expect("lock");
            assert!(
                !seen.is_empty() && seen.len() <= threads,
                "{threads}: {seen:?}"
            );
            assert!(seen.contains(&std::thread::current().id()));
        }
    }

    #[test]
    fn a_task_panic_reaches_the_caller_after_every_task_ran() {
        let pool = ThreadPool::new(3).expect("pool");
        let ran = AtomicUsize::new(0);
        let ranges: Vec<_> = (0..8).map(|i| i..i + 1).collect();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            pool.map(&ranges, |r| {
                ran.fetch_add(1, Ordering::SeqCst);
                assert!(r.start != 5, "task 5 fails");
            })
        }));
        assert!(result.is_err());
        assert_eq!(ran.load(Ordering::SeqCst), 8);
        // The pool still works.
        assert_eq!(pool.map(&ranges, |r| r.start).len(), 8);
    }

    #[test]
    fn a_job_inside_a_task_runs_inline() {
        let pool = ThreadPool::new(2).expect("pool");
        let sums = pool.map(&[0..2, 2..4], |outer| {
            pool.map(std::slice::from_ref(&outer), |inner| inner.sum::<usize>())
        });
        assert_eq!(sums, vec![vec![1], vec![5]]);
    }

    #[test]
    fn parked_workers_wake_for_the_next_job() {
        let pool = ThreadPool::new(2).expect("pool");
        std::thread::sleep(SPIN * 4);
        let seen = Mutex::new(HashSet::new());
        let ranges = [0..1, 1..2];
        // The caller may claim both tasks before a parked worker wakes; within a few jobs
        // the worker takes one.
        for _ in 0..50 {
            pool.map(&ranges, |_| {
                seen.lock()
                    .expect("lock")
                    .insert(std::thread::current().id());
                std::thread::sleep(std::time::Duration::from_millis(1));
            });
            std::thread::sleep(SPIN * 2);
        }
        assert_eq!(seen.into_inner().expect("lock").len(), 2);
    }

    #[test]
    fn jobs_from_several_threads_run_one_at_a_time() {
        let pool = ThreadPool::new(2).expect("pool");
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20 {
                        pool.map(&[0..1, 1..2], |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::hint::black_box((0..1000).sum::<usize>());
                            running.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        assert!((1..=2).contains(&peak.load(Ordering::SeqCst)));
    }

    /// The CPUs the calling thread may run on, from `/proc/thread-self/status`.
    fn allowed_cpus() -> Option<String> {
        let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
        let line = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))?;
        Some(line.split_whitespace().nth(1)?.to_owned())
    }

    #[test]
    fn pinned_workers_run_only_on_the_given_cpus() {
        let Some(caller) = allowed_cpus() else {
            return; // not Linux
        };
        let first: usize = caller
            .split([',', '-'])
            .next()
            .and_then(|c| c.parse().ok())
            .expect("a CPU");
        let pool = ThreadPool::pinned(2, vec![first]).expect("pool");
        {
            let _pin = pool.pin_caller();
            let seen = pool.map(&[0..1, 1..2], |_| allowed_cpus());
            assert_eq!(seen, vec![Some(first.to_string()); 2]);
        }
        assert_eq!(
            allowed_cpus(),
            Some(caller.clone()),
            "the caller's CPUs are restored"
        );
        let _pin = ThreadPool::new(2).expect("pool").pin_caller();
        assert_eq!(
            allowed_cpus(),
            Some(caller),
            "an unpinned pool pins nothing"
        );
    }

    #[test]
    fn active_threads_bound_the_split_and_the_workers_busy_at_once() {
        let pool = ThreadPool::new(4).expect("pool");
        assert_eq!(pool.set_active_threads(0), 1);
        assert_eq!(pool.set_active_threads(9), 4);
        assert_eq!(pool.set_active_threads(2), 2);
        assert_eq!(pool.split(160, 16), vec![0..80, 80..160]);
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let ranges = pool.split(1 << 10, 16);
        pool.map(&ranges, |_| {
            peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert!((1..=2).contains(&peak.load(Ordering::SeqCst)));
        // Back to the whole pool.
        pool.set_active_threads(4);
        assert_eq!(pool.split(160, 16).len(), 4);
    }

    #[test]
    fn for_each_chunk_hands_out_disjoint_chunks() {
        let pool = ThreadPool::new(2).expect("pool");
        let mut out = vec![0usize; 10];
        let ranges = pool.split(10, 4);
        pool.for_each_chunk(&ranges, &mut out, |range, chunk| {
            for (o, i) in chunk.iter_mut().zip(range) {
                *o = i;
            }
        });
        assert_eq!(out, (0..10).collect::<Vec<_>>());
    }
}
