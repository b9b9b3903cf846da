// The benchmark screen: device and model cards, timed runs, the sustained run's chart, the
// history and its JSON export.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.bench.BenchActivity
import dev.bitnet.sample.bench.BenchSettings
import dev.bitnet.sample.bench.BenchViewModel
import dev.bitnet.sample.bench.ThermalSchedule

/** The benchmark over [vm]; [budgetBytes] is the device's memory budget shown on its card. */
@Composable
fun BenchmarkScreen(vm: BenchViewModel, budgetBytes: ULong?, modifier: Modifier = Modifier) {
    val state by vm.state.collectAsState()
    val idle = state.activity == BenchActivity.IDLE
    Column(
        modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        DeviceCard(state.device, budgetBytes)
        ModelPicker(state.models, state.selected, vm::select, onOpenFile = null)
        state.estimate?.let { EstimateCard(it, state.profiles) }
        state.error?.let { ErrorBanner(it, vm::dismissError) }
        BenchSettingsRow(state.settings, vm::updateSettings)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp), verticalAlignment = Alignment.CenterVertically) {
            Button(onClick = vm::run, enabled = idle && state.selected != null, modifier = Modifier.testTag(Tags.BENCH_RUN)) { Text("Run") }
            Button(onClick = vm::runSustained, enabled = idle && state.selected != null, modifier = Modifier.testTag(Tags.BENCH_SUSTAINED)) {
                Text("Run sustained")
            }
            if (!idle) OutlinedButton(onClick = vm::cancel) { Text("Cancel") }
            state.progress?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
        }
        state.latest?.let { BenchResultTable(it) }
        state.sustained?.let { trace ->
            Card(Modifier.fillMaxWidth()) {
                Column(Modifier.padding(12.dp)) {
                    Text(
                        "Sustained decode" + if (trace.running) " (running)" else "",
                        style = MaterialTheme.typography.titleSmall,
                        fontWeight = FontWeight.Bold,
                    )
                    SustainedChart(trace, state.startThreads ?: 0u)
                }
            }
        }
        if (state.history.isNotEmpty()) BenchHistory(state.history)
        OutlinedButton(onClick = vm::export, enabled = state.history.isNotEmpty() || state.sustained != null) { Text("Export JSON") }
        state.export?.let { json ->
            SelectionContainer {
                Text(json, Modifier.testTag(Tags.EXPORT), style = MaterialTheme.typography.labelSmall)
            }
        }
    }
}

/** Runs, tokens, threads, the sustained run's length and its thermal schedule, applied as typed. */
@Composable
private fun BenchSettingsRow(settings: BenchSettings, onChange: (BenchSettings) -> Unit) {
    var schedule by remember { mutableStateOf(settings.schedule.toString()) }
    var scheduleError by remember { mutableStateOf<String?>(null) }
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            SettingField("Runs", settings.runs.toString(), Modifier.weight(1f)) { v ->
                v.toIntOrNull()?.takeIf { it > 0 }?.let { onChange(settings.copy(runs = it)) }
            }
            SettingField("Prompt", settings.promptTokens.toString(), Modifier.weight(1f)) { v ->
                v.toUIntOrNull()?.takeIf { it > 0u }?.let { onChange(settings.copy(promptTokens = it)) }
            }
            SettingField("Tokens", settings.genTokens.toString(), Modifier.weight(1f)) { v ->
                v.toUIntOrNull()?.takeIf { it > 0u }?.let { onChange(settings.copy(genTokens = it)) }
            }
            SettingField("Threads", settings.threads.toString(), Modifier.weight(1f)) { v ->
                v.toUIntOrNull()?.let { onChange(settings.copy(threads = it)) }
            }
            SettingField("Sustained s", settings.sustainedSeconds.toString(), Modifier.weight(1f)) { v ->
                v.toDoubleOrNull()?.takeIf { it > 0 }?.let { onChange(settings.copy(sustainedSeconds = it)) }
            }
        }
        OutlinedTextField(
            value = schedule,
            onValueChange = { text ->
                schedule = text
                scheduleError = try {
                    onChange(settings.copy(schedule = ThermalSchedule.parse(text)))
                    null
                } catch (e: IllegalArgumentException) {
                    e.message
                }
            },
            label = { Text("Thermal schedule (empty: the device's own)") },
            supportingText = scheduleError?.let { { Text(it) } },
            isError = scheduleError != null,
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
    }
}

/** A number field that keeps what is typed and hands each change to [apply] (which ignores what does not parse). */
@Composable
private fun SettingField(label: String, initial: String, modifier: Modifier, apply: (String) -> Unit) {
    var text by remember { mutableStateOf(initial) }
    NumberField(label, text, { text = it; apply(it) }, modifier)
}
