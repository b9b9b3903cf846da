//! `bitnet-ffi`: the uniffi layer between `bitnet-core` and the Kotlin (`dev.bitnet`) and Swift
//! (`BitNet`) packages.
//!
//! It only translates: [`BitNetEngine`] and [`ChatSession`] wrap the core's `Engine` and
//! `Session`; plain records ([`EngineConfig`], [`GenerationOptions`], ...) mirror the core's
//! settings with the same defaults; [`BitNetError`] maps every core error; generation streams
//! [`GenerationEvent`]s to a foreign [`GenerationListener`]. Blocking work (loading, generating)
//! runs on tokio's blocking pool behind async functions, with panics caught and returned as
//! [`BitNetError::Internal`]. Cancellation is explicit ([`ChatSession::cancel`]): dropping a
//! foreign future does not stop the generation.

uniffi::setup_scaffolding!();

mod blocking;
mod engine;
mod error;
mod events;
mod logging;
mod options;
mod session;

pub use engine::BitNetEngine;
pub use error::BitNetError;
pub use events::{
    FinishReason, GenerationEvent, GenerationListener, GenerationStats, GenerationSummary,
    ThermalState,
};
pub use logging::{set_log_level, LogLevel};
pub use options::{
    ChatMessage, EngineConfig, GenerationOptions, HeadPrecision, OverflowPolicy, Prompt, Role,
    SessionConfig,
};
pub use session::ChatSession;
