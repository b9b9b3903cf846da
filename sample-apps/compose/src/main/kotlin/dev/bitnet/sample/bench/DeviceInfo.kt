// What the device is, for the benchmark's device card: the SDK's view of its CPUs, kernel
// tables and memory, and the JVM's and Linux's /proc (the same files exist on Android).
package dev.bitnet.sample.bench

import dev.bitnet.Hardware
import dev.bitnet.hardware
import java.io.File

/**
 * The device's processor and memory.
 *
 * @property cores processors the runtime may use.
 * @property arch the processor architecture (`os.arch`: `amd64`, `aarch64`, ...).
 * @property cpuFeatures the instruction-set extensions the engine's kernel tables use, as the
 *   kernel lists them in /proc/cpuinfo (`avx2`, `avx512_vnni`, `asimddp`, `i8mm`, ...).
 * @property hardware what the engine sees: the big cores it pins to, the threads it runs by
 *   default, the kernel tables this CPU runs and the one it picks, physical memory.
 */
data class DeviceInfo(
    val cores: Int,
    val arch: String,
    val cpuFeatures: List<String>,
    val hardware: Hardware,
) {
    /** Physical memory, in bytes (`null` where the platform does not report it). */
    val memoryBytes: ULong? get() = hardware.physicalMemoryBytes

    companion object {
        /** The extensions the kernel tables are chosen by (x86: AVX2, AVX-512 VNNI; Arm: NEON, dot product, i8mm). */
        private val KERNEL_FEATURES = listOf("avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimd", "asimddp", "i8mm", "sve")

        /** This device, as the SDK, the JVM and /proc see it. */
        fun current(): DeviceInfo {
            val flags = readOrNull("/proc/cpuinfo")?.lineSequence()
                ?.firstOrNull { it.startsWith("flags") || it.startsWith("Features") }
                ?.substringAfter(':')?.trim()?.split(Regex("\\s+"))?.toSet()
                .orEmpty()
            return DeviceInfo(
                cores = Runtime.getRuntime().availableProcessors(),
                arch = System.getProperty("os.arch") ?: "unknown",
                cpuFeatures = KERNEL_FEATURES.filter { it in flags },
                hardware = hardware(),
            )
        }

        private fun readOrNull(path: String): String? = try {
            File(path).readText()
        } catch (_: java.io.IOException) {
            null
        }
    }
}
