//! The public engine API: [`Engine`] (a loaded model, its tokenizer and chat template) and
//! [`Session`] (one conversation with its own KV cache), with streaming generation,
//! cancellation, stop strings and per-request statistics.

mod batch;
mod budget;
pub(crate) mod checkpoint;
mod draft;
mod plan;
mod session;
mod stop;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

pub use budget::{tokenizer_bytes, MemoryEstimate, MIN_CONTEXT_TOKENS};
pub use draft::MAX_DRAFT_TOKENS;
pub use plan::{Plan, MAX_DECODE_BATCH, PREFILL_BATCH};
pub use session::{OverflowPolicy, Segment, Session, SessionConfig, EXACT_COUNT_BYTES};

use crate::chat::{ChatTemplate, Message};
use crate::gguf::GgufFile;
use crate::model::{
    HeadPrecision, KvCache, KvPrecision, LogitsFor, Model, ModelError, Scratch, ScratchLayout,
};
use crate::runtime::health::{Health, HealthThresholds};
use crate::runtime::limits::RateLimiter;
use crate::runtime::metrics::{Metrics, MetricsRecorder};
use crate::runtime::queue::GenerationQueue;
use crate::runtime::thermal::{ThermalPolicy, ThermalSource, ThermalState};
use crate::runtime::{memory, Executor, Profile, ThreadPool};
use crate::sampling::SamplingParams;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use batch::{DecodeBatcher, Member};

