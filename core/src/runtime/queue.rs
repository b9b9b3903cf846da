//! The engine's limit on concurrent generations: at most `limit` generate at once, the others
//! wait in arrival order (first in, first out) until a slot frees, their deadline passes or
//! they are cancelled. With a bound on the waiting requests, one that would wait behind that
//! many is refused at once ([`Refused::Full`]): a server sheds load it cannot serve in time
//! instead of holding a thread and a session per waiting request.
//!
//! On a phone two generations at once each run at half speed and both hold their scratch
//! buffers; finishing one before starting the next gives the first reply sooner and the same
//! total time.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often a waiting request looks at its cancel flag, in ms (a slot freeing or a request
/// leaving the queue wakes the waiters at once).
const CANCEL_POLL_MS: u64 = 20;

/// Why [`GenerationQueue::enter`] let a request go without a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The deadline passed while the request waited.
    TimedOut,
    /// The request was cancelled while it waited.
    Cancelled,
    /// No slot was free and the wait queue already held its most requests.
    Full {
        /// Generations running, in requests.
        running: usize,
        /// Requests waiting, in requests (the queue's bound).
        queued: usize,
    },
}

/// The slots of one engine's generations and the requests waiting for one.
#[derive(Debug)]
pub struct GenerationQueue {
    /// Most generations at once; `None` = no limit (the queue then only counts them).
    limit: Option<usize>,
    /// Most requests waiting for a slot; `None` = no bound.
    max_waiting: Option<usize>,
    state: Mutex<QueueState>,
    /// Signalled when a slot frees or a waiter leaves.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    /// Generations holding a slot now.
    running: usize,
    /// Ids of the waiting requests, oldest first.
    waiting: VecDeque<u64>,
    /// The id of the next request to arrive.
    next_id: u64,
}

/// A generation's place among the running ones; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot<'q> {
    queue: &'q GenerationQueue,
    /// How long the request waited for the slot.
    pub waited: Duration,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.queue.lock().running -= 1;
        self.queue.changed.notify_all();
    }
}

impl GenerationQueue {
    /// A queue letting at most `limit` generations run at once (`None`: any number) and at
    /// most `max_waiting` requests wait for a slot (`None`: any number; 0: none, a request
    /// either starts at once or is refused).
    pub fn new(limit: Option<usize>, max_waiting: Option<usize>) -> Self {
        GenerationQueue {
            limit,
            max_waiting,
            state: Mutex::new(QueueState::default()),
            changed: Condvar::new(),
        }
    }

