//! Everything decided about how a model loads and runs, from its header and the engine's
//! settings alone: [`Engine::plan`](super::Engine::plan). The memory estimate is the plan's
//! byte sums, loading executes the plan, and the CLI, the FFI and the apps show the same one.

use super::budget::{self, MemoryEstimate, MIN_CONTEXT_TOKENS};
use super::draft::MAX_DRAFT_TOKENS;
use super::EngineConfig;
use crate::gguf::{GgufFile, Value};
use crate::kernels::Kernels;
use crate::model::{HeadPlan, KvCache, KvPrecision, Model, ModelConfig, ModelError, ScratchLayout};
use crate::runtime::thermal::ThermalPolicy;
use crate::runtime::{default_threads, max_threads, CpuTopology, MIN_THREAD_CAP, THREADS_PER_CPU};
use crate::sampling::Sampler;
use crate::{Error, Result};

/// Prompt tokens a session evaluates per forward call during prefill: the batch its scratch
/// buffers are sized for.
pub const PREFILL_BATCH: usize = 64;

/// Most sessions one shared decode step evaluates (`EngineConfig::decode_batching`) when the
/// engine sets no lower `max_concurrent_generations`; a step also holds at most
/// [`PREFILL_BATCH`] tokens (decoded tokens and their drafts).
pub const MAX_DECODE_BATCH: usize = 16;

/// How a model will be loaded and run.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Plan {
    /// The architecture's hyper-parameters.
    pub model: ModelConfig,
    /// The output head: which tensor, its format, and how it is multiplied.
    pub head: HeadPlan,
    /// The KV cache's precision: the configured one, else F16 for ternary models and F32 for
    /// float ones (the exact reference path).
    pub kv_precision: KvPrecision,
    /// One session's forward buffers: a [`PREFILL_BATCH`]-token batch, logits of `1 +
    /// draft_tokens` positions (a decoded token and its draft).
    pub scratch: ScratchLayout,
    /// The shared decode steps' buffers when concurrent decodes are batched
    /// (`EngineConfig::decode_batching` on and more than one generation allowed at once):
    /// `min(max_concurrent_generations, MAX_DECODE_BATCH)` sessions' tokens (each `1 +
    /// draft_tokens`, at most [`PREFILL_BATCH`] in all), every one with logits. `None` = each
    /// session decodes alone.
    pub decode_batch: Option<ScratchLayout>,
    /// The kernel table: the configured one, else the fastest this CPU runs.
    pub kernels: &'static Kernels,
    /// Threads running matmuls (the hard limit): the configured count, else the performance
    /// cores ([`default_threads`]).
    pub threads: usize,
    /// The CPUs the workers are pinned to (`EngineConfig::pin_threads`); `None` = not pinned.
    pub pinned_cpus: Option<Vec<usize>>,
    /// What running the plan takes in memory.
    pub memory: MemoryEstimate,
}

