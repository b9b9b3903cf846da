// The benchmark's state machine: the device and model cards, timed runs, a sustained run under
// a scripted thermal schedule, the history and its JSON export.
package dev.bitnet.sample.bench

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import dev.bitnet.BitNet
import dev.bitnet.BitNetEngineInterface
import dev.bitnet.BitNetException
import dev.bitnet.core.EngineConfig
import dev.bitnet.core.FinishReason
import dev.bitnet.GenerationEvent
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.GenerationSummary
import dev.bitnet.core.Profile
import dev.bitnet.core.Prompt
import dev.bitnet.core.ThermalState
import dev.bitnet.defaultBenchConfig
import dev.bitnet.generate
import dev.bitnet.profileConfig
import dev.bitnet.runBenchmark
import dev.bitnet.sample.ModelOption
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.UserError
import dev.bitnet.sample.modelOptions
import dev.bitnet.session
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.last
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/**
 * Measures a model through the public API, as an app would. Timed runs are the engine's own
 * benchmark ([runBenchmark], what `bitnet bench` runs): [BenchSettings.runs] repetitions of
 * [BenchSettings.promptTokens] prefilled and [BenchSettings.genTokens] decoded tokens after an
 * untimed warm-up, with the memory-copy bandwidth measured beside each; [cancel] stops one and
 * keeps the repetitions it finished.
 *
 * A sustained run generates back to back for [BenchSettings.sustainedSeconds], counting the
 * streamed pieces per [BenchSettings.sampleMs] interval, while [BenchSettings.schedule] reports
 * scripted thermal states to the engine (`reportThermal`); every
 * [GenerationEvent.Thermal] the engine sends back becomes a [ThermalMark], and a thermal stop
 * ends the run. A scripted run leaves the engine at `NOMINAL` again.
 */
class BenchViewModel(private val env: SampleEnvironment) : ViewModel() {
    private val _state = MutableStateFlow(BenchUiState(device = env.device))

    /** What the screen shows. */
    val state: StateFlow<BenchUiState> = _state.asStateFlow()

    private var engine: BitNetEngineInterface? = null

    /** The model path and thread limit [engine] was loaded with. */
    private var engineKey: Pair<String, UInt>? = null
    /** The running benchmark; touched on the main thread only. */
    private var job: Job? = null

    /** Whether [cancel] asked the running timed run to stop (before its engine had loaded, too). */
    private var stopRequested = false

    init {
        refreshModels()
    }

    /** Lists the bundled and installed models; selects the first if none is selected. */
    fun refreshModels() {
        viewModelScope.launch {
            try {
                val options = env.modelOptions()
                _state.update { it.copy(models = options) }
                if (_state.value.selected == null) options.firstOrNull()?.let { estimate(it) }
            } catch (e: BitNetException) {
                _state.update { it.copy(error = UserError.of(e)) }
            }
        }
    }

    /** Selects [option]: its memory estimate and profile fit, from the file's header. */
    fun select(option: ModelOption) {
        viewModelScope.launch { estimate(option) }
    }

    /** Applies [settings] to the next run. */
    fun updateSettings(settings: BenchSettings) {
        _state.update { it.copy(settings = settings) }
    }

    /** Runs the timed benchmark; its result joins the history (a cancelled one if it finished a repetition). */
    fun run() = start(BenchActivity.RUNS) {
        val settings = _state.value.settings
        val engine = engine()
        if (stopRequested) return@start
        _state.update { it.copy(progress = "${settings.runs} runs of ${settings.promptTokens} + ${settings.genTokens} tokens") }
        val config = defaultBenchConfig().copy(promptTokens = settings.promptTokens, genTokens = settings.genTokens, reps = settings.runs.toUInt())
        val report = engine.runBenchmark(config)
        if (report.reps == 0u) return@start
        val result = BenchResult(_state.value.selected?.label.orEmpty(), System.currentTimeMillis(), report)
        _state.update { it.copy(latest = result, history = it.history + result) }
    }

