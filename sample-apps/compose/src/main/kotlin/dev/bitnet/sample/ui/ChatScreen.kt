// The chat screen: model picker, status, settings, the conversation and the input row.
package dev.bitnet.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.itemsIndexed
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.chat.ChatViewModel

/** The chat over [vm]. */
@Composable
fun ChatScreen(vm: ChatViewModel, modifier: Modifier = Modifier) {
    val state by vm.state.collectAsState()
    var showSettings by remember { mutableStateOf(false) }
    val list = rememberLazyListState()
    LaunchedEffect(state.turns.size, state.turns.lastOrNull()?.reply?.length) {
        if (state.turns.isNotEmpty()) list.scrollToItem(state.turns.lastIndex)
    }
    Column(modifier.fillMaxSize().padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        ModelPicker(state.models, state.selected, vm::select, vm::openFile)
        if (state.loading) LinearProgressIndicator(Modifier.fillMaxWidth())
        StatusRow(state.status)
        state.error?.let { ErrorBanner(it, vm::dismissError) }
        Row(verticalAlignment = Alignment.CenterVertically) {
            TextButton(onClick = { showSettings = !showSettings }) { Text(if (showSettings) "Hide settings" else "Settings") }
            TextButton(onClick = vm::newChat, enabled = state.ready, modifier = Modifier.testTag(Tags.NEW_CHAT)) { Text("New chat") }
        }
        if (showSettings) ChatSettingsPanel(state.settings, vm::updateSettings)
        LazyColumn(Modifier.weight(1f).fillMaxWidth(), state = list, verticalArrangement = Arrangement.spacedBy(12.dp)) {
            itemsIndexed(state.turns) { index, turn -> ChatTurnView(index, turn, vm::retry) }
        }
        Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedTextField(
                value = state.draft,
                onValueChange = vm::onDraftChange,
                placeholder = { Text(if (state.ready) "Message" else "Pick a model first") },
                singleLine = true,
                enabled = state.ready,
                keyboardOptions = KeyboardOptions(imeAction = ImeAction.Send),
                keyboardActions = KeyboardActions(onSend = { vm.send() }),
                modifier = Modifier.weight(1f).testTag(Tags.INPUT),
            )
            if (state.generating) {
                OutlinedButton(onClick = vm::stop, modifier = Modifier.testTag(Tags.STOP)) { Text("Stop") }
            } else {
                Button(onClick = vm::send, enabled = state.canSend, modifier = Modifier.testTag(Tags.SEND)) { Text("Send") }
            }
        }
    }
}
