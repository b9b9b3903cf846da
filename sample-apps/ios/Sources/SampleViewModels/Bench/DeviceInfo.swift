// What the device is, for the benchmark's device card: the SDK's view of its CPUs, kernel
// tables and memory, and the processor's features (from /proc/cpuinfo on Linux, sysctl on
// Apple platforms).

import BitNet
import Foundation

/// The device's processor and memory.
public struct DeviceInfo: Sendable, Equatable {
    /// Processors the app may use.
    public let cores: Int
    /// The processor architecture (`arm64`, `x86_64`).
    public let arch: String
    /// The instruction-set extensions the engine's kernel tables are chosen by, named as Linux
    /// lists them (`avx2`, `avx512_vnni`, `asimddp`, `i8mm`, ...).
    public let cpuFeatures: [String]
    /// Physical memory, in bytes.
    public let memoryBytes: UInt64
    /// What the engine sees: the big cores it pins to, the threads it runs by default, the
    /// kernel tables this CPU runs and the one it picks.
    public let hardware: Hardware

    public init(cores: Int, arch: String, cpuFeatures: [String], memoryBytes: UInt64, hardware: Hardware) {
        self.cores = cores
        self.arch = arch
        self.cpuFeatures = cpuFeatures
        self.memoryBytes = memoryBytes
        self.hardware = hardware
    }

    /// This device.
    public static func current() -> DeviceInfo {
        DeviceInfo(
            cores: ProcessInfo.processInfo.activeProcessorCount, arch: architecture,
            cpuFeatures: kernelFeatures.filter(cpuFlags().contains),
            memoryBytes: ProcessInfo.processInfo.physicalMemory, hardware: BitNet.hardware())
    }

    /// The extensions the kernel tables are chosen by (x86: AVX2, AVX-512 VNNI; Arm: NEON, dot
    /// product, i8mm).
    private static let kernelFeatures = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimd", "asimddp", "i8mm", "sve"]

    private static var architecture: String {
        #if arch(arm64)
        "arm64"
        #elseif arch(x86_64)
        "x86_64"
        #else
        "unknown"
        #endif
    }

    #if canImport(Darwin)
    /// The Arm features sysctl reports, under their Linux names.
    private static func cpuFlags() -> Set<String> {
        let names = ["hw.optional.neon": "asimd", "hw.optional.arm.FEAT_DotProd": "asimddp", "hw.optional.arm.FEAT_I8MM": "i8mm"]
        return Set(names.compactMap { key, flag in
            var value: Int32 = 0
            var size = MemoryLayout<Int32>.size
            return sysctlbyname(key, &value, &size, nil, 0) == 0 && value != 0 ? flag : nil
        })
    }
    #else
    /// The first "flags" (x86) or "Features" (Arm) line of /proc/cpuinfo.
    private static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") || $0.hasPrefix("Features") }),
              let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
    #endif
}
