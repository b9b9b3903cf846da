// What the benchmark measures: repeated runs (prefill, decode, first token, memory, bandwidth)
// and a sustained run (speed over time with the thermal governor's changes).
package dev.bitnet.sample.bench

import dev.bitnet.core.BenchReport
import dev.bitnet.core.ThermalState

/**
 * One benchmark: the engine's report ([dev.bitnet.runBenchmark]) for a model at a time.
 *
 * @property model the model file's name.
 * @property atMs when it ran, in ms since the epoch.
 * @property report what the engine measured: speeds (mean ± sd over [BenchReport.reps]
 *   repetitions), first-token latency, peak memory, decode's GB/s against the copy bandwidth
 *   measured beside it, and the kernel table and threads it ran on.
 */
data class BenchResult(val model: String, val atMs: Long, val report: BenchReport)

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
