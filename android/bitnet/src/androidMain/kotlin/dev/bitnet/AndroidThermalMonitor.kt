package dev.bitnet

import android.content.Context
import android.os.Build
import android.os.PowerManager
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch

/**
 * Feeds the device's thermal state to [sink]: status changes from PowerManager's listener
 * (API 29+, the current status is reported at once) and the thermal headroom polled every
 * [pollIntervalMs] (API 30+; Android answers NaN to calls less than a second apart, so the
 * interval is at least 1000 ms). Below API 29 it reports nothing.
 *
 * @param scope runs the headroom poll; cancelling it stops the poll.
 * @param forecastSeconds how far ahead the headroom is predicted, in seconds (0–60).
 */
class AndroidThermalMonitor(
    context: Context,
    private val sink: ThermalSink,
    private val scope: CoroutineScope,
    pollIntervalMs: Long = 1_000,
    private val forecastSeconds: Int = 10,
) : AutoCloseable {
    private val power = context.getSystemService(PowerManager::class.java)
    private val pollIntervalMs = pollIntervalMs.coerceAtLeast(1_000)
    private var listener: PowerManager.OnThermalStatusChangedListener? = null
    private var poll: Job? = null

    /** Starts listening (and polling); call [close] to stop. Calling it twice does nothing. */
    @Synchronized
    fun start() {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q && listener == null) {
            val l = PowerManager.OnThermalStatusChangedListener { sink.onThermalStatus(thermalStatus(it)) }
            // Called on the main thread (PowerManager uses its context's main executor).
            power.addThermalStatusListener(l)
            listener = l
        }
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R && poll == null) {
            poll = scope.launch {
                while (isActive) {
                    val headroom = power.getThermalHeadroom(forecastSeconds)
                    // NaN: not supported by this device, or asked too often.
                    if (!headroom.isNaN()) sink.onThermalHeadroom(headroom)
                    delay(pollIntervalMs)
                }
            }
        }
    }

    /** Stops listening and polling. */
    @Synchronized
    override fun close() {
        poll?.cancel()
        poll = null
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) listener?.let(power::removeThermalStatusListener)
        listener = null
    }

    private companion object {
        /** Maps `PowerManager.THERMAL_STATUS_*`; unknown future values count as the most severe. */
        fun thermalStatus(status: Int): ThermalStatus = when (status) {
            PowerManager.THERMAL_STATUS_NONE -> ThermalStatus.NONE
            PowerManager.THERMAL_STATUS_LIGHT -> ThermalStatus.LIGHT
            PowerManager.THERMAL_STATUS_MODERATE -> ThermalStatus.MODERATE
            PowerManager.THERMAL_STATUS_SEVERE -> ThermalStatus.SEVERE
            PowerManager.THERMAL_STATUS_CRITICAL -> ThermalStatus.CRITICAL
            PowerManager.THERMAL_STATUS_EMERGENCY -> ThermalStatus.EMERGENCY
            else -> ThermalStatus.SHUTDOWN
        }
    }
}
