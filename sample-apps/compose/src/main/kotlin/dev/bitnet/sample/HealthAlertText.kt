// The engine's health alerts as short text for the status row.
package dev.bitnet.sample

import dev.bitnet.core.HealthAlert

/** This alert with its number and limit ("memory 600.0 MiB > 512.0 MiB"). */
fun HealthAlert.describe(): String = when (this) {
    is HealthAlert.Memory -> "memory ${formatBytes(residentBytes)} > ${formatBytes(limitBytes)}"
    is HealthAlert.Cpu -> "CPU ${formatNumber(percent)} % > $limitPercent %"
    is HealthAlert.SlowDecode -> "decode ${formatNumber(tokensPerS)} tok/s < $minTokensPerS"
    is HealthAlert.ErrorRate -> "errors ${formatNumber(percent)} % > $limitPercent %"
    is HealthAlert.Latency -> "p95 ${formatNumber(p95Ms, 0)} ms > $limitMs ms"
}
