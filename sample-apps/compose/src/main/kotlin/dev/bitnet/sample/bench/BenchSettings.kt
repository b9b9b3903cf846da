// What the benchmark runs: how many runs of how many tokens, and the sustained run's length and
// thermal schedule.
package dev.bitnet.sample.bench

/**
 * @property runs timed repetitions (after one untimed warm-up).
 * @property promptTokens prompt tokens each repetition prefills.
 * @property genTokens tokens each repetition decodes.
 * @property threads the engine's thread limit; 0 = the performance cores.
 * @property sustainedSeconds how long a sustained run decodes.
 * @property sampleMs the sustained run's sampling interval, in ms.
 * @property schedule thermal states the sustained run reports to the engine.
 */
data class BenchSettings(
    val runs: Int = 3,
    val promptTokens: UInt = 128u,
    val genTokens: UInt = 64u,
    val threads: UInt = 0u,
    val sustainedSeconds: Double = 10.0,
    val sampleMs: Long = 500,
    val schedule: ThermalSchedule = ThermalSchedule.parse("0s:nominal,3s:fair,6s:serious,8s:critical"),
)
