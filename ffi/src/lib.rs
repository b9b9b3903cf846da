//! `bitnet-ffi`: the uniffi layer between `bitnet-core` and the Kotlin (`dev.bitnet`) and Swift
//! (`BitNet`) packages.
//!
//! It only translates: [`BitNetEngine`] and [`ChatSession`] wrap the core's `Engine` and
//! `Session`; plain records ([`EngineConfig`], [`GenerationOptions`], [`ThermalPolicy`],
//! [`HealthThresholds`], ...) mirror the core's settings with the same defaults, and
//! [`MemoryEstimate`], [`EngineMetrics`], [`EngineHealth`] its reports; [`BitNetError`] maps
//! every core error; generation streams [`GenerationEvent`]s to a foreign
//! [`GenerationListener`]. Blocking work (loading, generating)
//! runs on tokio's blocking pool behind async functions, with panics caught and returned as
//! [`BitNetError::Internal`]. Cancellation is explicit ([`ChatSession::cancel`]): dropping a
//! foreign future does not stop the generation.

uniffi::setup_scaffolding!();

#[cfg(target_os = "android")]
mod android;
mod blocking;
mod engine;
mod error;
mod estimate;
mod events;
mod logging;
mod metrics;
mod options;
mod runtime;
mod session;

#[cfg(target_os = "android")]
pub use android::java_vm;
pub use engine::BitNetEngine;
pub use error::BitNetError;
pub use estimate::{estimate_memory, MemoryEstimate};
pub use events::{
    FinishReason, GenerationEvent, GenerationListener, GenerationStats, GenerationSummary,
    ThermalState,
};
pub use logging::{set_log_level, LogLevel};
pub use metrics::{EngineHealth, EngineMetrics, HealthAlert};
pub use options::{
    ChatMessage, EngineConfig, GenerationOptions, HeadPrecision, KvPrecision, OverflowPolicy,
    Prompt, Role, SessionConfig,
};
pub use runtime::{
    default_thermal_policy, profile_config, smallest_profile, HealthThresholds, Profile,
    ThermalPolicy, Throttle,
};
pub use session::ChatSession;
