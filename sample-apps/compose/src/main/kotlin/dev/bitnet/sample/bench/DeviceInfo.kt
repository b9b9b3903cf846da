// What the device is, for the benchmark's device card: read from the JVM and from Linux's
// /proc (the same files exist on Android).
package dev.bitnet.sample.bench

import java.io.File

/**
 * The device's processor and memory.
 *
 * @property cores processors the runtime may use.
 * @property arch the processor architecture (`os.arch`: `amd64`, `aarch64`, ...).
 * @property cpuFeatures the instruction-set extensions the engine's kernel tables use, as the
 *   kernel lists them in /proc/cpuinfo (`avx2`, `avx512_vnni`, `asimddp`, `i8mm`, ...).
 * @property memoryBytes physical memory, in bytes (`null` where /proc/meminfo is missing).
 */
data class DeviceInfo(
    val cores: Int,
    val arch: String,
    val cpuFeatures: List<String>,
    val memoryBytes: ULong?,
) {
    companion object {
        /** The extensions the kernel tables are chosen by (x86: AVX2, AVX-512 VNNI; Arm: NEON, dot product, i8mm). */
        private val KERNEL_FEATURES = listOf("avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimd", "asimddp", "i8mm", "sve")

        /** This device, as the JVM and /proc see it. */
        fun current(): DeviceInfo {
            val cpuinfo = readOrNull("/proc/cpuinfo")
            val flags = cpuinfo?.lineSequence()
                ?.firstOrNull { it.startsWith("flags") || it.startsWith("Features") }
                ?.substringAfter(':')?.trim()?.split(Regex("\\s+"))?.toSet()
                .orEmpty()
            val memKb = readOrNull("/proc/meminfo")?.lineSequence()
                ?.firstOrNull { it.startsWith("MemTotal:") }
                ?.split(Regex("\\s+"))?.getOrNull(1)?.toULongOrNull()
            return DeviceInfo(
                cores = Runtime.getRuntime().availableProcessors(),
                arch = System.getProperty("os.arch") ?: "unknown",
                cpuFeatures = KERNEL_FEATURES.filter { it in flags },
                memoryBytes = memKb?.times(1024u),
            )
        }

        private fun readOrNull(path: String): String? = try {
            File(path).readText()
        } catch (_: java.io.IOException) {
            null
        }
    }
}
