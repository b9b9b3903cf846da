// The Swift face of the SDK: AsyncThrowingStream conveniences over the generated bindings
// (Generated/BitNet.swift: BitNetEngine, ChatSession, the records, GenerationEvent and the
// BitNetError enum). `BitNetEngine.load(path:config:) async throws` is generated as is.

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
public final class AttachedEngine {
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
    /// Streams a chat reply to `messages`: `.text` pieces, then one `.finished` with the
    /// summary and statistics; errors end the stream with a `BitNetError`.
    ///
    /// Cancelling the consuming task (or leaving the `for try await` loop) calls `cancel()`:
    /// the generation stops before its next token, keeping its partial reply in the history
    /// (`lastGeneration()` has its summary). Events are buffered, never dropped.
    public func generate(
        _ messages: [ChatMessage], options: GenerationOptions = GenerationOptions()
    ) -> AsyncThrowingStream<GenerationEvent, Error> {
        generate(.chat(messages: messages), options: options)
    }

    /// Streams the continuation of raw `text` (no chat template), as `bitnet generate` does.
    public func generate(
        _ text: String, options: GenerationOptions = GenerationOptions()
    ) -> AsyncThrowingStream<GenerationEvent, Error> {
        generate(.text(text: text), options: options)
    }

    /// Streams the reply to `prompt`; see the `messages` overload for cancellation.
    public func generate(
        _ prompt: Prompt, options: GenerationOptions
    ) -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let listener = StreamListener(continuation: continuation, session: self)
            continuation.onTermination = { termination in
                if case .cancelled = termination { self.cancel() }
            }
            // Not cancelled with the stream: the Rust side is stopped by `cancel()` and this
            // task ends once it has.
            Task {
                do {
                    _ = try await self.generate(prompt: prompt, options: options, listener: listener)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }
}

/// Forwards a generation's events into a stream. If the stream has ended (its consumer is
/// gone) it cancels the generation: that also covers a consumer that left before the
/// generation had started, which `onTermination`'s `cancel()` could not reach.
private final class StreamListener: GenerationListener {
    private let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
    private let session: ChatSession

    init(continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation, session: ChatSession) {
        self.continuation = continuation
        self.session = session
    }

    func onEvent(event: GenerationEvent) {
        if case .terminated = continuation.yield(event) {
            session.cancel()
        }
    }
}
