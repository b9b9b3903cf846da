// The Android shell: hosts the shared screens and view-models (sample-apps/compose) and wires
// them to the device — engines loaded with BitNet.load(context, ...), which attaches the
// thermal monitor and the memory-pressure hook; models kept in no-backup storage; the device's
// memory budget; the demo model shipped as an asset.
package dev.bitnet.sample.android

import android.content.Context
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.lifecycle.ViewModelProvider
import dev.bitnet.BitNet
import dev.bitnet.ModelStore
import dev.bitnet.defaultMemoryBudgetBytes
import dev.bitnet.load
import dev.bitnet.sample.EngineLoader
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.bench.BenchViewModel
import dev.bitnet.sample.chat.ChatViewModel
import dev.bitnet.sample.models.ModelsViewModel
import dev.bitnet.sample.sampleViewModelFactory
import dev.bitnet.sample.ui.SampleApp
import java.io.File

/** The app's only screen: the chat, benchmark and models tabs. */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val env = environment(applicationContext)
        val provider = ViewModelProvider(this, sampleViewModelFactory(env))
        val chat = provider[ChatViewModel::class.java]
        val bench = provider[BenchViewModel::class.java]
        val models = provider[ModelsViewModel::class.java]
        setContent { SampleApp(chat, bench, models, env.deviceBudgetBytes) }
    }

    private companion object {
        const val DEMO = "bitnet-demo-i2_s.gguf"

        /** The platform side of the screens, over the application context. */
        fun environment(app: Context) = SampleEnvironment(
            loader = EngineLoader { path, config -> BitNet.load(app, path, config) },
            store = ModelStore(File(app.noBackupFilesDir, "models").apply { mkdirs() }.path),
            demoModelPath = demoModel(app).path,
            deviceBudgetBytes = defaultMemoryBudgetBytes(app).toULong(),
        )

        /** The bundled demo model as a file the engine can map (assets live inside the APK). */
        fun demoModel(app: Context): File = File(app.noBackupFilesDir, DEMO).also { file ->
            if (!file.exists()) {
                val part = File(file.path + ".part")
                app.assets.open(DEMO).use { input -> part.outputStream().use { input.copyTo(it) } }
                part.renameTo(file)
            }
        }
    }
}