/// Engine-wide settings. `Default` gives the product's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EngineConfig {
    /// Largest input one request may add, in tokens (default 4096).
    #[cfg_attr(feature = "uniffi", uniffi(default = 4096))]
    pub max_input_tokens: usize,
    /// Largest `max_tokens` a request may ask for, in tokens (default 1024).
    #[cfg_attr(feature = "uniffi", uniffi(default = 1024))]
    pub max_output_tokens: usize,
    /// Hard limit on worker threads running matmuls; 0 = automatic
    /// ([`default_threads`](crate::runtime::default_threads())). Above
    /// [`max_threads`](crate::runtime::max_threads()) loading fails with
    /// [`Error::InvalidOption`].
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub threads: usize,
    /// Kernel table by name (`"scalar"`, `"avx2"`, `"neon-dotprod"`, ...); `None` = the
    /// fastest this CPU runs (or `$BITNET_KERNELS`).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub kernels: Option<String>,
    /// KV cache precision; `None` = F16 for ternary models, F32 for float ones
    /// ([`Plan::kv_precision`]).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub kv_precision: Option<KvPrecision>,
    /// What the thermal governor does in each thermal state; `None` = [`ThermalPolicy`]'s
    /// default. The state comes from [`Engine::set_thermal_source`].
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub thermal_policy: Option<ThermalPolicy>,
    /// Most generate requests admitted per 60 s (sliding window, per engine); `None` = no
    /// limit. Over it a request fails with [`Error::RateLimited`].
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub rate_limit_per_minute: Option<u32>,
    /// Longest a generate request may take from its call, in ms: the wait for a generation
    /// slot included (checked while waiting, between prefill batches and between tokens);
    /// `None` = no limit. Over it the request fails with [`Error::Timeout`].
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub request_timeout_ms: Option<u64>,
    /// Most generations that run at once on this engine (over all its sessions); later
    /// requests wait in arrival order for a slot, within their `request_timeout_ms`, and a
    /// cancel stops the wait. `None` = no limit ([`EngineConfig::from_profile`] sets the
    /// profile's).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_concurrent_generations: Option<usize>,
    /// Most requests that may wait for a generation slot at once; a request arriving when
    /// that many already wait fails at once with [`Error::Busy`] (nothing is done, the session
    /// is unchanged), so a server sheds load it cannot serve in time and a client can retry
    /// elsewhere. `None` = no bound (the request timeout bounds the wait); 0 = never wait.
    /// [`EngineConfig::from_profile`] sets the profile's (20 on server, 40 on cloud).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_queued_generations: Option<usize>,
    /// Continuous batching of decodes: the sessions decoding at the same moment share one
    /// pass over the weights per token (a step gathers every session ready for its next pass;
    /// sessions join and leave between steps), so aggregate tokens per second grow with the
    /// number of sessions while each session's tokens stay exactly those it would generate
    /// alone. A step waits for sessions still sampling at most a quarter of the previous step's
    /// time (1–10 ms). Needs more than one generation at once
    /// (`max_concurrent_generations`); the steps' buffers ([`MemoryEstimate::decode_batch_bytes`])
    /// count in the engine's memory. `None` = off; [`EngineConfig::from_profile`] sets the
    /// profile's (on for server and cloud, whose priority is throughput).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub decode_batching: Option<bool>,
    /// The thresholds [`Engine::health`] raises alerts at.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub health: HealthThresholds,
    /// Restricts the worker threads to the performance cores
    /// ([`CpuTopology::performance_cpus`](crate::runtime::CpuTopology::performance_cpus);
    /// Linux/Android only, ignored where the topology is
    /// unknown). Off by default: the OS scheduler usually knows best, but pinning steadies
    /// benchmarks.
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub pin_threads: bool,
    /// The most memory the engine may use, in bytes; `None` = no budget. Loading fails with
    /// [`Error::BudgetExceeded`] when even a [`MIN_CONTEXT_TOKENS`] context does not fit, and
    /// each session's context is capped to what fits (see [`Engine::estimate`]).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub memory_budget_bytes: Option<u64>,
    /// Whether the mapped (file-backed) weights count against the budget (default `true`;
    /// the mobile profile's `false`, see [`Profile::counts_mapped_weights`]). They are in the
    /// resident set on Linux and Android, but clean: the OS can drop and re-read them, and
    /// iOS's footprint leaves them out.
    #[cfg_attr(feature = "uniffi", uniffi(default = true))]
    pub count_mapped_weights: bool,
    /// Output head precision; `None` = [`HeadPrecision::F16`], the head as the file stores
    /// it ([`EngineConfig::from_profile`] sets the profile's). [`HeadPrecision::Q8_0`],
    /// [`HeadPrecision::Q6K`] and [`HeadPrecision::Q4K`] multiply it in int8, cutting the
    /// bytes read per token; a wider head is re-quantised at load, or mapped from `cache_dir`
    /// after the first load, and its best candidates re-scored from the stored rows.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub head: Option<HeadPrecision>,
    /// A directory the engine may keep files it derives from a model in, to map them on later
    /// loads instead of deriving them again: the output head re-quantised to `head` (2B4T in
    /// Q4_K: 185 MB, seconds to make). Give the app's cache directory (Android
    /// `Context.cacheDir`, iOS `Caches`); the OS may clear it, which costs only the next load's
    /// time. `None` (the default): nothing is written; a re-quantised head is made at every
    /// load and held in memory.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub cache_dir: Option<PathBuf>,
    /// Speculative decoding by prompt lookup: up to this many tokens, copied from what followed
    /// an earlier occurrence of the conversation's last tokens, are evaluated with each decoded
    /// token in one pass and kept while they equal what is sampled. The output is exactly
    /// plain decoding's (greedy or sampled, same seed); only the passes over the weights
    /// change. 0 (the default) = off; at most [`MAX_DRAFT_TOKENS`]. Each session's scratch
    /// holds logits for `1 + draft_tokens` positions.
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub draft_tokens: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_input_tokens: 4096,
            max_output_tokens: 1024,
            kv_precision: None,
            threads: 0,
            kernels: None,
            thermal_policy: None,
            rate_limit_per_minute: None,
            request_timeout_ms: None,
            max_concurrent_generations: None,
            max_queued_generations: None,
            decode_batching: None,
            health: HealthThresholds::default(),
            pin_threads: false,
            memory_budget_bytes: None,
            count_mapped_weights: true,
            head: None,
            cache_dir: None,
            draft_tokens: 0,
        }
    }
}

