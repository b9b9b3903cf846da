// The engine's health alerts as short text for the status row.

import BitNet

extension HealthAlert {
    /// This alert with its number and limit ("memory 600.0 MiB > 512.0 MiB").
    public var text: String {
        switch self {
        case let .memory(residentBytes, limitBytes): "memory \(formatBytes(residentBytes)) > \(formatBytes(limitBytes))"
        case let .cpu(percent, limitPercent): "CPU \(formatNumber(percent)) % > \(limitPercent) %"
        case let .slowDecode(tokensPerS, minTokensPerS): "decode \(formatNumber(tokensPerS)) tok/s < \(minTokensPerS)"
        case let .errorRate(percent, limitPercent): "errors \(formatNumber(percent)) % > \(limitPercent) %"
        case let .latency(p95Ms, limitMs): "p95 \(formatNumber(p95Ms, decimals: 0)) ms > \(limitMs) ms"
        }
    }
}
