// Platform hooks, mirroring the Kotlin package's: thermal state, memory warnings and a default
// memory budget. They feed small protocols; the engine side (thermal governor, trim, budget)
// arrives with issue 5.

import Foundation
import os
#if canImport(UIKit)
import UIKit
#endif

/// Where thermal readings go.
public protocol ThermalSink: AnyObject, Sendable {
    /// The device's thermal state changed (also called once with the current state at start).
    func onThermalState(_ state: ProcessInfo.ThermalState)
}

/// Something that can give memory back when the system runs low (the engine's caches).
public protocol MemoryTrimmer: AnyObject, Sendable {
    /// Frees what can be rebuilt later.
    func trim()
}

/// Reports `ProcessInfo.thermalState` to a sink on every
/// `ProcessInfo.thermalStateDidChangeNotification`.
public final class ThermalMonitor {
    private let sink: ThermalSink
    private let center: NotificationCenter
    private var observer: NSObjectProtocol?

    public init(sink: ThermalSink, center: NotificationCenter = .default) {
        self.sink = sink
        self.center = center
    }

    /// Reports the current state and starts observing. Calling it twice does nothing.
    public func start() {
        guard observer == nil else { return }
        sink.onThermalState(ProcessInfo.processInfo.thermalState)
        observer = center.addObserver(
            forName: ProcessInfo.thermalStateDidChangeNotification, object: nil, queue: nil
        ) { [sink] _ in
            sink.onThermalState(ProcessInfo.processInfo.thermalState)
        }
    }

    /// Stops observing.
    public func stop() {
        if let observer { center.removeObserver(observer) }
        observer = nil
    }

    deinit { stop() }
}

#if canImport(UIKit)
/// Calls `trimmer.trim()` on `UIApplication.didReceiveMemoryWarningNotification`.
public final class MemoryWarningHook {
    private let center: NotificationCenter
    private let observer: NSObjectProtocol

    public init(trimmer: MemoryTrimmer, center: NotificationCenter = .default) {
        self.center = center
        observer = center.addObserver(
            forName: UIApplication.didReceiveMemoryWarningNotification, object: nil, queue: nil
        ) { [trimmer] _ in
            trimmer.trim()
        }
    }

    deinit { center.removeObserver(observer) }
}
#endif

/// A default memory budget for the engine, in bytes: half of what the process may still
/// allocate before iOS terminates it (`os_proc_available_memory()`), leaving the other half to
/// the rest of the app. Read once, at the call.
public func defaultMemoryBudgetBytes() -> UInt64 {
    UInt64(os_proc_available_memory()) / 2
}
