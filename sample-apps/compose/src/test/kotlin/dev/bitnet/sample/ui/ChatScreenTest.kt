package dev.bitnet.sample.ui

import androidx.compose.ui.test.DesktopComposeUiTest
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertTextEquals
import androidx.compose.ui.test.onNodeWithTag
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performTextInput
import androidx.compose.ui.test.v2.runDesktopComposeUiTest
import dev.bitnet.sample.Fixtures
import dev.bitnet.sample.RecordingLoader
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.ViewModels
import dev.bitnet.sample.exactBytes
import dev.bitnet.sample.chat.ReplyStatus
import org.junit.Assert.assertTrue
import org.junit.Test

/** The chat screen, headless, against the real engine and the demo model. */
@OptIn(ExperimentalTestApi::class)
class ChatScreenTest {
    /** Shows the app over [env] with the bundled model picked, then runs [block]. */
    private fun chat(env: SampleEnvironment, block: DesktopComposeUiTest.(ViewModels) -> Unit) {
        ViewModels(env).use { vms ->
            runDesktopComposeUiTest(WIDTH, HEIGHT) {
                setContent { SampleApp(vms.chat, vms.bench, vms.models, env.deviceBudgetBytes) }
                waitUntil(timeoutMillis = 30_000) { vms.chat.state.value.models.isNotEmpty() }
                onNodeWithTag(Tags.model("Demo model (bundled)")).performClick()
                waitUntil(timeoutMillis = 30_000) { vms.chat.state.value.run { ready || error != null } }
                block(vms)
            }
        }
    }

    private fun DesktopComposeUiTest.send(text: String) {
        onNodeWithTag(Tags.INPUT).performTextInput(text)
        onNodeWithTag(Tags.SEND).performClick()
    }

    @Test
    fun `type a prompt and Send - the streamed reply is the CLI's`() = chat(Fixtures.env()) { vms ->
        Fixtures.greedyPrompts.forEachIndexed { index, prompt ->
            send(prompt)
            waitUntil(timeoutMillis = 30_000) { vms.chat.state.value.turns.getOrNull(index)?.status == ReplyStatus.COMPLETE }
            onNodeWithTag(Tags.reply(index)).assertTextEquals(Fixtures.greedyReplies[index])
        }
        onNodeWithTag(Tags.replyStats(1)).assertExists()
        onNodeWithTag(Tags.STATUS).assertExists()
        screenshot("chat")
    }

    @Test
    fun `Stop mid-reply keeps the partial text, marked, and the next turn continues`() =
        chat(Fixtures.env(loader = RecordingLoader.warm())) { vms ->
            send("Define cynic.")
            waitUntil(timeoutMillis = 30_000) { vms.chat.state.value.turns.firstOrNull()?.reply?.isNotEmpty() == true }
            onNodeWithTag(Tags.STOP).performClick()
            waitUntil(timeoutMillis = 30_000) { !vms.chat.state.value.generating }
            val partial = vms.chat.state.value.turns[0].reply
            assertTrue(partial, partial.isNotEmpty() && !partial.endsWith("ought to be."))
            onNodeWithTag(Tags.reply(0)).assertTextEquals(partial)
            onNodeWithTag(Tags.replyMarker(0)).assertTextEquals("[stopped]")
            send(Fixtures.greedyPrompts[0])
            waitUntil(timeoutMillis = 30_000) { vms.chat.state.value.turns.getOrNull(1)?.status == ReplyStatus.COMPLETE }
            onNodeWithTag(Tags.reply(1)).assertTextEquals("42")
            onNodeWithTag(Tags.reply(0)).assertTextEquals(partial)
            assertTrue(vms.chat.state.value.turns[1].stats!!.cachedTokens > 0u)
            screenshot("chat-stopped")
        }

    @Test
    fun `a budget too small shows the error banner with the numbers`() = chat(Fixtures.env(budget = 1024u)) { vms ->
        val error = vms.chat.state.value.error!!
        onNodeWithTag(Tags.ERROR).assertExists()
        onNodeWithText("Model does not fit the memory budget").assertExists()
        onNodeWithText(error.message).assertExists()
        assertTrue(error.message, exactBytes(1024u) in error.message && "MOBILE" in error.message)
        screenshot("chat-budget")
    }
}
