// The sustained run drawn live: decode speed over time, each stretch in its thermal state's
// colour, with the governor's changes as vertical lines (thick where the thread count changed).
package dev.bitnet.sample.ui

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.size
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.PathEffect
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import dev.bitnet.core.ThermalState
import dev.bitnet.sample.bench.SustainedTrace
import dev.bitnet.sample.bench.ThermalMark
import dev.bitnet.sample.formatNumber

/**
 * Draws [trace]; [startThreads] are the threads in force before its first change. The canvas's
 * content description says what it draws ([chartDescription]), and each change is listed under
 * it.
 */
@Composable
fun SustainedChart(trace: SustainedTrace, startThreads: UInt, modifier: Modifier = Modifier) {
    val grid = MaterialTheme.colorScheme.outlineVariant
    val changes = trace.threadChanges(startThreads)
    val peak = (trace.samples.maxOfOrNull { it.tokensPerS } ?: 1.0).coerceAtLeast(1.0)
    val span = maxOf(trace.seconds, trace.samples.lastOrNull()?.tS ?: 0.0, trace.marks.lastOrNull()?.tS ?: 0.0)
    Column(modifier.fillMaxWidth()) {
        Text("${formatNumber(peak)} tok/s", style = MaterialTheme.typography.labelSmall)
        Canvas(
            Modifier.fillMaxWidth().height(160.dp).background(MaterialTheme.colorScheme.surface)
                .testTag(Tags.CHART).semantics { contentDescription = chartDescription(trace, startThreads) },
        ) {
            fun x(t: Double) = (t / span * size.width).toFloat()
            fun y(v: Double) = (size.height - v / peak * size.height).toFloat()
            for (i in 0..4) {
                val gy = size.height * i / 4
                drawLine(grid, Offset(0f, gy), Offset(size.width, gy))
            }
            for (mark in trace.marks) {
                val thick = mark in changes
                drawLine(
                    thermalColor(mark.state), Offset(x(mark.tS), 0f), Offset(x(mark.tS), size.height),
                    strokeWidth = if (thick) 4f else 2f,
                    pathEffect = if (thick) null else PathEffect.dashPathEffect(floatArrayOf(8f, 6f)),
                )
            }
            var from = Offset(x(0.0), y(trace.samples.firstOrNull()?.tokensPerS ?: 0.0))
            for (sample in trace.samples) {
                val to = Offset(x(sample.tS), y(sample.tokensPerS))
                drawLine(thermalColor(sample.state), from, to, strokeWidth = 5f)
                from = to
            }
        }
        Row(Modifier.fillMaxWidth()) {
            Text("0 s", Modifier.weight(1f), style = MaterialTheme.typography.labelSmall)
            Text("${formatNumber(span)} s", style = MaterialTheme.typography.labelSmall)
        }
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
            for (state in ThermalState.entries) {
                Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                    Box(Modifier.size(10.dp).background(thermalColor(state)))
                    Text(state.name.lowercase(), style = MaterialTheme.typography.labelSmall)
                }
            }
        }
        for (mark in trace.marks) {
            Text(
                markText(mark, mark in changes),
                Modifier.testTag(Tags.THERMAL_MARK),
                style = MaterialTheme.typography.labelSmall,
                color = if (mark in changes) Color.Unspecified else MaterialTheme.colorScheme.onSurfaceVariant,
            )
        }
        trace.thermalStopS?.let { Text("stopped by the thermal governor at ${formatNumber(it)} s", style = MaterialTheme.typography.labelSmall) }
    }
}

/** "3.0 s: serious, 1 thread, 50 ms pause (thread change)". */
fun markText(mark: ThermalMark, threadChange: Boolean): String =
    "${formatNumber(mark.tS)} s: ${mark.state.name.lowercase()}, ${mark.threads} thread" +
        (if (mark.threads == 1u) "" else "s") + ", ${mark.pauseMs} ms pause" + (if (threadChange) " (thread change)" else "")

/**
 * What the chart draws, in words: the thermal states of its stretches in order, and its thread
 * changes — "states: nominal, fair, serious, critical; threads: 2 → 1 → 0".
 */
fun chartDescription(trace: SustainedTrace, startThreads: UInt): String {
    val states = trace.samples.map { it.state }.fold(emptyList<ThermalState>()) { runs, s -> if (runs.lastOrNull() == s) runs else runs + s }
    val threads = listOf(startThreads) + trace.threadChanges(startThreads).map { it.threads }
    return "states: ${states.joinToString(", ") { it.name.lowercase() }}; threads: ${threads.joinToString(" → ")}"
}
