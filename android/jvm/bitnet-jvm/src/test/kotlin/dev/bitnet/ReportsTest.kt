package dev.bitnet

import dev.bitnet.core.SamplingParams
import dev.bitnet.core.EngineConfig
import dev.bitnet.core.FinishReason
import dev.bitnet.core.HealthAlert
import dev.bitnet.core.HealthThresholds
import dev.bitnet.core.HeadPrecision
import dev.bitnet.core.KvPrecision
import dev.bitnet.core.Profile
import dev.bitnet.core.ThermalState
import dev.bitnet.core.Throttle
import dev.bitnet.core.GenerationOptions
import java.io.File
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * The settings and reports beyond generation: memory estimate (against `bitnet estimate
 * --json`), metrics, health alerts, profile presets and the thermal policy. Properties from
 * scripts/test-kotlin.sh.
 */
class ReportsTest {
    private fun property(name: String): String =
        requireNotNull(System.getProperty(name)) { "system property $name (set by scripts/test-kotlin.sh)" }

    private val model = property("bitnet.model")
    private val prompt = property("bitnet.prompt")

    /** The script's sampled options: they generate several tokens with this model. */
    private val options = GenerationOptions(
        maxTokens = property("bitnet.maxTokens").toUInt(),
        sampling = SamplingParams(
            temperature = property("bitnet.temperature").toFloat(),
            topK = property("bitnet.topK").toUInt(),
            seed = property("bitnet.seed").toULong(),
        ),
    )

    /** `bitnet estimate --json`'s flat object: key → the value's text, quotes dropped. */
    private val cli: Map<String, String> =
        Regex(""""(\w+)":("[^"]*"|[^,}]+)""").findAll(File(property("bitnet.estimate")).readText())
            .associate { it.groupValues[1] to it.groupValues[2].trim('"') }

    private fun cliBytes(key: String): ULong = checkNotNull(cli[key]) { "$key in ${cli.keys}" }.toULong()

    @Test
    fun `the estimate is the CLI's`() = runBlocking<Unit> {
        val e = BitNet.estimate(model)
        assertEquals(cliBytes("mapped_bytes"), e.mappedBytes)
        assertEquals(cli["mapped_counted"], e.mappedCounted.toString())
        assertEquals(cliBytes("head_bytes"), e.headBytes)
        assertEquals(cliBytes("tokenizer_bytes"), e.tokenizerBytes)
        assertEquals(cliBytes("runtime_bytes"), e.runtimeBytes)
        assertEquals(cli["kv_precision"], e.kvPrecision.name)
        assertEquals(cliBytes("kv_bytes_per_token"), e.kvBytesPerToken)
        assertEquals(cliBytes("scratch_bytes"), e.scratchBytes)
        assertEquals(cli["min_context_tokens"], e.minContextTokens.toString())
        assertEquals(cli["context_tokens"], e.defaultContextTokens.toString())
        val total = e.totalBytes(e.defaultContextTokens)
        assertEquals(cliBytes("total_bytes"), total)
        assertEquals(cli["smallest_profile"], smallestProfile(total)?.name?.lowercase())
        // What the CLI's budget leaves for one session's context.
        val budget = property("bitnet.budget").toULong()
        assertEquals(cli["max_context_tokens"], e.maxContextTokens(budget).toString())
        assertEquals(e.maxContextTokens(budget), e.contextFitting(budget - e.engineBytes()))
        assertEquals(0u, e.maxContextTokens(1uL))
        // A loaded engine reports the same estimate.
        val engine = BitNet.load(model)
        assertEquals(e, engine.memoryEstimate())
        engine.release()
    }

    @Test
    fun `the KV precision option reaches the engine`() = runBlocking<Unit> {
        val f16 = BitNet.estimate(model)
        assertEquals(KvPrecision.F16, f16.kvPrecision)
        val config = EngineConfig(kvPrecision = KvPrecision.F32)
        val f32 = BitNet.estimate(model, config)
        assertEquals(KvPrecision.F32, f32.kvPrecision)
        assertEquals(2uL * f16.kvBytesPerToken, f32.kvBytesPerToken)
        val engine = BitNet.load(model, config)
        assertEquals(f32, engine.memoryEstimate())
        engine.release()
    }

