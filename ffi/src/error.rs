//! The one error type of the bindings: every core error, plus what only the FFI can hit.

use std::any::Any;

use bitnet_core::gguf::GgufError;
use bitnet_core::store::StoreError;

use bitnet_core::runtime::Profile;

/// Every failure the bindings report. Kotlin sees it as the sealed class `BitNetException`
/// (one subclass per variant), Swift as the enum `BitNetError`. Each variant carries
/// `detail`, the engine's description (the core's `Display`, which already names the cause),
/// and the numbers an app acts on as fields of their own (`retry_after_ms`, `needed`,
/// `budget`, ...), so nobody parses messages.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum BitNetError {
    /// The model file cannot be opened or read (missing, no permission, not a regular file,
    /// I/O error).
    #[error("{detail}")]
    FileUnreadable {
        /// The engine's description of the failure.
        detail: String,
    },
    /// The file is not a valid GGUF container.
    #[error("{detail}")]
    InvalidModelFile {
        /// The engine's description of the failure.
        detail: String,
    },
    /// The container is valid but is not a model this engine runs.
    #[error("{detail}")]
    UnsupportedModel {
        /// The engine's description of the failure.
        detail: String,
    },
    /// The vocabulary cannot be built, or text/ids cannot be converted.
    #[error("{detail}")]
    Tokenizer {
        /// The engine's description of the failure.
        detail: String,
    },
    /// Invalid sampling parameters, or logits no token can be sampled from.
    #[error("{detail}")]
    Sampling {
        /// The engine's description of the failure.
        detail: String,
    },
    /// The engine's worker threads could not be started.
    #[error("{detail}")]
    Threads {
        /// The engine's description of the failure.
        detail: String,
    },
    /// An option is outside its valid range.
    #[error("{detail}")]
    InvalidOption {
        /// The engine's description of the failure.
        detail: String,
        /// The option's name (`"max_tokens"`, `"thermal_policy"`, ...).
        name: String,
    },
    /// The request has no input (no messages, or empty text).
    #[error("{detail}")]
    EmptyInput {
        /// The engine's description of the failure.
        detail: String,
    },
    /// The new input alone is longer than the input limit or the context allows.
    #[error("{detail}")]
    PromptTooLong {
        /// The engine's description of the failure.
        detail: String,
        /// Tokens of the new input.
        tokens: usize,
        /// The limit it exceeds, in tokens.
        limit: usize,
    },
    /// History plus input do not fit in the session's context (overflow policy `Error`).
    #[error("{detail}")]
    ContextFull {
        /// The engine's description of the failure.
        detail: String,
        /// Tokens the request needs, history included.
        needed: usize,
        /// The session's context length, in tokens.
        context: usize,
    },
    /// A token id outside the vocabulary.
    #[error("{detail}")]
    InvalidToken {
        /// The engine's description of the failure.
        detail: String,
        /// The offending id.
        token: u32,
        /// Vocabulary size, in tokens.
        vocab_size: usize,
    },
    /// The engine's rate limit is reached; nothing was done.
    #[error("{detail}")]
    RateLimited {
        /// The engine's description of the failure.
        detail: String,
        /// When a request will be admitted again, in ms from now.
        retry_after_ms: u64,
    },
    /// The engine runs its most concurrent generations and its wait queue is full: the
    /// request was refused at once, nothing was done and the history is unchanged. Retry
    /// later or elsewhere.
    #[error("{detail}")]
    Busy {
        /// The engine's description of the failure.
        detail: String,
        /// Generations running when the request arrived, in requests.
        generating: usize,
        /// Requests waiting for a slot then (the configured bound), in requests.
        queued: usize,
    },
    /// The request ran longer than the engine's request timeout; the history is unchanged.
    #[error("{detail}")]
    Timeout {
        /// The engine's description of the failure.
        detail: String,
        /// The limit, in ms.
        limit_ms: u64,
    },
    /// The model or session needs more memory than the engine's budget; nothing was allocated.
    #[error("{detail}")]
    BudgetExceeded {
        /// The engine's description of the failure.
        detail: String,
        /// Bytes needed, in bytes.
        needed: u64,
        /// The budget, in bytes.
        budget: u64,
        /// The context the need was computed for, in tokens.
        context: usize,
        /// The smallest deployment profile whose budget would hold `needed`, if any.
        fits_profile: Option<Profile>,
    },
    /// What was asked for (a session's KV cache and buffers) needs more memory than the
    /// device has; nothing was allocated. Ask for a shorter context or set a memory budget.
    #[error("{detail}")]
    InsufficientMemory {
        /// The engine's description of the failure.
        detail: String,
        /// Bytes needed, in bytes.
        needed: u64,
        /// The device's physical memory, in bytes.
        available: u64,
    },
    /// The model file was truncated, resized or written in place on disk while loaded; this
    /// and every later request of the engine fail. Load the model again (replace model files
    /// by renaming a new file over the old one, which a loaded engine survives).
    #[error("{detail}")]
    ModelFileChanged {
        /// The engine's description of the failure.
        detail: String,
        /// The model file's path.
        path: String,
    },
    /// The device (or the model store's quota) lacks the space a download or import still
    /// needs; nothing was written.
    #[error("{detail}")]
    InsufficientStorage {
        /// The engine's description of the failure.
        detail: String,
        /// Bytes still to write, in bytes.
        needed: u64,
        /// Bytes free for the store, in bytes.
        available: u64,
    },
    /// The server answered a download with an error status (5xx after the retries).
    #[error("{detail}")]
    Http {
        /// The engine's description of the failure.
        detail: String,
        /// The HTTP status code.
        status: u16,
        /// The URL asked.
        url: String,
    },
    /// A download's connection failed, dropped or stalled and the retries ran out (or the
    /// server sent more bytes than the catalog's size). What arrived is kept for a resume.
    #[error("{detail}")]
    Network {
        /// The engine's description of the failure.
        detail: String,
    },
    /// A downloaded or imported file's SHA-256 is not the catalog's; nothing was installed.
    #[error("{detail}")]
    ChecksumMismatch {
        /// The engine's description of the failure.
        detail: String,
        /// The catalog's SHA-256 (lowercase hex).
        expected: String,
        /// The file's.
        actual: String,
    },
    /// The download was cancelled; the next download of the model resumes it.
    #[error("{detail}")]
    DownloadCancelled {
        /// The engine's description of the failure.
        detail: String,
        /// Bytes kept on disk, in bytes.
        done_bytes: u64,
    },
    /// No such catalog model, the model is not installed, or it has no download URL.
    #[error("{detail}")]
    ModelNotFound {
        /// The engine's description of the failure.
        detail: String,
    },
    /// The engine or session was closed before this call.
    #[error("{detail}")]
    Closed {
        /// The engine's description of the failure.
        detail: String,
    },
    /// A bug: a panic, a failed internal task or a broken internal contract, caught before it
    /// reached the caller.
    #[error("{detail}")]
    Internal {
        /// The engine's description of the failure.
        detail: String,
    },
}

