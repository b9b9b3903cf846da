// The benchmark's results table and its history table.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Card
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.bench.BenchResult
import dev.bitnet.sample.bench.MeanSd
import dev.bitnet.sample.formatBytes
import dev.bitnet.sample.formatNumber

/** [result]'s figures, mean ± sd over its runs. */
@Composable
fun BenchResultTable(result: BenchResult, modifier: Modifier = Modifier) {
    Card(modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(2.dp)) {
            Text(
                "${result.model}: ${result.runs} runs, ${result.threads} threads, prompt ${result.promptTokens} tokens, " +
                    "${formatNumber(result.generatedTokens)} generated",
                style = MaterialTheme.typography.titleSmall,
                fontWeight = FontWeight.Bold,
            )
            ResultLine("First token (ms)", meanSd(result.timeToFirstTokenMs), "ttft")
            ResultLine("Prefill (tok/s)", meanSd(result.prefillTokensPerS), "prefill")
            ResultLine("Decode (tok/s)", meanSd(result.decodeTokensPerS), "decode")
            ResultLine("Peak memory", result.peakResidentBytes?.let(::formatBytes) ?: "not reported", "peak")
        }
    }
}

@Composable
private fun ResultLine(label: String, value: String, metric: String) {
    Row {
        Text(label, Modifier.weight(0.5f), style = MaterialTheme.typography.bodyMedium)
        Text(value, Modifier.weight(0.5f).testTag(Tags.benchValue(metric)), style = MaterialTheme.typography.bodyMedium)
    }
}

/** Every benchmark of [history], newest first: decode and prefill speed, first token, memory. */
@Composable
fun BenchHistory(history: List<BenchResult>, modifier: Modifier = Modifier) {
    Card(modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(2.dp)) {
            Text("History", style = MaterialTheme.typography.titleSmall, fontWeight = FontWeight.Bold)
            Row {
                for (header in listOf("Model", "Threads", "Decode", "Prefill", "First token")) {
                    Text(header, Modifier.weight(1f), style = MaterialTheme.typography.labelSmall, fontWeight = FontWeight.Bold)
                }
            }
            for (result in history.asReversed()) {
                Row {
                    for (cell in listOf(
                        result.model, result.threads.toString(), formatNumber(result.decodeTokensPerS.mean),
                        formatNumber(result.prefillTokensPerS.mean), "${formatNumber(result.timeToFirstTokenMs.mean)} ms",
                    )) {
                        Text(cell, Modifier.weight(1f), style = MaterialTheme.typography.labelSmall)
                    }
                }
            }
        }
    }
}

/** "612.4 ± 20.1". */
fun meanSd(value: MeanSd): String = "${formatNumber(value.mean)} ± ${formatNumber(value.sd)}"
