//! The BitNet model: configuration from GGUF metadata, weights as views into the mapped file,
//! the forward pass and the KV cache.

mod config;
mod forward;
mod head;
mod head_cache;
mod kv_cache;
mod weights;

pub use weights::{Matrix, PROJECTIONS};

use std::sync::Arc;

pub use config::{Arch, FfnActivation, ModelConfig};
pub use forward::{LogitsFor, Scratch, ScratchLayout, Sequence};
pub use head::{HeadPlan, HeadPrecision, RESCORED_CANDIDATES};
pub use head_cache::HeadCacheEntry;
pub use kv_cache::{KvCache, KvPrecision, Q8Row};

use crate::gguf::{GgufError, GgufFile};
use crate::kernels::KernelError;
use crate::quant::QuantError;
use crate::runtime::Executor;
use forward::Rope;
use head::OutputHead;
use weights::Weights;

/// Why a file could not be used as a BitNet model, or a forward pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The container itself is invalid, or a required metadata key is missing or mistyped.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// `general.architecture` names a graph this engine does not run.
    #[error("unsupported architecture {0:?} (expected bitnet, bitnet-b1.58 or bitnet-25)")]
    UnsupportedArch(String),
    /// A hyper-parameter is out of range or inconsistent.
    #[error("invalid model configuration: {0}")]
    BadConfig(String),
    /// The vocabulary has more tokens than the token embedding has rows.
    #[error("the vocabulary has {tokens} tokens but the embedding only {embedding_rows} rows")]
    VocabularyMismatch {
        /// Tokens in `tokenizer.ggml.tokens`.
        tokens: usize,
        /// Rows of `token_embd.weight`.
        embedding_rows: usize,
    },
    /// A block of a ternary tensor stores a NaN or infinite scale: every product with it
    /// would be garbage, so the file is refused at load.
    #[error("tensor {tensor}: block {block} has a non-finite scale")]
    NonFiniteScale {
        /// Tensor name.
        tensor: String,
        /// Index of the first such block.
        block: usize,
    },
    /// A forward pass produced a NaN or infinite activation in `layer` (the model's weights
    /// hold such values, e.g. in a norm or the embedding): reported instead of quantised to 0.
    #[error("non-finite activations in layer {layer}: the model's weights are not usable")]
    NonFiniteActivations {
        /// The layer (0-based).
        layer: usize,
    },
    /// A tensor the graph needs is absent.
    #[error("missing tensor {0}")]
    MissingTensor(String),
    /// A tensor has the wrong shape, format or contents.
    #[error("tensor {name}: {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's bytes cannot be decoded.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A kernel was called with inconsistent shapes (a bug: shapes are checked at load).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A token id outside the vocabulary was fed to the model.
    #[error("token id {token} is outside the vocabulary of {vocab_size}")]
    InvalidToken {
        /// The offending id.
        token: u32,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// The KV cache cannot hold the batch.
    #[error("context full: {needed} tokens needed, the cache holds {capacity}")]
    ContextFull {
        /// Positions the batch would need, in tokens.
        needed: usize,
        /// Positions the cache holds, in tokens.
        capacity: usize,
    },
}

/// A loaded model: configuration, the mapped file, and weight locations inside it. What runs
/// it (threads, kernels) is an [`Executor`] lent to [`forward`](Self::forward).
#[derive(Debug)]
pub struct Model {
    file: Arc<GgufFile>,
    config: ModelConfig,
    weights: Weights,
    rope: Rope,
    /// Whether any projection is ternary (else activations are never quantised).
    has_ternary: bool,
    /// The output head at the precision asked for at load.
    head: OutputHead,
}

impl Model {
    /// Builds the `config` model from a validated file; every tensor's shape and format is
    /// checked here so the forward pass cannot fail on the file's account. The output head is
    /// prepared as `head` says (re-quantised here, on `exec`'s threads, when it says so).
    pub fn load(
        file: Arc<GgufFile>,
        config: ModelConfig,
        head: &HeadPlan,
        exec: &Executor,
    ) -> Result<Self, ModelError> {
        let weights = Weights::load(&file, &config, head.tensor)?;
        let has_ternary = weights
            .layers
            .iter()
            .any(|l| l.projections().iter().any(|m| m.ty.is_ternary()));
        let rope = Rope::new(config.head_dim, config.rope_dims, config.rope_base);
        let head = OutputHead::load(weights.output.clone(), head, file.bytes(), exec.pool())?;
        // Re-quantising the head read it from the map: it must have read the file it checked.
        file.check_unchanged()?;
        Ok(Model {
            file,
            config,
            weights,
            rope,
            has_ternary,
            head,
        })
    }

    /// Reads `file`'s hyper-parameters (the vocabulary size from `token_embd`'s shape)
    /// without locating the other tensors: for plans made before loading.
    pub fn read_config(file: &GgufFile) -> Result<ModelConfig, ModelError> {
        ModelConfig::from_gguf(file, Weights::vocab_size(file)?)
    }

    /// Whether any block's projection is ternary: such a model quantises its activations and
    /// keeps its KV cache in F16 by default.
    pub fn has_ternary_projection(file: &GgufFile) -> bool {
        Weights::has_ternary_projection(file)
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The mapped file the weights live in.
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// Bytes of weights one decoded token reads: every projection plus the output head at the
    /// precision it is multiplied in (the embedding contributes one row).
    pub fn weight_bytes_per_token(&self) -> usize {
        let w = &self.weights;
        let layers: usize = w
            .layers
            .iter()
            .map(|l| l.projections().iter().map(|m| m.byte_len()).sum::<usize>())
            .sum();
        layers + self.head.byte_len() + w.token_embd.byte_len() / self.config.vocab_size
    }

    /// The format the output head is multiplied in (Q8_0 when re-quantised at load).
    pub fn head_type(&self) -> crate::quant::TensorType {
        self.head.ty()
    }

    /// Bytes the output head holds in memory outside the mapped file (the re-quantised Q8_0
    /// copy; 0 when the head is read from the mapping), for memory budgets and reports.
    pub fn head_resident_bytes(&self) -> usize {
        self.head.owned_bytes()
    }
}
