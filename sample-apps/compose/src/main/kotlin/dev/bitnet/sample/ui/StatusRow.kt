// The chat's status row: thermal state and threads, memory in use against the budget.
package dev.bitnet.sample.ui

import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.shape.CircleShape
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.chat.EngineStatus
import dev.bitnet.sample.formatBytes

/** One line of [status] (and its alerts below it); nothing before a model is loaded. */
@Composable
fun StatusRow(status: EngineStatus?, modifier: Modifier = Modifier) {
    if (status == null) return
    Column(modifier.fillMaxWidth().testTag(Tags.STATUS)) {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp), verticalAlignment = Alignment.CenterVertically) {
            Box(Modifier.size(10.dp).background(thermalColor(status.thermal), CircleShape))
            Text(statusText(status), style = MaterialTheme.typography.bodySmall)
        }
        if (status.alerts.isNotEmpty()) {
            Text(
                "Health: " + status.alerts.joinToString("; "),
                style = MaterialTheme.typography.bodySmall,
                color = MaterialTheme.colorScheme.error,
            )
        }
    }
}

/** "nominal · 2 threads · 16.1 MiB in use / budget 512.0 MiB (model needs 4.2 MiB)". */
fun statusText(status: EngineStatus): String {
    val threads = status.threads?.let { "$it threads" } ?: "threads on first reply"
    val used = status.residentBytes?.let { "${formatBytes(it)} in use" } ?: "memory in use unknown"
    val budget = status.budgetBytes?.let { "budget ${formatBytes(it)}" } ?: "no budget"
    return "${status.thermal.name.lowercase()} · $threads · $used / $budget (model needs ${formatBytes(status.neededBytes)})"
}
