//! What a generation reports: streamed events, the final summary, and the foreign listener.

use bitnet_core::engine;

use crate::error::count;
use crate::remote::{FinishReason, ThermalState};

/// Timing and size figures of one request.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct GenerationStats {
    /// Tokens of the whole prompt (history + new input).
    pub prompt_tokens: u32,
    /// Prompt tokens reused from the KV cache instead of recomputed.
    pub cached_tokens: u32,
    /// Tokens generated (including a final end-of-text token).
    pub generated_tokens: u32,
    /// Time spent waiting for a generation slot (`EngineConfig::max_concurrent_generations`),
    /// in ms; part of the times below.
    pub queued_ms: f64,
    /// From the call to the first generated token, in ms.
    pub time_to_first_token_ms: f64,
    /// Prompt tokens evaluated per second during prefill.
    pub prefill_tokens_per_s: f64,
    /// Tokens generated per second after the first.
    pub decode_tokens_per_s: f64,
    /// Whole request (from the call, queue wait included), in ms.
    pub total_ms: f64,
    /// Distinct threads that ran matmul work during the request.
    pub kernel_threads: u32,
    /// The most threads that ran one matmul at the same moment (at most what the thermal
    /// governor allowed then).
    pub peak_kernel_threads: u32,
    /// The thermal state in force at the end of the request.
    pub thermal_state: ThermalState,
    /// Thermal changes this request saw (each also sent as `GenerationEvent::Thermal`).
    pub throttle_events: u32,
    /// Tokens drafted by prompt lookup and evaluated ahead (`EngineConfig::draft_tokens`).
    pub drafted_tokens: u32,
    /// Drafted tokens that equalled the sampled ones (each saved a pass over the weights).
    pub accepted_tokens: u32,
    /// Pauses the governor put between tokens, summed, in ms.
    pub paused_ms: u64,
    /// Resident memory of the process at the end of the request, in bytes; `None` where the
    /// platform does not report it.
    pub resident_bytes: Option<u64>,
    /// Peak resident memory of the process so far, in bytes; `None` where not reported.
    pub peak_resident_bytes: Option<u64>,
}

impl From<engine::GenerationStats> for GenerationStats {
    fn from(s: engine::GenerationStats) -> Self {
        GenerationStats {
            prompt_tokens: count(s.prompt_tokens),
            cached_tokens: count(s.cached_tokens),
            generated_tokens: count(s.generated_tokens),
            queued_ms: s.queued_ms,
            time_to_first_token_ms: s.time_to_first_token_ms,
            prefill_tokens_per_s: s.prefill_tokens_per_s,
            decode_tokens_per_s: s.decode_tokens_per_s,
            total_ms: s.total_ms,
            kernel_threads: count(s.kernel_threads),
            peak_kernel_threads: count(s.peak_kernel_threads),
            thermal_state: s.thermal_state,
            throttle_events: count(s.throttle_events),
            drafted_tokens: count(s.drafted_tokens),
            accepted_tokens: count(s.accepted_tokens),
            paused_ms: s.paused_ms,
            resident_bytes: s.resident_bytes,
            peak_resident_bytes: s.peak_resident_bytes,
        }
    }
}

/// The outcome of one request.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct GenerationSummary {
    /// The whole reply text (the `Text` events, concatenated).
    pub text: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Figures for this request.
    pub stats: GenerationStats,
}

impl From<engine::Generation> for GenerationSummary {
    fn from(g: engine::Generation) -> Self {
        GenerationSummary {
            text: g.text,
            finish_reason: g.finish_reason,
            stats: g.stats.into(),
        }
    }
}

/// Something a generation reports while it runs, in order. `Finished` is always the last
/// event of a generation that did not fail.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum GenerationEvent {
    /// The next piece of reply text (whole UTF-8 characters, never part of a stop string).
    Text {
        /// The piece.
        text: String,
    },
    /// The thermal governor changed what it does (when the state changes, before the next
    /// token). `threads` = 0 means the generation stops with `FinishReason::ThermalStop`.
    Thermal {
        /// The state now in force.
        state: ThermalState,
        /// Threads matmuls now run on.
        threads: u32,
        /// Pause between tokens now, in ms.
        pause_ms: u64,
    },
    /// The generation ended; the same summary `ChatSession::generate` returns.
    Finished {
        /// Why it ended, its text and its figures.
        summary: GenerationSummary,
    },
}

/// Receives a generation's events, implemented by the foreign side (Kotlin `Flow`, Swift
/// `GenerationStream`). Called on the generating thread: a slow `on_event` slows the
/// generation down (back-pressure), it never loses events.
#[uniffi::export(with_foreign)]
pub trait GenerationListener: Send + Sync {
    /// Called once per event, in order.
    fn on_event(&self, event: GenerationEvent);
}
