//! Settings and inputs as plain records, with the core's defaults, and their conversions.
//!
//! Counts are `u32` (tokens, threads); a default here must equal the core's `Default`, which
//! the tests below check.

use bitnet_core::chat;
use bitnet_core::engine;
use bitnet_core::sampling::SamplingParams;

use crate::error::count;
use crate::remote::{
    HeadPrecision, HealthThresholds, KvPrecision, OverflowPolicy, Role, ThermalPolicy,
};

/// Engine-wide settings (`bitnet_core::engine::EngineConfig`).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct EngineConfig {
    /// Largest input one request may add, in tokens.
    #[uniffi(default = 4096)]
    pub max_input_tokens: u32,
    /// Largest `max_tokens` a request may ask for, in tokens.
    #[uniffi(default = 1024)]
    pub max_output_tokens: u32,
    /// Hard limit on threads running matmuls; 0 = automatic (the big cores).
    #[uniffi(default = 0)]
    pub threads: u32,
    /// Kernel table by name (`"scalar"`, `"neon-dotprod"`, ...); `None` = the fastest.
    #[uniffi(default = None)]
    pub kernels: Option<String>,
    /// Most generate requests admitted per 60 s (sliding window); `None` = no limit. Over it
    /// a request fails with `RateLimited`.
    #[uniffi(default = None)]
    pub rate_limit_per_minute: Option<u32>,
    /// Longest a generate request may take from its call, in ms, the wait for a generation
    /// slot included; `None` = no limit. Over it the request fails with `Timeout`.
    #[uniffi(default = None)]
    pub request_timeout_ms: Option<u64>,
    /// Most generations running at once on this engine, over all its sessions; later
    /// requests wait in arrival order for a slot (within `request_timeout_ms`; `cancel()`
    /// stops the wait). `None` = no limit; the profiles set 1 (mobile), 2, 5, 10 (cloud).
    #[uniffi(default = None)]
    pub max_concurrent_generations: Option<u32>,
    /// Restricts the worker threads to the performance cores (Linux/Android only).
    #[uniffi(default = false)]
    pub pin_threads: bool,
    /// The most memory the engine may use, in bytes; `None` = no budget. Loading fails with
    /// `BudgetExceeded` when even the smallest context does not fit; each session's context
    /// is capped to what fits.
    #[uniffi(default = None)]
    pub memory_budget_bytes: Option<u64>,
    /// Whether the mapped (file-backed) weights count against the budget (default `true`).
    /// They are clean file pages: iOS's memory limit (`phys_footprint`) leaves them out and
    /// Android reclaims them under pressure before killing apps, so `false` budgets the memory
    /// the app holds (the mobile profile's setting).
    #[uniffi(default = true)]
    pub count_mapped_weights: bool,
    /// Output head precision; `None` = `HeadPrecision::F16` (the head as stored).
    #[uniffi(default = None)]
    pub head: Option<HeadPrecision>,
    /// KV cache precision; `None` = `KvPrecision::F16` for ternary models, `F32` for float ones.
    #[uniffi(default = None)]
    pub kv_precision: Option<KvPrecision>,
    /// What the thermal governor does in each thermal state; `None` = the engine's
    /// (`default_thermal_policy()`). A thread share outside 1..=100 % fails loading with
    /// `InvalidOption`.
    #[uniffi(default = None)]
    pub thermal_policy: Option<ThermalPolicy>,
    /// The thresholds `BitNetEngine::health` raises alerts at.
    #[uniffi(default)]
    pub health: HealthThresholds,
    /// Speculative decoding by prompt lookup: up to this many tokens, copied from what followed
    /// an earlier occurrence of the conversation's last tokens, are evaluated with each decoded
    /// token in one pass and kept while they equal what is sampled. The output is exactly
    /// plain decoding's; 0 = off; at most 15 (more is `InvalidOption`).
    #[uniffi(default = 0)]
    pub draft_tokens: u32,
}

/// The core's defaults (what the foreign constructors give, see the tests).
impl Default for EngineConfig {
    fn default() -> Self {
        engine::EngineConfig::default().into()
    }
}

