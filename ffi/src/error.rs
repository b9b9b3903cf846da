//! The one error type of the bindings: every core error, plus what only the FFI can hit.

use std::any::Any;

use bitnet_core::gguf::GgufError;

/// Every failure the bindings report. Kotlin sees it as the sealed class `BitNetException`
/// (one subclass per variant), Swift as the enum `BitNetError`. A flat error: the foreign
/// side gets the variant and `message`, the top-level description only (the core's `Display`,
/// which already names the cause).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum BitNetError {
    /// The model file cannot be opened or read (missing, no permission, I/O error).
    #[error("{message}")]
    FileUnreadable { message: String },
    /// The file is not a valid GGUF container.
    #[error("{message}")]
    InvalidModelFile { message: String },
    /// The container is valid but is not a model this engine runs.
    #[error("{message}")]
    UnsupportedModel { message: String },
    /// The vocabulary cannot be built, or text/ids cannot be converted.
    #[error("{message}")]
    Tokenizer { message: String },
    /// Invalid sampling parameters, or logits no token can be sampled from.
    #[error("{message}")]
    Sampling { message: String },
    /// The engine's worker threads could not be started.
    #[error("{message}")]
    Threads { message: String },
    /// An option is outside its valid range.
    #[error("{message}")]
    InvalidOption { message: String },
    /// The request has no input (no messages, or empty text).
    #[error("{message}")]
    EmptyInput { message: String },
    /// The new input alone is longer than the input limit or the context allows.
    #[error("{message}")]
    PromptTooLong { message: String },
    /// History plus input do not fit in the session's context (overflow policy `Error`).
    #[error("{message}")]
    ContextFull { message: String },
    /// The engine's rate limit is reached; nothing was done (the message says when to retry).
    #[error("{message}")]
    RateLimited { message: String },
    /// The request ran longer than the engine's request timeout; the history is unchanged.
    #[error("{message}")]
    Timeout { message: String },
    /// The model or session needs more memory than the engine's budget; nothing was allocated
    /// (the message gives the bytes needed, the budget and the profile that would fit).
    #[error("{message}")]
    BudgetExceeded { message: String },
    /// The engine or session was closed before this call.
    #[error("{message}")]
    Closed { message: String },
    /// A bug: a panic or a failed internal task, caught before it reached the caller.
    #[error("{message}")]
    Internal { message: String },
}

impl BitNetError {
    /// The error for a call on a closed `what` ("engine", "session").
    pub(crate) fn closed(what: &str) -> Self {
        BitNetError::Closed {
            message: format!("the {what} is closed"),
        }
    }

    /// The error for a caught panic, with its message when it has one.
    pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        BitNetError::Internal {
            message: format!("panic: {what}"),
        }
    }
}

/// Saturating conversion of a core count to the bindings' `u32`.
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<bitnet_core::Error> for BitNetError {
    fn from(error: bitnet_core::Error) -> Self {
        use bitnet_core::Error as E;
        // Display only: the core's messages already include their cause, and also return it
        // as `source()`, so walking the chain would repeat it.
        let message = error.to_string();
        match error {
            E::Gguf(GgufError::Io { .. }) => BitNetError::FileUnreadable { message },
            E::Gguf(_) => BitNetError::InvalidModelFile { message },
            E::Model(_) => BitNetError::UnsupportedModel { message },
            E::Tokenizer(_) => BitNetError::Tokenizer { message },
            E::Sampling(_) => BitNetError::Sampling { message },
            E::Threads(_) => BitNetError::Threads { message },
            E::InvalidOption { .. } => BitNetError::InvalidOption { message },
            E::EmptyInput => BitNetError::EmptyInput { message },
            E::PromptTooLong { .. } => BitNetError::PromptTooLong { message },
            E::ContextFull { .. } => BitNetError::ContextFull { message },
            E::RateLimited { .. } => BitNetError::RateLimited { message },
            E::Timeout { .. } => BitNetError::Timeout { message },
            E::BudgetExceeded { .. } => BitNetError::BudgetExceeded { message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_top_level_display_only() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let core = bitnet_core::Error::Gguf(GgufError::Io {
            path: "m.gguf".into(),
            source: io,
        });
        let expected = core.to_string();
        let BitNetError::FileUnreadable { message } = BitNetError::from(core) else {
            panic!("an I/O error maps to FileUnreadable");
        };
        assert_eq!(message, expected);
        assert_eq!(message.matches("gone").count(), 1);
    }

    #[test]
    fn each_kind_keeps_its_variant() {
        let e = BitNetError::from(bitnet_core::Error::PromptTooLong {
            tokens: 5000,
            limit: 4096,
        });
        assert!(matches!(e, BitNetError::PromptTooLong { .. }));
        assert_eq!(
            e.to_string(),
            "prompt too long: 5000 tokens, the limit is 4096"
        );
    }

    #[test]
    fn panics_keep_their_message() {
        let e = BitNetError::from_panic(&String::from("boom"));
        assert_eq!(e.to_string(), "panic: boom");
    }
}