impl Plan {
    /// The plan for `file` with `config`; fails on an invalid setting.
    pub(super) fn new(file: &GgufFile, config: &EngineConfig) -> Result<Plan> {
        check(config)?;
        let model = Model::read_config(file)?;
        // Before anything is built from the vocabulary: its size is the array's length.
        let tokens = match file.get("tokenizer.ggml.tokens") {
            Some(Value::Array(tokens)) => tokens.len(),
            _ => 0,
        };
        if tokens > model.vocab_size {
            return Err(Error::Model(ModelError::VocabularyMismatch {
                tokens,
                embedding_rows: model.vocab_size,
            }));
        }
        let head = HeadPlan::for_file(
            file,
            config.head.unwrap_or_default(),
            config.cache_dir.as_deref(),
        )?;
        let kv_precision =
            config
                .kv_precision
                .unwrap_or_else(|| match Model::has_ternary_projection(file) {
                    true => KvPrecision::F16,
                    false => KvPrecision::F32,
                });
        // Decoding evaluates each token with up to `draft_tokens` drafted ones, all with logits.
        let scratch = ScratchLayout::new(&model, PREFILL_BATCH, 1 + config.draft_tokens, head.int8);
        let decode_batch = decode_batch_layout(&model, config, head.int8);
        let kernels = match &config.kernels {
            Some(name) => Kernels::by_name(name).ok_or_else(|| Error::InvalidOption {
                name: "kernels",
                reason: format!(
                    "{name:?} is not available on this CPU (available: {})",
                    Kernels::available()
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?,
            None => Kernels::detect(),
        };
        let threads = match config.threads {
            0 => default_threads(),
            n if n > max_threads() => {
                return Err(Error::InvalidOption {
                    name: "threads",
                    reason: format!(
                        "{n} is over {} ({THREADS_PER_CPU} per CPU this process may use, at \
                         least {MIN_THREAD_CAP})",
                        max_threads()
                    ),
                })
            }
            n => n,
        };
        let pinned_cpus = config
            .pin_threads
            .then(|| CpuTopology::system().performance_cpus())
            .filter(|cpus| !cpus.is_empty());
        let memory = MemoryEstimate {
            mapped_bytes: file.bytes().len() as u64,
            mapped_counted: config.count_mapped_weights,
            head_bytes: head.owned_bytes,
            tokenizer_bytes: budget::tokenizer_bytes(file),
            runtime_bytes: budget::RUNTIME_BYTES,
            kv_bytes_per_token: KvCache::bytes_per_token(&model, kv_precision) as u64,
            kv_precision,
            scratch_bytes: scratch.bytes() + Sampler::buffer_bytes(model.vocab_size),
            decode_batch_bytes: decode_batch.map_or(0, |layout| layout.bytes()),
            default_context_tokens: default_context_tokens(&model, config),
            min_context_tokens: MIN_CONTEXT_TOKENS.min(model.n_ctx_train),
        };
        Ok(Plan {
            model,
            head,
            kv_precision,
            scratch,
            decode_batch,
            kernels,
            threads,
            pinned_cpus,
            memory,
        })
    }
}

/// The buffers of a shared decode step, when decodes are batched (see [`Plan::decode_batch`]).
fn decode_batch_layout(
    model: &ModelConfig,
    config: &EngineConfig,
    q8_head: bool,
) -> Option<ScratchLayout> {
    let sessions = config
        .max_concurrent_generations
        .unwrap_or(MAX_DECODE_BATCH)
        .min(MAX_DECODE_BATCH);
    let on = config.decode_batching.unwrap_or(false) && sessions > 1;
    let tokens = (sessions * (1 + config.draft_tokens)).min(PREFILL_BATCH);
    on.then(|| ScratchLayout::new(model, tokens, tokens, q8_head))
}

/// The context a default session asks for: the training context, capped at the engine's
/// input + output limits.
pub(super) fn default_context_tokens(model: &ModelConfig, config: &EngineConfig) -> usize {
    let limits = config.max_input_tokens + config.max_output_tokens;
    model.n_ctx_train.min(limits)
}

/// Rejects settings no plan can follow.
fn check(config: &EngineConfig) -> Result<()> {
    let invalid = |name, reason: &str| {
        Err(Error::InvalidOption {
            name,
            reason: reason.into(),
        })
    };
    if config.max_input_tokens == 0 || config.max_output_tokens == 0 {
        return invalid("max_input_tokens/max_output_tokens", "must be at least 1");
    }
    if config.request_timeout_ms == Some(0) {
        return invalid("request_timeout_ms", "must be at least 1 ms");
    }
    if config.rate_limit_per_minute == Some(0) {
        return invalid("rate_limit_per_minute", "must be at least 1 request");
    }
    if config.max_concurrent_generations == Some(0) {
        return invalid("max_concurrent_generations", "must be at least 1");
    }
    if config.draft_tokens > MAX_DRAFT_TOKENS {
        return invalid(
            "draft_tokens",
            &format!("must be at most {MAX_DRAFT_TOKENS}"),
        );
    }
    config
        .thermal_policy
        .as_ref()
        .map_or(Ok(()), ThermalPolicy::check)
        .map_err(|reason| Error::InvalidOption {
            name: "thermal_policy",
            reason,
        })
}