impl From<EngineConfig> for engine::EngineConfig {
    fn from(c: EngineConfig) -> Self {
        engine::EngineConfig {
            max_input_tokens: c.max_input_tokens as usize,
            max_output_tokens: c.max_output_tokens as usize,
            threads: c.threads as usize,
            kernels: c.kernels,
            rate_limit_per_minute: c.rate_limit_per_minute,
            request_timeout_ms: c.request_timeout_ms,
            max_concurrent_generations: c.max_concurrent_generations.map(|n| n as usize),
            pin_threads: c.pin_threads,
            memory_budget_bytes: c.memory_budget_bytes,
            count_mapped_weights: c.count_mapped_weights,
            head: c.head.unwrap_or_default(),
            kv_precision: c.kv_precision,
            thermal_policy: c.thermal_policy.unwrap_or_default(),
            health: c.health,
            draft_tokens: c.draft_tokens as usize,
        }
    }
}

/// The core's settings as a record; values equal to the core's defaults become `None` where
/// the record has one for them (head precision, thermal policy).
impl From<engine::EngineConfig> for EngineConfig {
    fn from(c: engine::EngineConfig) -> Self {
        EngineConfig {
            max_input_tokens: count(c.max_input_tokens),
            max_output_tokens: count(c.max_output_tokens),
            threads: count(c.threads),
            kernels: c.kernels,
            rate_limit_per_minute: c.rate_limit_per_minute,
            request_timeout_ms: c.request_timeout_ms,
            max_concurrent_generations: c.max_concurrent_generations.map(count),
            pin_threads: c.pin_threads,
            memory_budget_bytes: c.memory_budget_bytes,
            count_mapped_weights: c.count_mapped_weights,
            head: (c.head != Default::default()).then_some(c.head),
            kv_precision: c.kv_precision,
            thermal_policy: (c.thermal_policy != Default::default()).then_some(c.thermal_policy),
            health: c.health,
            draft_tokens: count(c.draft_tokens),
        }
    }
}

/// Per-session settings (`bitnet_core::engine::SessionConfig`).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SessionConfig {
    /// Context length in tokens; 0 = the model's, capped at the engine's input + output limits.
    #[uniffi(default = 0)]
    pub context_length: u32,
    /// What to do when the history outgrows the context; `None` = `OverflowPolicy::Error`.
    #[uniffi(default = None)]
    pub overflow: Option<OverflowPolicy>,
}

impl From<SessionConfig> for engine::SessionConfig {
    fn from(c: SessionConfig) -> Self {
        engine::SessionConfig {
            context_length: c.context_length as usize,
            overflow: c.overflow.unwrap_or_default(),
        }
    }
}

/// Per-request options: length, sampling (seeded, deterministic) and stop strings. The
/// default is greedy, up to 1024 tokens.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct GenerationOptions {
    /// Most tokens to generate (at most the engine's `max_output_tokens`).
    #[uniffi(default = 1024)]
    pub max_tokens: u32,
    /// Divides the logits before the draw; 0 = greedy.
    #[uniffi(default = 0.0)]
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 = off.
    #[uniffi(default = 0)]
    pub top_k: u32,
    /// Nucleus sampling threshold in (0, 1]; 1 = off.
    #[uniffi(default = 1.0)]
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the most likely one; 0 = off.
    #[uniffi(default = 0.0)]
    pub min_p: f32,
    /// Repetition penalty (llama.cpp's rule); 1 = off.
    #[uniffi(default = 1.0)]
    pub repetition_penalty: f32,
    /// How many recent tokens the penalty looks at, in tokens.
    #[uniffi(default = 64)]
    pub repeat_last_n: u32,
    /// Seed of the random draw: the same seed and inputs give the same tokens.
    #[uniffi(default = 0)]
    pub seed: u64,
    /// Generation ends before the first occurrence of any of these (not part of the text).
    #[uniffi(default = [])]
    pub stop: Vec<String>,
}

/// The core's defaults (what the foreign constructors give, see the tests).
impl Default for GenerationOptions {
    fn default() -> Self {
        let core = engine::GenerationOptions::default();
        let sampling = core.sampling;
        GenerationOptions {
            max_tokens: count(core.max_tokens),
            temperature: sampling.temperature,
            top_k: count(sampling.top_k),
            top_p: sampling.top_p,
            min_p: sampling.min_p,
            repetition_penalty: sampling.repetition_penalty,
            repeat_last_n: count(sampling.repeat_last_n),
            seed: sampling.seed,
            stop: core.stop,
        }
    }
}

