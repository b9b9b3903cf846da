//! `bitnet-core`: the BitNet b1.58 inference engine behind the mobile SDK.
//!
//! Pure Rust, no FFI, no async. Data flow (see `docs/ARCHITECTURE.md`):
//! [`gguf`] maps and validates a model file → [`model`] reads the config and borrows weight
//! views from the map → [`kernels`] run the ternary matmuls → [`engine`] drives sessions that
//! tokenize ([`tokenizer`]), format chats ([`chat`]), run the forward pass and sample
//! ([`sampling`]).

pub mod bench;
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

pub use error::{Error, Result};
