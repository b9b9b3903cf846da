// What the models screen shows: the catalog and the installed files, with downloads in flight.
package dev.bitnet.sample.models

import dev.bitnet.core.DownloadProgress
import dev.bitnet.sample.UserError

/**
 * One model: a catalog entry (installed or not) or an installed file the catalog does not
 * know.
 *
 * @property id the catalog id (`null` for a file outside the catalog).
 * @property fileName the installed file's name.
 * @property sizeBytes the file's size, in bytes.
 * @property arch the architecture (`general.architecture`), when known.
 * @property format the ternary projections' format (`I2_S`, `TQ2_0`, ...), when known.
 * @property fit how it fits memory: "fits", or the profiles it fits, or why it does not.
 * @property installedPath where it is installed, if it is.
 * @property downloadable whether the catalog has URLs for it (the bundled demo has none).
 * @property importable whether it is the catalog entry of the model the app bundles (no URLs,
 *   not installed, and the app ships a demo file to import).
 * @property partialBytes bytes of a paused download waiting to be resumed.
 * @property download the running download's progress.
 */
data class ModelRow(
    val id: String?,
    val name: String,
    val fileName: String,
    val sizeBytes: ULong,
    val arch: String?,
    val format: String?,
    val fit: String,
    val installedPath: String?,
    val downloadable: Boolean,
    val importable: Boolean = false,
    val partialBytes: ULong = 0u,
    val download: DownloadProgress? = null,
) {
    /** Share of the file on disk, 0..1 (a paused download's part counts). */
    val fraction: Float
        get() {
            val done = download?.doneBytes ?: partialBytes
            return if (sizeBytes == 0uL) 0f else (done.toDouble() / sizeBytes.toDouble()).toFloat()
        }
}

/**
 * Everything the models screen shows.
 *
 * @property rows the catalog's models, then the installed files it does not know.
 * @property error the banner's error, if any.
 */
data class ModelsUiState(
    val rows: List<ModelRow> = emptyList(),
    val error: UserError? = null,
)
