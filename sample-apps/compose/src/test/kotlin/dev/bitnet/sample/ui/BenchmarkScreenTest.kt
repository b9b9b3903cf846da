package dev.bitnet.sample.ui

import androidx.compose.ui.semantics.SemanticsProperties
import androidx.compose.ui.test.DesktopComposeUiTest
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.onAllNodesWithTag
import androidx.compose.ui.test.onNodeWithTag
import androidx.compose.ui.test.onLast
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.v2.runDesktopComposeUiTest
import dev.bitnet.core.ThermalState
import dev.bitnet.hardware
import dev.bitnet.sample.Fixtures
import dev.bitnet.sample.RecordingLoader
import dev.bitnet.sample.ViewModels
import dev.bitnet.sample.bench.BenchActivity
import dev.bitnet.sample.bench.BenchSettings
import dev.bitnet.sample.bench.ThermalSchedule
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The benchmark screen, headless, against the real engine and the demo model. */
@OptIn(ExperimentalTestApi::class)
class BenchmarkScreenTest {
    /** Shows the app's Benchmark tab with [settings], then runs [block]. */
    private fun bench(settings: BenchSettings, loader: RecordingLoader = RecordingLoader(), block: DesktopComposeUiTest.(ViewModels) -> Unit) {
        val env = Fixtures.env(loader = loader)
        ViewModels(env).use { vms ->
            vms.bench.updateSettings(settings)
            runDesktopComposeUiTest(WIDTH, HEIGHT) {
                setContent { SampleApp(vms.chat, vms.bench, vms.models, env.deviceBudgetBytes) }
                onNodeWithText("Benchmark").performClick()
                waitUntil(timeoutMillis = 30_000) { vms.bench.state.value.estimate != null }
                block(vms)
            }
        }
    }

    /** The first number of the results table's [metric] cell ("612.4 ± 20.1" → 612.4). */
    private fun DesktopComposeUiTest.value(metric: String): Double = text(Tags.benchValue(metric)).split(' ').first().toDouble()

    /** The text of the node tagged [tag]. */
    private fun DesktopComposeUiTest.text(tag: String): String =
        onNodeWithTag(tag).fetchSemanticsNode().config[SemanticsProperties.Text].single().text

    private fun DesktopComposeUiTest.idle(vms: ViewModels) =
        waitUntil(timeoutMillis = 60_000) { vms.bench.state.value.activity == BenchActivity.IDLE }

    @Test
    fun `a benchmark run fills the table with numbers above zero`() =
        bench(BenchSettings(runs = 3, genTokens = 32u, threads = 2u)) { vms ->
            onNodeWithTag(Tags.BENCH_RUN).performClick()
            waitUntil(timeoutMillis = 60_000) { vms.bench.state.value.latest != null }
            idle(vms)
            for (metric in listOf("ttft", "prefill", "decode", "bandwidth", "roofline")) assertTrue(metric, value(metric) > 0)
            onNodeWithTag(Tags.benchValue("peak")).assertExists()
            assertTrue(value("peak") > 0)
            // The kernel table the run used, and the device card's tables and big cores.
            val hw = hardware()
            val kernels = text(Tags.benchValue("kernels"))
            assertTrue(kernels, kernels.startsWith("${hw.defaultKernels}, 2 threads"))
            onNodeWithText("${hw.defaultKernels} (runs ${hw.kernelTables.joinToString(", ")})").assertExists()
            onNodeWithTag(Tags.benchValue("peak")).performScrollTo()
            screenshot("benchmark-runs")
        }

    @Test
    fun `a sustained run under a thermal schedule draws the states and thread changes the engine reported`() =
        bench(
            BenchSettings(
                runs = 2, genTokens = 32u, threads = 2u, sustainedSeconds = 6.0, sampleMs = 200,
                schedule = ThermalSchedule.parse("0s:nominal,1.5s:fair,3s:serious,4.5s:critical"),
            ),
        ) { vms ->
            onNodeWithTag(Tags.BENCH_RUN).performClick()
            waitUntil(timeoutMillis = 60_000) { vms.bench.state.value.latest != null }
            idle(vms)
            onNodeWithTag(Tags.BENCH_SUSTAINED).performClick()
            waitUntil(timeoutMillis = 30_000) { vms.bench.state.value.sustained?.running == false }
            idle(vms)
            val trace = vms.bench.state.value.sustained!!
            // The engine's events, as the view-model received them...
            assertEquals(listOf(ThermalState.FAIR, ThermalState.SERIOUS, ThermalState.CRITICAL), trace.marks.map { it.state })
            assertEquals(listOf(2u, 1u, 0u), trace.marks.map { it.threads })
            // ...are what the chart draws: its stretches' states and its thread changes,
            onNodeWithTag(Tags.CHART).performScrollTo()
            val description = onNodeWithTag(Tags.CHART).fetchSemanticsNode().config[SemanticsProperties.ContentDescription].single()
            assertEquals("states: nominal, fair, serious, critical; threads: 2 → 1 → 0", description)
            // and the changes it lists, one line per event.
            val lines = onAllNodesWithTag(Tags.THERMAL_MARK).fetchSemanticsNodes().map { it.config[SemanticsProperties.Text].single().text }
            assertEquals(trace.marks.map { markText(it, it.threads != 2u) }, lines)
            onAllNodesWithTag(Tags.THERMAL_MARK).onLast().performScrollTo()
            screenshot("benchmark")
        }
}
