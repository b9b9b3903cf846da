// A scripted thermal schedule for the sustained run: the states to report to the engine, and
// when, as `bitnet bench --thermal-schedule` takes them.

import BitNet
import Foundation

/// One step: report `state` `atMs` ms after the run started.
public struct ThermalStep: Sendable, Equatable {
    /// When, in ms from the run's start.
    public let atMs: UInt64
    /// What to report.
    public let state: ThermalState

    public init(atMs: UInt64, state: ThermalState) {
        self.atMs = atMs
        self.state = state
    }
}

/// The steps of a schedule, in time order; empty = leave the thermal state to the platform.
public struct ThermalSchedule: Sendable, Equatable, CustomStringConvertible {
    /// What a schedule's text got wrong, naming the step.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The steps, in time order.
    public let steps: [ThermalStep]

    /// No scripted states.
    public static let none = ThermalSchedule(steps: [])

    public init(steps: [ThermalStep]) {
        self.steps = steps.sorted { $0.atMs < $1.atMs }
    }

    /// Reads "0s:nominal,3s:fair,6s:serious,8s:critical" (seconds, decimals allowed; the states
    /// in any case); blank text is `none`.
    public init(parsing text: String) throws {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            self = .none
            return
        }
        let steps = try text.split(separator: ",", omittingEmptySubsequences: false).map { part -> ThermalStep in
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 2 else { throw ParseError(description: "\"\(part)\": expected <seconds>s:<state>") }
            var time = fields[0].trimmingCharacters(in: .whitespaces)
            if time.hasSuffix("s") { time.removeLast() }
            guard let seconds = Double(time), seconds >= 0 else {
                throw ParseError(description: "\"\(part)\": bad time \"\(fields[0])\"")
            }
            let name = fields[1].trimmingCharacters(in: .whitespaces).lowercased()
            guard let state = ThermalState.all.first(where: { $0.name == name }) else {
                throw ParseError(description: "\"\(part)\": unknown state \"\(fields[1])\"")
            }
            return ThermalStep(atMs: UInt64(seconds * 1000), state: state)
        }
        self.init(steps: steps)
    }

    /// The schedule in the form `init(parsing:)` reads.
    public var description: String {
        steps.map { step in
            let seconds = Double(step.atMs) / 1000
            let time = seconds == seconds.rounded(.down) ? "\(step.atMs / 1000)s" : "\(seconds)s"
            return "\(time):\(step.state.name)"
        }.joined(separator: ",")
    }
}
