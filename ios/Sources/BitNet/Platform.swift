// Platform hooks, mirroring the Kotlin package's: thermal state, memory warnings and a default
// memory budget. The monitors feed small protocols; `EngineSignals` forwards them to an engine
// (`reportThermal`, `trim`) and `PlatformHooks` / `BitNetEngine.loadAttached` wire it all in one
// call.
//
// What only Apple platforms have sits behind `#if`: `ProcessInfo.thermalState` and its
// notification (Darwin's Foundation), UIKit's memory warning, `os_proc_available_memory` (iOS
// family). The rest (the monitors over any notification, EngineSignals, the state mapping,
// the budget) is platform-neutral and tested on Linux, where no signal source exists: there
// `PlatformHooks` observes nothing unless given sources, and the budget is read from
// /proc/meminfo.

import Foundation
#if canImport(UIKit) && !os(watchOS)
import UIKit
#endif
#if os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)
import os
#endif

/// Where thermal readings go.
public protocol ThermalSink: AnyObject, Sendable {
    /// The device's thermal state changed (also called once with the current state at start).
    func onThermalState(_ state: ThermalState)
}

/// Something that can give memory back when the system runs low (the engine's caches).
public protocol MemoryTrimmer: AnyObject, Sendable {
    /// Frees what can be rebuilt later.
    func trim()
}

extension ThermalState {
    /// The engine's state for a `ProcessInfo.ThermalState` raw value: 0 nominal, 1 fair,
    /// 2 serious, 3 critical (the same four levels); any other value (a level added to the
    /// platform later) counts as critical.
    public init(processInfoThermalState rawValue: Int) {
        switch rawValue {
        case 0: self = .nominal
        case 1: self = .fair
        case 2: self = .serious
        case 3: self = .critical
        default: self = .critical
        }
    }
}

#if canImport(Darwin)
extension ThermalState {
    /// The engine's state for the platform's (the same four levels); a level added to the
    /// platform later counts as critical.
    public init(_ state: ProcessInfo.ThermalState) {
        self.init(processInfoThermalState: state.rawValue)
    }
}
#endif

/// Where a device's thermal state comes from: the notification announcing a change and how to
/// read the state then.
public struct ThermalSource: Sendable {
    /// Posted (to the monitor's `NotificationCenter`) when the state changes.
    public let name: Notification.Name
    /// The state now.
    public let read: @Sendable () -> ThermalState

    public init(name: Notification.Name, read: @escaping @Sendable () -> ThermalState) {
        self.name = name
        self.read = read
    }

    /// This platform's source: `processInfo` on Apple platforms, none elsewhere (Linux's
    /// Foundation has no thermal state).
    public static var platform: ThermalSource? {
        #if canImport(Darwin)
        processInfo
        #else
        nil
        #endif
    }

    #if canImport(Darwin)
    /// `ProcessInfo.thermalState`, on `ProcessInfo.thermalStateDidChangeNotification`.
    public static var processInfo: ThermalSource {
        ThermalSource(name: ProcessInfo.thermalStateDidChangeNotification) {
            ThermalState(ProcessInfo.processInfo.thermalState)
        }
    }
    #endif
}

/// Reports a device's thermal state to a sink: once at `start()`, then on every change
/// notification of its `ThermalSource` (by default `ProcessInfo.thermalState` on
/// `ProcessInfo.thermalStateDidChangeNotification`).
public final class ThermalMonitor: @unchecked Sendable {
    private let sink: ThermalSink
    private let source: ThermalSource
    private let center: NotificationCenter
    // Guards `observer`.
    private let lock = NSLock()
    private var observer: (any NSObjectProtocol)?

    public init(sink: ThermalSink, source: ThermalSource, center: NotificationCenter = .default) {
        self.sink = sink
        self.source = source
        self.center = center
    }

    #if canImport(Darwin)
    /// Monitors `ProcessInfo.thermalState`.
    public convenience init(sink: ThermalSink, center: NotificationCenter = .default) {
        self.init(sink: sink, source: .processInfo, center: center)
    }
    #endif

    /// Reports the current state and starts observing. Calling it twice does nothing.
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard observer == nil else { return }
        sink.onThermalState(source.read())
        observer = center.addObserver(forName: source.name, object: nil, queue: nil) { [sink, source] _ in
            sink.onThermalState(source.read())
        }
    }

    /// Stops observing; idempotent.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        if let observer { center.removeObserver(observer) }
        observer = nil
    }

    deinit { stop() }
}

