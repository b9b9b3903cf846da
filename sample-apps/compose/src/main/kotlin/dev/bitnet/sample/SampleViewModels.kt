// One factory for the three screens' view-models, used by the desktop app (a ViewModelStore
// of its window) and the Android shell (its Activity).
package dev.bitnet.sample

import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import dev.bitnet.sample.bench.BenchViewModel
import dev.bitnet.sample.chat.ChatViewModel
import dev.bitnet.sample.models.ModelsViewModel

/** Creates [ChatViewModel], [BenchViewModel] and [ModelsViewModel] over [env]. */
fun sampleViewModelFactory(env: SampleEnvironment): ViewModelProvider.Factory = viewModelFactory {
    initializer { ChatViewModel(env) }
    initializer { BenchViewModel(env) }
    initializer { ModelsViewModel(env) }
}
