//! The core's own enums and plain settings, exposed as they are: each `#[uniffi::remote]` item
//! below restates a `bitnet-core` type for the bindings generator, and the compiler checks the
//! restatement against the core's definition (every variant and field, with its type), so the
//! FFI holds no copy of these types and no conversion code. The docs here are what Kotlin and
//! Swift users read; the foreign defaults of [`HealthThresholds`] must equal the core's
//! `Default` (tested below).

pub use bitnet_core::chat::Role;
pub use bitnet_core::engine::{FinishReason, OverflowPolicy};
pub use bitnet_core::model::{HeadPrecision, KvPrecision};
pub use bitnet_core::runtime::health::HealthThresholds;
pub use bitnet_core::runtime::thermal::{ThermalPolicy, ThermalState, Throttle};
pub use bitnet_core::runtime::Profile;

/// Output head precision.
#[uniffi::remote(Enum)]
pub enum HeadPrecision {
    /// The head as the file stores it (F16 in BitNet files), read in place from the mapping.
    F16,
    /// Re-quantised to Q8_0 at load (an owned copy): fewer bytes read per token, a small
    /// logit error.
    Q8_0,
}

/// How the KV cache stores its values.
#[uniffi::remote(Enum)]
pub enum KvPrecision {
    /// IEEE f16, 2 bytes per value (ternary models; what phones use).
    F16,
    /// f32, 4 bytes per value (float-weight models; the exact reference path).
    F32,
    /// Q8_0 blocks: 34 bytes per 32 values (an f16 scale and 32 int8), about half of F16's
    /// bytes per token, at a small logit error.
    Q8_0,
}

/// What a session does when the history outgrows its context.
#[uniffi::remote(Enum)]
pub enum OverflowPolicy {
    /// Fail with `ContextFull`; the session is left unchanged.
    Error,
    /// Drop the oldest turns (system messages are kept) until the request fits.
    DropOldestTurns,
}

/// Who wrote a message.
#[uniffi::remote(Enum)]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person talking to the model.
    User,
    /// The model.
    Assistant,
}

/// Why a generation ended.
#[uniffi::remote(Enum)]
pub enum FinishReason {
    /// The model produced an end-of-text or end-of-turn token.
    EndOfText,
    /// A stop string was produced.
    StopString,
    /// `max_tokens` were generated.
    MaxTokens,
    /// `ChatSession::cancel` was called.
    Cancelled,
    /// The session's context has no room for another token.
    ContextFull,
    /// The thermal governor stopped the generation (critical state); the text so far is kept.
    ThermalStop,
}

/// The device's thermal state (Apple's `ProcessInfo.ThermalState` levels; Android's
/// `PowerManager` statuses map onto them).
#[uniffi::remote(Enum)]
pub enum ThermalState {
    /// No throttling needed.
    Nominal,
    /// Slightly warm: pacing helps.
    Fair,
    /// Hot: the OS throttles; use fewer cores.
    Serious,
    /// About to be throttled hard or shut down: stop.
    Critical,
}

/// What the thermal governor does in one thermal state.
#[uniffi::remote(Enum)]
pub enum Throttle {
    /// Keep generating on `threads_percent` % of the configured threads (rounded down, at
    /// least 1), pausing `pause_ms` between tokens. A share outside 1..=100 fails loading with
    /// `InvalidOption`.
    Run {
        /// Share of the configured threads, in percent (1..=100).
        threads_percent: u8,
        /// Pause between two tokens, in ms.
        pause_ms: u64,
    },
    /// End the generation cleanly with `FinishReason::ThermalStop`, keeping the text so far.
    Stop,
}

/// The thermal governor's table, one action per `ThermalState`. `default_thermal_policy()`
/// gives the engine's: nominal every thread; fair every thread, 10 ms between tokens; serious
/// half the threads, 50 ms; critical stop.
#[uniffi::remote(Record)]
pub struct ThermalPolicy {
    /// Action in `ThermalState::Nominal`.
    pub nominal: Throttle,
    /// Action in `ThermalState::Fair`.
    pub fair: Throttle,
    /// Action in `ThermalState::Serious`.
    pub serious: Throttle,
    /// Action in `ThermalState::Critical`.
    pub critical: Throttle,
}

/// The thresholds `BitNetEngine::health` raises alerts at; the defaults are the engine's.
#[uniffi::remote(Record)]
pub struct HealthThresholds {
    /// Alert when resident memory exceeds this, in bytes (default 1024 MiB).
    #[uniffi(default = 1073741824)]
    pub max_resident_bytes: u64,
    /// Alert when CPU use exceeds this, in percent of the CPUs the process may use.
    #[uniffi(default = 80)]
    pub max_cpu_percent: u32,
    /// Alert when the recent mean decode speed is below this, in tokens/s.
    #[uniffi(default = 5)]
    pub min_decode_tokens_per_s: u32,
    /// Alert when errors exceed this share of requests, in percent.
    #[uniffi(default = 5)]
    pub max_error_rate_percent: u32,
    /// Alert when the recent p95 latency exceeds this, in ms.
    #[uniffi(default = 5000)]
    pub max_latency_ms: u64,
}

/// A named preset of thread limit, memory budget and concurrent generations, smallest first;
/// `profile_config` gives its `EngineConfig`.
#[uniffi::remote(Enum)]
pub enum Profile {
    /// 2 threads, 512 MiB (mapped weights not counted: a phone's limit leaves clean file
    /// pages out), 1 generation at a time: a phone app in the foreground.
    Mobile,
    /// 4 threads, 1024 MiB, 2 generations at once: a tablet, a single-board computer, a kiosk.
    Edge,
    /// 8 threads, 2048 MiB, 5 generations at once: a shared server process.
    Server,
    /// 16 threads, 4096 MiB, 10 generations at once: a dedicated cloud instance.
    Cloud,
}

#[cfg(test)]
mod tests {
    use super::*;

    // The foreign defaults (`#[uniffi(default)]` above), restated: they must be the core's.
    #[test]
    fn foreign_defaults_are_the_core_defaults() {
        let thresholds = HealthThresholds {
            max_resident_bytes: 1073741824,
            max_cpu_percent: 80,
            min_decode_tokens_per_s: 5,
            max_error_rate_percent: 5,
            max_latency_ms: 5000,
        };
        assert_eq!(thresholds, HealthThresholds::default());
    }
}
