//! The engine's one error type.

use crate::gguf::{FileChange, GgufError};
use crate::model::ModelError;
use crate::runtime::Profile;
use crate::sampling::SamplingError;
use crate::tokenizer::TokenizerError;

/// Every failure the engine reports. Each variant is specific enough for an app to act on;
/// the FFI layer maps them one to one, with their fields. A wrapped error's message is part of
/// the wrapper's (`Display`); it is not also returned as `source()`, so no chain repeats it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not a valid GGUF container (or cannot be read).
    #[error("invalid model file: {0}")]
    Gguf(GgufError),
    /// The container is valid but is not a model this engine runs (found at load).
    #[error("unsupported model: {0}")]
    Model(ModelError),
    /// The vocabulary cannot be built, or text/ids cannot be converted.
    #[error("tokenizer: {0}")]
    Tokenizer(TokenizerError),
    /// Invalid sampling parameters, or logits no token can be drawn from.
    #[error("sampling: {0}")]
    Sampling(SamplingError),
    /// The worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(std::io::Error),
    /// An option is outside its valid range.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The request has no input (no messages, or empty text).
    #[error("empty input")]
    EmptyInput,
    /// The new input alone is longer than the engine's input limit or the context allows.
    #[error("prompt too long: {tokens} tokens, the limit is {limit}")]
    PromptTooLong {
        /// Tokens of the new input; for a prompt over
        /// [`EXACT_COUNT_BYTES`](crate::engine::EXACT_COUNT_BYTES), refused by its length
        /// before it was tokenized, the fewest it could have.
        tokens: usize,
        /// The limit it exceeds, in tokens.
        limit: usize,
    },
    /// The history plus the new input do not fit in the session's context (and the session's
    /// overflow policy is to fail), or a forward pass was given more tokens than its KV cache
    /// holds.
    #[error("context full: {needed} tokens needed, the context holds {context}")]
    ContextFull {
        /// Tokens the request needs, history included.
        needed: usize,
        /// The session's context length, in tokens.
        context: usize,
    },
    /// The engine's rate limit (`EngineConfig::rate_limit_per_minute`) is reached; nothing was
    /// done.
    #[error("rate limited: retry in {retry_after_ms} ms")]
    RateLimited {
        /// When a request will be admitted again, in ms from now.
        retry_after_ms: u64,
    },
    /// The engine runs its `EngineConfig::max_concurrent_generations` and already has
    /// `EngineConfig::max_queued_generations` requests waiting for a slot: the request was
    /// refused at once, nothing was done and the session is unchanged. Retry later (the
    /// engine's `metrics()` show the queue), or send it to another engine.
    #[error(
        "engine busy: {generating} generations running and {queued} waiting, the most allowed"
    )]
    Busy {
        /// Generations running when the request arrived, in requests.
        generating: usize,
        /// Requests waiting for a slot then (the configured bound), in requests.
        queued: usize,
    },
    /// The request ran longer than `EngineConfig::request_timeout_ms`; its partial reply is
    /// dropped and the session's history is unchanged.
    #[error("request timed out after {limit_ms} ms")]
    Timeout {
        /// The limit, in ms.
        limit_ms: u64,
    },
    /// The model (with a context of `context` tokens) needs more memory than the engine's
    /// budget; nothing was allocated.
    #[error(
        "memory budget exceeded: {needed} bytes needed (with a {context}-token context), the budget is {budget} bytes; {}",
        profile_hint(*.fits_profile)
    )]
    BudgetExceeded {
        /// Bytes needed, in bytes (see `MemoryEstimate`).
        needed: u64,
        /// The budget, in bytes.
        budget: u64,
        /// The context length the need was computed for, in tokens.
        context: usize,
        /// The smallest deployment profile whose budget would hold `needed`, if any.
        fits_profile: Option<Profile>,
    },
    /// What was asked for (a session's KV cache and buffers) needs more memory than the
    /// device has, so it is refused before anything is allocated. Ask for a shorter context
    /// or set a memory budget (which caps contexts instead).
    #[error("insufficient memory: {needed} bytes needed, the device has {available}")]
    InsufficientMemory {
        /// Bytes needed (saturated at `u64::MAX` when the size overflows), in bytes.
        needed: u64,
        /// The device's physical memory (or the largest possible allocation where it is
        /// unknown), in bytes.
        available: u64,
    },
    /// The model file was truncated, resized or written in place on disk while loaded. The
    /// request fails (a truncation met mid-pass included: the process survives it) and so
    /// does every later one: load the model again. Replace model files by renaming a new
    /// file over the old one, which leaves a loaded engine working.
    #[error("model file {} changed on disk while loaded ({change}); load it again", path.display())]
    ModelFileChanged {
        /// The model file.
        path: std::path::PathBuf,
        /// What changed.
        change: FileChange,
    },
    /// A token id outside the vocabulary was given to the model.
    #[error("token id {token} is outside the vocabulary of {vocab_size}")]
    InvalidToken {
        /// The offending id.
        token: u32,
        /// Vocabulary size, in tokens.
        vocab_size: usize,
    },
    /// A bug: an internal contract was broken (the message says which).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An error for a broken internal contract, with what broke.
    pub(crate) fn internal(what: impl std::fmt::Display) -> Self {
        Error::Internal(what.to_string())
    }
}

impl From<GgufError> for Error {
    fn from(e: GgufError) -> Self {
        match e {
            GgufError::FileChanged { path, change } => Error::ModelFileChanged { path, change },
            e => Error::Gguf(e),
        }
    }
}

impl From<TokenizerError> for Error {
    fn from(e: TokenizerError) -> Self {
        Error::Tokenizer(e)
    }
}

impl From<SamplingError> for Error {
    fn from(e: SamplingError) -> Self {
        Error::Sampling(e)
    }
}

/// Load-time model errors stay [`Error::Model`]; what a forward pass reports at run time
/// becomes the variant an app acts on.
impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::InvalidToken { token, vocab_size } => {
                Error::InvalidToken { token, vocab_size }
            }
            ModelError::ContextFull { needed, capacity } => Error::ContextFull {
                needed,
                context: capacity,
            },
            ModelError::Kernel(e) => Error::internal(e),
            ModelError::Gguf(e @ GgufError::FileChanged { .. }) => e.into(),
            e => Error::Model(e),
        }
    }
}

/// The end of a [`Error::BudgetExceeded`] message: which profile would fit.
fn profile_hint(fits: Option<Profile>) -> String {
    match fits {
        Some(p) => format!(
            "the {p} profile ({} MiB) would fit",
            p.memory_budget_bytes() >> 20
        ),
        None => "no deployment profile is large enough".into(),
    }
}

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
