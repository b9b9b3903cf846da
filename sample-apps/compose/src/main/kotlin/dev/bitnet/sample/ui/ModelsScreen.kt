// The models screen: the catalog and the installed files, each with its size, architecture,
// format and fit, and its download, pause, resume, import or delete action.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.formatBytes
import dev.bitnet.sample.formatNumber
import dev.bitnet.sample.models.ModelRow
import dev.bitnet.sample.models.ModelsViewModel

/** The models over [vm]. */
@Composable
fun ModelsScreen(vm: ModelsViewModel, modifier: Modifier = Modifier) {
    val state by vm.state.collectAsState()
    Column(modifier.fillMaxSize().padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text("Models", Modifier.weight(1f), style = MaterialTheme.typography.titleMedium)
            TextButton(onClick = vm::refresh) { Text("Refresh") }
        }
        state.error?.let { ErrorBanner(it, vm::dismissError) }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp)) {
            items(state.rows, key = { it.id ?: it.fileName }) { row ->
                ModelCard(
                    row,
                    onDownload = { row.id?.let(vm::download) },
                    onPause = { row.id?.let(vm::pause) },
                    onImport = { row.id?.let(vm::importBundled) },
                    onDelete = { vm.delete(row) },
                )
            }
        }
    }
}

/** One model's card with the action its state allows. */
@Composable
private fun ModelCard(row: ModelRow, onDownload: () -> Unit, onPause: () -> Unit, onImport: () -> Unit, onDelete: () -> Unit) {
    val key = row.id ?: row.fileName
    Card(Modifier.fillMaxWidth().testTag(Tags.modelRow(key))) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(row.name, fontWeight = FontWeight.Bold)
            Text(
                listOfNotNull(formatBytes(row.sizeBytes), row.arch, row.format, row.fit).joinToString(" · "),
                style = MaterialTheme.typography.bodySmall,
            )
            val download = row.download
            if (download != null || (row.partialBytes > 0u && row.installedPath == null)) {
                LinearProgressIndicator(progress = { row.fraction }, modifier = Modifier.fillMaxWidth().testTag(Tags.progress(key)))
            }
            Text(stateText(row), Modifier.testTag(Tags.modelState(key)), style = MaterialTheme.typography.bodySmall)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                when {
                    download != null -> OutlinedButton(onClick = onPause, modifier = Modifier.testTag(Tags.pause(key))) { Text("Pause") }
                    row.installedPath != null -> OutlinedButton(onClick = onDelete) { Text("Delete") }
                    row.downloadable -> Button(onClick = onDownload, modifier = Modifier.testTag(Tags.download(key))) {
                        Text(if (row.partialBytes > 0u) "Resume" else "Download")
                    }
                    row.importable -> Button(onClick = onImport) { Text("Import bundled file") }
                }
            }
        }
    }
}

/** "installed", "downloading 1.2 of 3.3 MiB at 800.0 KiB/s", "paused at 37 %", "not installed". */
fun stateText(row: ModelRow): String {
    val download = row.download
    return when {
        download != null ->
            "downloading ${formatBytes(download.doneBytes)} of ${formatBytes(download.totalBytes)} at " +
                "${formatBytes(download.bytesPerS.toULong())}/s"
        row.installedPath != null -> "installed"
        row.partialBytes > 0u -> "paused at ${formatNumber(row.fraction * 100.0, 0)} %"
        else -> "not installed"
    }
}
