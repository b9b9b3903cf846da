package dev.bitnet

import dev.bitnet.core.EngineConfig
import dev.bitnet.core.SessionConfig
import dev.bitnet.core.ThermalState
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.ThermalPolicy
import dev.bitnet.core.Throttle
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import kotlin.random.Random
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * A storm through the binding: 8 coroutines on 8 threads each run random operations over one
 * engine — sessions under a tight memory budget, generations cancelled at random points (the
 * collector leaves early, or its job is cancelled from outside), trims, resets, released
 * sessions and thermal flips. Asserts: no exception but the refusals a tight budget causes,
 * no deadlock (a watchdog), no session left once all are released, and resident memory back
 * within a margin after a second storm (the first one sizes the JVM's heap).
 *
 * Environment, as for the Rust storm (`tests/storm.rs`): `BITNET_STORM_OPS`, operations per
 * coroutine (default 250; 1000 is the soak run), and `BITNET_STORM_RSS_MARGIN_MIB` (default 128).
 */
class StormTest {
    private val model = requireNotNull(System.getProperty("bitnet.model")) { "set by scripts/test-kotlin.sh" }
    private val ops = System.getenv("BITNET_STORM_OPS")?.toInt() ?: 250
    private val marginBytes = (System.getenv("BITNET_STORM_RSS_MARGIN_MIB")?.toLong() ?: 128L) shl 20

    /** What the coroutines did, by operation. */
    private class Tally {
        val generations = AtomicInteger()
        val cancelled = AtomicInteger()
        val refused = AtomicInteger()
        val trims = AtomicInteger()
        val other = AtomicInteger()
        override fun toString() =
            "generations=$generations cancelled=$cancelled refused=$refused trims=$trims other=$other"
    }

    private val noPauses = Throttle.Run(threadsPercent = 100u, pauseMs = 0uL)
    private val policy = ThermalPolicy(
        nominal = noPauses,
        fair = noPauses,
        serious = Throttle.Run(threadsPercent = 50u, pauseMs = 0uL),
        critical = Throttle.Stop,
    )

    /** A refusal a tight budget or a small context explains; anything else is rethrown. */
    private inline fun refusedOr(tally: Tally, block: () -> Unit) {
        try {
            block()
        } catch (e: BitNetException) {
            when (e) {
                is BitNetException.BudgetExceeded, is BitNetException.InsufficientMemory,
                is BitNetException.ContextFull, is BitNetException.PromptTooLong -> tally.refused.incrementAndGet()
                else -> throw e
            }
        }
    }

    private suspend fun generate(session: ChatSession, rng: Random, tally: Tally) = coroutineScope {
        val options = GenerationOptions(maxTokens = rng.nextInt(1, 5).toUInt())
        val prompt = if (rng.nextBoolean()) "Tell me something." else "Once upon a time"
        when (rng.nextInt(3)) {
            0 -> refusedOr(tally) {
                session.generate(prompt, options).toList()
                tally.generations.incrementAndGet()
            }
            // The collector leaves after a few events: the flow cancels the generation.
            1 -> refusedOr(tally) {
                session.generate(prompt, options).take(rng.nextInt(1, 3)).collect()
                tally.cancelled.incrementAndGet()
            }
            // Cancelled from outside at a random moment.
            else -> {
                val job = launch { refusedOr(tally) { session.generate(prompt, options).collect() } }
                delay(rng.nextLong(0, 3))
                job.cancel()
                job.join()
                tally.cancelled.incrementAndGet()
            }
        }
    }

    private suspend fun worker(engine: BitNetEngine, seed: Int, tally: Tally) {
        val rng = Random(seed)
        val sessions = mutableListOf<ChatSession>()
        val contexts = listOf(64u, 256u, 1024u, UInt.MAX_VALUE)
        repeat(ops) {
            when (rng.nextInt(100)) {
                in 0 until 15 -> refusedOr(tally) {
                    val session = engine.session(SessionConfig(contextLength = contexts.random(rng)))
                    if (sessions.size < 3) sessions += session else session.release()
                }
                in 15 until 55 -> if (sessions.isNotEmpty()) generate(sessions.random(rng), rng, tally)
                in 55 until 65 -> {
                    engine.trim()
                    tally.trims.incrementAndGet()
                }
                in 65 until 75 -> if (sessions.isNotEmpty()) {
                    sessions.random(rng).reset()
                    tally.other.incrementAndGet()
                }
                in 75 until 85 -> if (sessions.isNotEmpty()) {
                    sessions.removeAt(rng.nextInt(sessions.size)).release()
                    tally.other.incrementAndGet()
                }
                else -> {
                    engine.reportThermal(ThermalState.entries.random(rng), null)
                    tally.other.incrementAndGet()
                }
            }
        }
        sessions.forEach { it.release() }
    }

    /** One storm of 8 coroutines on 8 threads; fails if it outlasts the watchdog. */
    private fun storm(engine: BitNetEngine, seed: Int): Tally {
        val tally = Tally()
        val pool = Executors.newFixedThreadPool(8)
        try {
            runBlocking(pool.asCoroutineDispatcher()) {
                withTimeout(600_000) {
                    (0 until 8).map { i -> async { worker(engine, seed * 8 + i, tally) } }.awaitAll()
                }
            }
        } finally {
            pool.shutdown()
        }
        return tally
    }

    private fun resident(engine: BitNetEngine): Long {
        System.gc()
        return requireNotNull(engine.metrics().residentBytes) { "resident memory is readable here" }.toLong()
    }

    @Test
    fun `8 coroutines of random operations leave no session, no deadlock and no growth`() {
        val estimate = runBlocking { BitNet.estimate(model) }
        val sessionBytes = estimate.kvBytesPerToken * 1024uL + estimate.scratchBytes
        val budget = estimate.engineBytes() + 4uL * sessionBytes
        val engine = runBlocking {
            BitNet.load(model, EngineConfig(threads = 2u, memoryBudgetBytes = budget, thermalPolicy = policy))
        }
        val first = storm(engine, 1)
        engine.reportThermal(ThermalState.NOMINAL, null)
        val before = resident(engine)
        val second = storm(engine, 2)
        val trimmed = engine.trim()
        val after = resident(engine)
        println("storm 1: $first\nstorm 2: $second\nresident ${before shr 20} MiB -> ${after shr 20} MiB")
        assertEquals(0u, trimmed.sessions, "every session was released")
        assertTrue(second.generations.get() + second.cancelled.get() > 0, "the storm generated: $second")
        assertTrue(after <= before + marginBytes, "resident grew from $before to $after bytes")
        engine.release()
    }
}
