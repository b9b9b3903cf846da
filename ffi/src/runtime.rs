//! Runtime settings as records: the thermal policy, the health thresholds and the deployment
//! profiles, with their conversions both ways (the core's values are the defaults).

use bitnet_core::engine;
use bitnet_core::runtime::{health, thermal, Profile as CoreProfile};

use crate::options::EngineConfig;

/// What the thermal governor does in one thermal state (`bitnet_core`'s `Throttle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Throttle {
    /// Keep generating on `threads_percent` % of the configured threads (rounded down, at
    /// least 1), pausing `pause_ms` between tokens. A share outside 1..=100 fails loading with
    /// `InvalidOption`.
    Run {
        /// Share of the configured threads, in percent (1..=100).
        threads_percent: u8,
        /// Pause between two tokens, in ms.
        pause_ms: u64,
    },
    /// End the generation cleanly with `FinishReason::ThermalStop`, keeping the text so far.
    Stop,
}

/// The thermal governor's table, one action per `ThermalState`. [`default_thermal_policy`]
/// gives the engine's: nominal every thread; fair every thread, 10 ms between tokens; serious
/// half the threads, 50 ms; critical stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ThermalPolicy {
    /// Action in `ThermalState::Nominal`.
    pub nominal: Throttle,
    /// Action in `ThermalState::Fair`.
    pub fair: Throttle,
    /// Action in `ThermalState::Serious`.
    pub serious: Throttle,
    /// Action in `ThermalState::Critical`.
    pub critical: Throttle,
}

/// The engine's default thermal policy, to adjust and pass as `EngineConfig::thermal_policy`.
#[uniffi::export]
pub fn default_thermal_policy() -> ThermalPolicy {
    thermal::ThermalPolicy::default().into()
}

/// The thresholds `BitNetEngine::health` raises alerts at; the defaults are the engine's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HealthThresholds {
    /// Alert when resident memory exceeds this, in bytes (default 1024 MiB).
    #[uniffi(default = 1073741824)]
    pub max_resident_bytes: u64,
    /// Alert when CPU use exceeds this, in percent of the CPUs the process may use.
    #[uniffi(default = 80)]
    pub max_cpu_percent: u32,
    /// Alert when the recent mean decode speed is below this, in tokens/s.
    #[uniffi(default = 5)]
    pub min_decode_tokens_per_s: u32,
    /// Alert when errors exceed this share of requests, in percent.
    #[uniffi(default = 5)]
    pub max_error_rate_percent: u32,
    /// Alert when the recent p95 latency exceeds this, in ms.
    #[uniffi(default = 5000)]
    pub max_latency_ms: u64,
}

/// A named preset of thread limit and memory budget (`bitnet_core`'s `Profile`), smallest
/// first; [`profile_config`] gives its `EngineConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Profile {
    /// 2 threads, 512 MiB: a phone app in the foreground.
    Mobile,
    /// 4 threads, 1024 MiB: a tablet, a single-board computer, a kiosk.
    Edge,
    /// 8 threads, 2048 MiB: a shared server process.
    Server,
    /// 16 threads, 4096 MiB: a dedicated cloud instance.
    Cloud,
}

/// The default `EngineConfig` with `profile`'s thread limit and memory budget.
#[uniffi::export]
pub fn profile_config(profile: Profile) -> EngineConfig {
    engine::EngineConfig::from_profile(profile.into()).into()
}

/// The smallest profile whose memory budget holds `bytes`, if any (e.g. for a
/// `MemoryEstimate` total).
#[uniffi::export]
pub fn smallest_profile(bytes: u64) -> Option<Profile> {
    CoreProfile::smallest_holding(bytes).map(Into::into)
}

impl From<Throttle> for thermal::Throttle {
    fn from(t: Throttle) -> Self {
        match t {
            Throttle::Run {
                threads_percent,
                pause_ms,
            } => thermal::Throttle::Run {
                threads_percent,
                pause_ms,
            },
            Throttle::Stop => thermal::Throttle::Stop,
        }
    }
}

