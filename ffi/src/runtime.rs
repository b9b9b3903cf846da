//! Runtime settings: the engine's default thermal policy and the deployment profiles' configs
//! (the types themselves are the core's, see `remote.rs`).

use bitnet_core::engine;

use crate::options::EngineConfig;
use crate::remote::{Profile, ThermalPolicy};

/// The engine's default thermal policy, to adjust and pass as `EngineConfig::thermal_policy`.
#[uniffi::export]
pub fn default_thermal_policy() -> ThermalPolicy {
    ThermalPolicy::default()
}

/// The default `EngineConfig` with `profile`'s thread limit and memory budget.
#[uniffi::export]
pub fn profile_config(profile: Profile) -> EngineConfig {
    engine::EngineConfig::from_profile(profile).into()
}

/// The smallest profile whose memory budget holds `bytes`, if any (e.g. for a
/// `MemoryEstimate` total).
#[uniffi::export]
pub fn smallest_profile(bytes: u64) -> Option<Profile> {
    Profile::smallest_holding(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_give_the_core_presets() {
        for profile in Profile::ALL {
            let config = profile_config(profile);
            assert_eq!(config.threads as usize, profile.threads());
            assert_eq!(
                config.memory_budget_bytes,
                Some(profile.memory_budget_bytes())
            );
            assert_eq!(
                engine::EngineConfig::from(config),
                engine::EngineConfig::from_profile(profile)
            );
        }
        assert_eq!(smallest_profile(600 << 20), Some(Profile::Edge));
        assert_eq!(smallest_profile(5 << 30), None);
    }
}
