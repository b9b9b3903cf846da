//! A scripted thermal source: replays a schedule such as `"0s:nominal,5s:serious,10s:critical"`
//! so the governor can be seen working on any machine.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{ThermalReading, ThermalSource, ThermalState};

/// Why a schedule does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule has no entries.
    #[error("empty thermal schedule")]
    Empty,
    /// An entry is not `TIME:STATE`.
    #[error("thermal schedule entry {0:?} is not TIME:STATE (e.g. 5s:serious)")]
    BadEntry(String),
    /// A time is not a number followed by `s` or `ms`.
    #[error("thermal schedule time {0:?} is not a number of s or ms (e.g. 5s, 1.5s, 500ms)")]
    BadTime(String),
    /// A state is not nominal, fair, serious or critical.
    #[error("thermal state {0:?} is not nominal, fair, serious or critical")]
    BadState(String),
    /// Times do not strictly increase.
    #[error("thermal schedule times must increase: {0:?} comes too late")]
    NotIncreasing(String),
}

/// Replays `(from, state)` steps: the state of the latest step whose time has come, nominal
/// before the first. Time runs from the first [`reading`](ThermalSource::reading) (the start of
/// the generation or benchmark that polls it).
#[derive(Debug)]
pub struct ScriptedThermal {
    steps: Vec<(Duration, ThermalState)>,
    started: Mutex<Option<Instant>>,
}

impl ScriptedThermal {
    /// Parses comma-separated `TIME:STATE` entries with increasing times, e.g.
    /// `"0s:nominal,5s:serious,10s:critical"` (times in `s`, fractions allowed, or `ms`).
    pub fn parse(schedule: &str) -> Result<ScriptedThermal, ScheduleError> {
        let mut steps: Vec<(Duration, ThermalState)> = Vec::new();
        for entry in schedule.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (time, state) = entry
                .split_once(':')
                .ok_or_else(|| ScheduleError::BadEntry(entry.into()))?;
            let at = parse_time(time.trim())?;
            let state = ThermalState::from_name(&state.trim().to_lowercase())
                .ok_or_else(|| ScheduleError::BadState(state.trim().into()))?;
            if steps.last().is_some_and(|&(prev, _)| at <= prev) {
                return Err(ScheduleError::NotIncreasing(entry.into()));
            }
            steps.push((at, state));
        }
        if steps.is_empty() {
            return Err(ScheduleError::Empty);
        }
        Ok(ScriptedThermal {
            steps,
            started: Mutex::new(None),
        })
    }

    /// The scheduled state `elapsed` after the start.
    pub fn state_at(&self, elapsed: Duration) -> ThermalState {
        self.steps
            .iter()
            .rev()
            .find(|&&(at, _)| at <= elapsed)
            .map_or(ThermalState::Nominal, |&(_, state)| state)
    }
}

impl ThermalSource for ScriptedThermal {
    fn reading(&self) -> ThermalReading {
        let started = *self
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(Instant::now);
        ThermalReading::of(self.state_at(started.elapsed()))
    }
}

/// `"5s"`, `"1.5s"`, `"500ms"` as a duration.
fn parse_time(text: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError::BadTime(text.into());
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        return Err(bad());
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_replays_the_latest_step_reached() {
        let s = ScriptedThermal::parse("0s:nominal, 5s:serious,10.5s:CRITICAL").expect("parses");
        let at = |secs: f64| s.state_at(Duration::from_secs_f64(secs));
        assert_eq!(at(0.0), ThermalState::Nominal);
        assert_eq!(at(4.99), ThermalState::Nominal);
        assert_eq!(at(5.0), ThermalState::Serious);
        assert_eq!(at(10.4), ThermalState::Serious);
        assert_eq!(at(10.5), ThermalState::Critical);
        assert_eq!(at(1e6), ThermalState::Critical);
        let late = ScriptedThermal::parse("500ms:fair").expect("parses");
        assert_eq!(late.state_at(Duration::ZERO), ThermalState::Nominal);
        assert_eq!(
            late.state_at(Duration::from_millis(500)),
            ThermalState::Fair
        );
    }

    #[test]
    fn the_clock_starts_at_the_first_reading() {
        let s = ScriptedThermal::parse("0s:serious,1000s:nominal").expect("parses");
        assert_eq!(s.reading().state, ThermalState::Serious);
        assert_eq!(s.reading().state, ThermalState::Serious);
    }

    #[test]
    fn malformed_schedules_give_typed_errors() {
        use ScheduleError::*;
        let cases = [
            ("", Empty),
            (" , ", Empty),
            ("5s", BadEntry("5s".into())),
            ("5:serious", BadTime("5".into())),
            ("xs:serious", BadTime("xs".into())),
            ("-1s:serious", BadTime("-1s".into())),
            ("5s:hot", BadState("hot".into())),
            ("5s:fair,5s:serious", NotIncreasing("5s:serious".into())),
            ("5s:fair,1s:serious", NotIncreasing("1s:serious".into())),
        ];
        for (text, error) in cases {
            assert_eq!(ScriptedThermal::parse(text).unwrap_err(), error, "{text:?}");
        }
    }
}
