//! The checks a request makes between prefill batches and between tokens — its timeout and
//! the thermal governor — shared by generation and the sustained benchmark, so both throttle,
//! pause and stop alike.

use std::time::{Duration, Instant};

use super::{Engine, Event, FinishReason, Sink};
use crate::runtime::thermal::{Throttle, Throttling};
use crate::runtime::Executor;
use crate::{Error, Result};

/// One run's between-token checks and what they did.
#[derive(Debug)]
pub(crate) struct Checkpoint<'e> {
    exec: &'e Executor,
    /// When the run started and the longest it may take, in ms (`None`: no limit).
    deadline: Option<(Instant, u64)>,
    /// What the governor had in force at the last check (its state is reported to the sink
    /// on change).
    pub now: Throttling,
    /// Changes reported to the sink.
    pub throttle_events: usize,
    /// Pauses slept between tokens, in ms.
    pub paused_ms: u64,
}

impl<'e> Checkpoint<'e> {
    /// Checks for a request of `engine` that started at `started` (the engine's request
    /// timeout applies).
    pub fn for_request(engine: &'e Engine, started: Instant) -> Self {
        let mut checkpoint = Checkpoint::new(engine.executor());
        checkpoint.deadline = engine.config().request_timeout_ms.map(|ms| (started, ms));
        checkpoint
    }

    /// Checks with no time limit (the benchmark's).
    pub fn new(exec: &'e Executor) -> Self {
        Checkpoint {
            exec,
            deadline: None,
            now: exec.in_force(),
            throttle_events: 0,
            paused_ms: 0,
        }
    }

    /// Fails with [`Error::Timeout`] past the deadline; then polls the thermal governor,
    /// sends a changed state to `sink` as [`Event::Thermal`], and either returns
    /// [`FinishReason::ThermalStop`] or — when `pause` (between decoded tokens) — sleeps the
    /// policy's pause.
    pub fn check(&mut self, sink: &mut dyn Sink, pause: bool) -> Result<Option<FinishReason>> {
        if let Some((started, limit_ms)) = self.deadline {
            if started.elapsed() >= Duration::from_millis(limit_ms) {
                return Err(Error::Timeout { limit_ms });
            }
        }
        let now = self.exec.poll();
        if now.state != self.now.state {
            self.throttle_events += 1;
            sink.on_event(Event::Thermal {
                state: now.state,
                threads: now.threads,
                pause_ms: now.action.pause_ms(),
            });
        }
        self.now = now;
        match now.action {
            Throttle::Stop => Ok(Some(FinishReason::ThermalStop)),
            Throttle::Run { pause_ms, .. } => {
                if pause && pause_ms > 0 {
                    std::thread::sleep(Duration::from_millis(pause_ms));
                    self.paused_ms += pause_ms;
                }
                Ok(None)
            }
        }
    }
}