impl EngineConfig {
    /// The default settings with `profile`'s thread limit, memory budget (and whether mapped
    /// weights count in it), concurrent and queued generations, decode batching, head and KV
    /// cache precision.
    pub fn from_profile(profile: Profile) -> Self {
        EngineConfig {
            threads: profile.threads(),
            memory_budget_bytes: Some(profile.memory_budget_bytes()),
            count_mapped_weights: profile.counts_mapped_weights(),
            max_concurrent_generations: Some(profile.max_concurrent_generations()),
            head: profile.head_precision(),
            kv_precision: profile.kv_precision(),
            max_queued_generations: profile.max_queued_generations(),
            decode_batching: Some(profile.batches_decodes()),
            ..EngineConfig::default()
        }
    }
}

/// What [`Engine::trim`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "TrimReport"))]
pub struct Trimmed {
    /// Idle sessions that released their KV cache and buffers.
    pub sessions: usize,
    /// How much lower the process's resident memory is afterwards, in bytes (0 where it
    /// cannot be read, or when other threads allocated meanwhile).
    pub released_bytes: u64,
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
    executor: Executor,
    rate_limit: Option<RateLimiter>,
    /// Slots of the generations running at once, and the requests waiting for one.
    queue: GenerationQueue,
    /// Shares passes over the weights among decoding sessions (`None`: batching is off).
    batcher: Option<DecodeBatcher>,
    metrics: MetricsRecorder,
    /// How the model was loaded and runs, with what it needs in memory.
    plan: Plan,
    /// The buffers of every session created, for budget accounting and [`Engine::trim`];
    /// dropped sessions' entries are pruned when the list is next used.
    sessions: Mutex<Vec<Weak<session::Buffers>>>,
}

