//! Memory estimates as records: what a model needs before loading it ([`estimate_memory`]) or
//! once loaded (`BitNetEngine::memory_estimate`), with the core's sums as methods.

use bitnet_core::engine::{self, Engine};

use crate::blocking;
use crate::error::{count, BitNetError};
use crate::options::EngineConfig;
use crate::remote::KvPrecision;

/// What running a model takes, in bytes, from its header and metadata alone
/// (`bitnet_core::engine::MemoryEstimate`; `bitnet estimate` prints the same figures).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MemoryEstimate {
    /// The mapped file (header and weights), in bytes; all of it is resident while generating.
    pub mapped_bytes: u64,
    /// Whether `mapped_bytes` count in the totals (`EngineConfig::count_mapped_weights`).
    pub mapped_counted: bool,
    /// The output head re-quantised at load (`HeadPrecision::Q8_0`), in bytes; 0 when the
    /// head is read in place.
    pub head_bytes: u64,
    /// Vocabulary, merges and tokenizer structures, in bytes.
    pub tokenizer_bytes: u64,
    /// Engine code, worker stacks and allocator slack, in bytes.
    pub runtime_bytes: u64,
    /// KV cache per token of context, in bytes.
    pub kv_bytes_per_token: u64,
    /// The precision the KV cache would use.
    pub kv_precision: KvPrecision,
    /// One session's forward, logits and sampling buffers, in bytes.
    pub scratch_bytes: u64,
    /// Context of a session created with the defaults (before any budget cap), in tokens.
    pub default_context_tokens: u32,
    /// The smallest context loading requires to fit the budget, in tokens.
    pub min_context_tokens: u32,
}

#[uniffi::export]
impl MemoryEstimate {
    /// Bytes the engine holds whatever its sessions: mapped weights (when counted), a
    /// re-quantised head, tokenizer and runtime.
    pub fn engine_bytes(&self) -> u64 {
        self.to_core().engine_bytes()
    }

    /// Bytes one session of `context_tokens` tokens adds: scratch, KV cache, bookkeeping.
    pub fn session_bytes(&self, context_tokens: u32) -> u64 {
        self.to_core().session_bytes(context_tokens as usize)
    }

    /// The engine plus one session of `context_tokens` tokens, in bytes.
    pub fn total_bytes(&self, context_tokens: u32) -> u64 {
        self.to_core().total_bytes(context_tokens as usize)
    }

    /// The longest context (tokens) whose session fits in `available_bytes` (what a budget
    /// leaves after `engine_bytes()` and other sessions); 0 when not even the scratch buffers
    /// do.
    pub fn context_fitting(&self, available_bytes: u64) -> u32 {
        count(self.to_core().context_fitting(available_bytes))
    }

    /// The longest context (tokens) of the engine's only session under a `budget_bytes` budget
    /// (`bitnet estimate`'s `max_context_tokens`); 0 when the engine alone does not fit.
    /// Loading succeeds when this is at least `min_context_tokens`.
    pub fn max_context_tokens(&self, budget_bytes: u64) -> u32 {
        let core = self.to_core();
        count(core.context_fitting(budget_bytes.saturating_sub(core.engine_bytes())))
    }
}

/// What the GGUF model at `path` needs in memory with `config`, read on a background thread
/// from its header and metadata only (no weight is touched). Errors: `FileUnreadable`,
/// `InvalidModelFile`, `UnsupportedModel`.
#[uniffi::export(async_runtime = "tokio")]
pub async fn estimate_memory(
    path: String,
    config: EngineConfig,
) -> Result<MemoryEstimate, BitNetError> {
    blocking::run(move || Ok(Engine::estimate(path, &config.into())?.into())).await
}

impl MemoryEstimate {
    /// The core's estimate, for its sums.
    fn to_core(&self) -> engine::MemoryEstimate {
        engine::MemoryEstimate {
            mapped_bytes: self.mapped_bytes,
            mapped_counted: self.mapped_counted,
            head_bytes: self.head_bytes,
            tokenizer_bytes: self.tokenizer_bytes,
            runtime_bytes: self.runtime_bytes,
            kv_bytes_per_token: self.kv_bytes_per_token,
            kv_precision: self.kv_precision,
            scratch_bytes: self.scratch_bytes,
            default_context: self.default_context_tokens as usize,
            min_context: self.min_context_tokens as usize,
        }
    }
}

impl From<engine::MemoryEstimate> for MemoryEstimate {
    fn from(e: engine::MemoryEstimate) -> Self {
        MemoryEstimate {
            mapped_bytes: e.mapped_bytes,
            mapped_counted: e.mapped_counted,
            head_bytes: e.head_bytes,
            tokenizer_bytes: e.tokenizer_bytes,
            runtime_bytes: e.runtime_bytes,
            kv_bytes_per_token: e.kv_bytes_per_token,
            kv_precision: e.kv_precision,
            scratch_bytes: e.scratch_bytes,
            default_context_tokens: count(e.default_context),
            min_context_tokens: count(e.min_context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitnet_core::model;

    #[test]
    fn round_trips_and_sums_as_the_core() {
        let core = engine::MemoryEstimate {
            mapped_bytes: 4000,
            mapped_counted: true,
            head_bytes: 300,
            tokenizer_bytes: 200,
            runtime_bytes: 100,
            kv_bytes_per_token: 64,
            kv_precision: model::KvPrecision::F16,
            scratch_bytes: 500,
            default_context: 512,
            min_context: 256,
        };
        let e = MemoryEstimate::from(core.clone());
        assert_eq!(e.to_core(), core);
        assert_eq!(e.engine_bytes(), core.engine_bytes());
        assert_eq!(e.session_bytes(100), core.session_bytes(100));
        assert_eq!(e.total_bytes(512), core.total_bytes(512));
        assert_eq!(
            e.context_fitting(10_000) as usize,
            core.context_fitting(10_000)
        );
        assert_eq!(e.context_fitting(10), 0);
        let budget = core.engine_bytes() + 10_000;
        assert_eq!(e.max_context_tokens(budget), e.context_fitting(10_000));
        assert_eq!(e.max_context_tokens(1), 0);
    }
}
