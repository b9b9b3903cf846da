package dev.bitnet.sample.ui

import androidx.compose.ui.test.DesktopComposeUiTest
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertTextEquals
import androidx.compose.ui.test.onNodeWithTag
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.v2.runDesktopComposeUiTest
import dev.bitnet.sample.Fixtures
import dev.bitnet.sample.ModelServer
import dev.bitnet.sample.ViewModels
import java.io.File
import org.junit.Assert.assertTrue
import org.junit.Test

/** The models screen, headless, downloading the demo model from a loopback server. */
@OptIn(ExperimentalTestApi::class)
class ModelsScreenTest {
    @Test
    fun `a download shows its progress bar and ends installed`() {
        val bytes = File(Fixtures.demoModel).readBytes()
        ModelServer(bytes).use { server ->
            server.delayMs = 40
            val env = Fixtures.env(catalog = server.catalog("demo"))
            ViewModels(env).use { vms ->
                runDesktopComposeUiTest(WIDTH, HEIGHT) {
                    setContent { SampleApp(vms.chat, vms.bench, vms.models, env.deviceBudgetBytes) }
                    onNodeWithText("Models").performClick()
                    waitUntil(timeoutMillis = 30_000) { vms.models.state.value.rows.isNotEmpty() }
                    onNodeWithTag(Tags.modelState("demo")).assertTextEquals("not installed")
                    onNodeWithTag(Tags.download("demo")).performClick()
                    waitUntil(timeoutMillis = 30_000) { (vms.models.state.value.rows.single().download?.doneBytes ?: 0u) > bytes.size.toULong() / 4u }
                    onNodeWithTag(Tags.progress("demo")).assertExists()
                    onNodeWithTag(Tags.pause("demo")).assertExists()
                    assertTrue(downloading())
                    screenshot("models-downloading")
                    waitUntil(timeoutMillis = 60_000) { vms.models.state.value.rows.single().installedPath != null }
                    onNodeWithTag(Tags.modelState("demo")).assertTextEquals("installed")
                    onNodeWithText("Delete").assertExists()
                    screenshot("models")
                }
            }
        }
    }

    private fun DesktopComposeUiTest.downloading(): Boolean =
        onNodeWithTag(Tags.modelState("demo")).fetchSemanticsNode()
            .config[androidx.compose.ui.semantics.SemanticsProperties.Text].single().text.startsWith("downloading")
}
