//! The authoring crate's one error type.

use std::path::PathBuf;

use bitnet_core::gguf::GgufError;
use bitnet_core::quant::QuantError;

/// Why a file could not be written. A wrapped error's message is part of this one's
/// (`Display`); it is not also returned as `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The file would break a GGUF rule the reader enforces (a tensor's shape, a duplicate
    /// name, an empty key, the alignment).
    #[error("{0}")]
    Invalid(GgufError),
    /// The output (or the input being converted) failed.
    #[error("I/O: {0}")]
    Io(std::io::Error),
    /// [`GgufWriter::to_bytes`](crate::GgufWriter::to_bytes) found a tensor declared without
    /// its bytes.
    #[error("tensor {name:?} was declared without its bytes")]
    MissingTensorData {
        /// The tensor.
        name: String,
    },
    /// A tensor was given a number of bytes other than its type and shape need.
    #[error("tensor {name:?}: got {actual} bytes, its type and shape need {expected}")]
    TensorSizeMismatch {
        /// The tensor.
        name: String,
        /// Bytes the type and shape need.
        expected: u64,
        /// Bytes supplied.
        actual: u64,
    },
    /// Values could not be encoded in the tensor's type.
    #[error("encoding: {0}")]
    Encode(QuantError),
    /// A vocabulary file could not be read.
    #[error("{}: {error}", path.display())]
    VocabularyIo {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A vocabulary file is not the kind this crate reads (an HF `tokenizer.json` of a
    /// byte-level BPE with Llama-3's pre-tokenizer).
    #[error("{}: {reason}", path.display())]
    InvalidVocabulary {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The input model cannot be converted (no projections, or weights that are not ternary
    /// with one scale per tensor).
    #[error("{0}")]
    NotConvertible(String),
}

impl From<GgufError> for WriteError {
    fn from(e: GgufError) -> Self {
        WriteError::Invalid(e)
    }
}

impl From<QuantError> for WriteError {
    fn from(e: QuantError) -> Self {
        WriteError::Encode(e)
    }
}
