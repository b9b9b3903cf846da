// The chat's settings: the system prompt, sampling and the engine's threads and memory budget.
package dev.bitnet.sample.chat

import dev.bitnet.core.EngineConfig
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.SamplingParams

/**
 * What the settings panel edits.
 *
 * @property systemPrompt opens each conversation when not blank.
 * @property maxTokens most tokens per reply.
 * @property temperature 0 = greedy (the CLI's default).
 * @property topK 0 = off.
 * @property topP 1 = off.
 * @property seed makes sampling repeatable.
 * @property threads the engine's thread limit; 0 = the performance cores.
 * @property memoryBudgetBytes the engine's memory budget in bytes; `null` = none.
 */
data class ChatSettings(
    val systemPrompt: String = "",
    val maxTokens: UInt = 256u,
    val temperature: Float = 0f,
    val topK: UInt = 0u,
    val topP: Float = 1f,
    val seed: ULong = 0uL,
    val threads: UInt = 0u,
    val memoryBudgetBytes: ULong? = null,
) {
    /** The options each reply is generated with. */
    fun options(): GenerationOptions =
        GenerationOptions(
            maxTokens = maxTokens,
            sampling = SamplingParams(temperature = temperature, topK = topK, topP = topP, seed = seed),
        )

    /** The configuration engines are loaded with. */
    fun engineConfig(): EngineConfig = EngineConfig(threads = threads, memoryBudgetBytes = memoryBudgetBytes)

    /** Whether going from these settings to [next] needs the model loaded again. */
    fun needsReload(next: ChatSettings): Boolean = engineConfig() != next.engineConfig()
}
