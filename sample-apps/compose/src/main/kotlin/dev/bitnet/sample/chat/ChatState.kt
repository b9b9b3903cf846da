// What the chat screen shows: the conversation, the engine's status and any error.
package dev.bitnet.sample.chat

import dev.bitnet.core.FinishReason
import dev.bitnet.core.GenerationStats
import dev.bitnet.core.ThermalState
import dev.bitnet.sample.ModelOption
import dev.bitnet.sample.UserError

/** Where a reply stands. */
enum class ReplyStatus {
    /** Text is arriving. */
    STREAMING,

    /** Ended on its own (end of text, a stop string, the token limit or a full context). */
    COMPLETE,

    /** Stopped by the user: the partial text stays in the conversation. */
    STOPPED,

    /** Stopped by the thermal governor: the partial text stays in the conversation. */
    THERMAL_STOPPED,

    /** Failed with an error: the conversation is unchanged; the turn can be retried. */
    FAILED,
}

/**
 * Figures of one reply.
 *
 * @property timeToFirstTokenMs from the request to the first token, in ms.
 * @property decodeTokensPerS decode speed, in tokens/s.
 * @property generatedTokens tokens generated.
 * @property promptTokens tokens of the request, history included.
 * @property cachedTokens of those, tokens reused from the session's cache.
 */
data class ReplyStats(
    val timeToFirstTokenMs: Double,
    val decodeTokensPerS: Double,
    val generatedTokens: UInt,
    val promptTokens: UInt,
    val cachedTokens: UInt,
) {
    companion object {
        /** The figures [stats] reports. */
        fun of(stats: GenerationStats) = ReplyStats(
            stats.timeToFirstTokenMs, stats.decodeTokensPerS, stats.generatedTokens,
            stats.promptTokens, stats.cachedTokens,
        )
    }
}

/**
 * One exchange: the user's [prompt] and the model's [reply] so far.
 *
 * @property status where the reply stands.
 * @property finishReason why the engine ended it, once it has.
 * @property stats its figures, once it has ended.
 */
data class ChatTurn(
    val prompt: String,
    val reply: String = "",
    val status: ReplyStatus = ReplyStatus.STREAMING,
    val finishReason: FinishReason? = null,
    val stats: ReplyStats? = null,
)

/**
 * The engine's condition for the status row.
 *
 * @property thermal the thermal state in force.
 * @property threads threads the last generation ran on (`null` before the first).
 * @property residentBytes resident memory now, in bytes, where the platform reports it.
 * @property budgetBytes the engine's memory budget, in bytes (`null`: none).
 * @property neededBytes what the model and one session need, in bytes (the engine's estimate).
 * @property alerts the health alerts raised, as text.
 */
data class EngineStatus(
    val thermal: ThermalState,
    val threads: UInt?,
    val residentBytes: ULong?,
    val budgetBytes: ULong?,
    val neededBytes: ULong,
    val alerts: List<String>,
)

/**
 * Everything the chat screen shows.
 *
 * @property models what the picker offers; [selected] is the one loaded (or loading).
 * @property loading whether a model is being loaded.
 * @property ready whether a model is loaded and a conversation open.
 * @property settings the settings in force.
 * @property draft the input field's text.
 * @property turns the conversation, oldest first.
 * @property generating whether a reply is streaming.
 * @property status the engine's condition, once a model is loaded.
 * @property error the banner's error, if any.
 */
data class ChatUiState(
    val models: List<ModelOption> = emptyList(),
    val selected: ModelOption? = null,
    val loading: Boolean = false,
    val ready: Boolean = false,
    val settings: ChatSettings = ChatSettings(),
    val draft: String = "",
    val turns: List<ChatTurn> = emptyList(),
    val generating: Boolean = false,
    val status: EngineStatus? = null,
    val error: UserError? = null,
) {
    /** Whether [draft] can be sent now. */
    val canSend: Boolean get() = ready && !generating && draft.isNotBlank()
}