impl Engine {
    /// Maps the GGUF file at `path`, validates it, makes its [`Plan`] and executes it: checks
    /// the memory budget, builds the tokenizer, starts the threads and locates the weights.
    /// Weights stay in the mapping; nothing large is copied.
    pub fn load(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let file = Arc::new(GgufFile::open(path.as_ref())?);
        let plan = Plan::new(&file, &config)?;
        let memory = &plan.memory;
        if let Some(budget) = config.memory_budget_bytes {
            let needed = memory.total_bytes(memory.min_context_tokens);
            if needed > budget {
                return Err(MemoryEstimate::exceeded(
                    needed,
                    budget,
                    memory.min_context_tokens,
                ));
            }
        }
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let template = ChatTemplate::detect(file.get_str_opt("tokenizer.chat_template")?);
        let pool = match plan.pinned_cpus.clone() {
            Some(cpus) => ThreadPool::pinned(plan.threads, cpus),
            None => ThreadPool::new(plan.threads),
        }
        .map_err(Error::Threads)?;
        let executor = Executor::new(
            pool,
            plan.kernels,
            config.thermal_policy.unwrap_or_default(),
        );
        let model = Model::load(Arc::clone(&file), plan.model.clone(), &plan.head, &executor)?;
        log::info!(
            "loaded {} model: {} layers, embedding {}, vocabulary {}, kernels {}, {} threads",
            model.config().arch.name(),
            model.config().n_layer,
            model.config().n_embd,
            model.config().vocab_size,
            executor.kernels().name(),
            executor.threads()
        );
        Ok(Engine {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                template,
                executor,
                rate_limit: config.rate_limit_per_minute.map(RateLimiter::new),
                queue: GenerationQueue::new(
                    config.max_concurrent_generations,
                    config.max_queued_generations,
                ),
                batcher: plan.decode_batch.map(DecodeBatcher::new),
                metrics: MetricsRecorder::default(),
                config,
                plan,
                sessions: Mutex::new(Vec::new()),
            }),
        })
    }

    /// How the model at `path` would load and run with `config` — architecture, head, KV
    /// precision, scratch, kernels, threads and memory — read from its header and metadata
    /// only (no weight is touched, nothing large is allocated).
    pub fn plan(path: impl AsRef<Path>, config: &EngineConfig) -> Result<Plan> {
        Self::plan_file(&GgufFile::open(path.as_ref())?, config)
    }

    /// [`plan`](Self::plan) for a file already open (and validated).
    pub fn plan_file(file: &GgufFile, config: &EngineConfig) -> Result<Plan> {
        Plan::new(file, config)
    }

    /// What the model at `path` needs in memory with `config`: its [`Plan`]'s byte sums.
    pub fn estimate(path: impl AsRef<Path>, config: &EngineConfig) -> Result<MemoryEstimate> {
        Ok(Self::plan(path, config)?.memory)
    }

    /// How this engine's model was loaded and runs.
    pub fn loaded_plan(&self) -> &Plan {
        &self.inner.plan
    }

    /// What this engine's model needs in memory (as [`Engine::estimate`]).
    pub fn memory_estimate(&self) -> &MemoryEstimate {
        &self.inner.plan.memory
    }

    /// Starts a conversation with its own KV cache.
    ///
    /// With a memory budget, the context is capped to what the budget leaves after the
    /// engine and the other live sessions (logged); [`Error::BudgetExceeded`] when that is
    /// less than [`MIN_CONTEXT_TOKENS`] (or a shorter requested or training context).
    pub fn session(&self, config: SessionConfig) -> Result<Session> {
        let estimate = &self.inner.plan.memory;
        let requested = match config.context_length {
            0 => estimate.default_context_tokens,
            n => n,
        };
        let mut sessions = self.sessions();
        sessions.retain(|s| s.strong_count() > 0);
        let context = match self.config().memory_budget_bytes {
            None => requested,
            Some(budget) => {
                let others = sessions
                    .iter()
                    .filter_map(Weak::upgrade)
                    .map(|s| s.reserved_bytes())
                    .sum();
                estimate.fit_session(requested, budget, others)?
            }
        };
        let bytes = estimate.session_bytes(context);
        // Nothing larger than the device's memory can be backed (and `usize` sizes must not
        // overflow): refuse it before any allocation, which would abort instead.
        let available = memory::physical_bytes().unwrap_or(isize::MAX as u64);
        if bytes >= available {
            return Err(Error::InsufficientMemory {
                needed: bytes,
                available,
            });
        }
        let session = Session::new(self.clone(), config, context, bytes)?;
        sessions.push(session.buffers_handle());
        Ok(session)
    }

    /// Frees memory on a low-memory signal: every session not generating right now gives
    /// back its KV cache and scratch buffers (it re-evaluates its history on its next
    /// request, with the same results), then the allocator returns free memory to the OS
    /// (also what sessions dropped earlier left). Budget reservations are kept, so released
    /// sessions can always allocate again.
    pub fn trim(&self) -> Trimmed {
        let before = memory::resident_bytes();
        let mut sessions = self.sessions();
        sessions.retain(|s| s.strong_count() > 0);
        let trimmed = sessions
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| s.release_if_idle())
            .count();
        if let Some(batcher) = &self.inner.batcher {
            batcher.release_if_idle();
        }
        drop(sessions);
        memory::release_free_memory();
        let released_bytes = match (before, memory::resident_bytes()) {
            (Some(before), Some(after)) => before.saturating_sub(after),
            _ => 0,
        };
        log::info!(
            "trim: {trimmed} idle sessions released their buffers; resident memory {released_bytes} bytes lower"
        );
        Trimmed {
            sessions: trimmed,
            released_bytes,
        }
    }

    /// The session list (a poisoned lock is recovered: the list holds only weak handles).
    fn sessions(&self) -> std::sync::MutexGuard<'_, Vec<Weak<session::Buffers>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The model (configuration, weights, file).
    pub fn model(&self) -> &Model {
        &self.inner.model
    }

    /// What runs the model: threads, kernel table, thermal governor.
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
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
        self.inner.plan.kv_precision
    }

    /// Buffers for forward passes of up to `tokens` tokens, `logit_rows` of them with logits
    /// (sessions use the plan's layout; this is for evaluations and benchmarks).
    pub fn scratch(&self, tokens: usize, logit_rows: usize) -> Scratch {
        let layout = ScratchLayout::new(
            self.model().config(),
            tokens,
            logit_rows,
            self.inner.plan.head.int8,
        );
        Scratch::new(&layout)
    }

    /// Sets where the thermal governor reads the device's thermal state (`None`: always
    /// nominal, the default). Platforms pass a
    /// [`ThermalMonitor`](crate::runtime::thermal::ThermalMonitor) they report into; running
    /// generations apply the change before their next token.
    pub fn set_thermal_source(&self, source: Option<Arc<dyn ThermalSource>>) {
        self.inner.executor.set_thermal_source(source);
    }

    /// The thermal state the governor applied last.
    pub fn thermal_state(&self) -> ThermalState {
        self.inner.executor.thermal_state()
    }

    /// The engine's service figures now (requests, errors, tokens, latency, speed, queue,
    /// memory, CPU use since the previous call, thermal state).
    pub fn metrics(&self) -> Metrics {
        let exec = &self.inner.executor;
        let mut metrics = self
            .inner
            .metrics
            .snapshot(exec.thermal_state(), exec.throttle_events());
        (metrics.generating, metrics.queued) = self.inner.queue.depth();
        if let Some(batcher) = &self.inner.batcher {
            (metrics.batched_steps, metrics.batched_tokens) = batcher.figures();
        }
        metrics
    }

    /// [`metrics`](Self::metrics) checked against the configured
    /// [`HealthThresholds`]: the alerts raised.
    pub fn health(&self) -> Health {
        Health::check(self.metrics(), &self.inner.config.health)
    }

    /// Whether this engine's concurrent decodes share passes over the weights
    /// ([`EngineConfig::decode_batching`], and more than one generation allowed at once).
    pub fn batches_decodes(&self) -> bool {
        self.inner.batcher.is_some()
    }

    /// Shared decode steps run since the engine loaded (0 when batching is off).
    pub(crate) fn batched_steps(&self) -> u64 {
        self.inner.batcher.as_ref().map_or(0, |b| b.figures().0)
    }

    /// Joins the decoding sessions whose passes are batched (`None` when batching is off):
    /// held while a session decodes, passed to [`decode`](Self::decode).
    pub(crate) fn join_decoders(&self) -> Option<Member<'_>> {
        self.inner.batcher.as_ref().map(DecodeBatcher::join)
    }

    /// A decoding session's pass, as [`Model::forward`] with this engine's executor: shared
    /// with the other members decoding now when `member` is given, else alone.
    pub(crate) fn decode(
        &self,
        member: Option<&Member<'_>>,
        tokens: &[u32],
        kv: &mut KvCache,
        scratch: &mut Scratch,
        which: LogitsFor,
    ) -> std::result::Result<(), ModelError> {
        let (model, exec) = (self.model(), self.executor());
        match (&self.inner.batcher, member) {
            (Some(batcher), Some(member)) => {
                batcher.step(model, exec, member, tokens, kv, scratch, which)
            }
            _ => model.forward(exec, tokens, kv, scratch, which),
        }
    }

    /// Runs `tokens` from an empty context and returns logits (`vocab_size` floats per selected
    /// position, token-major). For reference comparisons and tools; sessions are for chatting.
    pub fn evaluate(&self, tokens: &[u32], which: LogitsFor) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::EmptyInput);
        }
        let model = self.model();
        let mut kv = KvCache::new(model.config(), tokens.len(), self.kv_precision());
        let rows = match which {
            LogitsFor::Last => 1,
            LogitsFor::All => tokens.len(),
        };
        let mut scratch = self.scratch(tokens.len(), rows);
        model.forward(self.executor(), tokens, &mut kv, &mut scratch, which)?;
        Ok(scratch.logits().to_vec())
    }
}

