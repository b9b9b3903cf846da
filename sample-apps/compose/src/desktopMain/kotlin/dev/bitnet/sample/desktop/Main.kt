// The desktop app: the sample's screens in a phone-sized window, over the host libbitnet_ffi.
package dev.bitnet.sample.desktop

import androidx.compose.ui.unit.dp
import androidx.compose.ui.window.Window
import androidx.compose.ui.window.application
import androidx.compose.ui.window.rememberWindowState
import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelStore
import dev.bitnet.ModelStore
import dev.bitnet.sample.EngineLoader
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.bench.BenchViewModel
import dev.bitnet.sample.chat.ChatViewModel
import dev.bitnet.sample.models.ModelsViewModel
import dev.bitnet.sample.sampleViewModelFactory
import dev.bitnet.sample.ui.SampleApp
import java.io.File

/**
 * Opens the sample app. System properties: `bitnet.demoModel` (the demo model's file; default
 * `sample-apps/demo-model/bitnet-demo-i2_s.gguf` under the working directory), `bitnet.storeDir`
 * (where models are installed; default `~/.cache/bitnet-sdk/sample-models`) and
 * `jna.library.path` (the directory of libbitnet_ffi.so).
 */
fun main() {
    val demo = File(System.getProperty("bitnet.demoModel") ?: "sample-apps/demo-model/bitnet-demo-i2_s.gguf")
    val storeDir = File(System.getProperty("bitnet.storeDir") ?: "${System.getProperty("user.home")}/.cache/bitnet-sdk/sample-models")
    storeDir.mkdirs()
    val env = SampleEnvironment(
        loader = EngineLoader.Plain,
        store = ModelStore(storeDir.path),
        demoModelPath = demo.takeIf { it.isFile }?.absolutePath,
    )
    val viewModels = ViewModelStore()
    val provider = ViewModelProvider.create(viewModels, sampleViewModelFactory(env))
    val chat = provider[ChatViewModel::class]
    val bench = provider[BenchViewModel::class]
    val models = provider[ModelsViewModel::class]
    application {
        Window(
            onCloseRequest = {
                viewModels.clear()
                exitApplication()
            },
            title = "BitNet sample",
            state = rememberWindowState(width = 480.dp, height = 900.dp),
        ) {
            SampleApp(chat, bench, models, env.deviceBudgetBytes)
        }
    }
}

