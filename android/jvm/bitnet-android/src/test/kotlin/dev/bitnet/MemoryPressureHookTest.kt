package dev.bitnet

import android.content.ComponentCallbacks2
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/** Which of Android's memory signals trim, with android-all's real constants. */
class MemoryPressureHookTest {
    private class Counting : MemoryTrimmer {
        var trims = 0
        override fun trim() {
            trims++
        }
    }

    @Suppress("DEPRECATION")
    @Test
    fun `pressure trims, hiding the UI does not`() {
        val trimmer = Counting()
        val hook = MemoryPressureHook(trimmer)
        hook.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN)
        hook.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_MODERATE)
        assertEquals(0, trimmer.trims)
        for (level in listOf(
            ComponentCallbacks2.TRIM_MEMORY_RUNNING_LOW,
            ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL,
            ComponentCallbacks2.TRIM_MEMORY_BACKGROUND,
            ComponentCallbacks2.TRIM_MEMORY_MODERATE,
            ComponentCallbacks2.TRIM_MEMORY_COMPLETE,
        )) {
            hook.onTrimMemory(level)
        }
        hook.onLowMemory()
        assertEquals(6, trimmer.trims)
    }
}
