// Getting models onto the device: a Flow over ModelStore.download (the generated bindings hold
// ModelStore, Download, CatalogEntry, DownloadProgress and the typed BitNetException subclasses).
package dev.bitnet

import dev.bitnet.core.DownloadOptions
import dev.bitnet.core.DownloadProgress
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch

/** What a model download reports. */
sealed interface DownloadEvent {
    /** Bytes on disk so far, speed and time left (at most every `progressIntervalMs`). */
    data class InProgress(val progress: DownloadProgress) : DownloadEvent

    /** The model is installed and its SHA-256 checked: [path] is ready for [BitNet.load]. */
    data class Done(val path: String) : DownloadEvent
}

/**
 * Downloads the catalog model [id] (resuming what an earlier download left) and streams its
 * progress, ending with [DownloadEvent.Done]. Errors end the flow with a typed
 * [BitNetException]: `InsufficientStorage` (before any byte), `Http`, `Network`,
 * `ChecksumMismatch` (nothing installed), `ModelNotFound`.
 *
 * Cancelling the collector cancels the download; what arrived stays on disk and the next call
 * resumes it ([ModelStore.partialBytes]). Progress events are dropped, never queued, when the
 * collector is slower than [DownloadOptions.progressIntervalMs].
 */
fun ModelStore.download(
    id: String,
    options: DownloadOptions = defaultDownloadOptions(),
): Flow<DownloadEvent> {
    val store = this
    return callbackFlow {
        val listener = object : DownloadListener {
            override fun onProgress(progress: DownloadProgress) {
                trySend(DownloadEvent.InProgress(progress))
            }
        }
        val download = store.download(id, options, listener)
        launch {
            try {
                send(DownloadEvent.Done(download.wait()))
                channel.close()
            } catch (e: Throwable) {
                channel.close(e)
            }
        }
        awaitClose { download.cancel() }
    }
}
