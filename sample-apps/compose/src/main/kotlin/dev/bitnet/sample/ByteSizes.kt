// How sizes and rates are written on the screens.
package dev.bitnet.sample

import java.util.Locale

/** [bytes] in binary units with one decimal ("3.3 MiB"). */
fun formatBytes(bytes: ULong): String {
    val units = listOf("B", "KiB", "MiB", "GiB", "TiB")
    var value = bytes.toDouble()
    var unit = 0
    while (value >= 1024 && unit < units.lastIndex) {
        value /= 1024
        unit++
    }
    return if (unit == 0) "$bytes B" else String.format(Locale.ROOT, "%.1f %s", value, units[unit])
}

/** [bytes] as an exact count with thousands separators ("3,453,216 bytes"). */
fun exactBytes(bytes: ULong): String = String.format(Locale.ROOT, "%,d bytes", bytes.toLong())

/** [value] with [decimals] decimals, independent of the device's locale. */
fun formatNumber(value: Double, decimals: Int = 1): String = String.format(Locale.ROOT, "%.${decimals}f", value)