/// What a request adds to a session before the reply.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[cfg_attr(feature = "uniffi", uniffi(name = "Prompt"))]
pub enum Input {
    /// Chat messages (usually one user message), formatted with the model's chat template;
    /// the reply is recorded as an assistant message.
    Chat {
        /// The messages, in order.
        messages: Vec<Message>,
    },
    /// Raw text continued as is (no template), as `bitnet generate` does; the reply is
    /// recorded as raw text.
    Text {
        /// The text.
        text: String,
    },
}

/// Per-request options. `Default`: greedy, up to 1024 tokens, no stop strings.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GenerationOptions {
    /// Most tokens to generate (at most the engine's `max_output_tokens`).
    #[cfg_attr(feature = "uniffi", uniffi(default = 1024))]
    pub max_tokens: usize,
    /// Sampling settings (seeded, deterministic).
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub sampling: SamplingParams,
    /// Generation ends before the first occurrence of any of these; it is not part of the text.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub stop: Vec<String>,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            max_tokens: EngineConfig::default().max_output_tokens,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
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
    /// The thermal governor changed what it does (reported when the state changes, before the
    /// next token).
    Thermal {
        /// The state now in force.
        state: ThermalState,
        /// Threads matmuls now run on; 0 = the generation stops
        /// ([`FinishReason::ThermalStop`]).
        threads: usize,
        /// Pause between tokens now, in ms.
        pause_ms: u64,
    },
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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
    /// The thermal governor stopped the generation (the policy's action for the state is
    /// [`Throttle::Stop`](crate::runtime::thermal::Throttle::Stop)); the text so far is kept.
    ThermalStop,
}

