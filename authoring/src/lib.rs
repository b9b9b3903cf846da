//! `bitnet-authoring`: writes BitNet model files — the streaming GGUF writer, synthetic models
//! in every projection format, vocabularies as GGUF keys, and format conversion.
//!
//! Used by the `bitnet` CLI (`synth`, `convert`) and by the tests, in-process. Nothing here is
//! needed to run a model, so the phone crate (`bitnet-core`) does not carry it; this crate
//! builds on the core's file layout, checks and encoders, so what it writes is what the core
//! reads.

mod convert;
mod error;
mod gguf_writer;
pub mod synth;
pub mod vocabulary;

pub use convert::{convert, Converted};
pub use error::WriteError;
pub use gguf_writer::GgufWriter;
