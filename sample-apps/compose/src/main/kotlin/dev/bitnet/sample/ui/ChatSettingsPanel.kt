// The chat's settings: system prompt, sampling, threads and memory budget, applied together.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.chat.ChatSettings

/**
 * Edits [settings] as text; Apply hands the parsed settings to [onApply] (a field that does not
 * parse keeps its old value). The budget is in MiB, empty for none.
 */
@Composable
fun ChatSettingsPanel(settings: ChatSettings, onApply: (ChatSettings) -> Unit, modifier: Modifier = Modifier) {
    var system by remember(settings) { mutableStateOf(settings.systemPrompt) }
    var maxTokens by remember(settings) { mutableStateOf(settings.maxTokens.toString()) }
    var temperature by remember(settings) { mutableStateOf(settings.temperature.toString()) }
    var topK by remember(settings) { mutableStateOf(settings.topK.toString()) }
    var topP by remember(settings) { mutableStateOf(settings.topP.toString()) }
    var seed by remember(settings) { mutableStateOf(settings.seed.toString()) }
    var threads by remember(settings) { mutableStateOf(settings.threads.toString()) }
    var budgetMiB by remember(settings) { mutableStateOf(settings.memoryBudgetBytes?.let { (it / MIB).toString() } ?: "") }
    Card(modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            OutlinedTextField(system, { system = it }, label = { Text("System prompt") }, modifier = Modifier.fillMaxWidth())
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                NumberField("Max tokens", maxTokens, { maxTokens = it }, Modifier.weight(1f))
                NumberField("Temperature", temperature, { temperature = it }, Modifier.weight(1f))
                NumberField("Top-k", topK, { topK = it }, Modifier.weight(1f))
            }
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                NumberField("Top-p", topP, { topP = it }, Modifier.weight(1f))
                NumberField("Seed", seed, { seed = it }, Modifier.weight(1f))
                NumberField("Threads", threads, { threads = it }, Modifier.weight(1f))
            }
            NumberField("Memory budget (MiB, empty: none)", budgetMiB, { budgetMiB = it }, Modifier.fillMaxWidth())
            Button(onClick = {
                onApply(
                    settings.copy(
                        systemPrompt = system,
                        maxTokens = maxTokens.toUIntOrNull() ?: settings.maxTokens,
                        temperature = temperature.toFloatOrNull() ?: settings.temperature,
                        topK = topK.toUIntOrNull() ?: settings.topK,
                        topP = topP.toFloatOrNull() ?: settings.topP,
                        seed = seed.toULongOrNull() ?: settings.seed,
                        threads = threads.toUIntOrNull() ?: settings.threads,
                        memoryBudgetBytes = if (budgetMiB.isBlank()) null else budgetMiB.toULongOrNull()?.times(MIB) ?: settings.memoryBudgetBytes,
                    ),
                )
            }) { Text("Apply") }
        }
    }
}

/** A one-line text field for a number. */
@Composable
fun NumberField(label: String, value: String, onChange: (String) -> Unit, modifier: Modifier = Modifier) {
    OutlinedTextField(value, onChange, label = { Text(label) }, singleLine = true, modifier = modifier)
}

private const val MIB = 1048576uL
