//! `bitnet-ffi`: the uniffi layer between `bitnet-core` and the Kotlin (`dev.bitnet`) and Swift
//! (`BitNet`) packages.
//!
//! It holds the objects and the calls: [`BitNetEngine`] and [`ChatSession`] wrap the core's
//! `Engine` and `Session`, [`ModelStore`] installs models. The records and enums they take and
//! return ([`EngineConfig`], [`GenerationOptions`], [`MemoryEstimate`], [`GenerationStats`],
//! [`Profile`], ...) are the core's own, declared once in `bitnet-core` and derived for the
//! bindings behind its `uniffi` feature (Kotlin package `dev.bitnet.core`); their foreign
//! constructors default to the core's `Default` (the `default_*()` functions return it, and
//! the Kotlin and Swift tests check the two agree). [`BitNetError`] maps every core error,
//! with the numbers an app acts on as fields; generation streams [`GenerationEvent`]s to a
//! foreign [`GenerationListener`]. Blocking work (loading, generating, benchmarking) runs on
//! tokio's blocking pool behind async functions, with panics caught and returned as
//! [`BitNetError::Internal`]. Cancellation is explicit ([`ChatSession::cancel`]): dropping a
//! foreign future does not stop the generation. Downloads run on their own thread, report to
//! a foreign [`DownloadListener`] and end through their [`Download`] handle. The benchmark
//! screen reads the device ([`hardware`]) and times an engine (`BitNetEngine::benchmark`, the
//! core's benchmark routine).

uniffi::setup_scaffolding!();
// Counts (`usize`) cross as the core declares them (u32, saturating).
use bitnet_core::Count;
uniffi::use_remote_type!(bitnet_core::Count);

#[cfg(target_os = "android")]
mod android;
mod bench;
mod blocking;
mod cancel;
mod engine;
mod error;
mod estimate;
mod events;
mod logging;
mod runtime;
mod session;
mod store;

#[cfg(target_os = "android")]
pub use android::java_vm;
pub use bench::{default_bench_config, hardware, Hardware};
pub use engine::BitNetEngine;
pub use error::BitNetError;
pub use estimate::estimate_memory;
pub use events::{GenerationEvent, GenerationListener};
pub use logging::{set_log_level, LogLevel};
pub use runtime::{
    default_engine_config, default_generation_options, default_session_config,
    default_thermal_policy, profile_config, smallest_profile,
};
pub use session::ChatSession;
pub use store::{default_download_options, Download, DownloadListener, ModelStore};

// The core's records and enums the calls above take and return, for Rust users of this crate.
pub use bitnet_core::bench::{BenchConfig, BenchReport, Stat};
pub use bitnet_core::chat::{Message as ChatMessage, Role};
pub use bitnet_core::engine::{
    EngineConfig, FinishReason, Generation as GenerationSummary, GenerationOptions,
    GenerationStats, Input as Prompt, MemoryEstimate, OverflowPolicy, SessionConfig,
    Trimmed as TrimReport,
};
pub use bitnet_core::model::{HeadPrecision, KvPrecision};
pub use bitnet_core::runtime::health::{
    Alert as HealthAlert, Health as EngineHealth, HealthThresholds,
};
pub use bitnet_core::runtime::metrics::Metrics as EngineMetrics;
pub use bitnet_core::runtime::thermal::{ThermalPolicy, ThermalState, Throttle};
pub use bitnet_core::runtime::Profile;
pub use bitnet_core::sampling::SamplingParams;
pub use bitnet_core::store::{
    CatalogEntry, CatalogMemory, DownloadOptions, DownloadProgress, InstalledModel, ProfileFit,
};
