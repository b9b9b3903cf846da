package dev.bitnet.sample.bench

import dev.bitnet.BitNet
import dev.bitnet.core.EngineConfig
import dev.bitnet.core.Profile
import dev.bitnet.core.ThermalState
import dev.bitnet.core.Throttle
import dev.bitnet.defaultThermalPolicy
import dev.bitnet.hardware
import dev.bitnet.sample.Fixtures
import dev.bitnet.sample.RecordingLoader
import dev.bitnet.sample.ViewModels
import dev.bitnet.sample.await
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** The benchmark's state machine against the real engine and the demo model. */
class BenchViewModelTest {
    private val opened = mutableListOf<ViewModels>()

    private fun bench(loader: RecordingLoader = RecordingLoader(), settings: BenchSettings): BenchViewModel {
        val vm = ViewModels(Fixtures.env(loader = loader)).also { opened += it }.bench
        vm.state.await { it.estimate != null }
        vm.updateSettings(settings)
        return vm
    }

    @After
    fun close() = opened.forEach { it.close() }

    @Test
    fun `the device card and the estimate come from the device and the model's header`() {
        val vm = bench(settings = BenchSettings(threads = 2u))
        val state = vm.state.value
        assertEquals(Runtime.getRuntime().availableProcessors(), state.device.cores)
        assertTrue(state.device.memoryBytes!! > 0u)
        assertEquals(hardware(), state.device.hardware)
        assertEquals(runBlocking { BitNet.estimate(Fixtures.demoModel, EngineConfig()) }, state.estimate)
        assertEquals(Profile.entries, state.profiles.map { it.profile })
        assertTrue(state.profiles.all { it.fits })
    }

    @Test
    fun `timed runs give figures above zero over the runs, kept in the history and exported`() {
        val vm = bench(settings = BenchSettings(runs = 3, promptTokens = 32u, genTokens = 16u, threads = 2u))
        vm.run()
        val first = vm.state.await { it.activity == BenchActivity.IDLE && it.latest != null }.latest!!.report
        assertEquals(3u, first.reps)
        assertEquals(2u, first.threads)
        assertEquals(hardware().defaultKernels, first.kernels)
        assertEquals(32u to 16u, first.promptTokens to first.genTokens)
        for (stat in listOf(first.timeToFirstTokenMs, first.prefillTokensPerS, first.decodeTokensPerS)) {
            assertTrue("$stat", stat.mean > 0 && stat.sd >= 0)
        }
        assertTrue("$first", first.bytesPerToken > 0u && first.effectiveGbPerS > 0 && first.copyGbPerS > 0 && first.rooflinePercent > 0)
        assertTrue(first.peakResidentBytes!! > 0u)
        vm.run()
        val state = vm.state.await { it.activity == BenchActivity.IDLE && it.history.size == 2 }
        vm.export()
        val json = vm.state.await { it.export != null }.export!!
        assertEquals(2, Regex("\"decode_tokens_per_s\"").findAll(json).count())
        assertEquals(2, Regex("\"roofline_percent\":[0-9.]+").findAll(json).count())
        assertTrue(json, json.startsWith("{\"device\":{\"cores\":${state.device.cores},"))
    }

    @Test
    fun `cancel stops timed runs, keeping the repetitions they finished`() {
        val vm = bench(settings = BenchSettings(runs = 10_000, promptTokens = 16u, genTokens = 8u, threads = 2u))
        vm.run()
        vm.state.await { it.progress != null }
        // Long enough for a repetition (a few ms of decoding and a ~0.3 s copy test) even on a
        // slow machine.
        Thread.sleep(3_000)
        vm.cancel()
        val state = vm.state.await(10_000) { it.activity == BenchActivity.IDLE }
        assertNull(state.error)
        val reps = state.latest!!.report.reps
        assertTrue("$reps", reps in 1u until 10_000u)
        assertEquals(listOf(state.latest), state.history)
    }

    @Test
    fun `a sustained run under a scripted schedule records the governor's changes as the engine reports them`() {
        val loader = RecordingLoader()
        val schedule = ThermalSchedule.parse("0s:nominal,1s:fair,2s:serious,3s:critical")
        val vm = bench(loader, BenchSettings(threads = 2u, sustainedSeconds = 6.0, sampleMs = 200, schedule = schedule))
        vm.runSustained()
        val state = vm.state.await(20_000) { it.activity == BenchActivity.IDLE && it.sustained?.running == false }
        val trace = state.sustained!!
        assertNull(state.error)
        assertEquals(2u, state.startThreads)
        // The policy's threads for each state: 2 threads at 100 %, 50 %, then a stop (0).
        val policy = defaultThermalPolicy()
        val expected = listOf(ThermalState.FAIR to policy.fair, ThermalState.SERIOUS to policy.serious, ThermalState.CRITICAL to policy.critical)
            .map { (state, throttle) -> state to if (throttle is Throttle.Run) maxOf(1u, 2u * throttle.threadsPercent / 100u) else 0u }
        assertEquals(expected, trace.marks.map { it.state to it.threads })
        assertEquals(listOf(1u, 0u), trace.threadChanges(2u).map { it.threads })
        // The changes arrive when scheduled, and the critical one stops the run.
        trace.marks.zip(listOf(1.0, 2.0, 3.0)).forEach { (mark, at) -> assertTrue("$mark", mark.tS in at..at + 0.5) }
        assertNotNull(trace.thermalStopS)
        assertTrue(trace.thermalStopS!! < 4.0)
        // The samples' states go nominal → fair → serious (→ critical at the stop), never back.
        val runs = trace.samples.map { it.state }.distinct()
        assertEquals(listOf(ThermalState.NOMINAL, ThermalState.FAIR, ThermalState.SERIOUS), runs.take(3))
        assertEquals(runs.sortedBy { it.ordinal }, runs)
        assertTrue(trace.samples.all { it.tokensPerS >= 0 })
        // The engine agrees: it counted one throttle change per mark, and is nominal again.
        val engine = loader.engines.single()
        assertEquals(trace.marks.size.toULong(), engine.metrics().throttleEvents)
        vm.run()
        val after = vm.state.await { it.activity == BenchActivity.IDLE && it.latest != null }
        assertNull(after.error)
        assertTrue(after.latest!!.report.decodeTokensPerS.mean > 0)
    }

    @Test
    fun `cancel stops a sustained run, keeping what it measured`() {
        val vm = bench(settings = BenchSettings(threads = 2u, sustainedSeconds = 60.0, sampleMs = 100, schedule = ThermalSchedule.NONE))
        vm.runSustained()
        vm.state.await { (it.sustained?.samples?.size ?: 0) >= 3 }
        val started = System.nanoTime()
        vm.cancel()
        val state = vm.state.await(5_000) { it.activity == BenchActivity.IDLE }
        assertTrue((System.nanoTime() - started) / 1e9 < 5)
        val trace = state.sustained!!
        assertTrue(trace.samples.size >= 3)
        assertTrue(!trace.running)
    }
}
