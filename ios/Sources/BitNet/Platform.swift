// Platform hooks, mirroring the Kotlin package's: thermal state, memory warnings and a default
// memory budget. The monitors feed small protocols; `EngineSignals` forwards them to an engine
// (`reportThermal`, `trim`) and `PlatformHooks` / `BitNetEngine.loadAttached` wire it all in one
// call.

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

extension ThermalState {
    /// The engine's state for the platform's (the same four levels); a level added to iOS later
    /// counts as critical.
    public init(_ state: ProcessInfo.ThermalState) {
        switch state {
        case .nominal: self = .nominal
        case .fair: self = .fair
        case .serious: self = .serious
        case .critical: self = .critical
        @unknown default: self = .critical
        }
    }
}

/// Forwards the platform's signals to an engine: thermal states to `reportThermal` (no
/// headroom on iOS) and memory warnings to `trim()`. `detach()` stops forwarding: signals
/// arriving later are dropped. A trim on an engine the app already released is a no-op.
public final class EngineSignals: ThermalSink, MemoryTrimmer, @unchecked Sendable {
    // Guards `engine`; held during each call so `detach()` waits for one in flight.
    private let lock = NSLock()
    private var engine: BitNetEngine?

    public init(engine: BitNetEngine) {
        self.engine = engine
    }

    public func onThermalState(_ state: ProcessInfo.ThermalState) {
        lock.lock()
        defer { lock.unlock() }
        engine?.reportThermal(state: ThermalState(state), headroom: nil)
    }

    public func trim() {
        lock.lock()
        defer { lock.unlock() }
        // Fails only with `Closed` (released by the app): nothing left to free.
        _ = try? engine?.trim()
    }

    /// Stops forwarding; idempotent.
    public func detach() {
        lock.lock()
        defer { lock.unlock() }
        engine = nil
    }
}

/// The platform monitors feeding one engine, started at init: a `ThermalMonitor` (reports the
/// current state at once) and, with UIKit, a `MemoryWarningHook`. `stop()` (or deinit) stops
/// them and detaches from the engine.
public final class PlatformHooks {
    private let signals: EngineSignals
    private let thermal: ThermalMonitor
    #if canImport(UIKit)
    private var memory: MemoryWarningHook?
    #endif

    public init(engine: BitNetEngine, center: NotificationCenter = .default) {
        signals = EngineSignals(engine: engine)
        thermal = ThermalMonitor(sink: signals, center: center)
        #if canImport(UIKit)
        memory = MemoryWarningHook(trimmer: signals, center: center)
        #endif
        thermal.start()
    }

    /// Stops the monitors and detaches from the engine; idempotent.
    public func stop() {
        thermal.stop()
        #if canImport(UIKit)
        memory = nil
        #endif
        signals.detach()
    }

    deinit { stop() }
}
