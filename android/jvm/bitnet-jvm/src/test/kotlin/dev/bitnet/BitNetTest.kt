package dev.bitnet

import dev.bitnet.core.EngineConfig
import dev.bitnet.core.FinishReason
import dev.bitnet.core.Profile
import dev.bitnet.core.Prompt
import dev.bitnet.core.SamplingParams
import dev.bitnet.core.SessionConfig
import dev.bitnet.core.ThermalState
import dev.bitnet.core.ChatMessage
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.Role
import java.io.File
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.toList
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.flow.produceIn
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * The Kotlin package end to end on the JVM, against the host libbitnet_ffi.so and a synthetic
 * model. scripts/test-kotlin.sh sets the system properties: the model, the prompt and options,
 * and the text `bitnet generate` printed for them.
 *
 * A test must return Unit: JUnit skips a method returning a value without a word, so a
 * `= runBlocking { ... }` body whose last expression has a value is `runBlocking<Unit>`.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BitNetTest {
    private fun property(name: String): String =
        requireNotNull(System.getProperty(name)) { "system property $name (set by scripts/test-kotlin.sh)" }

    private val model = property("bitnet.model")
    private val prompt = property("bitnet.prompt")
    private val expected = File(property("bitnet.expected")).readText()

    /** The options the script passed to `bitnet generate`. */
    private val options = GenerationOptions(
        maxTokens = property("bitnet.maxTokens").toUInt(),
        sampling = SamplingParams(
            temperature = property("bitnet.temperature").toFloat(),
            topK = property("bitnet.topK").toUInt(),
            seed = property("bitnet.seed").toULong(),
        ),
    )

    private lateinit var engine: BitNetEngine

    @BeforeAll
    fun load() = runBlocking {
        setLogLevel(LogLevel.WARN)
        engine = BitNet.load(model)
    }

    @AfterAll
    fun release() = engine.release()

    private fun texts(events: List<GenerationEvent>): String =
        events.filterIsInstance<GenerationEvent.Text>().joinToString("") { it.text }

    @Test
    fun `the Flow streams the same text as the CLI`() = runBlocking {
        val events = engine.session().generate(prompt, options).toList()
        val finished = events.last() as GenerationEvent.Finished
        assertEquals(expected, texts(events))
        assertEquals(expected, finished.summary.text)
        assertEquals(1, events.count { it is GenerationEvent.Finished })
        assertTrue(finished.summary.stats.generatedTokens > 0u)
    }

    @Test
    fun `chat messages get a reply`() = runBlocking {
        val messages = listOf(ChatMessage(Role.USER, "Hello"))
        val events = engine.session().generate(messages, GenerationOptions(maxTokens = 8u)).toList()
        val summary = (events.last() as GenerationEvent.Finished).summary
        assertEquals(summary.text, texts(events))
        assertTrue(summary.stats.generatedTokens in 1u..8u)
    }

    @Test
    fun `cancelling the collector stops the Rust side within one token`() = runBlocking {
        val session = engine.session()
        val long = options.copy(maxTokens = 200u)
        // Rendezvous: the generating thread waits for each hand-over, so what it generated is
        // tied to what was received; `take` cancels the collection after the third piece.
        val received = session.generate(prompt, long).buffer(Channel.RENDEZVOUS).take(3).toList()
        assertEquals(3, received.size)
        // Collection returned only after the Rust side stopped: its summary is there.
        val summary = checkNotNull(session.lastGeneration())
        assertEquals(FinishReason.CANCELLED, summary.finishReason)
        // With this model, prompt and seed each of the first tokens decodes to a piece, so 3
        // pieces are 3 tokens; at most the one being handed over when the collector left
        // follows them (its hand-over fails, which cancels before the next token).
        assertTrue(summary.stats.generatedTokens <= 4u, "generated ${summary.stats.generatedTokens}")
        assertTrue(summary.text.startsWith(texts(received)))
    }

    @Test
    fun `two sessions generate concurrently`() = runBlocking {
        coroutineScope {
            val first = engine.session().generate(prompt, options).buffer(Channel.RENDEZVOUS).produceIn(this)
            // The first generation is now parked mid-reply, its session held; the second
            // session runs a whole generation meanwhile.
            val head = first.receive()
            val second = async { engine.session().generate(prompt, options).toList() }.await()
            val rest = first.toList()
            assertEquals(expected, texts(second))
            assertEquals(expected, texts(listOf(head) + rest))
        }
    }

    @Test
    fun `a listener that throws is Internal, not a crash`() = runBlocking {
        val failing = object : GenerationListener {
            override fun onEvent(event: GenerationEvent) = throw IllegalStateException("app bug")
        }
        assertThrows<BitNetException.Internal> {
            runBlocking { engine.session().generate(Prompt.Text(prompt), options, failing) }
        }
        // The engine carries on.
        assertEquals(expected, texts(engine.session().generate(prompt, options).toList()))
    }

    @Test
    fun `a missing file is FileUnreadable`() {
        assertThrows<BitNetException.FileUnreadable> { runBlocking { BitNet.load("/nonexistent/model.gguf") } }
    }

    @Test
    fun `a malformed file is InvalidModelFile`(@TempDir dir: File) {
        val bad = File(dir, "bad.gguf").apply { writeBytes(ByteArray(64) { 0x47 }) }
        assertThrows<BitNetException.InvalidModelFile> { runBlocking { BitNet.load(bad.path) } }
    }

    @Test
    fun `a prompt over the input limit is PromptTooLong, with its numbers`() = runBlocking {
        val small = BitNet.load(model, EngineConfig(maxInputTokens = 4u))
        val session = small.session()
        val e = assertThrows<BitNetException.PromptTooLong> {
            runBlocking { session.generate(prompt.repeat(8), options).collect() }
        }
        assertEquals(4u, e.limit)
        assertTrue(e.tokens > 4u, "${e.tokens} tokens")
        assertTrue(e.detail.startsWith("prompt too long"), e.detail)
        small.release()
    }

    @Test
    fun `a second request within the rate limit's minute is RateLimited, with when to retry`() = runBlocking {
        val limited = BitNet.load(model, EngineConfig(rateLimitPerMinute = 1u))
        val session = limited.session()
        session.generate(prompt, GenerationOptions(maxTokens = 2u)).collect()
        val e = assertThrows<BitNetException.RateLimited> {
            runBlocking { session.generate(prompt, options).collect() }
        }
        assertTrue(e.retryAfterMs in 1uL..60_000uL, "${e.retryAfterMs} ms")
        limited.release()
    }

    @Test
    fun `use after release is Closed`() = runBlocking<Unit> {
        val engine = BitNet.load(model)
        val session = engine.session()
        engine.release()
        assertThrows<BitNetException.Closed> { engine.session() }
        // The open session keeps the model: it still generates.
        session.generate(prompt, GenerationOptions(maxTokens = 2u)).collect()
        session.release()
        assertThrows<BitNetException.Closed> { runBlocking { session.generate(prompt, options).collect() } }
        assertThrows<BitNetException.Closed> { session.reset() }
    }

    @Test
    fun `a budget too small for the model is BudgetExceeded with the numbers, not a crash`() {
        val e = assertThrows<BitNetException.BudgetExceeded> {
            runBlocking { BitNet.load(model, EngineConfig(memoryBudgetBytes = 1024uL)) }
        }
        assertEquals(1024uL, e.budget)
        assertTrue(e.needed > e.budget, "${e.needed} bytes needed")
        // The tiny model fits the smallest profile.
        assertEquals(Profile.MOBILE, e.fitsProfile)
    }

    @Test
    fun `a context larger than the device's memory is InsufficientMemory, not a crash`() = runBlocking<Unit> {
        val engine = BitNet.load(model)
        val e = assertThrows<BitNetException.InsufficientMemory> {
            engine.session(SessionConfig(contextLength = UInt.MAX_VALUE))
        }
        assertTrue(e.needed > e.available, "${e.needed} bytes needed, ${e.available} available")
        engine.release()
    }

    @Test
    fun `a model file changed on disk while loaded is ModelFileChanged with its path`(@TempDir dir: File) =
        runBlocking<Unit> {
            val copy = File(dir, "model.gguf")
            File(model).copyTo(copy)
            val engine = BitNet.load(copy.path)
            val session = engine.session()
            copy.appendBytes(ByteArray(4096))
            val e = assertThrows<BitNetException.ModelFileChanged> {
                runBlocking { session.generate(prompt, options).collect() }
            }
            assertEquals(copy.path, e.path)
            session.release()
            engine.release()
        }

    @Test
    fun `trim releases an idle session's buffers and it still answers the same`() = runBlocking<Unit> {
        val engine = BitNet.load(model)
        val session = engine.session()
        val first = texts(session.generate(prompt, options).toList())
        session.reset()
        assertEquals(1u, engine.trim().sessions)
        assertEquals(first, texts(session.generate(prompt, options).toList()))
        session.release()
        engine.release()
        assertThrows<BitNetException.Closed> { engine.trim() }
    }

    @Test
    fun `a device heating up mid-generation throttles then stops with the text so far`() = runBlocking {
        val engine = BitNet.load(model)
        val session = engine.session()
        var pieces = 0
        // The fake platform: serious after 2 pieces, critical after 4, reported by the collector.
        // RENDEZVOUS: the engine cannot run ahead of the collector, so it sends piece 3 only
        // after the serious report and checks the state again before piece 4 — it sees serious
        // before critical is reported (with a buffer both could land between two checks).
        val events = session.generate(prompt, GenerationOptions(maxTokens = 1000u))
            .buffer(Channel.RENDEZVOUS)
            .onEach {
                if (it is GenerationEvent.Text) {
                    pieces++
                    if (pieces == 2) engine.reportThermal(ThermalState.SERIOUS, null)
                    if (pieces == 4) engine.reportThermal(ThermalState.CRITICAL, null)
                }
            }
            .toList()
        val states = events.filterIsInstance<GenerationEvent.Thermal>().map { it.state }
        assertEquals(listOf(ThermalState.SERIOUS, ThermalState.CRITICAL), states)
        val summary = (events.last() as GenerationEvent.Finished).summary
        assertEquals(FinishReason.THERMAL_STOP, summary.finishReason)
        assertTrue(summary.text.isNotEmpty())
        assertEquals(texts(events), summary.text)
        assertEquals(ThermalState.CRITICAL, summary.stats.thermalState)
        assertEquals(2u, summary.stats.throttleEvents)
        session.release()
        engine.release()
    }
}