/// Calls `trimmer.trim()` on each memory warning notification (by default UIKit's
/// `UIApplication.didReceiveMemoryWarningNotification`), until `stop()` or deinit.
public final class MemoryWarningHook: @unchecked Sendable {
    private let center: NotificationCenter
    // Guards `observer`.
    private let lock = NSLock()
    private var observer: (any NSObjectProtocol)?

    /// UIKit's memory warning where UIKit has one, none elsewhere.
    public static var platformNotification: Notification.Name? {
        #if canImport(UIKit) && !os(watchOS)
        UIApplication.didReceiveMemoryWarningNotification
        #else
        nil
        #endif
    }

    public init(trimmer: MemoryTrimmer, name: Notification.Name, center: NotificationCenter = .default) {
        self.center = center
        observer = center.addObserver(forName: name, object: nil, queue: nil) { [trimmer] _ in
            trimmer.trim()
        }
    }

    #if canImport(UIKit) && !os(watchOS)
    /// Trims on `UIApplication.didReceiveMemoryWarningNotification`.
    public convenience init(trimmer: MemoryTrimmer, center: NotificationCenter = .default) {
        self.init(trimmer: trimmer, name: UIApplication.didReceiveMemoryWarningNotification, center: center)
    }
    #endif

    /// Stops observing; idempotent.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        if let observer { center.removeObserver(observer) }
        observer = nil
    }

    deinit { stop() }
}

/// What the process may still allocate, in bytes: `os_proc_available_memory()` on iOS (before
/// iOS terminates the app), `MemAvailable` from /proc/meminfo on Linux, the physical memory
/// elsewhere (and where those report nothing).
public func availableMemoryBytes() -> UInt64 {
    #if os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)
    let available = UInt64(os_proc_available_memory())
    if available > 0 { return available }
    #elseif os(Linux)
    if let available = memAvailableBytes() { return available }
    #endif
    return ProcessInfo.processInfo.physicalMemory
}

/// A default memory budget for the engine, in bytes: half of what the process may still
/// allocate (`availableMemoryBytes()`), leaving the other half to the rest of the app. Read
/// once, at the call.
public func defaultMemoryBudgetBytes() -> UInt64 {
    defaultMemoryBudgetBytes(availableBytes: availableMemoryBytes())
}

/// The default memory budget when `availableBytes` may still be allocated: half of it.
public func defaultMemoryBudgetBytes(availableBytes: UInt64) -> UInt64 {
    availableBytes / 2
}

#if os(Linux)
/// `MemAvailable` from /proc/meminfo, in bytes.
private func memAvailableBytes() -> UInt64? {
    // procfs files report size 0: read to the end rather than by size.
    guard let handle = FileHandle(forReadingAtPath: "/proc/meminfo") else { return nil }
    defer { try? handle.close() }
    guard let data = try? handle.readToEnd(), let text = String(data: data, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
        let fields = line.split(separator: " ")
        guard fields.count >= 2, let kib = UInt64(fields[1]) else { return nil }
        return kib * 1024
    }
    return nil
}
#endif

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

    public func onThermalState(_ state: ThermalState) {
        lock.lock()
        defer { lock.unlock() }
        engine?.reportThermal(state: state, headroom: nil)
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
/// current state at once) and a `MemoryWarningHook`, each where the platform (or the caller)
/// has a source: on iOS `ProcessInfo.thermalState` and UIKit's memory warning, on Linux none.
/// `stop()` (or deinit) stops them and detaches from the engine.
public final class PlatformHooks: @unchecked Sendable {
    private let signals: EngineSignals
    private let thermal: ThermalMonitor?
    private let memory: MemoryWarningHook?

    public init(
        engine: BitNetEngine, center: NotificationCenter = .default,
        thermal: ThermalSource? = ThermalSource.platform,
        memoryWarning: Notification.Name? = MemoryWarningHook.platformNotification
    ) {
        let signals = EngineSignals(engine: engine)
        self.signals = signals
        self.thermal = thermal.map { ThermalMonitor(sink: signals, source: $0, center: center) }
        memory = memoryWarning.map { MemoryWarningHook(trimmer: signals, name: $0, center: center) }
        self.thermal?.start()
    }

    /// Stops the monitors and detaches from the engine; idempotent.
    public func stop() {
        thermal?.stop()
        memory?.stop()
        signals.detach()
    }

    deinit { stop() }
}