/// Timing and size figures of one request.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GenerationStats {
    /// Tokens of the whole prompt (history + new input), in tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens reused from the KV cache instead of recomputed, in tokens.
    pub cached_tokens: usize,
    /// Tokens generated, in tokens.
    pub generated_tokens: usize,
    /// Time spent waiting for a generation slot
    /// ([`EngineConfig::max_concurrent_generations`]), in ms; part of the times below.
    pub queued_ms: f64,
    /// From the call to the first generated token, in ms.
    pub time_to_first_token_ms: f64,
    /// Prompt tokens evaluated per second during prefill.
    pub prefill_tokens_per_s: f64,
    /// Tokens generated per second after the first.
    pub decode_tokens_per_s: f64,
    /// Whole request (from the call, queue wait included), in ms.
    pub total_ms: f64,
    /// Distinct threads that ran matmul work during the request (at most the thread limit).
    pub kernel_threads: usize,
    /// The most threads that ran one matmul at the same moment (at most the active threads
    /// the thermal governor allowed then).
    pub peak_kernel_threads: usize,
    /// The thermal state in force at the end of the request.
    pub thermal_state: ThermalState,
    /// Thermal changes this request saw (each also sent as [`Event::Thermal`]).
    pub throttle_events: usize,
    /// Tokens drafted by prompt lookup and evaluated ahead ([`EngineConfig::draft_tokens`]).
    pub drafted_tokens: usize,
    /// Drafted tokens that equalled the sampled ones (each saved a pass over the weights).
    pub accepted_tokens: usize,
    /// Pauses the governor put between tokens, summed, in ms (requested sleep time).
    pub paused_ms: u64,
    /// Resident memory of the process at the end of the request, in bytes (`None` where the
    /// platform does not report it; see [`crate::runtime::memory`]).
    pub resident_bytes: Option<u64>,
    /// Peak resident memory of the process so far, in bytes (`None` where not reported).
    pub peak_resident_bytes: Option<u64>,
}

/// The result of one request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "GenerationSummary"))]
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
