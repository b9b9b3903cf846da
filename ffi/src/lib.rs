//! `bitnet-ffi`: the uniffi layer between `bitnet-core` and the Kotlin (`dev.bitnet`) and Swift
//! (`BitNet`) packages.
//!
//! It only translates: [`BitNetEngine`] and [`ChatSession`] wrap the core's `Engine` and
//! `Session`; the core's enums and plain settings ([`ThermalPolicy`], [`HealthThresholds`],
//! [`Profile`], [`FinishReason`], ...) cross as they are (`remote.rs`); records whose core
//! types hold `usize` counts or Rust-only parts ([`EngineConfig`], [`GenerationOptions`], ...)
//! mirror the core's settings with its defaults, and
//! [`MemoryEstimate`], [`EngineMetrics`], [`EngineHealth`] its reports; [`BitNetError`] maps
//! every core error; generation streams [`GenerationEvent`]s to a foreign
//! [`GenerationListener`]. Blocking work (loading, generating)
//! runs on tokio's blocking pool behind async functions, with panics caught and returned as
//! [`BitNetError::Internal`]. Cancellation is explicit ([`ChatSession::cancel`]): dropping a
//! foreign future does not stop the generation. [`ModelStore`] installs models: the catalog's
//! records cross as the core declares them, downloads run on their own thread, report to a
//! foreign [`DownloadListener`] and end through their [`Download`] handle. The benchmark screen
//! reads the device ([`hardware`]) and times an engine (`BitNetEngine::benchmark`, the core's
//! benchmark routine).

uniffi::setup_scaffolding!();

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
mod metrics;
mod options;
mod remote;
mod runtime;
mod session;
mod store;

#[cfg(target_os = "android")]
pub use android::java_vm;
pub use bench::{default_bench_config, hardware, BenchConfig, BenchReport, Hardware, Stat};
pub use engine::BitNetEngine;
pub use error::BitNetError;
pub use estimate::{estimate_memory, MemoryEstimate};
pub use events::{GenerationEvent, GenerationListener, GenerationStats, GenerationSummary};
pub use logging::{set_log_level, LogLevel};
pub use metrics::{EngineHealth, EngineMetrics, HealthAlert, TrimReport};
pub use options::{ChatMessage, EngineConfig, GenerationOptions, Prompt, SessionConfig};
pub use remote::{
    FinishReason, HeadPrecision, HealthThresholds, KvPrecision, OverflowPolicy, Profile, Role,
    ThermalPolicy, ThermalState, Throttle,
};
pub use runtime::{default_thermal_policy, profile_config, smallest_profile};
pub use session::ChatSession;
pub use store::{
    default_download_options, CatalogEntry, CatalogMemory, Download, DownloadListener,
    DownloadOptions, DownloadProgress, InstalledModel, ModelStore, ProfileFit,
};
