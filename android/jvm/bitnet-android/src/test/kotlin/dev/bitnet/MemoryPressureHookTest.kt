package dev.bitnet

import android.content.ComponentCallbacks2
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/** Which of Android's memory signals trim (android-all's real constants), and that they reach the engine. */
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

    @Test
    fun `pressure reaches the engine through EngineSignals until they are closed`() {
        val engine = RecordingEngine()
        val signals = EngineSignals(engine)
        val hook = MemoryPressureHook(signals)
        hook.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND)
        assertEquals(1, engine.trims)
        // Released by the app: the engine says Closed, the hook carries on.
        engine.release()
        hook.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND)
        signals.close()
        hook.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND)
        assertEquals(1, engine.trims)
    }
}
