//! `bitnet-core`: the BitNet b1.58 inference engine behind the mobile SDK.
//!
//! Pure Rust, no FFI, no async. Data flow (see `docs/ARCHITECTURE.md`):
//! [`gguf`] maps and validates a model file → [`model`] reads the config and borrows weight
//! views from the map → [`kernels`] run the ternary matmuls → [`engine`] drives sessions that
//! tokenize ([`tokenizer`]), format chats ([`chat`]), run the forward pass and sample
//! ([`sampling`]).
//!
//! # The app-facing API
//!
//! What an app (or the bindings) uses is re-exported here: load an [`Engine`] with an
//! [`EngineConfig`] (or plan it first: [`Engine::plan`], [`MemoryEstimate`]), open a
//! [`Session`], and [`Session::generate`] an [`Input`] with [`GenerationOptions`], streaming
//! [`Event`]s to a [`Sink`] and cancelling through a [`CancelToken`]; the result is a
//! [`Generation`] with its [`GenerationStats`]. Deployment presets are [`Profile`]s, thermal
//! input a [`ThermalState`] under a [`ThermalPolicy`]; every failure is an [`Error`]. With the
//! `store` feature, the `store` module installs models (catalog, downloads).
//!
//! The modules are public for the SDK's own tools, tests and benchmarks (the CLI, the model
//! authoring crate, kernel benchmarks): [`gguf`], [`quant`], [`model`], [`kernels`],
//! [`tokenizer`] and [`mod@bench`] are building blocks whose details follow the engine's needs.

// The Kotlin/Swift bindings' scaffolding for the records declared here (see `bindings`).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod bench;
#[cfg(feature = "uniffi")]
mod bindings;
pub mod chat;
pub mod engine;
pub mod error;
pub mod gguf;
pub mod kernels;
pub mod model;
pub mod quant;
pub mod runtime;
pub mod sampling;
#[cfg(feature = "store")]
pub mod store;
pub mod tokenizer;

#[cfg(feature = "uniffi")]
pub use bindings::{Count, PathString};
pub use chat::{Message, Role};
pub use engine::{
    CancelToken, Engine, EngineConfig, Event, FinishReason, Generation, GenerationOptions,
    GenerationStats, Input, MemoryEstimate, Plan, Session, SessionConfig, Sink,
};
pub use error::{Error, Result};
pub use runtime::thermal::{ThermalPolicy, ThermalState};
pub use runtime::Profile;
pub use sampling::SamplingParams;
