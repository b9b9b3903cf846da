// The Swift face of the SDK: async conveniences over the generated bindings
// (Generated/BitNet.swift: BitNetEngine, ChatSession, the records, GenerationEvent and the
// BitNetError enum). `BitNetEngine.load(path:config:) async throws` is generated as is.
// Platform-neutral: compiled and tested on Linux too (scripts/test-swift.sh).

import Foundation

extension BitNetEngine {
    /// Loads the GGUF model at `path` with the default `EngineConfig`.
    public static func load(path: String) async throws -> BitNetEngine {
        try await load(path: path, config: EngineConfig())
    }

    /// What the model at `path` would need in memory with `config`, from its header alone
    /// (see `MemoryEstimate`; all sizes in bytes).
    public static func estimate(
        path: String, config: EngineConfig = EngineConfig()
    ) async throws -> MemoryEstimate {
        try await estimateMemory(path: path, config: config)
    }

    /// Starts a conversation with the default `SessionConfig`.
    public func session() throws -> ChatSession {
        try session(config: SessionConfig())
    }

    /// Measures this engine (`benchmark(config:)`, the routine `bitnet bench` runs): prefill
    /// and decode speed, first-token latency, peak memory, and decode's bytes per second
    /// against the device's measured copy bandwidth (`BenchReport.rooflinePercent`).
    ///
    /// Cancelling the calling task stops the run before its next forward pass and throws
    /// `CancellationError` once it has stopped. To keep what a stopped run measured, call
    /// `cancelBenchmark()` instead: this call then returns the repetitions finished
    /// (`BenchReport.reps`, 0 for none). Throws `BitNetError.InvalidOption` for a count of 0.
    public func runBenchmark(_ config: BenchConfig = defaultBenchConfig()) async throws -> BenchReport {
        try Task.checkCancellation()
        let report = try await withTaskCancellationHandler {
            try await benchmark(config: config)
        } onCancel: {
            cancelBenchmark()
        }
        try Task.checkCancellation()
        return report
    }

    /// Loads the model at `path` for this device and feeds it the device's signals: like
    /// `load(path:config:)`, but a `memoryBudgetBytes` left `nil` becomes
    /// `defaultMemoryBudgetBytes()`, and the engine comes with started `PlatformHooks`
    /// (thermal state → `reportThermal`, memory warnings → `trim()`).
    public static func loadAttached(
        path: String, config: EngineConfig = EngineConfig()
    ) async throws -> AttachedEngine {
        var config = config
        if config.memoryBudgetBytes == nil {
            config.memoryBudgetBytes = defaultMemoryBudgetBytes()
        }
        let engine = try await load(path: path, config: config)
        return AttachedEngine(engine: engine, hooks: engine.attach())
    }

    /// Starts feeding this engine the device's signals (see `PlatformHooks`); keep the result
    /// while the engine is in use and `stop()` it before releasing the engine.
    public func attach(center: NotificationCenter = .default) -> PlatformHooks {
        PlatformHooks(engine: self, center: center)
    }
}

/// An engine with its `PlatformHooks` (from `BitNetEngine.loadAttached`); `release()` stops
/// the hooks, then releases the engine.
public final class AttachedEngine: Sendable {
    /// The engine itself: sessions, `trim()`, `reportThermal`, ...
    public let engine: BitNetEngine
    /// The monitors feeding it.
    public let hooks: PlatformHooks

    public init(engine: BitNetEngine, hooks: PlatformHooks) {
        self.engine = engine
        self.hooks = hooks
    }

    /// Stops the hooks, then releases the engine (open sessions keep working).
    public func release() {
        hooks.stop()
        engine.release()
    }
}

extension ChatSession {
    /// The events held for a slow consumer before the generation waits for it, by default
    /// (Kotlin's `Flow` buffers as many).
    public static let defaultStreamBuffer = 64

    /// Streams a chat reply to `messages`: `.text` pieces (and `.thermal` changes), then one
    /// `.finished` with the summary and statistics; errors end the loop with a `BitNetError`.
    ///
    /// The generation starts when a `for try await` loop starts over the stream (each loop
    /// runs one) and waits while `buffer` events are waiting for the loop: a slow consumer
    /// slows it down, and no event is dropped (`buffer: 0` hands each event over before the
    /// next token). Leaving the loop or cancelling its task calls `cancel()`: the generation
    /// stops before its next token (at most `buffer` + 1 tokens after the last event the loop
    /// took), keeping its partial reply in the history; `lastGeneration()` has its summary once
    /// it has stopped. The session's stream generations run in the order their loops started,
    /// so the next turn can start at once: it waits for the cancelled one to stop.
    public func generate(
        _ messages: [ChatMessage], options: GenerationOptions = GenerationOptions(),
        buffer: Int = defaultStreamBuffer
    ) -> GenerationStream {
        generate(.chat(messages: messages), options: options, buffer: buffer)
    }

    /// Streams the continuation of raw `text` (no chat template), as `bitnet generate` does;
    /// see the `messages` overload.
    public func generate(
        _ text: String, options: GenerationOptions = GenerationOptions(),
        buffer: Int = defaultStreamBuffer
    ) -> GenerationStream {
        generate(.text(text: text), options: options, buffer: buffer)
    }

    /// Streams the reply to `prompt`; see the `messages` overload.
    public func generate(
        _ prompt: Prompt, options: GenerationOptions, buffer: Int = defaultStreamBuffer
    ) -> GenerationStream {
        GenerationStream(policy: .wait(capacity: max(0, buffer))) { channel in
            let listener = StreamListener(channel: channel, session: self)
            SessionTurns.shared.enqueue(self) {
                // Left before its turn came: never started. Otherwise leaving cancels it from
                // now on, whether or not it has registered on the Rust side yet (if not, the
                // listener cancels it at its first event).
                guard channel.starting(cancel: { self.cancel() }) else { return channel.finish() }
                do {
                    _ = try await self.generate(prompt: prompt, options: options, listener: listener)
                    channel.finish()
                } catch {
                    channel.finish(error)
                }
            }
        }
    }
}

/// Hands a generation's events to its stream, on the generating thread (waiting while the
/// stream's buffer is full). If the consumer is gone it cancels the generation: that also
/// covers a consumer that left before the generation had registered, which the stream's own
/// `cancel()` could not reach. The session's next stream generation has not started then
/// (`SessionTurns`), so only this one is cancelled.
private final class StreamListener: GenerationListener {
    private let channel: EventChannel<GenerationEvent>
    private let session: ChatSession

    init(channel: EventChannel<GenerationEvent>, session: ChatSession) {
        self.channel = channel
        self.session = session
    }

    func onEvent(event: GenerationEvent) {
        if !channel.send(event) {
            session.cancel()
        }
    }
}
