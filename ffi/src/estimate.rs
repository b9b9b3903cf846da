//! Memory estimates before loading ([`estimate_memory`]); a loaded engine gives its own
//! (`BitNetEngine::memory_estimate`). The record and its sums are the core's `MemoryEstimate`.

use bitnet_core::engine::{Engine, EngineConfig, MemoryEstimate};

use crate::blocking;
use crate::error::BitNetError;

/// What the GGUF model at `path` needs in memory with `config`, read on a background thread
/// from its header and metadata only (no weight is touched). Errors: `FileUnreadable`,
/// `InvalidModelFile`, `UnsupportedModel`.
#[uniffi::export(async_runtime = "tokio")]
pub async fn estimate_memory(
    path: String,
    config: EngineConfig,
) -> Result<MemoryEstimate, BitNetError> {
    blocking::run(move || Ok(Engine::estimate(path, &config)?)).await
}
