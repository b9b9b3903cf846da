// One exchange of the conversation: the prompt, the reply with its marker and its figures.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontStyle
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.chat.ChatTurn
import dev.bitnet.sample.chat.ReplyStats
import dev.bitnet.sample.chat.ReplyStatus
import dev.bitnet.sample.formatNumber

/** Turn [index]: the user's bubble on the right, the reply's on the left; a failed one offers [onRetry]. */
@Composable
fun ChatTurnView(index: Int, turn: ChatTurn, onRetry: () -> Unit, modifier: Modifier = Modifier) {
    Column(modifier.fillMaxWidth(), verticalArrangement = Arrangement.spacedBy(4.dp)) {
        Row(Modifier.fillMaxWidth(), horizontalArrangement = Arrangement.End) {
            Surface(color = MaterialTheme.colorScheme.primaryContainer, shape = RoundedCornerShape(12.dp)) {
                Text(turn.prompt, Modifier.padding(10.dp))
            }
        }
        Surface(color = MaterialTheme.colorScheme.surfaceVariant, shape = RoundedCornerShape(12.dp)) {
            Column(Modifier.padding(10.dp)) {
                Text(turn.reply, Modifier.testTag(Tags.reply(index)))
                marker(turn.status)?.let { text ->
                    Row(verticalAlignment = Alignment.CenterVertically) {
                        Text(
                            text,
                            Modifier.testTag(Tags.replyMarker(index)),
                            style = MaterialTheme.typography.labelSmall,
                            fontStyle = FontStyle.Italic,
                            color = MaterialTheme.colorScheme.tertiary,
                        )
                        if (turn.status == ReplyStatus.FAILED) TextButton(onClick = onRetry) { Text("Retry") }
                    }
                }
                turn.stats?.let { stats ->
                    Text(statsText(stats), Modifier.testTag(Tags.replyStats(index)), style = MaterialTheme.typography.labelSmall)
                }
            }
        }
    }
}

/** The marker a reply carries: "…" while streaming, why it ended early, or nothing. */
fun marker(status: ReplyStatus): String? = when (status) {
    ReplyStatus.STREAMING -> "…"
    ReplyStatus.COMPLETE -> null
    ReplyStatus.STOPPED -> "[stopped]"
    ReplyStatus.THERMAL_STOPPED -> "[stopped: device too hot]"
    ReplyStatus.FAILED -> "[failed]"
}

/** "first token 25 ms · 530.2 tok/s · 24 tokens". */
fun statsText(stats: ReplyStats): String =
    "first token ${formatNumber(stats.timeToFirstTokenMs, 0)} ms · ${formatNumber(stats.decodeTokensPerS)} tok/s · " +
        "${stats.generatedTokens} token" + if (stats.generatedTokens == 1u) "" else "s"
