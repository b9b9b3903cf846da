//! Calls that a later `cancel` stops: the cancellation tokens of the calls in flight on one
//! object (a session's generations, an engine's benchmarks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bitnet_core::engine::CancelToken;

/// The tokens of the calls in flight, by id.
#[derive(Default)]
pub(crate) struct InFlight {
    /// Tokens of the calls registered and not yet finished.
    calls: Arc<Mutex<Vec<(u64, CancelToken)>>>,
    /// The id of the next call.
    next_id: AtomicU64,
}

impl InFlight {
    /// Registers a new call; its token stays reachable by [`cancel_all`](Self::cancel_all)
    /// until the returned registration is dropped (move it into the blocking work, so that a
    /// call whose foreign future was dropped can still be cancelled).
    pub(crate) fn register(&self) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        lock(&self.calls).push((id, token.clone()));
        Registration {
            calls: Arc::clone(&self.calls),
            id,
            token,
        }
    }

    /// Cancels every call in flight. No-op when there is none.
    pub(crate) fn cancel_all(&self) {
        for (_, token) in lock(&self.calls).iter() {
            token.cancel();
        }
    }
}

/// One call in flight; dropping it unregisters the call.
pub(crate) struct Registration {
    calls: Arc<Mutex<Vec<(u64, CancelToken)>>>,
    id: u64,
    /// The call's token, for the core request.
    pub(crate) token: CancelToken,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.calls).retain(|(id, _)| *id != self.id);
    }
}

/// Locks bookkeeping that a panic cannot leave inconsistent (plain lists and values).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_the_calls_registered_and_not_the_finished_ones() {
        let in_flight = InFlight::default();
        let finished = in_flight.register();
        let finished_token = finished.token.clone();
        drop(finished);
        let running = in_flight.register();
        in_flight.cancel_all();
        assert!(running.token.is_cancelled());
        assert!(!finished_token.is_cancelled());
        drop(running);
        assert!(lock(&in_flight.calls).is_empty());
    }
}
