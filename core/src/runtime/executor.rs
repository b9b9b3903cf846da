//! What runs a loaded model's arithmetic: the worker threads (the hard thread limit), the
//! kernel table chosen for this CPU, and the thermal governor that decides how many of the
//! threads take part. An engine owns one; its sessions and the benchmark lend it to
//! [`Model::forward`](crate::model::Model::forward).

use std::sync::Arc;

use super::thermal::{Governor, ThermalPolicy, ThermalSource, ThermalState, Throttling};
use super::ThreadPool;
use crate::kernels::Kernels;

/// The pool, the kernels and the governor of one engine.
#[derive(Debug)]
pub struct Executor {
    pool: ThreadPool,
    kernels: &'static Kernels,
    governor: Governor,
}

impl Executor {
    /// Runs matmuls on `pool` with `kernels`' inner loops, throttled by `policy`.
    pub fn new(pool: ThreadPool, kernels: &'static Kernels, policy: ThermalPolicy) -> Self {
        Executor {
            pool,
            kernels,
            governor: Governor::new(policy),
        }
    }

    /// The kernel table every matmul uses.
    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }

    /// The hard limit on threads running matmuls (the calling thread included).
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Threads a matmul is split over now (fewer than [`threads`](Self::threads) while the
    /// thermal governor holds some back).
    pub fn active_threads(&self) -> usize {
        self.pool.active_threads()
    }

    /// The thermal state the governor applied last.
    pub fn thermal_state(&self) -> ThermalState {
        self.governor.state()
    }

    /// Thermal state changes applied since the executor started.
    pub fn throttle_events(&self) -> u64 {
        self.governor.throttle_events()
    }

    /// Sets where the governor reads the thermal state (`None`: always nominal).
    pub fn set_thermal_source(&self, source: Option<Arc<dyn ThermalSource>>) {
        self.governor.set_source(source);
    }

    /// Reads the thermal source and applies the policy to the pool: what is in force now.
    pub fn poll(&self) -> Throttling {
        self.governor.poll(&self.pool)
    }

    /// What the last poll put in force (the source is not read).
    pub fn in_force(&self) -> Throttling {
        self.governor.in_force(&self.pool)
    }

    /// The worker threads.
    pub(crate) fn pool(&self) -> &ThreadPool {
        &self.pool
    }
}
