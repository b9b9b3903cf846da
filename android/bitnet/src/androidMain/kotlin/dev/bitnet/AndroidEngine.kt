// One-call wiring of the Android platform signals to an engine: BitNet.load(context, ...)
// and engine.attach(context).
package dev.bitnet

import dev.bitnet.core.EngineConfig
import android.content.Context
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Loads the model at [path] for this device and feeds it the device's signals: like
 * [BitNet.load], but a [EngineConfig.memoryBudgetBytes] left `null` becomes
 * [defaultMemoryBudgetBytes], an [EngineConfig.cacheDir] left `null` becomes the app's cache
 * directory (`bitnet/` in `Context.cacheDir`: a re-quantised head is made once, then mapped),
 * and the returned engine has [attach]ed hooks (thermal status and headroom, memory pressure)
 * that its `release()` / `close()` detach.
 *
 * @throws BitNetException.BudgetExceeded when the model does not fit the budget, and the
 *   errors of [BitNet.load].
 */
suspend fun BitNet.load(context: Context, path: String, config: EngineConfig = EngineConfig()): AttachedEngine {
    AndroidLibrary.load()
    val budget = config.memoryBudgetBytes ?: defaultMemoryBudgetBytes(context).toULong()
    val cacheDir = config.cacheDir ?: java.io.File(context.cacheDir, "bitnet").path
    val engine = load(path, config.copy(memoryBudgetBytes = budget, cacheDir = cacheDir))
    val hooks = try {
        engine.attach(context)
    } catch (e: Throwable) {
        engine.close()
        throw e
    }
    return AttachedEngine(engine, hooks)
}

/**
 * Starts feeding this engine the device's signals: an [AndroidThermalMonitor] (status changes,
 * API 29+; headroom once a second, API 30+) → `reportThermal`, and a [MemoryPressureHook] on
 * the application context → `trim`. Close the returned hooks before closing the engine.
 */
fun BitNetEngineInterface.attach(context: Context): AndroidHooks {
    AndroidLibrary.load()
    return AndroidHooks(context, this)
}

/**
 * Loads libbitnet_ffi.so through the Android runtime, once, so that its `JNI_OnLoad` runs: it
 * keeps the `JavaVM` for native code that calls into Java and installs the logcat logger.
 * The bindings call the library through JNA, whose `dlopen` of the same file reuses this
 * loaded copy but never runs `JNI_OnLoad`. Nothing depends on the order: logging also starts
 * on the first call into the library, so apps that only use [BitNet.load] without a `Context`
 * lose nothing but the `JavaVM` handle.
 */
internal object AndroidLibrary {
    init {
        System.loadLibrary("bitnet_ffi")
    }

    /** Runs the one-time load above (a no-op after the first call). */
    fun load() = Unit
}

/**
 * The Android monitors feeding one engine (see [attach]); [close] stops them. Holds the
 * application context only.
 */
class AndroidHooks internal constructor(context: Context, engine: BitNetEngineInterface) : AutoCloseable {
    private val app = context.applicationContext
    private val signals = EngineSignals(engine)
    /** Runs the headroom poll; cancelled by [close]. */
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val thermal = AndroidThermalMonitor(app, signals, scope).also { it.start() }
    private val memory = MemoryPressureHook.register(app, signals)
    private val closed = AtomicBoolean(false)

    /** Stops the monitors and detaches from the engine; idempotent. */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        thermal.close()
        scope.cancel()
        app.unregisterComponentCallbacks(memory)
        // Last: a callback already running finishes before this returns, later ones are dropped.
        signals.close()
    }
}

/**
 * An engine with its [AndroidHooks] (from [BitNet.load] with a `Context`): every engine call
 * goes to [engine]; [release] and [close] stop the hooks first.
 */
class AttachedEngine internal constructor(
    /** The engine itself. */
    val engine: BitNetEngine,
    private val hooks: AndroidHooks,
) : BitNetEngineInterface by engine, AutoCloseable {
    /** Stops the hooks, then [BitNetEngine.release]s the engine (open sessions keep working). */
    override fun release() {
        hooks.close()
        engine.release()
    }

    /** Stops the hooks, then frees the engine's handle ([BitNetEngine.close]). */
    override fun close() {
        hooks.close()
        engine.close()
    }
}
