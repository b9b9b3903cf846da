// How sizes and numbers are written on the screens, independent of the device's locale.

import Foundation

/// `bytes` in binary units with one decimal ("3.3 MiB").
public func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : "\(formatNumber(value)) \(units[unit])"
}

/// `bytes` as an exact count with thousands separators ("3,453,216 bytes").
public func exactBytes(_ bytes: UInt64) -> String {
    var digits = Array(String(bytes))
    var grouped: [Character] = []
    while digits.count > 3 {
        grouped.insert(contentsOf: [","] + digits.suffix(3), at: 0)
        digits.removeLast(3)
    }
    return String(digits + grouped) + " bytes"
}

/// `value` with `decimals` decimals ("12.5").
public func formatNumber(_ value: Double, decimals: Int = 1) -> String {
    String(format: "%.\(decimals)f", locale: Locale(identifier: "en_US_POSIX"), value)
}