    /// Waits for a slot: it is granted when every request that arrived earlier has one (or
    /// left) and fewer than the limit run. Gives up at `deadline` or once `cancelled()`
    /// returns true, leaving the queue as if the request never came; refused at once
    /// ([`Refused::Full`]) when it would have to wait and the queue is at its bound.
    pub fn enter(
        &self,
        deadline: Option<Instant>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Slot<'_>, Refused> {
        let arrived = Instant::now();
        let mut state = self.lock();
        let free = self.limit.is_none_or(|limit| state.running < limit);
        let must_wait = !free || !state.waiting.is_empty();
        if must_wait
            && self
                .max_waiting
                .is_some_and(|most| state.waiting.len() >= most)
        {
            return Err(Refused::Full {
                running: state.running,
                queued: state.waiting.len(),
            });
        }
        let id = state.next_id;
        state.next_id += 1;
        state.waiting.push_back(id);
        loop {
            let free = self.limit.is_none_or(|limit| state.running < limit);
            if free && state.waiting.front() == Some(&id) {
                state.waiting.pop_front();
                state.running += 1;
                // The next in line may fit in a slot that is still free.
                self.changed.notify_all();
                return Ok(Slot {
                    queue: self,
                    waited: arrived.elapsed(),
                });
            }
            let now = Instant::now();
            let refused = if cancelled() {
                Some(Refused::Cancelled)
            } else if deadline.is_some_and(|d| d <= now) {
                Some(Refused::TimedOut)
            } else {
                None
            };
            if let Some(refused) = refused {
                state.waiting.retain(|&w| w != id);
                self.changed.notify_all();
                return Err(refused);
            }
            let poll = Duration::from_millis(CANCEL_POLL_MS);
            let wait = deadline.map_or(poll, |d| (d - now).min(poll));
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Generations running now and requests waiting for a slot.
    pub fn depth(&self) -> (usize, usize) {
        let state = self.lock();
        (state.running, state.waiting.len())
    }

    /// The state; a panic elsewhere cannot leave the counts half-updated (each update is one
    /// statement under the lock), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn within_the_limit_slots_are_granted_at_once_and_freed_on_drop() {
        let queue = GenerationQueue::new(Some(2), None);
        let a = queue.enter(None, &|| false).unwrap();
        let b = queue.enter(None, &|| false).unwrap();
        assert_eq!(queue.depth(), (2, 0));
        drop(a);
        assert_eq!(queue.depth(), (1, 0));
        drop(b);
        assert_eq!(queue.depth(), (0, 0));
        // No limit: the queue only counts.
        let open = GenerationQueue::new(None, None);
        let slots: Vec<_> = (0..5)
            .map(|_| open.enter(None, &|| false).unwrap())
            .collect();
        assert_eq!(open.depth(), (5, 0));
        drop(slots);
    }

    #[test]
    fn a_full_queue_times_out_or_cancels_a_waiter_and_forgets_it() {
        let queue = GenerationQueue::new(Some(1), None);
        let held = queue.enter(None, &|| false).unwrap();
        let deadline = Instant::now() + Duration::from_millis(30);
        assert_eq!(
            queue.enter(Some(deadline), &|| false).unwrap_err(),
            Refused::TimedOut
        );
        assert!(Instant::now() >= deadline);
        assert_eq!(queue.enter(None, &|| true).unwrap_err(), Refused::Cancelled);
        assert_eq!(queue.depth(), (1, 0));
        drop(held);
        assert!(queue.enter(Some(Instant::now()), &|| false).is_ok());
    }

    #[test]
    fn waiters_start_in_arrival_order_when_slots_free() {
        let queue = Arc::new(GenerationQueue::new(Some(1), None));
        let first = queue.enter(None, &|| false).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for i in 0..4 {
            // Each arrives after the one before is waiting.
            while queue.depth().1 < i {
                thread::yield_now();
            }
            let (queue, order) = (Arc::clone(&queue), Arc::clone(&order));
            threads.push(thread::spawn(move || {
                let slot = queue.enter(None, &|| false).unwrap();
                order.lock().unwrap().push(i);
                drop(slot);
            }));
        }
        while queue.depth().1 < 4 {
            thread::yield_now();
        }
        drop(first);
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn cancelling_a_waiter_from_another_thread_releases_it() {
        let queue = Arc::new(GenerationQueue::new(Some(1), None));
        let held = queue.enter(None, &|| false).unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (queue, cancel) = (Arc::clone(&queue), Arc::clone(&cancel));
            thread::spawn(move || {
                queue
                    .enter(None, &|| cancel.load(Ordering::Relaxed))
                    .map(|_| ())
            })
        };
        while queue.depth().1 < 1 {
            thread::yield_now();
        }
        cancel.store(true, Ordering::Relaxed);
        assert_eq!(waiter.join().unwrap(), Err(Refused::Cancelled));
        assert_eq!(queue.depth(), (1, 0));
        drop(held);
    }

    #[test]
    fn a_bounded_queue_refuses_a_request_that_would_wait_behind_its_most() {
        let queue = GenerationQueue::new(Some(1), Some(1));
        let held = queue.enter(None, &|| false).unwrap();
        // (A scoped thread: slots borrow the queue.)
        thread::scope(|scope| {
            let waiter = scope.spawn(|| queue.enter(None, &|| false).map(|_| ()));
            while queue.depth().1 < 1 {
                thread::yield_now();
            }
            assert_eq!(
                queue.enter(None, &|| false).unwrap_err(),
                Refused::Full {
                    running: 1,
                    queued: 1
                }
            );
            assert_eq!(queue.depth(), (1, 1), "the refused request left no trace");
            drop(held);
            assert_eq!(waiter.join().unwrap(), Ok(()));
        });
        // A bound of 0: start at once or be refused.
        let queue = GenerationQueue::new(Some(1), Some(0));
        let held = queue.enter(None, &|| false).unwrap();
        assert!(matches!(
            queue.enter(None, &|| false),
            Err(Refused::Full {
                running: 1,
                queued: 0
            })
        ));
        drop(held);
        assert!(queue.enter(None, &|| false).is_ok());
    }
}