impl From<thermal::Throttle> for Throttle {
    fn from(t: thermal::Throttle) -> Self {
        match t {
            thermal::Throttle::Run {
                threads_percent,
                pause_ms,
            } => Throttle::Run {
                threads_percent,
                pause_ms,
            },
            thermal::Throttle::Stop => Throttle::Stop,
        }
    }
}

impl From<ThermalPolicy> for thermal::ThermalPolicy {
    fn from(p: ThermalPolicy) -> Self {
        thermal::ThermalPolicy {
            nominal: p.nominal.into(),
            fair: p.fair.into(),
            serious: p.serious.into(),
            critical: p.critical.into(),
        }
    }
}

impl From<thermal::ThermalPolicy> for ThermalPolicy {
    fn from(p: thermal::ThermalPolicy) -> Self {
        ThermalPolicy {
            nominal: p.nominal.into(),
            fair: p.fair.into(),
            serious: p.serious.into(),
            critical: p.critical.into(),
        }
    }
}

impl From<HealthThresholds> for health::HealthThresholds {
    fn from(t: HealthThresholds) -> Self {
        health::HealthThresholds {
            max_resident_bytes: t.max_resident_bytes,
            max_cpu_percent: t.max_cpu_percent,
            min_decode_tokens_per_s: t.min_decode_tokens_per_s,
            max_error_rate_percent: t.max_error_rate_percent,
            max_latency_ms: t.max_latency_ms,
        }
    }
}

impl From<health::HealthThresholds> for HealthThresholds {
    fn from(t: health::HealthThresholds) -> Self {
        HealthThresholds {
            max_resident_bytes: t.max_resident_bytes,
            max_cpu_percent: t.max_cpu_percent,
            min_decode_tokens_per_s: t.min_decode_tokens_per_s,
            max_error_rate_percent: t.max_error_rate_percent,
            max_latency_ms: t.max_latency_ms,
        }
    }
}

impl From<Profile> for CoreProfile {
    fn from(p: Profile) -> Self {
        match p {
            Profile::Mobile => CoreProfile::Mobile,
            Profile::Edge => CoreProfile::Edge,
            Profile::Server => CoreProfile::Server,
            Profile::Cloud => CoreProfile::Cloud,
        }
    }
}

impl From<CoreProfile> for Profile {
    fn from(p: CoreProfile) -> Self {
        match p {
            CoreProfile::Mobile => Profile::Mobile,
            CoreProfile::Edge => Profile::Edge,
            CoreProfile::Server => Profile::Server,
            CoreProfile::Cloud => Profile::Cloud,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_give_the_core_presets_and_round_trip() {
        for core in CoreProfile::ALL {
            let profile = Profile::from(core);
            assert_eq!(CoreProfile::from(profile), core);
            let config = profile_config(profile);
            assert_eq!(config.threads as usize, core.threads());
            assert_eq!(config.memory_budget_bytes, Some(core.memory_budget_bytes()));
            assert_eq!(
                engine::EngineConfig::from(config),
                engine::EngineConfig::from_profile(core)
            );
        }
        assert_eq!(smallest_profile(600 << 20), Some(Profile::Edge));
        assert_eq!(smallest_profile(5 << 30), None);
    }

    #[test]
    fn policies_and_thresholds_round_trip() {
        let policy = ThermalPolicy {
            fair: Throttle::Run {
                threads_percent: 75,
                pause_ms: 20,
            },
            ..default_thermal_policy()
        };
        assert_eq!(
            ThermalPolicy::from(thermal::ThermalPolicy::from(policy)),
            policy
        );
        assert_eq!(
            thermal::ThermalPolicy::from(default_thermal_policy()),
            thermal::ThermalPolicy::default()
        );
        // The foreign defaults (`#[uniffi(default)]`), restated: they must be the core's.
        let thresholds = HealthThresholds {
            max_resident_bytes: 1073741824,
            max_cpu_percent: 80,
            min_decode_tokens_per_s: 5,
            max_error_rate_percent: 5,
            max_latency_ms: 5000,
        };
        assert_eq!(
            health::HealthThresholds::from(thresholds),
            health::HealthThresholds::default()
        );
    }
}
