//! The checks a request makes between prefill batches and between tokens: its timeout and
//! the thermal governor.

use std::time::{Duration, Instant};

use super::{Engine, Event, FinishReason, Sink};
use crate::runtime::thermal::{ThermalState, Throttle};
use crate::{Error, Result};

/// One request's between-token checks and what they did.
#[derive(Debug)]
pub(super) struct Checkpoint<'e> {
    engine: &'e Engine,
    started: Instant,
    /// The state this request last saw (reported to its sink on change).
    pub state: ThermalState,
    /// Changes reported to the sink.
    pub throttle_events: usize,
    /// Pauses slept between tokens, in ms.
    pub paused_ms: u64,
}

impl<'e> Checkpoint<'e> {
    /// Checks for a request of `engine` that started at `started`.
    pub fn new(engine: &'e Engine, started: Instant) -> Self {
        Checkpoint {
            engine,
            started,
            state: engine.governor().state(),
            throttle_events: 0,
            paused_ms: 0,
        }
    }

    /// Fails with [`Error::Timeout`] past the engine's request timeout; then polls the thermal
    /// governor, sends a changed state to `sink` as [`Event::Thermal`], and either returns
    /// [`FinishReason::ThermalStop`] or — when `pause` (between decoded tokens) — sleeps the
    /// policy's pause.
    pub fn check(&mut self, sink: &mut dyn Sink, pause: bool) -> Result<Option<FinishReason>> {
        if let Some(limit_ms) = self.engine.config().request_timeout_ms {
            if self.started.elapsed() >= Duration::from_millis(limit_ms) {
                return Err(Error::Timeout { limit_ms });
            }
        }
        let now = self.engine.governor().poll(self.engine.model().pool());
        if now.state != self.state {
            self.state = now.state;
            self.throttle_events += 1;
            sink.on_event(Event::Thermal {
                state: now.state,
                threads: now.threads,
                pause_ms: now.action.pause_ms(),
            });
        }
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
