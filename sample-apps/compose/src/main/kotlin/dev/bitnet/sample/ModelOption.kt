// A model the chat and benchmark pickers offer, and where the list comes from.
package dev.bitnet.sample

import dev.bitnet.core.EngineConfig

/** Where a [ModelOption] comes from. */
enum class ModelSource {
    /** The demo model the app ships. */
    BUNDLED,

    /** Installed in the model store (downloaded or imported). */
    INSTALLED,

    /** A file path typed in. */
    FILE,
}

/** A model file to load: its [label] in the picker, its [path] and where it comes from. */
data class ModelOption(val label: String, val path: String, val source: ModelSource)

/**
 * The bundled demo model (if the app ships one) and the store's installed models.
 *
 * @throws dev.bitnet.BitNetException when the store cannot be read.
 */
suspend fun SampleEnvironment.modelOptions(): List<ModelOption> {
    val bundled = listOfNotNull(demoModelPath?.let { ModelOption("Demo model (bundled)", it, ModelSource.BUNDLED) })
    val installed = store.list(EngineConfig()).map { ModelOption(it.fileName, it.path, ModelSource.INSTALLED) }
    return bundled + installed
}
