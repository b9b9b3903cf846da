package dev.bitnet

import dev.bitnet.core.ThermalState
import android.content.ComponentCallbacks2
import android.content.Context
import android.os.PowerManager
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

/**
 * The Android hooks under Robolectric (API 34): every PowerManager status reaches
 * AndroidThermalMonitor's sink, and through AndroidHooks the thermal status and the
 * application's memory callbacks reach the engine, until close().
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class AndroidHooksTest {
    private val app = RuntimeEnvironment.getApplication()
    private val power = app.getSystemService(Context.POWER_SERVICE) as PowerManager

    @Test
    fun statusAndPressureReachTheEngineUntilClosed() {
        // Robolectric has no thermal service: the headroom poll reads NaN and reports nothing,
        // so every report below comes from a status change.
        assertTrue(power.getThermalHeadroom(10).isNaN())
        val engine = RecordingEngine()
        val hooks = AndroidHooks(app, engine)
        assertEquals(1, shadowOf(power).thermalStatusListeners.size)
        shadowOf(power).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_MODERATE)
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL)
        assertEquals(listOf(ThermalState.SERIOUS to null), engine.reports.toList())
        assertEquals(1, engine.trims)

        hooks.close()
        hooks.close() // idempotent
        assertEquals(0, shadowOf(power).thermalStatusListeners.size)
        shadowOf(power).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL)
        assertEquals(1, engine.reports.size)
        assertEquals(1, engine.trims)
    }

    @Test
    fun everyPowerManagerStatusIsReportedAsItsThermalStatus() {
        val seen = mutableListOf<ThermalStatus>()
        val sink = object : ThermalSink {
            override fun onThermalStatus(status: ThermalStatus) {
                seen += status
            }

            override fun onThermalHeadroom(headroom: Float) {}
        }
        val scope = CoroutineScope(Job())
        val monitor = AndroidThermalMonitor(app, sink, scope).also { it.start() }
        val statuses = listOf(
            PowerManager.THERMAL_STATUS_NONE, PowerManager.THERMAL_STATUS_LIGHT,
            PowerManager.THERMAL_STATUS_MODERATE, PowerManager.THERMAL_STATUS_SEVERE,
            PowerManager.THERMAL_STATUS_CRITICAL, PowerManager.THERMAL_STATUS_EMERGENCY,
            PowerManager.THERMAL_STATUS_SHUTDOWN,
        )
        statuses.forEach(shadowOf(power)::setCurrentThermalStatus)
        monitor.close()
        scope.cancel()
        assertEquals(ThermalStatus.entries.toList(), seen)
    }
}