impl BitNetError {
    /// The error for a call on a closed `what` ("engine", "session").
    pub(crate) fn closed(what: &str) -> Self {
        BitNetError::Closed {
            detail: format!("the {what} is closed"),
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
            detail: format!("panic: {what}"),
        }
    }
}

impl From<bitnet_core::Error> for BitNetError {
    fn from(error: bitnet_core::Error) -> Self {
        use bitnet_core::Error as E;
        let detail = error.to_string();
        match error {
            E::Gguf(GgufError::Io { .. } | GgufError::NotAFile { .. }) => {
                BitNetError::FileUnreadable { detail }
            }
            E::Gguf(_) => BitNetError::InvalidModelFile { detail },
            E::Model(_) => BitNetError::UnsupportedModel { detail },
            E::Tokenizer(_) => BitNetError::Tokenizer { detail },
            E::Sampling(_) => BitNetError::Sampling { detail },
            E::Threads(_) => BitNetError::Threads { detail },
            E::InvalidOption { name, .. } => BitNetError::InvalidOption {
                detail,
                name: name.into(),
            },
            E::EmptyInput => BitNetError::EmptyInput { detail },
            E::PromptTooLong { tokens, limit } => BitNetError::PromptTooLong {
                detail,
                tokens,
                limit,
            },
            E::ContextFull { needed, context } => BitNetError::ContextFull {
                detail,
                needed,
                context,
            },
            E::InvalidToken { token, vocab_size } => BitNetError::InvalidToken {
                detail,
                token,
                vocab_size,
            },
            E::RateLimited { retry_after_ms } => BitNetError::RateLimited {
                detail,
                retry_after_ms,
            },
            E::Timeout { limit_ms } => BitNetError::Timeout { detail, limit_ms },
            E::Busy { generating, queued } => BitNetError::Busy {
                detail,
                generating,
                queued,
            },
            E::BudgetExceeded {
                needed,
                budget,
                context,
                fits_profile,
            } => BitNetError::BudgetExceeded {
                detail,
                needed,
                budget,
                context,
                fits_profile,
            },
            E::InsufficientMemory { needed, available } => BitNetError::InsufficientMemory {
                detail,
                needed,
                available,
            },
            E::ModelFileChanged { path, .. } => BitNetError::ModelFileChanged {
                detail,
                path: path.display().to_string(),
            },
            E::Internal(_) => BitNetError::Internal { detail },
            // A variant added to the core later: still an error the app sees, never a panic.
            _ => BitNetError::Internal { detail },
        }
    }
}

