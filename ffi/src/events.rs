//! What a generation reports while it runs: streamed events and the foreign listener (the
//! final summary is the core's `Generation`, `GenerationSummary` in Kotlin and Swift).

use bitnet_core::engine::Generation;
use bitnet_core::runtime::thermal::ThermalState;

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
        threads: usize,
        /// Pause between tokens now, in ms.
        pause_ms: u64,
    },
    /// The generation ended; the same summary `ChatSession::generate` returns.
    Finished {
        /// Why it ended, its text and its figures.
        summary: Generation,
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
