//! The governor: reads the engine's thermal source and applies the policy to the thread pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{ThermalPolicy, ThermalSource, ThermalState, Throttle};
use crate::runtime::ThreadPool;

/// What the governor has in force after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttling {
    /// The state acted on.
    pub state: ThermalState,
    /// The policy's action for it.
    pub action: Throttle,
    /// Threads matmuls now run on (0: [`Throttle::Stop`]).
    pub threads: usize,
}

/// One engine's thermal governor. Without a source every poll reads nominal.
///
/// The state it applied last is engine-wide (the pool is shared), so each change is applied
/// and counted once however many sessions poll.
#[derive(Debug)]
pub struct Governor {
    policy: ThermalPolicy,
    source: Mutex<Option<Arc<dyn ThermalSource>>>,
    applied: Mutex<ThermalState>,
    changes: AtomicU64,
}

impl Governor {
    /// A governor applying `policy`, with no source (nominal).
    pub fn new(policy: ThermalPolicy) -> Governor {
        Governor {
            policy,
            source: Mutex::new(None),
            applied: Mutex::new(ThermalState::Nominal),
            changes: AtomicU64::new(0),
        }
    }

    /// Replaces the source (`None`: always nominal); the next poll applies its reading.
    pub fn set_source(&self, source: Option<Arc<dyn ThermalSource>>) {
        *self.source.lock().unwrap_or_else(PoisonError::into_inner) = source;
    }

    /// The state applied by the last poll.
    pub fn state(&self) -> ThermalState {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// State changes applied since the engine started (every change counts, back to nominal
    /// included).
    pub fn throttle_events(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Reads the source and, when the state changed, sets `pool`'s active threads for it
    /// ([`Throttle::Stop`] leaves them; back to nominal restores the configured threads under
    /// the default policy). Returns what is in force.
    pub fn poll(&self, pool: &ThreadPool) -> Throttling {
        let source = self
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let state = source.map_or(ThermalState::Nominal, |s| s.reading().effective_state());
        let action = self.policy.action(state);
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        if *applied != state {
            *applied = state;
            self.changes.fetch_add(1, Ordering::Relaxed);
            if let Throttle::Run { .. } = action {
                pool.set_active_threads(action.threads(pool.threads()));
            }
            log::info!(
                "thermal {}: {} threads, {} ms between tokens",
                state.name(),
                action.threads(pool.threads()),
                action.pause_ms()
            );
        }
        drop(applied);
        self.throttling(state, pool)
    }

    /// What is in force for the state applied last, without reading the source.
    pub fn in_force(&self, pool: &ThreadPool) -> Throttling {
        self.throttling(self.state(), pool)
    }

    fn throttling(&self, state: ThermalState, pool: &ThreadPool) -> Throttling {
        let action = self.policy.action(state);
        Throttling {
            state,
            action,
            threads: match action {
                Throttle::Run { .. } => pool.active_threads(),
                Throttle::Stop => 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::thermal::{ThermalMonitor, ThermalReading};

    #[test]
    fn changes_set_the_pools_active_threads_and_are_counted_once() {
        let pool = ThreadPool::new(4).expect("pool");
        let governor = Governor::new(ThermalPolicy::default());
        assert_eq!(governor.poll(&pool).threads, 4);
        assert_eq!(governor.throttle_events(), 0);

        let monitor = ThermalMonitor::new();
        governor.set_source(Some(Arc::new(monitor.clone())));
        monitor.report(ThermalReading::of(ThermalState::Serious));
        let t = governor.poll(&pool);
        assert_eq!((t.state, t.threads), (ThermalState::Serious, 2));
        assert_eq!(pool.active_threads(), 2);
        governor.poll(&pool);
        assert_eq!(governor.throttle_events(), 1);

        monitor.report(ThermalReading::of(ThermalState::Critical));
        let t = governor.poll(&pool);
        assert_eq!((t.action, t.threads), (Throttle::Stop, 0));
        assert_eq!(pool.active_threads(), 2);

        monitor.report(ThermalReading {
            state: ThermalState::Nominal,
            headroom: Some(0.2),
        });
        assert_eq!(governor.poll(&pool).threads, 4);
        assert_eq!(pool.active_threads(), 4);
        assert_eq!(governor.throttle_events(), 3);
        assert_eq!(governor.state(), ThermalState::Nominal);
    }
}