impl GenerationOptions {
    /// The core options, cancelled through `cancel`.
    pub(crate) fn to_core(&self, cancel: engine::CancelToken) -> engine::GenerationOptions {
        engine::GenerationOptions {
            max_tokens: self.max_tokens as usize,
            sampling: SamplingParams {
                temperature: self.temperature,
                top_k: self.top_k as usize,
                top_p: self.top_p,
                min_p: self.min_p,
                repetition_penalty: self.repetition_penalty,
                repeat_last_n: self.repeat_last_n as usize,
                seed: self.seed,
            },
            stop: self.stop.clone(),
            cancel: Some(cancel),
        }
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ChatMessage {
    /// Its author.
    pub role: Role,
    /// Its text.
    pub content: String,
}

impl From<ChatMessage> for chat::Message {
    fn from(m: ChatMessage) -> Self {
        chat::Message::new(m.role, m.content)
    }
}

/// What a request adds to a session before the reply.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum Prompt {
    /// Chat messages (usually one user message), formatted with the model's chat template.
    Chat {
        /// The messages, in order.
        messages: Vec<ChatMessage>,
    },
    /// Raw text continued as is (no template), as `bitnet generate` does.
    Text {
        /// The text.
        text: String,
    },
}

impl From<Prompt> for engine::Input {
    fn from(p: Prompt) -> Self {
        match p {
            Prompt::Chat { messages } => {
                engine::Input::Chat(messages.into_iter().map(Into::into).collect())
            }
            Prompt::Text { text } => engine::Input::Text(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::Throttle;
    use crate::runtime::default_thermal_policy;

    // The foreign defaults come from the `#[uniffi(default)]` attributes; these literals
    // restate them so a change in the core's defaults fails here.
    #[test]
    fn defaults_match_the_core() {
        let config = EngineConfig {
            max_input_tokens: 4096,
            max_output_tokens: 1024,
            threads: 0,
            kernels: None,
            rate_limit_per_minute: None,
            request_timeout_ms: None,
            max_concurrent_generations: None,
            pin_threads: false,
            memory_budget_bytes: None,
            count_mapped_weights: true,
            head: None,
            kv_precision: None,
            thermal_policy: None,
            health: HealthThresholds {
                max_resident_bytes: 1073741824,
                max_cpu_percent: 80,
                min_decode_tokens_per_s: 5,
                max_error_rate_percent: 5,
                max_latency_ms: 5000,
            },
            draft_tokens: 0,
        };
        assert_eq!(EngineConfig::default(), config);
        assert_eq!(
            engine::EngineConfig::from(config),
            engine::EngineConfig::default()
        );
        let session = SessionConfig {
            context_length: 0,
            overflow: None,
        };
        assert_eq!(
            engine::SessionConfig::from(session),
            engine::SessionConfig::default()
        );
        let options = GenerationOptions {
            max_tokens: 1024,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
            stop: Vec::new(),
        };
        assert_eq!(GenerationOptions::default(), options);
        let core = options.to_core(engine::CancelToken::new());
        let default = engine::GenerationOptions::default();
        assert_eq!(core.max_tokens, default.max_tokens);
        assert_eq!(core.sampling, default.sampling);
        assert_eq!(core.stop, default.stop);
    }

    #[test]
    fn settings_off_the_defaults_round_trip_through_the_core() {
        let config = EngineConfig {
            threads: 3,
            memory_budget_bytes: Some(1 << 30),
            head: Some(HeadPrecision::Q8_0),
            kv_precision: Some(KvPrecision::F32),
            thermal_policy: Some(ThermalPolicy {
                critical: Throttle::Run {
                    threads_percent: 10,
                    pause_ms: 500,
                },
                ..default_thermal_policy()
            }),
            health: HealthThresholds {
                max_latency_ms: 1,
                ..EngineConfig::default().health
            },
            ..EngineConfig::default()
        };
        let core = engine::EngineConfig::from(config.clone());
        assert_eq!(core.head, HeadPrecision::Q8_0);
        assert_eq!(core.kv_precision, Some(KvPrecision::F32));
        assert_eq!(core.health.max_latency_ms, 1);
        assert_eq!(EngineConfig::from(core), config);
    }
}
