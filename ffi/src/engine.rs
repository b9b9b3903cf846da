//! `BitNetEngine`: a loaded model, shared by its sessions.

use std::sync::{Arc, RwLock};

use bitnet_core::bench::{self, BenchConfig, BenchReport};
use bitnet_core::engine::{Engine, EngineConfig, MemoryEstimate, SessionConfig, Trimmed};
use bitnet_core::runtime::health::Health;
use bitnet_core::runtime::metrics::Metrics;
use bitnet_core::runtime::thermal::{ThermalMonitor, ThermalReading, ThermalState};

use crate::cancel::InFlight;
use crate::error::BitNetError;
use crate::session::ChatSession;
use crate::{blocking, logging};

/// A loaded model (weights mapped from the file, tokenizer, chat template). Thread-safe.
#[derive(uniffi::Object)]
pub struct BitNetEngine {
    /// `None` once closed.
    engine: RwLock<Option<Engine>>,
    /// The engine's thermal source, fed by [`report_thermal`](Self::report_thermal).
    thermal: ThermalMonitor,
    /// Benchmarks running; [`cancel_benchmark`](Self::cancel_benchmark) stops them.
    benchmarks: InFlight,
}

#[uniffi::export(async_runtime = "tokio")]
impl BitNetEngine {
    /// Maps and validates the GGUF model at `path` on a background thread. Errors:
    /// `FileUnreadable`, `InvalidModelFile`, `UnsupportedModel`, `Tokenizer`, `Threads`,
    /// `InvalidOption` (also for an invalid `thermal_policy`), `BudgetExceeded`.
    #[uniffi::constructor]
    pub async fn load(path: String, config: EngineConfig) -> Result<Arc<Self>, BitNetError> {
        logging::init();
        let engine = blocking::run(move || Ok(Engine::load(path, config)?)).await?;
        let thermal = ThermalMonitor::new();
        engine.set_thermal_source(Some(Arc::new(thermal.clone())));
        Ok(Arc::new(BitNetEngine {
            engine: RwLock::new(Some(engine)),
            thermal,
            benchmarks: InFlight::default(),
        }))
    }

    /// Starts a conversation with its own KV cache (allocated here: context length × layers ×
    /// KV width × 2 bytes for F16). Error `Closed` after [`release`](Self::release).
    pub fn session(&self, config: SessionConfig) -> Result<Arc<ChatSession>, BitNetError> {
        let engine = self.engine()?;
        Ok(Arc::new(ChatSession::new(engine.session(config)?)))
    }

    /// Frees memory on a low-memory signal (Android's `onTrimMemory`, iOS's memory warning):
    /// every session not generating right now gives back its KV cache and scratch buffers and
    /// re-evaluates its history on its next request, with the same results; then the
    /// allocator returns free memory to the OS. Error `Closed` after [`release`](Self::release).
    pub fn trim(&self) -> Result<Trimmed, BitNetError> {
        Ok(self.engine()?.trim())
    }

    /// Feeds the platform's thermal signal to the engine's governor (Android's
    /// `PowerManager` status and `getThermalHeadroom` forecast, 0 = cool, 1.0 = severe; iOS's
    /// `ProcessInfo.thermalState`, no headroom). Generations apply it before their next token:
    /// fewer threads, pauses, or a stop with `FinishReason::ThermalStop` (see the core's
    /// `ThermalPolicy`). Works after `release` too (it is then a no-op in effect).
    pub fn report_thermal(&self, state: ThermalState, headroom: Option<f32>) {
        self.thermal.report(ThermalReading { state, headroom });
    }

    /// What this engine's model needs in memory (as `estimate_memory` computed it at load).
    /// Error `Closed` after [`release`](Self::release).
    pub fn memory_estimate(&self) -> Result<MemoryEstimate, BitNetError> {
        Ok(self.engine()?.memory_estimate().clone())
    }

    /// The engine's service figures now: requests, errors, tokens, latency, speed, memory,
    /// CPU use since the previous call (of `metrics` or `health`), thermal state. Error
    /// `Closed` after [`release`](Self::release).
    pub fn metrics(&self) -> Result<Metrics, BitNetError> {
        Ok(self.engine()?.metrics())
    }

    /// [`metrics`](Self::metrics) checked against `EngineConfig::health`: the alerts raised.
    /// Error `Closed` after [`release`](Self::release).
    pub fn health(&self) -> Result<Health, BitNetError> {
        Ok(self.engine()?.health())
    }

    /// Measures this engine on a background thread: prefill and decode of random tokens
    /// (fixed seed) `config.reps` times after an untimed warm-up, each repetition followed by a
    /// memory-copy bandwidth sample (256 MiB of buffers, freed after), as `bitnet bench` does.
    /// Sessions generating at the same time slow it down. Dropping the returned future does
    /// NOT stop it: [`cancel_benchmark`](Self::cancel_benchmark) does, and the report then
    /// holds the repetitions finished before. Errors: `InvalidOption` (a count of 0),
    /// `ModelFileChanged`, `Closed`, `Internal`.
    pub async fn benchmark(&self, config: BenchConfig) -> Result<BenchReport, BitNetError> {
        let engine = self.engine()?;
        let registration = self.benchmarks.register();
        blocking::run(move || {
            let registration = registration;
            Ok(bench::run(&engine, &config, Some(&registration.token))?)
        })
        .await
    }

    /// Stops the running benchmarks before their next forward pass; each returns what it
    /// finished. No-op when none runs.
    pub fn cancel_benchmark(&self) {
        self.benchmarks.cancel_all();
    }

    /// Releases the engine's hold on the model now (not when the foreign handle is collected)
    /// and cancels its running benchmarks. Sessions already open keep working (each holds the model) until released; later calls
    /// here fail with `Closed`. Idempotent. (Kotlin's `close()` frees the handle itself, after
    /// which calls throw uniffi's `IllegalStateException`; `release()` keeps it valid.)
    pub fn release(&self) {
        self.cancel_benchmark();
        // A poisoned lock only means a panic happened while it was held; closing still works.
        let mut engine = self.engine.write().unwrap_or_else(|e| e.into_inner());
        *engine = None;
    }
}

impl BitNetEngine {
    /// The core engine, or `Closed`.
    fn engine(&self) -> Result<Engine, BitNetError> {
        let engine = self.engine.read().unwrap_or_else(|e| e.into_inner());
        engine.clone().ok_or_else(|| BitNetError::closed("engine"))
    }
}
