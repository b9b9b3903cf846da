package dev.bitnet

import android.app.ActivityManager
import android.content.ComponentCallbacks2
import android.content.Context
import android.content.res.Configuration

/**
 * Calls [trimmer] when Android reports memory pressure: low memory, running low or critical
 * while in the foreground, or the app's process moving into the background LRU list. Hiding
 * the UI alone (`TRIM_MEMORY_UI_HIDDEN`) and the mild `RUNNING_MODERATE` do not trim.
 */
class MemoryPressureHook(private val trimmer: MemoryTrimmer) : ComponentCallbacks2 {
    @Suppress("DEPRECATION") // levels other than UI_HIDDEN/BACKGROUND are only sent before API 34
    override fun onTrimMemory(level: Int) {
        when (level) {
            ComponentCallbacks2.TRIM_MEMORY_RUNNING_LOW,
            ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL,
            ComponentCallbacks2.TRIM_MEMORY_BACKGROUND,
            ComponentCallbacks2.TRIM_MEMORY_MODERATE,
            ComponentCallbacks2.TRIM_MEMORY_COMPLETE -> trimmer.trim()
        }
    }

    @Deprecated("Deprecated in Android; still delivered on older releases")
    override fun onLowMemory() = trimmer.trim()

    override fun onConfigurationChanged(newConfig: Configuration) {}

    companion object {
        /** Registers a hook on the application context; unregister it with
         *  `context.applicationContext.unregisterComponentCallbacks(hook)`. */
        fun register(context: Context, trimmer: MemoryTrimmer): MemoryPressureHook =
            MemoryPressureHook(trimmer).also { context.applicationContext.registerComponentCallbacks(it) }
    }
}

/**
 * A default memory budget for the engine, in bytes: half of what the device can still give
 * before Android starts killing background processes (`availMem - threshold` of
 * [ActivityManager.MemoryInfo]), leaving the other half to the rest of the app. Read once, at
 * the call: pass it to the engine's budget setting.
 */
fun defaultMemoryBudgetBytes(context: Context): Long {
    val info = ActivityManager.MemoryInfo()
    context.getSystemService(ActivityManager::class.java).getMemoryInfo(info)
    return ((info.availMem - info.threshold) / 2).coerceAtLeast(0)
}
