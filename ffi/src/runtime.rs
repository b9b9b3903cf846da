//! The settings' starting points: the core's defaults and the deployment profiles' configs
//! (the types themselves are the core's, with the same defaults in their foreign
//! constructors).

use bitnet_core::engine::{EngineConfig, GenerationOptions, SessionConfig};
use bitnet_core::runtime::thermal::ThermalPolicy;
use bitnet_core::runtime::Profile;

/// The engine's default thermal policy, to adjust and pass as `EngineConfig::thermal_policy`:
/// nominal every thread; fair every thread, 10 ms between tokens; serious half the threads,
/// 50 ms; critical stop.
#[uniffi::export]
pub fn default_thermal_policy() -> ThermalPolicy {
    ThermalPolicy::default()
}

/// The engine's default settings: what `EngineConfig()` gives in Kotlin and Swift.
#[uniffi::export]
pub fn default_engine_config() -> EngineConfig {
    EngineConfig::default()
}

/// The default session settings: what `SessionConfig()` gives in Kotlin and Swift.
#[uniffi::export]
pub fn default_session_config() -> SessionConfig {
    SessionConfig::default()
}

/// The default request options (greedy, up to 1024 tokens, no stop strings): what
/// `GenerationOptions()` gives in Kotlin and Swift.
#[uniffi::export]
pub fn default_generation_options() -> GenerationOptions {
    GenerationOptions::default()
}

/// The default `EngineConfig` with `profile`'s thread limit, memory budget and concurrent
/// generations.
#[uniffi::export]
pub fn profile_config(profile: Profile) -> EngineConfig {
    EngineConfig::from_profile(profile)
}

/// The smallest profile whose memory budget holds `bytes`, if any (e.g. for a
/// `MemoryEstimate` total).
#[uniffi::export]
pub fn smallest_profile(bytes: u64) -> Option<Profile> {
    Profile::smallest_holding(bytes)
}