    @Test
    fun `metrics count two generations and their tokens`() = runBlocking<Unit> {
        val engine = BitNet.load(model)
        val session = engine.session()
        val stats = (1..2).map {
            (session.generate(prompt, options).toList().last() as GenerationEvent.Finished).summary.stats
        }
        val m = engine.metrics()
        assertEquals(2uL, m.requests)
        assertEquals(0uL, m.errors)
        assertEquals(0.0, m.errorRatePercent)
        assertEquals(stats.sumOf { it.promptTokens.toULong() }, m.promptTokens)
        assertEquals(stats.sumOf { it.generatedTokens.toULong() }, m.generatedTokens)
        assertTrue(m.latencyP50Ms != null && m.latencyP95Ms != null)
        session.release()
        engine.release()
        assertThrows<BitNetException.Closed> { engine.metrics() }
    }

    @Test
    fun `tight thresholds raise the expected alerts`() = runBlocking<Unit> {
        val tight = HealthThresholds(
            maxResidentBytes = 1uL,
            maxCpuPercent = UInt.MAX_VALUE,
            minDecodeTokensPerS = UInt.MAX_VALUE,
            maxErrorRatePercent = 0u,
            maxLatencyMs = 0uL,
        )
        val engine = BitNet.load(model, EngineConfig(health = tight))
        // Before any request only memory is known.
        assertEquals(listOf(HealthAlert.Memory::class), engine.health().alerts.map { it::class })
        val session = engine.session()
        session.generate(prompt, options).collect()
        assertThrows<BitNetException.EmptyInput> { runBlocking { session.generate("", options).collect() } }
        val health = engine.health()
        // Every threshold but the CPU one (unreachable here) is crossed, in HealthAlert's order.
        assertEquals(
            listOf(
                HealthAlert.Memory::class,
                HealthAlert.SlowDecode::class,
                HealthAlert.ErrorRate::class,
                HealthAlert.Latency::class,
            ),
            health.alerts.map { it::class },
        )
        val errorRate = health.alerts[2] as HealthAlert.ErrorRate
        assertEquals(50.0, errorRate.percent)
        assertEquals(0u, errorRate.limitPercent)
        assertEquals(1uL, (health.alerts[0] as HealthAlert.Memory).limitBytes)
        assertEquals(health.metrics.errors, 1uL)
        session.release()
        engine.release()
    }

    @Test
    fun `profile presets are the default config with their threads, budget and concurrent generations`() {
        val mib = 1uL shl 20
        val table = mapOf(
            Profile.MOBILE to Triple(2u, 512uL * mib, 1u),
            Profile.EDGE to Triple(4u, 1024uL * mib, 2u),
            Profile.SERVER to Triple(8u, 2048uL * mib, 5u),
            Profile.CLOUD to Triple(16u, 4096uL * mib, 10u),
        )
        assertEquals(Profile.entries.toSet(), table.keys)
        for ((profile, preset) in table) {
            val (threads, budget, generations) = preset
            val expected = EngineConfig(
                threads = threads,
                memoryBudgetBytes = budget,
                maxConcurrentGenerations = generations,
                // Server and cloud put throughput first: a bounded wait queue (4 × the
                // concurrent generations) and concurrent decodes sharing passes.
                maxQueuedGenerations = if (throughput(profile)) 4u * generations else null,
                decodeBatching = throughput(profile),
                // A phone's limit leaves clean file pages out; its decode reads a Q4_K head
                // and a Q8_0 KV cache.
                countMappedWeights = profile != Profile.MOBILE,
                head = if (profile == Profile.MOBILE) HeadPrecision.Q4K else null,
                kvPrecision = if (profile == Profile.MOBILE) KvPrecision.Q8_0 else null,
            )
            assertEquals(expected, profileConfig(profile))
            assertEquals(profile, smallestProfile(budget))
        }
        assertEquals(null, smallestProfile(4097uL * mib))
    }

    private fun throughput(profile: Profile) = profile == Profile.SERVER || profile == Profile.CLOUD

    @Test
    fun `an invalid thermal policy is InvalidOption, a valid one is applied`() = runBlocking<Unit> {
        val zero = defaultThermalPolicy().copy(serious = Throttle.Run(threadsPercent = 0u, pauseMs = 0uL))
        assertThrows<BitNetException.InvalidOption> {
            runBlocking { BitNet.load(model, EngineConfig(thermalPolicy = zero)) }
        }
        // Stop already when serious (the default only halves the threads).
        val strict = defaultThermalPolicy().copy(serious = Throttle.Stop)
        val engine = BitNet.load(model, EngineConfig(thermalPolicy = strict))
        engine.reportThermal(ThermalState.SERIOUS, null)
        val session = engine.session()
        val summary = (session.generate(prompt, options).toList().last() as GenerationEvent.Finished).summary
        assertEquals(FinishReason.THERMAL_STOP, summary.finishReason)
        session.release()
        engine.release()
    }
}
