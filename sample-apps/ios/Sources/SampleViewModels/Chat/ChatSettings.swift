// The chat's settings: the system prompt, sampling and the engine's threads and memory budget.

import BitNet

/// What the settings panel edits.
public struct ChatSettings: Sendable, Equatable {
    /// Opens each conversation when not blank.
    public var systemPrompt: String
    /// Most tokens per reply.
    public var maxTokens: UInt32
    /// 0 = greedy (the CLI's default).
    public var temperature: Float
    /// 0 = off.
    public var topK: UInt32
    /// 1 = off.
    public var topP: Float
    /// Makes sampling repeatable.
    public var seed: UInt64
    /// The engine's thread limit; 0 = the performance cores.
    public var threads: UInt32
    /// The engine's memory budget in bytes; `nil` = none.
    public var memoryBudgetBytes: UInt64?

    public init(
        systemPrompt: String = "", maxTokens: UInt32 = 256, temperature: Float = 0, topK: UInt32 = 0,
        topP: Float = 1, seed: UInt64 = 0, threads: UInt32 = 0, memoryBudgetBytes: UInt64? = nil
    ) {
        self.systemPrompt = systemPrompt
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.threads = threads
        self.memoryBudgetBytes = memoryBudgetBytes
    }

    /// The options each reply is generated with.
    public var options: GenerationOptions {
        GenerationOptions(
            maxTokens: maxTokens,
            sampling: SamplingParams(temperature: temperature, topK: topK, topP: topP, seed: seed)
        )
    }

    /// The configuration engines are loaded with.
    public var engineConfig: EngineConfig {
        EngineConfig(threads: threads, memoryBudgetBytes: memoryBudgetBytes)
    }

    /// Whether going from these settings to `next` needs the model loaded again.
    public func needsReload(_ next: ChatSettings) -> Bool {
        engineConfig != next.engineConfig
    }
}
