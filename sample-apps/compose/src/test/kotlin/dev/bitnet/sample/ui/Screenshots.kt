package dev.bitnet.sample.ui

import androidx.compose.ui.graphics.toAwtImage
import androidx.compose.ui.test.SemanticsNodeInteractionsProvider
import androidx.compose.ui.test.captureToImage
import androidx.compose.ui.test.onRoot
import java.io.File
import javax.imageio.ImageIO

/** The width of the window the UI tests render into (a phone's 480 × 960). */
const val WIDTH = 480

/** The height of the window the UI tests render into. */
const val HEIGHT = 960

/** Saves the whole window as [name].png under the `bitnet.screenshots` directory. */
fun SemanticsNodeInteractionsProvider.screenshot(name: String) {
    val dir = File(requireNotNull(System.getProperty("bitnet.screenshots")) { "set by the pom" }).apply { mkdirs() }
    ImageIO.write(onRoot().captureToImage().toAwtImage(), "png", File(dir, "$name.png"))
}
