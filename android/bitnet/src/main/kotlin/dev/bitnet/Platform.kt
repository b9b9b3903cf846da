// Seams between the platform monitors (AndroidThermalMonitor, MemoryPressureHook) and the
// engine. The engine side (thermal governor, trim) arrives with issue 5; until then an app can
// implement these itself, e.g. to log readings or release a session.
package dev.bitnet

/** The device's thermal status, as Android's `PowerManager.THERMAL_STATUS_*` grades it. */
enum class ThermalStatus { NONE, LIGHT, MODERATE, SEVERE, CRITICAL, EMERGENCY, SHUTDOWN }

/** Where thermal readings go. */
interface ThermalSink {
    /** The thermal status changed. */
    fun onThermalStatus(status: ThermalStatus)

    /**
     * The predicted thermal headroom: 0 = no throttling expected, 1 = the device throttles
     * heavily (values above 1 happen). Reported at most once a second.
     */
    fun onThermalHeadroom(headroom: Float)
}

/** Something that can give memory back when the system runs low (the engine's caches). */
fun interface MemoryTrimmer {
    /** Frees what can be rebuilt later. */
    fun trim()
}
