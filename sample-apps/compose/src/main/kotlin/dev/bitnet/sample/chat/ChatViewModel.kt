// The chat's state machine: load a model, stream replies, stop, retry, start over.
package dev.bitnet.sample.chat

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import dev.bitnet.BitNetEngineInterface
import dev.bitnet.BitNetException
import dev.bitnet.core.ChatMessage
import dev.bitnet.ChatSession
import dev.bitnet.core.FinishReason
import dev.bitnet.GenerationEvent
import dev.bitnet.core.GenerationSummary
import dev.bitnet.core.Role
import dev.bitnet.generate
import dev.bitnet.sample.ModelOption
import dev.bitnet.sample.ModelSource
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.UserError
import dev.bitnet.sample.describe
import dev.bitnet.sample.modelOptions
import dev.bitnet.session
import java.io.File
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

/**
 * One conversation with a model picked from the bundled demo, the store's installed models or a
 * file path.
 *
 * Every action runs on the main thread (the view-model's scope), so the fields below are only
 * touched there. A reply streams into the last [ChatTurn]; [stop] cancels it before its next
 * token and the partial text stays in the conversation, which the next turn continues. A
 * failed turn leaves the conversation unchanged and can be [retry]d.
 */
class ChatViewModel(private val env: SampleEnvironment) : ViewModel() {
    private val _state = MutableStateFlow(ChatUiState(settings = ChatSettings(memoryBudgetBytes = env.deviceBudgetBytes)))

    /** What the screen shows. */
    val state: StateFlow<ChatUiState> = _state.asStateFlow()

    private var engine: BitNetEngineInterface? = null
    private var session: ChatSession? = null
    private var generation: Job? = null
    private var files: List<ModelOption> = emptyList()

    private val loads = Mutex()

    /** The system prompt goes with the first turn that succeeds after a (re)start. */
    private var systemPending = true

    init {
        refreshModels()
    }

    /** Lists the bundled model, the installed ones and the files opened so far. */
    fun refreshModels() {
        viewModelScope.launch {
            val options = try {
                env.modelOptions()
            } catch (e: BitNetException) {
                _state.update { it.copy(error = UserError.of(e)) }
                emptyList()
            }
            _state.update { it.copy(models = options + files) }
        }
    }

    /** Adds the model file at [path] to the picker and loads it. */
    fun openFile(path: String) {
        viewModelScope.launch {
            val option = ModelOption(File(path).name, path, ModelSource.FILE)
            if (option !in files) files = files + option
            _state.update { it.copy(models = it.models.filter { m -> m.source != ModelSource.FILE } + files) }
            load(option)
        }
    }

    /** Loads [option]'s model (releasing the current one); the conversation starts over. */
    fun select(option: ModelOption) {
        viewModelScope.launch { load(option) }
    }

    /** Applies [settings]; a changed thread limit or budget loads the model again. */
    fun updateSettings(settings: ChatSettings) {
        viewModelScope.launch {
            val reload = _state.value.settings.needsReload(settings)
            _state.update { it.copy(settings = settings) }
            val selected = _state.value.selected
            if (reload && selected != null) load(selected)
        }
    }

    /** The input field's text. */
    fun onDraftChange(text: String) {
        _state.update { it.copy(draft = text) }
    }

    /** Sends the draft as the next user turn. */
    fun send() {
        viewModelScope.launch {
            val current = _state.value
            if (!current.canSend) return@launch
            _state.update { it.copy(draft = "") }
            startTurn(current.draft.trim())
        }
    }

    /** Stops the reply being generated before its next token; its text so far is kept. */
    fun stop() {
        viewModelScope.launch { session?.cancel() }
    }

    /** Sends the failed last turn's prompt again. */
    fun retry() {
        viewModelScope.launch {
            val last = _state.value.turns.lastOrNull() ?: return@launch
            if (last.status != ReplyStatus.FAILED || _state.value.generating || session == null) return@launch
            _state.update { it.copy(turns = it.turns.dropLast(1), error = null) }
            startTurn(last.prompt)
        }
    }

