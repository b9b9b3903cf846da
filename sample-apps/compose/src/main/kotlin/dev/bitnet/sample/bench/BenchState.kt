// What the benchmark screen shows.
package dev.bitnet.sample.bench

import dev.bitnet.core.MemoryEstimate
import dev.bitnet.core.Profile
import dev.bitnet.sample.ModelOption
import dev.bitnet.sample.UserError

/**
 * How the selected model fits one deployment profile's budget.
 *
 * @property budgetBytes the profile's memory budget, in bytes (`null`: none).
 * @property contextTokens the longest context a session gets under it, in tokens.
 * @property fits whether the model loads under it.
 */
data class ProfileRow(val profile: Profile, val budgetBytes: ULong?, val contextTokens: UInt, val fits: Boolean)

/** What the benchmark is doing. */
enum class BenchActivity {
    /** Nothing. */
    IDLE,

    /** Timed runs. */
    RUNS,

    /** A sustained run. */
    SUSTAINED,
}

/**
 * Everything the benchmark screen shows.
 *
 * @property device the device card's figures.
 * @property models what the picker offers; [selected] is the model measured.
 * @property estimate the selected model's memory estimate (from its header).
 * @property profiles how it fits each deployment profile.
 * @property settings what the next run does.
 * @property activity what is running.
 * @property progress what is running now ("run 2 of 3").
 * @property latest the last finished benchmark; [history] holds every one, newest last.
 * @property sustained the last (or running) sustained run.
 * @property startThreads the threads in force when [sustained] started.
 * @property export the history as JSON once exported.
 * @property error the banner's error, if any.
 */
data class BenchUiState(
    val device: DeviceInfo,
    val models: List<ModelOption> = emptyList(),
    val selected: ModelOption? = null,
    val estimate: MemoryEstimate? = null,
    val profiles: List<ProfileRow> = emptyList(),
    val settings: BenchSettings = BenchSettings(),
    val activity: BenchActivity = BenchActivity.IDLE,
    val progress: String? = null,
    val latest: BenchResult? = null,
    val history: List<BenchResult> = emptyList(),
    val sustained: SustainedTrace? = null,
    val startThreads: UInt? = null,
    val export: String? = null,
    val error: UserError? = null,
)
