// What the benchmark measures: repeated runs (prefill, decode, first token, memory) and a
// sustained run (speed over time with the thermal governor's changes).
package dev.bitnet.sample.bench

import dev.bitnet.ThermalState

/**
 * The figures of one benchmark: [runs] generations of the same prompt, each on a fresh session.
 *
 * @property model the model file's name.
 * @property atMs when it ran, in ms since the epoch.
 * @property threads threads the generations ran on.
 * @property promptTokens tokens of the prompt.
 * @property generatedTokens tokens generated per run (the mean).
 * @property timeToFirstTokenMs the first token's latency, in ms.
 * @property prefillTokensPerS prompt processing speed, in tokens/s.
 * @property decodeTokensPerS generation speed, in tokens/s.
 * @property peakResidentBytes the peak resident memory the runs reported, in bytes.
 */
data class BenchResult(
    val model: String,
    val atMs: Long,
    val runs: Int,
    val threads: UInt,
    val promptTokens: UInt,
    val generatedTokens: Double,
    val timeToFirstTokenMs: MeanSd,
    val prefillTokensPerS: MeanSd,
    val decodeTokensPerS: MeanSd,
    val peakResidentBytes: ULong?,
)

/** Decode speed over one interval of a sustained run, at [tS] s, with the [state] and [threads] in force. */
data class SustainedSample(val tS: Double, val tokensPerS: Double, val state: ThermalState, val threads: UInt)

/**
 * A change the engine's thermal governor reported ([dev.bitnet.GenerationEvent.Thermal]) at
 * [tS] s: the [state] now in force, the [threads] and the [pauseMs] between tokens.
 */
data class ThermalMark(val tS: Double, val state: ThermalState, val threads: UInt, val pauseMs: ULong)

/**
 * A sustained run so far.
 *
 * @property seconds how long it is meant to run.
 * @property schedule the scripted thermal states it reports.
 * @property samples decode speed per interval.
 * @property marks the governor's changes, in order.
 * @property thermalStopS when the governor stopped the run, if it did.
 * @property running whether it is still going.
 */
data class SustainedTrace(
    val seconds: Double,
    val schedule: ThermalSchedule,
    val samples: List<SustainedSample> = emptyList(),
    val marks: List<ThermalMark> = emptyList(),
    val thermalStopS: Double? = null,
    val running: Boolean = true,
) {
    /** The marks where the thread count changed from the one before (the first counts from [startThreads]). */
    fun threadChanges(startThreads: UInt): List<ThermalMark> {
        var threads = startThreads
        return marks.filter { mark -> (mark.threads != threads).also { threads = mark.threads } }
    }
}
