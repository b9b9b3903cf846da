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
import dev.bitnet.core.Stat
import dev.bitnet.sample.bench.BenchResult
import dev.bitnet.sample.formatBytes
import dev.bitnet.sample.formatNumber

/**
 * [result]'s figures, mean ± sd over its repetitions, and how close decode came to the memory
 * roofline: the weight bytes it read per second against the copy bandwidth measured beside it.
 */
@Composable
fun BenchResultTable(result: BenchResult, modifier: Modifier = Modifier) {
    val r = result.report
    Card(modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(2.dp)) {
            Text(
                "${result.model}: ${r.reps} runs, prompt ${r.promptTokens} tokens, ${r.genTokens} generated",
                style = MaterialTheme.typography.titleSmall,
                fontWeight = FontWeight.Bold,
            )
            ResultLine("Kernels", "${r.kernels}, ${r.threads} threads, head ${r.headType}", "kernels")
            ResultLine("First token (ms)", meanSd(r.timeToFirstTokenMs), "ttft")
            ResultLine("Prefill (tok/s)", meanSd(r.prefillTokensPerS), "prefill")
            ResultLine("Decode (tok/s)", meanSd(r.decodeTokensPerS), "decode")
            ResultLine("Decode reads (GB/s)", "${formatNumber(r.effectiveGbPerS, 2)} (${formatBytes(r.bytesPerToken)} per token)", "bandwidth")
            ResultLine("Of measured bandwidth", "${formatNumber(r.rooflinePercent)} % of ${formatNumber(r.copyGbPerS)} GB/s", "roofline")
            ResultLine("Peak memory", r.peakResidentBytes?.let(::formatBytes) ?: "not reported", "peak")
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

/** Every benchmark of [history], newest first: kernels and threads, decode and prefill speed, first token, roofline. */
@Composable
fun BenchHistory(history: List<BenchResult>, modifier: Modifier = Modifier) {
    Card(modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(2.dp)) {
            Text("History", style = MaterialTheme.typography.titleSmall, fontWeight = FontWeight.Bold)
            Row {
                for (header in listOf("Model", "Kernels", "Decode", "Prefill", "First token", "Roofline")) {
                    Text(header, Modifier.weight(1f), style = MaterialTheme.typography.labelSmall, fontWeight = FontWeight.Bold)
                }
            }
            for (result in history.asReversed()) {
                val r = result.report
                Row {
                    for (cell in listOf(
                        result.model, "${r.kernels} ×${r.threads}", formatNumber(r.decodeTokensPerS.mean),
                        formatNumber(r.prefillTokensPerS.mean), "${formatNumber(r.timeToFirstTokenMs.mean)} ms",
                        "${formatNumber(r.rooflinePercent)} %",
                    )) {
                        Text(cell, Modifier.weight(1f), style = MaterialTheme.typography.labelSmall)
                    }
                }
            }
        }
    }
}

/** "612.4 ± 20.1". */
fun meanSd(value: Stat): String = "${formatNumber(value.mean)} ± ${formatNumber(value.sd)}"
