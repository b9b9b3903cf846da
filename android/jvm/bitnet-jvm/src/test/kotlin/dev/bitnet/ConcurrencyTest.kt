package dev.bitnet

import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.Prompt
import dev.bitnet.core.ThermalState
import dev.bitnet.core.EngineConfig
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** `EngineConfig.maxConcurrentGenerations` through the binding, against the synthetic model. */
class ConcurrencyTest {
    private val model = requireNotNull(System.getProperty("bitnet.model")) { "set by scripts/test-kotlin.sh" }

    @Test
    fun `under a limit of one a second session waits for the first, then runs`() = runBlocking<Unit> {
        val engine = BitNet.load(model, EngineConfig(threads = 1u, maxConcurrentGenerations = 1u))
        // The first request's first event is the thermal change reported below; its listener
        // holds the request (and its slot) there until released.
        engine.reportThermal(ThermalState.FAIR, null)
        val holding = CountDownLatch(1)
        val release = CountDownLatch(1)
        val holder = object : GenerationListener {
            override fun onEvent(event: GenerationEvent) {
                if (event is GenerationEvent.Thermal) {
                    holding.countDown()
                    release.await(30, TimeUnit.SECONDS)
                }
            }
        }
        val waiterEvents = CountDownLatch(1)
        val waiter = object : GenerationListener {
            override fun onEvent(event: GenerationEvent) = waiterEvents.countDown()
        }
        val first = engine.session()
        val second = engine.session()
        val options = GenerationOptions(maxTokens = 2u)
        val held = async(Dispatchers.IO) { first.generate(Prompt.Text("Once upon a time"), options, holder) }
        assertTrue(holding.await(30, TimeUnit.SECONDS))
        val queued = async(Dispatchers.IO) { second.generate(Prompt.Text("Once upon a time"), options, waiter) }
        while (engine.metrics().queued == 0u) delay(5)
        val m = engine.metrics()
        assertEquals(1u to 1u, m.generating to m.queued)
        assertEquals(1L, waiterEvents.count, "the waiting request has not started")
        delay(50)
        release.countDown()
        held.await()
        val summary = queued.await()
        assertTrue(summary.stats.queuedMs >= 50.0, "${summary.stats.queuedMs} ms in the queue")
        val after = engine.metrics()
        assertEquals(0u to 0u, after.generating to after.queued)
        assertNotNull(after.queueWaitP95Ms)
        engine.reportThermal(ThermalState.NOMINAL, null)
        first.release()
        second.release()
        engine.release()
    }
}
