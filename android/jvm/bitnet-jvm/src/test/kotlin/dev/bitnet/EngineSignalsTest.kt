package dev.bitnet

import dev.bitnet.core.FinishReason
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.GenerationSummary
import dev.bitnet.core.ThermalState
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/** EngineSignals (what AndroidHooks feeds) against a real engine and the synthetic model. */
class EngineSignalsTest {
    private val model = requireNotNull(System.getProperty("bitnet.model")) { "set by scripts/test-kotlin.sh" }

    /** The thermal events and the summary of a short greedy generation. */
    private fun run(engine: BitNetEngineInterface): Pair<List<ThermalState>, GenerationSummary> = runBlocking {
        val session = engine.session()
        val events = session.generate("Once upon a time", GenerationOptions(maxTokens = 4u)).toList()
        session.release()
        val states = events.filterIsInstance<GenerationEvent.Thermal>().map { it.state }
        states to (events.last() as GenerationEvent.Finished).summary
    }

    @Test
    fun `each Android status stands for an engine state`() {
        assertEquals(
            listOf(
                ThermalState.NOMINAL, ThermalState.FAIR, ThermalState.SERIOUS, ThermalState.CRITICAL,
                ThermalState.CRITICAL, ThermalState.CRITICAL, ThermalState.CRITICAL,
            ),
            ThermalStatus.entries.map { it.state },
        )
    }

    @Test
    fun `status and headroom reach the engine together, and nothing after close`() {
        val engine = runBlocking { BitNet.load(model) }
        val signals = EngineSignals(engine)
        // Light status, but a 0.9 headroom forecast: the engine acts on the hotter, serious.
        signals.onThermalStatus(ThermalStatus.LIGHT)
        signals.onThermalHeadroom(0.9f)
        val (states, summary) = run(engine)
        assertEquals(listOf(ThermalState.SERIOUS), states)
        assertEquals(ThermalState.SERIOUS, summary.stats.thermalState)
        // The status cools down; the forecast is kept with it, so nothing changes.
        signals.onThermalStatus(ThermalStatus.NONE)
        assertEquals(emptyList<ThermalState>(), run(engine).first)
        // Severe stops generations before their first token.
        signals.onThermalStatus(ThermalStatus.SEVERE)
        val (stopping, stopped) = run(engine)
        assertEquals(listOf(ThermalState.CRITICAL), stopping)
        assertEquals(FinishReason.THERMAL_STOP, stopped.finishReason)
        // Detached: the all-clear no longer reaches the engine.
        signals.close()
        signals.onThermalStatus(ThermalStatus.NONE)
        signals.onThermalHeadroom(0f)
        assertEquals(FinishReason.THERMAL_STOP, run(engine).second.finishReason)
        engine.release()
    }

    @Test
    fun `a trim after the app released the engine is a no-op`() {
        val engine = runBlocking { BitNet.load(model) }
        val signals = EngineSignals(engine)
        signals.trim()
        engine.release()
        signals.trim()
        signals.close()
    }
}
