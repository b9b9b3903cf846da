package dev.bitnet

import dev.bitnet.core.BenchConfig
import dev.bitnet.core.EngineConfig
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The benchmark screen's calls against a real engine and the synthetic model: [hardware] and [runBenchmark]. */
class BenchmarkTest {
    private val model = requireNotNull(System.getProperty("bitnet.model")) { "set by scripts/test-kotlin.sh" }

    private val quick = defaultBenchConfig().copy(promptTokens = 16u, genTokens = 4u, reps = 2u, batch = 8u)

    @Test
    fun `the default config is bitnet bench's`() {
        assertEquals(BenchConfig(promptTokens = 512u, genTokens = 128u, reps = 3u, batch = 64u), defaultBenchConfig())
    }

    @Test
    fun `hardware lists the kernel tables and the default one among them`() {
        val hw = hardware()
        assertEquals("scalar", hw.kernelTables.first())
        assertTrue(hw.defaultKernels in hw.kernelTables, "${hw.defaultKernels} in ${hw.kernelTables}")
        assertTrue(hw.defaultThreads >= 1u)
        assertTrue(hw.cpus.containsAll(hw.performanceCpus))
    }

    @Test
    fun `a run reports speeds, bandwidth and the kernels it used`() = runBlocking<Unit> {
        val engine = BitNet.load(model, EngineConfig(threads = 1u))
        val report = engine.runBenchmark(quick)
        assertEquals(hardware().defaultKernels, report.kernels)
        assertEquals(1u, report.threads)
        assertEquals(2u, report.reps)
        assertTrue(report.prefillTokensPerS.mean > 0 && report.decodeTokensPerS.mean > 0, "$report")
        assertTrue(report.timeToFirstTokenMs.mean > 0 && report.bytesPerToken > 0u, "$report")
        assertTrue(report.copyGbPerS > 0 && report.effectiveGbPerS > 0 && report.rooflinePercent > 0, "$report")
        engine.release()
    }

    @Test
    fun `cancelBenchmark returns what was measured, a cancelled coroutine stops the run`() = runBlocking<Unit> {
        val engine = BitNet.load(model)
        val long = quick.copy(reps = 100_000u)
        val run = async { engine.runBenchmark(long) }
        delay(500)
        engine.cancelBenchmark()
        assertTrue(run.await().reps < 100_000u)
        // A coroutine cancelled by its timeout returns once the run stopped; the engine is free.
        assertNull(withTimeoutOrNull(300) { engine.runBenchmark(long) })
        assertEquals(2u, engine.runBenchmark(quick).reps)
        val e = assertThrows<BitNetException.InvalidOption> { runBlocking { engine.runBenchmark(quick.copy(reps = 0u)) } }
        assertEquals("bench", e.name)
        engine.release()
        assertThrows<BitNetException.Closed> { runBlocking { engine.runBenchmark(quick) } }
    }
}
