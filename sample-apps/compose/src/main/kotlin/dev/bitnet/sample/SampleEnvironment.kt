// What the shared screens need from the platform they run on (the desktop app, the Android
// shell, the tests): how to load an engine, where models live, the bundled demo model, the
// device and its memory budget.
package dev.bitnet.sample

import dev.bitnet.BitNet
import dev.bitnet.BitNetEngineInterface
import dev.bitnet.core.EngineConfig
import dev.bitnet.ModelStore
import dev.bitnet.sample.bench.DeviceInfo

/**
 * Loads an engine for a model file. The desktop loads with [BitNet.load]; the Android shell
 * with `BitNet.load(context, ...)`, which also feeds the engine the device's thermal and
 * memory signals until it is released.
 */
fun interface EngineLoader {
    /** Loads the model at [path] with [config]; throws the typed `BitNetException`s. */
    suspend fun load(path: String, config: EngineConfig): BitNetEngineInterface

    companion object {
        /** [BitNet.load], with no platform hooks. */
        val Plain = EngineLoader { path, config -> BitNet.load(path, config) }
    }
}

/**
 * The platform's side of the sample app.
 *
 * @property loader how engines are loaded.
 * @property store where models are installed and downloaded to.
 * @property demoModelPath the bundled demo model's file, if the app ships it.
 * @property device what the device is, for the benchmark's device card.
 * @property deviceBudgetBytes the memory budget engines get when the settings name none, in
 *   bytes (Android: `defaultMemoryBudgetBytes(context)`); `null` for no budget.
 */
class SampleEnvironment(
    val loader: EngineLoader,
    val store: ModelStore,
    val demoModelPath: String?,
    val device: DeviceInfo = DeviceInfo.current(),
    val deviceBudgetBytes: ULong? = null,
)
