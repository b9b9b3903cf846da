// The models screen's state machine: list the catalog and the installed models, download with
// progress, pause (cancel) and resume (download again), import the bundled demo, delete.
package dev.bitnet.sample.models

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import dev.bitnet.BitNetException
import dev.bitnet.DownloadEvent
import dev.bitnet.core.DownloadOptions
import dev.bitnet.core.EngineConfig
import dev.bitnet.core.InstalledModel
import dev.bitnet.defaultDownloadOptions
import dev.bitnet.download
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.UserError
import kotlinx.coroutines.Job
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * The model store's catalog and installed files. A download streams its progress into its row;
 * [pause] cancels it, keeping what arrived, and [download] again resumes from there (the store
 * asks the server for the rest). Installed models are planned with the device's memory budget,
 * so each row says whether it fits.
 *
 * @param options how downloads behave (progress interval, retries, timeouts).
 */
class ModelsViewModel(
    private val env: SampleEnvironment,
    private val options: DownloadOptions = defaultDownloadOptions(),
) : ViewModel() {
    private val _state = MutableStateFlow(ModelsUiState())

    /** What the screen shows. */
    val state: StateFlow<ModelsUiState> = _state.asStateFlow()

    /** The running downloads by model id; touched on the main thread only. */
    private val downloads = mutableMapOf<String, Job>()

    init {
        refresh()
    }

    /** Reads the catalog and the installed models again. */
    fun refresh() {
        viewModelScope.launch { reload() }
    }

    /** Downloads (or resumes) the catalog model [id]. */
    fun download(id: String) {
        viewModelScope.launch {
            if (downloads[id]?.isActive == true) return@launch
            downloads[id] = launch {
                try {
                    env.store.download(id, options).collect { event ->
                        if (event is DownloadEvent.InProgress) updateRow(id) { it.copy(download = event.progress) }
                    }
                } catch (e: BitNetException) {
                    _state.update { it.copy(error = UserError.of(e)) }
                } finally {
                    // Done, failed or paused: the store says what is on disk now.
                    downloads.remove(id)
                    withContext(NonCancellable) { reload() }
                }
            }
        }
    }

    /** Pauses the download of [id]: what arrived stays on disk for the next [download]. */
    fun pause(id: String) {
        viewModelScope.launch { downloads[id]?.cancel() }
    }

    /** Installs the bundled demo model file as the catalog model [id] (a checked copy). */
    fun importBundled(id: String) {
        val path = env.demoModelPath ?: return
        viewModelScope.launch {
            try {
                env.store.import(path, id, true)
            } catch (e: BitNetException) {
                _state.update { it.copy(error = UserError.of(e)) }
            }
            reload()
        }
    }

    /** Removes [row]'s installed file and any partial download of it. */
    fun delete(row: ModelRow) {
        row.id?.let { pause(it) }
        viewModelScope.launch {
            try {
                env.store.delete(row.fileName)
            } catch (e: BitNetException) {
                _state.update { it.copy(error = UserError.of(e)) }
            }
            reload()
        }
    }

    /** Hides the error banner. */
    fun dismissError() {
        _state.update { it.copy(error = null) }
    }

    private suspend fun reload() {
        try {
            val store = env.store
            val installed = store.list(EngineConfig(memoryBudgetBytes = env.deviceBudgetBytes))
            val running = _state.value.rows.associate { it.id to it.download }
            val catalog = store.catalog().map { entry ->
                val file = installed.firstOrNull { it.catalogId == entry.id }
                val fit = file?.let(::installedFit) ?: store.fits(entry.id).filter { it.fits }.let { fits ->
                    if (fits.isEmpty()) "fits no profile" else "fits " + fits.joinToString(", ") { it.profile.name.lowercase() }
                }
                ModelRow(
                    id = entry.id, name = entry.name, fileName = entry.fileName, sizeBytes = entry.sizeBytes,
                    arch = entry.arch, format = entry.format, fit = fit, installedPath = file?.path,
                    downloadable = entry.urls.isNotEmpty(),
                    importable = entry.urls.isEmpty() && file == null && env.demoModelPath != null,
                    partialBytes = store.partialBytes(entry.id),
                    download = running[entry.id].takeIf { downloads[entry.id]?.isActive == true },
                )
            }
            val others = installed.filter { file -> catalog.none { it.id == file.catalogId } }.map { file ->
                ModelRow(
                    id = null, name = file.fileName, fileName = file.fileName, sizeBytes = file.sizeBytes,
                    arch = file.arch, format = file.format, fit = installedFit(file), installedPath = file.path,
                    downloadable = false,
                )
            }
            _state.update { it.copy(rows = catalog + others) }
        } catch (e: BitNetException) {
            _state.update { it.copy(error = UserError.of(e)) }
        }
    }

    private fun installedFit(file: InstalledModel): String = when {
        file.problem != null -> "cannot load: ${file.problem}"
        file.fits -> "fits"
        else -> "does not fit the memory budget"
    }

    private fun updateRow(id: String, change: (ModelRow) -> ModelRow) {
        _state.update { s -> s.copy(rows = s.rows.map { if (it.id == id) change(it) else it }) }
    }

    override fun onCleared() {
        downloads.values.forEach { it.cancel() }
    }
}
