// The model picker: one chip per offered model, and a field to open a model file by path.
package dev.bitnet.sample.ui

import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.rememberScrollState
import androidx.compose.material3.FilterChip
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.unit.dp
import dev.bitnet.sample.ModelOption

/**
 * Chips for [models] ([selected] checked) and, when [onOpenFile] is given, a path field that
 * opens any model file.
 */
@Composable
fun ModelPicker(
    models: List<ModelOption>,
    selected: ModelOption?,
    onSelect: (ModelOption) -> Unit,
    onOpenFile: ((String) -> Unit)?,
    modifier: Modifier = Modifier,
) {
    var path by remember { mutableStateOf("") }
    Column(modifier.fillMaxWidth()) {
        Row(Modifier.horizontalScroll(rememberScrollState()), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            if (models.isEmpty()) Text("No model: open a file or install one on the Models screen")
            for (model in models) {
                FilterChip(
                    selected = model == selected,
                    onClick = { onSelect(model) },
                    label = { Text(model.label) },
                    modifier = Modifier.testTag(Tags.model(model.label)),
                )
            }
        }
        if (onOpenFile != null) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                OutlinedTextField(
                    value = path,
                    onValueChange = { path = it },
                    label = { Text("Model file path (.gguf)") },
                    singleLine = true,
                    modifier = Modifier.weight(1f),
                )
                TextButton(onClick = { onOpenFile(path.trim()) }, enabled = path.isNotBlank()) { Text("Open") }
            }
        }
    }
}
