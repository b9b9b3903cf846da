// The whole app: the chat, benchmark and models screens behind tabs.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.PrimaryTabRow
import androidx.compose.material3.Surface
import androidx.compose.material3.Tab
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import dev.bitnet.sample.bench.BenchViewModel
import dev.bitnet.sample.chat.ChatViewModel
import dev.bitnet.sample.models.ModelsViewModel

/** The sample app's screens, in its theme; [budgetBytes] is the device's memory budget. */
@Composable
fun SampleApp(chat: ChatViewModel, bench: BenchViewModel, models: ModelsViewModel, budgetBytes: ULong?) {
    var tab by remember { mutableIntStateOf(0) }
    // Models installed on the Models tab show up in the other tabs' pickers.
    LaunchedEffect(tab) {
        when (tab) {
            0 -> chat.refreshModels()
            1 -> bench.refreshModels()
        }
    }
    SampleTheme {
        Surface(Modifier.fillMaxSize()) {
            Column {
                PrimaryTabRow(selectedTabIndex = tab) {
                    listOf("Chat", "Benchmark", "Models").forEachIndexed { index, title ->
                        Tab(selected = tab == index, onClick = { tab = index }, text = { Text(title) })
                    }
                }
                when (tab) {
                    0 -> ChatScreen(chat)
                    1 -> BenchmarkScreen(bench, budgetBytes)
                    else -> ModelsScreen(models)
                }
            }
        }
    }
}