/// Store failures as the bindings' errors, with their numbers.
impl From<StoreError> for BitNetError {
    fn from(error: StoreError) -> Self {
        let detail = error.to_string();
        match error {
            StoreError::Io { .. } => BitNetError::FileUnreadable { detail },
            StoreError::InsufficientStorage { needed, available } => {
                BitNetError::InsufficientStorage {
                    detail,
                    needed,
                    available,
                }
            }
            StoreError::Http { status, url } => BitNetError::Http {
                detail,
                status,
                url,
            },
            StoreError::Network { .. }
            | StoreError::Stalled { .. }
            | StoreError::SizeMismatch { .. } => BitNetError::Network { detail },
            StoreError::ChecksumMismatch { expected, actual } => BitNetError::ChecksumMismatch {
                detail,
                expected,
                actual,
            },
            StoreError::Cancelled { done_bytes } => {
                BitNetError::DownloadCancelled { detail, done_bytes }
            }
            StoreError::NoUrl { .. } | StoreError::NotInstalled { .. } => {
                BitNetError::ModelNotFound { detail }
            }
            StoreError::InvalidModel { .. } => BitNetError::InvalidModelFile { detail },
            StoreError::InvalidName { .. } => BitNetError::InvalidOption {
                detail,
                name: "file_name".into(),
            },
            StoreError::Catalog { .. } => BitNetError::InvalidOption {
                detail,
                name: "catalog".into(),
            },
            // A variant added to the store later: still an error the app sees.
            _ => BitNetError::Internal { detail },
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
            error: io,
        });
        let expected = core.to_string();
        let BitNetError::FileUnreadable { detail } = BitNetError::from(core) else {
            panic!("an I/O error maps to FileUnreadable");
        };
        assert_eq!(detail, expected);
        assert_eq!(detail.matches("gone").count(), 1);
    }

    #[test]
    fn each_kind_keeps_its_variant_and_numbers() {
        let e = BitNetError::from(bitnet_core::Error::PromptTooLong {
            tokens: 5000,
            limit: 4096,
        });
        assert!(matches!(
            e,
            BitNetError::PromptTooLong {
                tokens: 5000,
                limit: 4096,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "prompt too long: 5000 tokens, the limit is 4096"
        );
        let e = BitNetError::from(bitnet_core::Error::RateLimited {
            retry_after_ms: 1234,
        });
        assert!(matches!(
            e,
            BitNetError::RateLimited {
                retry_after_ms: 1234,
                ..
            }
        ));
        let e = BitNetError::from(bitnet_core::Error::BudgetExceeded {
            needed: 600 << 20,
            budget: 512 << 20,
            context: 256,
            fits_profile: Some(bitnet_core::runtime::Profile::Edge),
        });
        assert!(matches!(
            e,
            BitNetError::BudgetExceeded {
                needed,
                budget,
                context: 256,
                fits_profile: Some(Profile::Edge),
                ..
            } if needed == 600 << 20 && budget == 512 << 20
        ));
        let e = BitNetError::from(bitnet_core::Error::InsufficientMemory {
            needed: u64::MAX,
            available: 8 << 30,
        });
        assert!(matches!(
            e,
            BitNetError::InsufficientMemory { needed: u64::MAX, available, .. } if available == 8 << 30
        ));
        let e = BitNetError::from(bitnet_core::Error::Gguf(GgufError::NotAFile {
            path: "fifo".into(),
        }));
        assert!(matches!(e, BitNetError::FileUnreadable { .. }));
        let e = BitNetError::from(bitnet_core::Error::InvalidOption {
            name: "max_tokens",
            reason: "0 is outside 1..=1024".into(),
        });
        assert!(matches!(e, BitNetError::InvalidOption { name, .. } if name == "max_tokens"));
        let e = BitNetError::from(bitnet_core::Error::Busy {
            generating: 5,
            queued: 20,
        });
        assert!(matches!(
            e,
            BitNetError::Busy {
                generating: 5,
                queued: 20,
                ref detail,
            } if detail == "engine busy: 5 generations running and 20 waiting, the most allowed"
        ));
        let e = BitNetError::from(bitnet_core::Error::ContextFull {
            needed: 300,
            context: 256,
        });
        assert!(matches!(
            e,
            BitNetError::ContextFull {
                needed: 300,
                context: 256,
                ..
            }
        ));
    }

    #[test]
    fn store_errors_keep_their_numbers() {
        let e = BitNetError::from(StoreError::InsufficientStorage {
            needed: 10,
            available: 9,
        });
        assert!(matches!(
            e,
            BitNetError::InsufficientStorage {
                needed: 10,
                available: 9,
                ..
            }
        ));
        let e = BitNetError::from(StoreError::Http {
            status: 404,
            url: "http://x/m.gguf".into(),
        });
        assert!(
            matches!(e, BitNetError::Http { status: 404, url, .. } if url == "http://x/m.gguf")
        );
        let e = BitNetError::from(StoreError::ChecksumMismatch {
            expected: "aa".into(),
            actual: "bb".into(),
        });
        assert!(matches!(
            e,
            BitNetError::ChecksumMismatch { expected, actual, .. } if expected == "aa" && actual == "bb"
        ));
        let e = BitNetError::from(StoreError::Cancelled { done_bytes: 7 });
        assert!(matches!(
            e,
            BitNetError::DownloadCancelled { done_bytes: 7, .. }
        ));
        let e = BitNetError::from(StoreError::Stalled {
            after_ms: 5,
            url: "u".into(),
        });
        assert!(matches!(e, BitNetError::Network { detail } if detail.contains("5 ms")));
    }

    #[test]
    fn panics_keep_their_message() {
        let e = BitNetError::from_panic(&String::from("boom"));
        assert_eq!(e.to_string(), "panic: boom");
    }
}
