//! Thermal state and where it comes from.
//!
//! One design: the engine polls one [`ThermalSource`] between tokens (see
//! [`Governor`]). The platform layers push readings into a
//! [`ThermalMonitor`] (Android's `PowerManager` status and headroom, Apple's
//! `ProcessInfo.thermalState`); pull sources compute the reading when asked: [`HostThermal`]
//! reads Linux's `/sys/class/thermal`, [`ScriptedThermal`] replays a schedule.

mod governor;
mod policy;
mod scripted;
mod sysfs;

use std::sync::{Arc, Mutex, PoisonError};

pub use governor::{Governor, Throttling};
pub use policy::{ThermalPolicy, Throttle};
pub use scripted::{ScheduleError, ScriptedThermal};
pub use sysfs::{HostThermal, HostThresholds, SYSFS_THERMAL};

/// How hot the device runs, from cool to about to shut down (Apple's `ProcessInfo.ThermalState`
/// levels; Android statuses map onto them in the platform layer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ThermalState {
    /// No throttling needed.
    #[default]
    Nominal,
    /// Slightly warm: pacing helps.
    Fair,
    /// Hot: the OS throttles; use fewer cores.
    Serious,
    /// About to be throttled hard or shut down: stop.
    Critical,
}

impl ThermalState {
    /// The lowercase name (`"nominal"`, `"fair"`, `"serious"`, `"critical"`).
    pub fn name(self) -> &'static str {
        match self {
            ThermalState::Nominal => "nominal",
            ThermalState::Fair => "fair",
            ThermalState::Serious => "serious",
            ThermalState::Critical => "critical",
        }
    }

    /// The state named `name` (as [`name`](Self::name) spells it).
    pub fn from_name(name: &str) -> Option<ThermalState> {
        [
            ThermalState::Nominal,
            ThermalState::Fair,
            ThermalState::Serious,
            ThermalState::Critical,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// The state Android's thermal headroom forecast `headroom` stands for, where 1.0 means
    /// the OS throttles severely: below 0.7 nominal, below 0.85 fair, below 1.0 serious,
    /// from 1.0 on critical. `NaN` counts as nominal (Android returns it when it has no
    /// forecast).
    pub fn from_headroom(headroom: f32) -> ThermalState {
        match headroom {
            h if h >= 1.0 => ThermalState::Critical,
            h if h >= 0.85 => ThermalState::Serious,
            h if h >= 0.7 => ThermalState::Fair,
            _ => ThermalState::Nominal,
        }
    }
}

/// One thermal reading: the platform's state and, on Android, its headroom forecast.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ThermalReading {
    /// The state the platform reports.
    pub state: ThermalState,
    /// Android's forecast headroom (`PowerManager.getThermalHeadroom`): 0 = cool, 1.0 = severe
    /// throttling; `None` where the platform has none.
    pub headroom: Option<f32>,
}

impl ThermalReading {
    /// A reading of `state` with no headroom forecast.
    pub fn of(state: ThermalState) -> ThermalReading {
        ThermalReading {
            state,
            headroom: None,
        }
    }

    /// The state the governor acts on: the hotter of the reported state and the headroom's
    /// ([`ThermalState::from_headroom`]).
    pub fn effective_state(&self) -> ThermalState {
        let forecast = self
            .headroom
            .map_or(ThermalState::Nominal, ThermalState::from_headroom);
        self.state.max(forecast)
    }
}

/// Where the engine's thermal readings come from; polled between tokens, on the generating
/// thread, so `reading` must be cheap (cache slow sensors).
pub trait ThermalSource: Send + Sync + std::fmt::Debug {
    /// The current reading.
    fn reading(&self) -> ThermalReading;
}

/// The push source: the platform layer calls [`report`](Self::report) whenever its thermal
/// signal changes; the engine reads the last report. Cheap to clone (clones share the reading);
/// nominal until the first report.
#[derive(Clone, Debug, Default)]
pub struct ThermalMonitor(Arc<Mutex<ThermalReading>>);

impl ThermalMonitor {
    /// A monitor reading nominal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the platform's latest reading; generations apply it before their next token.
    pub fn report(&self, reading: ThermalReading) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = reading;
    }
}

impl ThermalSource for ThermalMonitor {
    fn reading(&self) -> ThermalReading {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_maps_to_states_by_the_documented_thresholds() {
        let cases = [
            (0.0, ThermalState::Nominal),
            (0.69, ThermalState::Nominal),
            (0.7, ThermalState::Fair),
            (0.85, ThermalState::Serious),
            (0.99, ThermalState::Serious),
            (1.0, ThermalState::Critical),
            (1.7, ThermalState::Critical),
            (f32::NAN, ThermalState::Nominal),
        ];
        for (h, state) in cases {
            assert_eq!(ThermalState::from_headroom(h), state, "{h}");
        }
    }

    #[test]
    fn the_hotter_of_state_and_headroom_wins() {
        let r = ThermalReading {
            state: ThermalState::Fair,
            headroom: Some(0.9),
        };
        assert_eq!(r.effective_state(), ThermalState::Serious);
        let r = ThermalReading {
            state: ThermalState::Serious,
            headroom: Some(0.1),
        };
        assert_eq!(r.effective_state(), ThermalState::Serious);
        assert_eq!(
            ThermalReading::of(ThermalState::Fair).effective_state(),
            ThermalState::Fair
        );
    }

    #[test]
    fn monitor_clones_share_the_last_report() {
        let monitor = ThermalMonitor::new();
        let platform = monitor.clone();
        assert_eq!(monitor.reading(), ThermalReading::default());
        platform.report(ThermalReading::of(ThermalState::Critical));
        assert_eq!(monitor.reading().state, ThermalState::Critical);
    }

    #[test]
    fn names_round_trip() {
        for s in [
            ThermalState::Nominal,
            ThermalState::Fair,
            ThermalState::Serious,
            ThermalState::Critical,
        ] {
            assert_eq!(ThermalState::from_name(s.name()), Some(s));
        }
        assert_eq!(ThermalState::from_name("hot"), None);
    }
}
