package dev.bitnet.sample.chat

import dev.bitnet.BitNet
import dev.bitnet.BitNetException
import dev.bitnet.core.EngineConfig
import dev.bitnet.core.FinishReason
import dev.bitnet.core.Profile
import dev.bitnet.core.ThermalState
import dev.bitnet.sample.Fixtures
import dev.bitnet.sample.ModelSource
import dev.bitnet.sample.RecordingLoader
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.UserError
import dev.bitnet.sample.ViewModels
import dev.bitnet.sample.await
import dev.bitnet.sample.exactBytes
import java.util.Collections
import kotlin.concurrent.thread
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The chat's state machine against the real engine and the demo model. */
class ChatViewModelTest {
    private val opened = mutableListOf<ViewModels>()

    private fun chat(env: SampleEnvironment = Fixtures.env()): ChatViewModel {
        val vms = ViewModels(env).also { opened += it }
        val vm = vms.chat
        val bundled = vm.state.await { s -> s.models.any { it.source == ModelSource.BUNDLED } }.models.first()
        vm.select(bundled)
        return vm
    }

    private fun ChatViewModel.ready() = state.await { it.ready || it.error != null }

    private fun ChatViewModel.say(text: String): ChatTurn {
        val before = state.value.turns.size
        onDraftChange(text)
        send()
        return state.await { !it.generating && it.turns.size == before + 1 && it.turns.last().status != ReplyStatus.STREAMING }.turns.last()
    }

    @After
    fun close() = opened.forEach { it.close() }

    @Test
    fun `replies stream in and equal the CLI's, turn after turn`() {
        val vm = chat()
        assertTrue(vm.ready().ready)
        // Every state seen while the first reply streams shows a prefix of the final text.
        val seen = Collections.synchronizedList(mutableListOf<ChatTurn>())
        val watcher = thread { runCatching { vm.state.await(10_000) { s -> s.turns.firstOrNull()?.also { seen += it }?.status == ReplyStatus.COMPLETE } } }
        val first = vm.say(Fixtures.greedyPrompts[0])
        watcher.join()
        assertEquals(Fixtures.greedyReplies[0], first.reply)
        assertEquals(FinishReason.END_OF_TEXT, first.finishReason)
        assertTrue(seen.any { it.status == ReplyStatus.STREAMING })
        assertTrue(seen.all { first.reply.startsWith(it.reply) })
        val second = vm.say(Fixtures.greedyPrompts[1])
        assertEquals(Fixtures.greedyReplies[1], second.reply)
        // The second turn continued the session: its history came from the cache.
        assertTrue(second.stats!!.cachedTokens > 0u)
        val stats = first.stats!!
        assertTrue(stats.timeToFirstTokenMs > 0 && stats.decodeTokensPerS > 0)
        val status = vm.state.value.status!!
        assertEquals(ThermalState.NOMINAL, status.thermal)
        assertTrue(status.threads!! > 0u)
        assertTrue(status.neededBytes > 0u)
    }

    @Test
    fun `the system prompt and sampling settings reach the engine as the CLI's options do`() {
        val vm = chat()
        vm.ready()
        vm.updateSettings(ChatSettings(systemPrompt = "You are terse.", temperature = 0.8f, topK = 40u, seed = 7uL))
        vm.state.await { it.settings.seed == 7uL }
        assertEquals(Fixtures.sampledReply, vm.say("Define cynic.").reply)
    }

