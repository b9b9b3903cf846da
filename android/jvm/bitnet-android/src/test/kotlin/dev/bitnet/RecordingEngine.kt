package dev.bitnet

import dev.bitnet.core.BenchConfig
import dev.bitnet.core.BenchReport
import dev.bitnet.core.EngineHealth
import dev.bitnet.core.EngineMetrics
import dev.bitnet.core.MemoryEstimate
import dev.bitnet.core.SessionConfig
import dev.bitnet.core.ThermalState
import dev.bitnet.core.TrimReport

/**
 * An engine that records what the platform hooks send it (no native library): thermal
 * reports and trims. The calls the hooks never make fail.
 */
class RecordingEngine : BitNetEngineInterface {
    val reports = mutableListOf<Pair<ThermalState, Float?>>()
    var trims = 0
    var released = false

    @Synchronized
    override fun reportThermal(state: ThermalState, headroom: Float?) {
        reports += state to headroom
    }

    @Synchronized
    override fun trim(): TrimReport {
        if (released) throw BitNetException.Closed("the engine is closed")
        trims++
        return TrimReport(sessions = 0u, releasedBytes = 0uL)
    }

    override fun release() {
        released = true
    }

    override fun session(config: SessionConfig): ChatSession = unused()
    override fun metrics(): EngineMetrics = unused()
    override fun health(): EngineHealth = unused()
    override fun memoryEstimate(): MemoryEstimate = unused()
    override suspend fun benchmark(config: BenchConfig): BenchReport = unused()
    override fun cancelBenchmark(): Unit = unused()

    private fun unused(): Nothing = throw UnsupportedOperationException("not called by the platform hooks")
}