    /** Forgets the conversation (the model stays loaded). */
    fun newChat() {
        viewModelScope.launch {
            session?.cancel()
            generation?.join()
            session?.reset()
            systemPending = true
            _state.update { it.copy(turns = emptyList(), error = null) }
        }
    }

    /** Hides the error banner. */
    fun dismissError() {
        _state.update { it.copy(error = null) }
    }

    /** Loads one model at a time: each load releases the engine the one before it made. */
    private suspend fun load(option: ModelOption) = loads.withLock {
        release()
        _state.update {
            it.copy(selected = option, loading = true, ready = false, turns = emptyList(), status = null, error = null)
        }
        try {
            val loaded = env.loader.load(option.path, _state.value.settings.engineConfig())
            engine = loaded
            session = loaded.session()
            systemPending = true
            _state.update { it.copy(loading = false, ready = true) }
            refreshStatus(threads = null)
        } catch (e: BitNetException) {
            _state.update { it.copy(loading = false, error = UserError.of(e)) }
        }
    }

    private fun startTurn(prompt: String) {
        val session = session ?: return
        val settings = _state.value.settings
        val messages = buildList {
            if (systemPending && settings.systemPrompt.isNotBlank()) add(ChatMessage(Role.SYSTEM, settings.systemPrompt))
            add(ChatMessage(Role.USER, prompt))
        }
        _state.update { it.copy(turns = it.turns + ChatTurn(prompt), generating = true, error = null) }
        generation = viewModelScope.launch {
            var threads: UInt? = _state.value.status?.threads
            try {
                session.generate(messages, settings.options()).collect { event ->
                    when (event) {
                        is GenerationEvent.Text -> updateLast { it.copy(reply = it.reply + event.text) }
                        is GenerationEvent.Thermal -> {
                            threads = event.threads
                            refreshStatus(threads)
                        }
                        is GenerationEvent.Finished -> {
                            threads = event.summary.stats.kernelThreads
                            updateLast { finished(it, event.summary) }
                        }
                    }
                }
                systemPending = false
            } catch (e: BitNetException) {
                updateLast { it.copy(status = ReplyStatus.FAILED) }
                _state.update { it.copy(error = UserError.of(e)) }
            } finally {
                _state.update { it.copy(generating = false) }
                refreshStatus(threads)
            }
        }
    }

    private fun finished(turn: ChatTurn, summary: GenerationSummary): ChatTurn {
        val status = when (summary.finishReason) {
            FinishReason.CANCELLED -> ReplyStatus.STOPPED
            FinishReason.THERMAL_STOP -> ReplyStatus.THERMAL_STOPPED
            else -> ReplyStatus.COMPLETE
        }
        return turn.copy(reply = summary.text, status = status, finishReason = summary.finishReason, stats = ReplyStats.of(summary.stats))
    }

    private fun updateLast(change: (ChatTurn) -> ChatTurn) {
        _state.update { it.copy(turns = it.turns.dropLast(1) + change(it.turns.last())) }
    }

    /** Reads the engine's health for the status row; [threads] are the latest reported. */
    private fun refreshStatus(threads: UInt?) {
        val engine = engine ?: return
        try {
            val health = engine.health()
            val estimate = engine.memoryEstimate()
            val budget = _state.value.settings.memoryBudgetBytes
            val context = budget?.let { minOf(estimate.maxContextTokens(it), estimate.defaultContextTokens) }
                ?: estimate.defaultContextTokens
            val status = EngineStatus(
                thermal = health.metrics.thermalState,
                threads = threads,
                residentBytes = health.metrics.residentBytes,
                budgetBytes = budget,
                neededBytes = estimate.totalBytes(context),
                alerts = health.alerts.map { it.describe() },
            )
            _state.update { it.copy(status = status) }
        } catch (_: BitNetException.Closed) {
            // Released while this ran: nothing to show.
        }
    }

    private suspend fun release() {
        session?.cancel()
        generation?.join()
        session?.release()
        engine?.release()
        session = null
        engine = null
    }

    override fun onCleared() {
        session?.release()
        engine?.release()
    }
}
