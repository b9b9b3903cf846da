//! The engine's worker threads: a persistent pool of exactly `threads` workers (rayon's, which
//! park when idle), created once at load and shared by every session of an engine.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// A fixed set of worker threads. Work submitted through it never runs on more than
/// [`threads`](Self::threads) threads, and never on the caller's thread.
///
/// [`split`](Self::split) cuts work into at most [`active_threads`](Self::active_threads)
/// ranges (the thermal governor lowers it between tokens), so one matmul never keeps more
/// workers busy at once than that; the other workers stay parked.
#[derive(Debug)]
pub struct ThreadPool {
    pool: rayon::ThreadPool,
    threads: usize,
    /// Most ranges `split` makes, in `1..=threads`.
    active: AtomicUsize,
}

impl ThreadPool {
    /// Starts `threads` workers (at least 1), named `bitnet-worker-N`.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        Self::build(threads, rayon::ThreadPoolBuilder::new())
    }

    /// Like [`new`](Self::new), with every worker restricted to the CPUs `cpus` as it starts
    /// (Linux/Android; elsewhere, or when the OS refuses, workers run unpinned and a warning
    /// is logged).
    pub fn pinned(threads: usize, cpus: Vec<usize>) -> std::io::Result<Self> {
        let builder = rayon::ThreadPoolBuilder::new().start_handler(move |i| {
            if let Err(e) = super::topology::pin_current_thread(&cpus) {
                log::warn!("bitnet-worker-{i} not pinned to CPUs {cpus:?}: {e}");
            }
        });
        Self::build(threads, builder)
    }

    fn build(threads: usize, builder: rayon::ThreadPoolBuilder) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let pool = builder
            .num_threads(threads)
            .thread_name(|i| format!("bitnet-worker-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(ThreadPool {
            pool,
            threads,
            active: AtomicUsize::new(threads),
        })
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Most workers one piece of work (one [`split`](Self::split)) runs on, in
    /// `1..=threads()`; `threads()` unless lowered.
    pub fn active_threads(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Lets later splits use `n` workers, clamped to `1..=threads()` (the pool's size stays the
    /// hard limit); returns the value set. Work already split keeps its ranges.
    pub fn set_active_threads(&self, n: usize) -> usize {
        let n = n.clamp(1, self.threads);
        self.active.store(n, Ordering::Relaxed);
        n
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

    /// Runs `f` on every range, on the pool's workers, and returns the results in range order.
    pub fn map<T: Send>(
        &self,
        ranges: &[Range<usize>],
        f: impl Fn(Range<usize>) -> T + Sync,
    ) -> Vec<T> {
        self.pool
            .install(|| ranges.par_iter().map(|r| f(r.clone())).collect())
    }

    /// Runs `f(range, chunk)` for consecutive chunks of `out`, one per range of `ranges`
    /// (which must tile `0..out.len()` in order), on the pool's workers; returns the results
    /// in range order.
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
            chunks.push((r.clone(), head));
            rest = tail;
        }
        self.pool.install(|| {
            chunks
                .into_par_iter()
                .map(|(range, chunk)| f(range, chunk))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

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
    fn work_runs_on_at_most_the_configured_threads_never_the_caller() {
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
            assert!(!seen.contains(&std::thread::current().id()));
        }
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
        let seen = pool.map(&[0..1, 1..2], |_| allowed_cpus());
        assert_eq!(seen, vec![Some(first.to_string()); 2]);
        assert_eq!(allowed_cpus(), Some(caller), "the caller is not pinned");
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
