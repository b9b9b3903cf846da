// The benchmark's device card and the selected model's memory card.
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
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import dev.bitnet.core.MemoryEstimate
import dev.bitnet.sample.bench.DeviceInfo
import dev.bitnet.sample.bench.ProfileRow
import dev.bitnet.sample.formatBytes

/** A titled card of label–value lines. */
@Composable
fun InfoCard(title: String, lines: List<Pair<String, String>>, modifier: Modifier = Modifier) {
    Card(modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(2.dp)) {
            Text(title, style = MaterialTheme.typography.titleSmall, fontWeight = FontWeight.Bold)
            for ((label, value) in lines) {
                Row {
                    Text(label, Modifier.weight(0.45f), style = MaterialTheme.typography.bodySmall)
                    Text(value, Modifier.weight(0.55f), style = MaterialTheme.typography.bodySmall)
                }
            }
        }
    }
}

/**
 * The device: cores and the big ones an engine pins to, architecture, kernel-relevant CPU
 * features, the kernel tables it runs and the one an engine picks, memory and budget.
 */
@Composable
fun DeviceCard(device: DeviceInfo, budgetBytes: ULong?, modifier: Modifier = Modifier) {
    val hw = device.hardware
    InfoCard(
        "Device",
        listOf(
            "CPU cores" to device.cores.toString(),
            "Big cores" to (hw.performanceCpus.ifEmpty { null }?.joinToString(", ") ?: "not reported") +
                " (default: ${hw.defaultThreads} threads)",
            "Architecture" to device.arch,
            "Kernel features" to device.cpuFeatures.ifEmpty { listOf("none (scalar kernels)") }.joinToString(", "),
            "Kernel table" to "${hw.defaultKernels} (runs ${hw.kernelTables.joinToString(", ")})",
            "Memory" to (device.memoryBytes?.let(::formatBytes) ?: "unknown"),
            "Memory budget" to (budgetBytes?.let(::formatBytes) ?: "none"),
        ),
        modifier,
    )
}

/** The model's [estimate] by part, and how it fits each profile in [profiles]. */
@Composable
fun EstimateCard(estimate: MemoryEstimate, profiles: List<ProfileRow>, modifier: Modifier = Modifier) {
    val context = estimate.defaultContextTokens
    InfoCard(
        "Memory estimate (from the header)",
        listOf(
            "Mapped weights" to formatBytes(estimate.mappedBytes),
            "Tokenizer" to formatBytes(estimate.tokenizerBytes),
            "Runtime" to formatBytes(estimate.runtimeBytes),
            "Scratch (one session)" to formatBytes(estimate.scratchBytes),
            "KV cache per token" to "${formatBytes(estimate.kvBytesPerToken)} (${estimate.kvPrecision.name})",
            "Total, $context-token context" to formatBytes(estimate.totalBytes(context)),
        ) + profiles.map { row ->
            "Profile ${row.profile.name.lowercase()}" to
                (row.budgetBytes?.let { "budget ${formatBytes(it)}: " } ?: "no budget: ") +
                (if (row.fits) "fits, ${row.contextTokens}-token context" else "does not fit")
        },
        modifier,
    )
}
