// The sample app's Material 3 theme and the colours of the thermal states.
package dev.bitnet.sample.ui

import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.ui.graphics.Color
import dev.bitnet.core.ThermalState

private val colors = lightColorScheme(
    primary = Color(0xFF2E5E8C),
    secondary = Color(0xFF4F6B52),
    tertiary = Color(0xFF8C5A2E),
)

/** Wraps [content] in the sample app's theme. */
@Composable
fun SampleTheme(content: @Composable () -> Unit) {
    MaterialTheme(colorScheme = colors, content = content)
}

/** The colour a thermal state is drawn in: green, amber, orange, red. */
fun thermalColor(state: ThermalState): Color = when (state) {
    ThermalState.NOMINAL -> Color(0xFF2E7D32)
    ThermalState.FAIR -> Color(0xFFF9A825)
    ThermalState.SERIOUS -> Color(0xFFEF6C00)
    ThermalState.CRITICAL -> Color(0xFFC62828)
}