    @Test
    fun `stop keeps the partial reply, marked, and the next turn continues after it`() {
        val vm = chat(Fixtures.env(loader = RecordingLoader.warm()))
        vm.ready()
        vm.onDraftChange("Define cynic.")
        vm.send()
        vm.state.await { it.turns.firstOrNull()?.reply?.isNotEmpty() == true }
        vm.stop()
        val stopped = vm.state.await { !it.generating && it.turns.size == 1 }.turns[0]
        assertEquals(ReplyStatus.STOPPED, stopped.status)
        assertEquals(FinishReason.CANCELLED, stopped.finishReason)
        val full = "A blackguard whose faulty vision sees things as they are, not as they ought to be."
        assertTrue(stopped.reply, stopped.reply.isNotEmpty() && full.startsWith(stopped.reply) && stopped.reply != full)
        assertEquals(ThermalState.FAIR, vm.state.value.status!!.thermal)
        val next = vm.say(Fixtures.greedyPrompts[0])
        assertEquals(ReplyStatus.COMPLETE, next.status)
        assertEquals("42", next.reply)
        // The partial reply is part of the history the next turn was evaluated after.
        assertTrue(next.stats!!.cachedTokens > 0u)
        assertEquals(listOf(ReplyStatus.STOPPED, ReplyStatus.COMPLETE), vm.state.value.turns.map { it.status })
    }

    @Test
    fun `a budget too small is BudgetExceeded in the banner, with the numbers and the profile that fits`() {
        val vm = chat(Fixtures.env(budget = 1024u))
        val error = vm.ready().error!!
        val expected = try {
            runBlocking { BitNet.load(Fixtures.demoModel, EngineConfig(memoryBudgetBytes = 1024u)) }
            error("the demo model loaded under a 1 KiB budget")
        } catch (e: BitNetException.BudgetExceeded) {
            e
        }
        assertEquals(UserError.of(expected), error)
        assertEquals("Model does not fit the memory budget", error.title)
        assertTrue(error.message, exactBytes(expected.needed) in error.message && exactBytes(1024u) in error.message)
        assertEquals(Profile.MOBILE, expected.fitsProfile)
        assertTrue(error.message, "MOBILE" in error.message)
        assertTrue(!vm.state.value.ready)
    }

    @Test
    fun `a failed turn leaves the conversation unchanged, and retry sends it again`() {
        val vm = chat()
        vm.ready()
        vm.updateSettings(ChatSettings(topP = 0f))
        val failed = vm.say(Fixtures.greedyPrompts[0])
        assertEquals(ReplyStatus.FAILED, failed.status)
        assertEquals("Invalid sampling setting", vm.state.value.error!!.title)
        vm.updateSettings(ChatSettings())
        vm.state.await { it.settings.topP == 1f }
        vm.retry()
        val retried = vm.state.await { !it.generating && it.turns.singleOrNull()?.status == ReplyStatus.COMPLETE }
        assertEquals(null, retried.error)
        assertEquals(Fixtures.greedyReplies[0], retried.turns.single().reply)
        // The failed attempt left no trace: the second turn is the CLI's second turn.
        assertEquals(Fixtures.greedyReplies[1], vm.say(Fixtures.greedyPrompts[1]).reply)
    }

    @Test
    fun `new chat forgets the conversation but keeps the model`() {
        val vm = chat()
        vm.ready()
        vm.say(Fixtures.greedyPrompts[1])
        vm.newChat()
        vm.state.await { it.turns.isEmpty() }
        val fresh = vm.say(Fixtures.greedyPrompts[0])
        assertEquals(Fixtures.greedyReplies[0], fresh.reply)
        val stats = fresh.stats!!
        assertNotEquals(0u, stats.promptTokens)
        assertEquals(0u, stats.cachedTokens)
    }

    @Test
    fun `a model opened by path joins the picker, and a missing file is a readable error`() {
        val vm = chat()
        vm.ready()
        vm.openFile("/nonexistent/model.gguf")
        val failed = vm.state.await { it.selected?.source == ModelSource.FILE && !it.loading && it.error != null }
        assertEquals("Cannot read the model file", failed.error!!.title)
        assertTrue(!failed.ready)
        vm.openFile(Fixtures.demoModel)
        val opened = vm.state.await { it.selected?.path == Fixtures.demoModel && it.ready }
        assertEquals(listOf(ModelSource.BUNDLED, ModelSource.FILE, ModelSource.FILE), opened.models.map { it.source })
        assertEquals(Fixtures.greedyReplies[0], vm.say(Fixtures.greedyPrompts[0]).reply)
    }
}
