//! The public engine API: [`Engine`] (a loaded model, its tokenizer and chat template) and
//! [`Session`] (one conversation with its own KV cache), with streaming generation,
//! cancellation, stop strings and per-request statistics.

mod session;
mod stop;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use session::{OverflowPolicy, Segment, Session, SessionConfig};

use crate::chat::{ChatTemplate, Message};
use crate::gguf::GgufFile;
use crate::kernels::Kernels;
use crate::model::{HeadPrecision, KvCache, KvPrecision, LogitsFor, Model, Scratch};
use crate::runtime::{default_threads, ThreadPool};
use crate::sampling::SamplingParams;
use crate::tokenizer::{Tokenizer, TokenizerSpec};
use crate::{Error, Result};

/// Engine-wide settings. `Default` gives the product's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Largest input one request may add, in tokens (default 4096).
    pub max_input_tokens: usize,
    /// Largest `max_tokens` a request may ask for, in tokens (default 1024).
    pub max_output_tokens: usize,
    /// Hard limit on worker threads running matmuls; 0 = automatic
    /// ([`default_threads`](crate::runtime::default_threads)).
    pub threads: usize,
    /// Kernel table by name (`"scalar"`, `"avx2"`, `"neon-dotprod"`, ...); `None` = the
    /// fastest this CPU runs (or `$BITNET_KERNELS`).
    pub kernels: Option<String>,
    /// KV cache precision; `None` = the model's default
    /// ([`Model::default_kv_precision`]: F16 for ternary models).
    pub kv_precision: Option<KvPrecision>,
    /// Output head precision (default [`HeadPrecision::F16`]: the head as the file stores
    /// it); [`HeadPrecision::Q8_0`] re-quantises it at load, cutting the bytes read per token.
    pub head: HeadPrecision,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_input_tokens: 4096,
            max_output_tokens: 1024,
            kv_precision: None,
            threads: 0,
            kernels: None,
            head: HeadPrecision::default(),
        }
    }
}

/// A loaded model ready to serve sessions. Cheap to clone; shareable across threads.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    model: Model,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    config: EngineConfig,
}

impl Engine {
    /// Maps the GGUF file at `path`, validates it, reads the model configuration and builds
    /// the tokenizer. Weights stay in the mapping; nothing large is copied.
    pub fn load(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        if config.max_input_tokens == 0 || config.max_output_tokens == 0 {
            return Err(Error::InvalidOption {
                name: "max_input_tokens/max_output_tokens",
                reason: "must be at least 1".into(),
            });
        }
        let file = Arc::new(GgufFile::open(path.as_ref())?);
        let spec = TokenizerSpec::from_gguf(&file)?;
        let tokenizer = Tokenizer::new(&spec)?;
        let template = ChatTemplate::detect(file.get_str_opt("tokenizer.chat_template")?);
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
            n => n,
        };
        let pool = ThreadPool::new(threads).map_err(Error::Threads)?;
        let model = Model::load(Arc::clone(&file), kernels, Arc::new(pool), config.head)?;
        if tokenizer.vocab_size() > model.config().vocab_size {
            return Err(Error::Model(crate::model::ModelError::BadConfig(format!(
                "the tokenizer has {} tokens but the embedding only {} rows",
                tokenizer.vocab_size(),
                model.config().vocab_size
            ))));
        }
        log::info!(
            "loaded {} model: {} layers, embedding {}, vocabulary {}, kernels {}, {} threads",
            model.config().arch.name(),
            model.config().n_layer,
            model.config().n_embd,
            model.config().vocab_size,
            model.kernels().name(),
            model.pool().threads()
        );
        Ok(Engine {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                template,
                config,
            }),
        })
    }

    /// Starts a conversation with its own KV cache.
    pub fn session(&self, config: SessionConfig) -> Result<Session> {
        Session::new(self.clone(), config)
    }

    /// The model (configuration, kernels, file).
    pub fn model(&self) -> &Model {
        &self.inner.model
    }

    /// The tokenizer built from the file's vocabulary.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    /// The chat format sessions use.
    pub fn chat_template(&self) -> ChatTemplate {
        self.inner.template
    }

    /// The settings the engine was loaded with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The KV cache precision sessions of this engine use.
    pub fn kv_precision(&self) -> KvPrecision {
        self.inner
            .config
            .kv_precision
            .unwrap_or_else(|| self.model().default_kv_precision())
    }

    /// Runs `tokens` from an empty context and returns logits (`vocab_size` floats per selected
    /// position, token-major). For reference comparisons and tools; sessions are for chatting.
    pub fn evaluate(&self, tokens: &[u32], which: LogitsFor) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::EmptyInput);
        }
        let model = self.model();
        let mut kv = KvCache::new(model.config(), tokens.len(), self.kv_precision());
        let mut logits = Vec::new();
        model.forward(tokens, &mut kv, &mut Scratch::default(), which, &mut logits)?;
        Ok(logits)
    }
}

/// What a request adds to a session before the reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Chat messages (usually one user message), formatted with the model's chat template;
    /// the reply is recorded as an assistant message.
    Chat(Vec<Message>),
    /// Raw text continued as is (no template); the reply is recorded as raw text.
    Text(String),
}

/// Per-request options. `Default`: greedy, up to 1024 tokens, no stop strings.
#[derive(Clone, Debug)]
pub struct GenerationOptions {
    /// Most tokens to generate (at most the engine's `max_output_tokens`).
    pub max_tokens: usize,
    /// Sampling settings (seeded, deterministic).
    pub sampling: SamplingParams,
    /// Generation ends before the first occurrence of any of these; it is not part of the text.
    pub stop: Vec<String>,
    /// Cancels the request from any thread; checked before every token.
    pub cancel: Option<CancelToken>,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            max_tokens: EngineConfig::default().max_output_tokens,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            cancel: None,
        }
    }
}

/// A cancellation flag shared between the generating thread and any other.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the generation using this token to stop before its next token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Something a generation reports while it runs.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The next piece of reply text (whole UTF-8 characters, never part of a stop string).
    Text(&'a str),
}

/// Receives a generation's events, on the generating thread.
pub trait Sink {
    /// Called once per event, in order.
    fn on_event(&mut self, event: Event<'_>);
}

impl<F: FnMut(Event<'_>)> Sink for F {
    fn on_event(&mut self, event: Event<'_>) {
        self(event)
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-text or end-of-turn token.
    EndOfText,
    /// A stop string was produced.
    StopString,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The request's [`CancelToken`] was cancelled.
    Cancelled,
    /// The session's context has no room for another token.
    ContextFull,
}

/// Timing and size figures of one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerationStats {
    /// Tokens of the whole prompt (history + new input), in tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens reused from the KV cache instead of recomputed, in tokens.
    pub cached_tokens: usize,
    /// Tokens generated, in tokens.
    pub generated_tokens: usize,
    /// From the call to the first generated token, in ms.
    pub time_to_first_token_ms: f64,
    /// Prompt tokens evaluated per second during prefill.
    pub prefill_tokens_per_s: f64,
    /// Tokens generated per second after the first.
    pub decode_tokens_per_s: f64,
    /// Whole request, in ms.
    pub total_ms: f64,
    /// Distinct threads that ran matmul work during the request (at most the thread limit).
    pub kernel_threads: usize,
}

/// The result of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The reply text (what the sink received, concatenated).
    pub text: String,
    /// The generated token ids (including a final end-of-text token, if any).
    pub tokens: Vec<u32>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Figures for this request.
    pub stats: GenerationStats,
}
