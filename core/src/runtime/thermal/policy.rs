//! The policy table: what the governor does in each thermal state.

use super::ThermalState;

/// What the governor does in one thermal state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Throttle {
    /// Keep generating on `threads_percent` % of the configured threads (rounded down, at
    /// least 1; valid: 1..=100), sleeping `pause_ms` ms between tokens.
    Run {
        /// Share of the configured threads, in percent.
        threads_percent: u8,
        /// Pause between two tokens, in ms.
        pause_ms: u64,
    },
    /// End the generation cleanly: it returns the text so far with
    /// [`FinishReason::ThermalStop`](crate::engine::FinishReason::ThermalStop).
    Stop,
}

impl Throttle {
    /// The threads this action runs on out of `configured` (0 for [`Throttle::Stop`]).
    pub fn threads(self, configured: usize) -> usize {
        match self {
            Throttle::Run {
                threads_percent, ..
            } => (configured * usize::from(threads_percent) / 100).clamp(1, configured.max(1)),
            Throttle::Stop => 0,
        }
    }

    /// The pause between tokens, in ms (0 for [`Throttle::Stop`]).
    pub fn pause_ms(self) -> u64 {
        match self {
            Throttle::Run { pause_ms, .. } => pause_ms,
            Throttle::Stop => 0,
        }
    }
}

/// The governor's table, one action per [`ThermalState`].
///
/// Defaults: nominal — every configured thread, no pause; fair — every thread, 10 ms between
/// tokens; serious — half the threads, 50 ms between tokens; critical — stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ThermalPolicy {
    /// Action in [`ThermalState::Nominal`].
    pub nominal: Throttle,
    /// Action in [`ThermalState::Fair`].
    pub fair: Throttle,
    /// Action in [`ThermalState::Serious`].
    pub serious: Throttle,
    /// Action in [`ThermalState::Critical`].
    pub critical: Throttle,
}

impl Default for ThermalPolicy {
    fn default() -> Self {
        ThermalPolicy {
            nominal: Throttle::Run {
                threads_percent: 100,
                pause_ms: 0,
            },
            fair: Throttle::Run {
                threads_percent: 100,
                pause_ms: 10,
            },
            serious: Throttle::Run {
                threads_percent: 50,
                pause_ms: 50,
            },
            critical: Throttle::Stop,
        }
    }
}

impl ThermalPolicy {
    /// The action for `state`.
    pub fn action(&self, state: ThermalState) -> Throttle {
        match state {
            ThermalState::Nominal => self.nominal,
            ThermalState::Fair => self.fair,
            ThermalState::Serious => self.serious,
            ThermalState::Critical => self.critical,
        }
    }

    /// Why the table is invalid (a thread share outside 1..=100 %), if it is.
    pub fn check(&self) -> Result<(), String> {
        for (state, action) in [
            ("nominal", self.nominal),
            ("fair", self.fair),
            ("serious", self.serious),
            ("critical", self.critical),
        ] {
            if let Throttle::Run {
                threads_percent, ..
            } = action
            {
                if !(1..=100).contains(&threads_percent) {
                    return Err(format!(
                        "{state}: {threads_percent} % of the threads is outside 1..=100"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_halves_threads_when_serious_and_stops_when_critical() {
        let p = ThermalPolicy::default();
        assert_eq!(p.action(ThermalState::Nominal).threads(4), 4);
        assert_eq!(p.action(ThermalState::Nominal).pause_ms(), 0);
        assert_eq!(p.action(ThermalState::Fair).threads(4), 4);
        assert!(p.action(ThermalState::Fair).pause_ms() > 0);
        assert_eq!(p.action(ThermalState::Serious).threads(4), 2);
        assert_eq!(p.action(ThermalState::Serious).threads(3), 1);
        assert_eq!(p.action(ThermalState::Serious).threads(1), 1);
        assert!(
            p.action(ThermalState::Serious).pause_ms() > p.action(ThermalState::Fair).pause_ms()
        );
        assert_eq!(p.action(ThermalState::Critical), Throttle::Stop);
        assert_eq!(Throttle::Stop.threads(4), 0);
        assert!(p.check().is_ok());
    }

    #[test]
    fn shares_outside_one_to_a_hundred_percent_are_rejected() {
        for bad in [0, 101] {
            let p = ThermalPolicy {
                fair: Throttle::Run {
                    threads_percent: bad,
                    pause_ms: 0,
                },
                ..ThermalPolicy::default()
            };
            assert!(p.check().unwrap_err().contains("fair"));
        }
    }
}