    /** Runs the sustained benchmark, drawn live as it goes. */
    fun runSustained() = start(BenchActivity.SUSTAINED) {
        val settings = _state.value.settings
        val engine = engine()
        // One sentence: the run is about decoding, and each restarted session prefills it again.
        val prompt = Prompt.Text(SENTENCE)
        // The warm-up tells the threads and state in force before any scripted change.
        val warm = summary(engine, prompt, GenerationOptions(maxTokens = 4u)).stats
        var threads = warm.kernelThreads
        var state = warm.thermalState
        _state.update { it.copy(sustained = SustainedTrace(settings.sustainedSeconds, settings.schedule), startThreads = threads) }
        val started = System.nanoTime()
        fun elapsed() = (System.nanoTime() - started) / 1e9
        val script = viewModelScope.launch {
            for (step in settings.schedule.steps) {
                delay(step.atMs - (elapsed() * 1000).toLong())
                engine.reportThermal(step.state, null)
            }
        }
        var pieces = 0
        var from = 0.0
        var thermalStop = false
        try {
            while (!thermalStop && elapsed() < settings.sustainedSeconds) {
                val session = engine.session()
                try {
                    session.generate(prompt, GenerationOptions(maxTokens = SUSTAINED_TOKENS)).collect { event ->
                        val now = elapsed()
                        when (event) {
                            is GenerationEvent.Text -> {
                                pieces++
                                if (now - from >= settings.sampleMs / 1000.0) {
                                    addSample(SustainedSample(now, pieces / (now - from), state, threads))
                                    pieces = 0
                                    from = now
                                }
                                if (now >= settings.sustainedSeconds) session.cancel()
                            }
                            is GenerationEvent.Thermal -> {
                                state = event.state
                                threads = event.threads
                                updateTrace { it.copy(marks = it.marks + ThermalMark(now, event.state, event.threads, event.pauseMs)) }
                            }
                            is GenerationEvent.Finished -> thermalStop = event.summary.finishReason == FinishReason.THERMAL_STOP
                        }
                    }
                } finally {
                    session.release()
                }
            }
        } finally {
            script.cancel()
            if (settings.schedule.steps.isNotEmpty()) engine.reportThermal(ThermalState.NOMINAL, null)
        }
        val end = elapsed()
        if (end > from) addSample(SustainedSample(end, pieces / (end - from), state, threads))
        updateTrace { it.copy(running = false, thermalStopS = if (thermalStop) end else null) }
    }

    /**
     * Stops what is running; what was measured so far stays: a timed run returns the
     * repetitions it finished (the engine's `cancelBenchmark`), a sustained run keeps its samples.
     */
    fun cancel() {
        viewModelScope.launch {
            if (_state.value.activity == BenchActivity.RUNS) {
                stopRequested = true
                engine?.cancelBenchmark()
            } else {
                job?.cancel()
            }
        }
    }

    /** Puts the history (and the last sustained run) as JSON in [BenchUiState.export]. */
    fun export() {
        _state.update { it.copy(export = BenchJson.encode(it.device, it.estimate, it.history, it.sustained)) }
    }

    /** Hides the error banner. */
    fun dismissError() {
        _state.update { it.copy(error = null) }
    }

    private fun start(activity: BenchActivity, block: suspend () -> Unit) {
        viewModelScope.launch {
            if (_state.value.activity != BenchActivity.IDLE || _state.value.selected == null) return@launch
            _state.update { it.copy(activity = activity, error = null) }
            stopRequested = false
            job = launch {
                try {
                    block()
                } catch (e: BitNetException) {
                    _state.update { it.copy(error = UserError.of(e)) }
                } finally {
                    _state.update { s -> s.copy(activity = BenchActivity.IDLE, progress = null, sustained = s.sustained?.copy(running = false)) }
                }
            }
        }
    }

    private suspend fun estimate(option: ModelOption) {
        _state.update { it.copy(selected = option, estimate = null, profiles = emptyList(), error = null) }
        try {
            val estimate = BitNet.estimate(option.path, config())
            val profiles = Profile.entries.map { profile ->
                // Each profile's own estimate: the mobile one leaves the mapped weights out.
                val config = profileConfig(profile)
                val own = BitNet.estimate(option.path, config)
                val budget = config.memoryBudgetBytes
                val fitting = budget?.let { own.maxContextTokens(it) } ?: own.defaultContextTokens
                ProfileRow(profile, budget, minOf(fitting, own.defaultContextTokens), fitting >= own.minContextTokens)
            }
            _state.update { it.copy(estimate = estimate, profiles = profiles) }
        } catch (e: BitNetException) {
            _state.update { it.copy(error = UserError.of(e)) }
        }
    }

    private fun config() = EngineConfig(threads = _state.value.settings.threads, memoryBudgetBytes = env.deviceBudgetBytes)

    /** The engine for the selected model and thread limit, loaded on first use. */
    private suspend fun engine(): BitNetEngineInterface {
        val path = checkNotNull(_state.value.selected).path
        val key = path to _state.value.settings.threads
        val current = engine
        if (current != null && engineKey == key) return current
        current?.release()
        engine = null
        return env.loader.load(path, config()).also {
            engine = it
            engineKey = key
        }
    }

    private fun addSample(sample: SustainedSample) = updateTrace { it.copy(samples = it.samples + sample) }

    private fun updateTrace(change: (SustainedTrace) -> SustainedTrace) {
        _state.update { s -> s.copy(sustained = s.sustained?.let(change)) }
    }

    override fun onCleared() {
        engine?.release()
    }

    private companion object {
        /** The sustained run's prompt; raw text (no chat template). */
        const val SENTENCE = "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun. "

        /** Tokens per generation of a sustained run (the run restarts a session when one ends). */
        const val SUSTAINED_TOKENS = 256u

        /** One generation on a fresh session; its summary. */
        suspend fun summary(engine: BitNetEngineInterface, prompt: Prompt, options: GenerationOptions): GenerationSummary {
            val session = engine.session()
            try {
                return (session.generate(prompt, options).last() as GenerationEvent.Finished).summary
            } finally {
                session.release()
            }
        }
    }
}
