// What the chat screen shows: the conversation, the engine's status and any error.

import BitNet
import Foundation

/// Where a reply stands.
public enum ReplyStatus: Sendable, Equatable {
    /// Text is arriving.
    case streaming
    /// Ended on its own (end of text, a stop string, the token limit or a full context).
    case complete
    /// Stopped by the user: the partial text stays in the conversation.
    case stopped
    /// Stopped by the thermal governor: the partial text stays in the conversation.
    case thermalStopped
    /// Failed with an error: the conversation is unchanged; the turn can be retried.
    case failed
}

/// Figures of one reply.
public struct ReplyStats: Sendable, Equatable {
    /// From the request to the first token, in ms.
    public let timeToFirstTokenMs: Double
    /// Decode speed, in tokens/s.
    public let decodeTokensPerS: Double
    /// Tokens generated.
    public let generatedTokens: UInt32
    /// Tokens of the request, history included.
    public let promptTokens: UInt32
    /// Of those, tokens reused from the session's cache.
    public let cachedTokens: UInt32

    /// The figures `stats` reports.
    public init(_ stats: GenerationStats) {
        timeToFirstTokenMs = stats.timeToFirstTokenMs
        decodeTokensPerS = stats.decodeTokensPerS
        generatedTokens = stats.generatedTokens
        promptTokens = stats.promptTokens
        cachedTokens = stats.cachedTokens
    }
}

/// One exchange: the user's prompt and the model's reply so far.
public struct ChatTurn: Sendable, Equatable {
    /// What the user sent.
    public let prompt: String
    /// The reply so far.
    public var reply = ""
    /// Where the reply stands.
    public var status = ReplyStatus.streaming
    /// Why the engine ended it, once it has.
    public var finishReason: FinishReason?
    /// Its figures, once it has ended.
    public var stats: ReplyStats?

    public init(prompt: String) {
        self.prompt = prompt
    }
}

/// The engine's condition for the status row.
public struct EngineStatus: Sendable, Equatable {
    /// The thermal state in force.
    public let thermal: ThermalState
    /// Threads the last generation ran on (`nil` before the first).
    public let threads: UInt32?
    /// Resident memory now, in bytes, where the platform reports it.
    public let residentBytes: UInt64?
    /// The engine's memory budget, in bytes (`nil`: none).
    public let budgetBytes: UInt64?
    /// What the model and one session need, in bytes (the engine's estimate).
    public let neededBytes: UInt64
    /// The health alerts raised, as text.
    public let alerts: [String]
}

/// Everything the chat screen shows.
public struct ChatUiState: Sendable, Equatable {
    /// What the picker offers; `selected` is the one loaded (or loading).
    public var models: [ModelOption] = []
    /// The model loaded or loading.
    public var selected: ModelOption?
    /// Whether a model is being loaded.
    public var loading = false
    /// Whether a model is loaded and a conversation open.
    public var ready = false
    /// The settings in force.
    public var settings: ChatSettings
    /// The input field's text.
    public var draft = ""
    /// The conversation, oldest first.
    public var turns: [ChatTurn] = []
    /// Whether a reply is streaming.
    public var generating = false
    /// The engine's condition, once a model is loaded.
    public var status: EngineStatus?
    /// The banner's error, if any.
    public var error: UserError?

    /// Whether `draft` can be sent now.
    public var canSend: Bool {
        ready && !generating && !draft.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }
}
