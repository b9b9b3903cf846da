//! The engine's one error type.

use crate::gguf::GgufError;
use crate::model::ModelError;
use crate::runtime::Profile;
use crate::sampling::SamplingError;
use crate::tokenizer::TokenizerError;

/// Every failure the engine reports. Each variant is specific enough for an app to act on;
/// the FFI layer maps them one to one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a valid GGUF container (or cannot be read).
    #[error("invalid model file: {0}")]
    Gguf(#[from] GgufError),
    /// The container is valid but is not a model this engine runs.
    #[error("unsupported model: {0}")]
    Model(#[from] ModelError),
    /// The vocabulary cannot be built, or text/ids cannot be converted.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] TokenizerError),
    /// Invalid sampling parameters.
    #[error("sampling: {0}")]
    Sampling(#[from] SamplingError),
    /// The worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(#[source] std::io::Error),
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
        /// Tokens of the new input.
        tokens: usize,
        /// The limit it exceeds, in tokens.
        limit: usize,
    },
    /// The history plus the new input do not fit in the session's context (and the session's
    /// overflow policy is to fail).
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
