// The sustained run's chart: decode speed over time in each thermal state's colour, a rule at
// every thermal change the engine reported (solid where the thread count changed).

#if canImport(SwiftUI)
import BitNet
import Charts
import SampleViewModels
import SwiftUI

/// Draws a `SustainedTrace` and lists its thermal changes.
struct SustainedChart: View {
    let trace: SustainedTrace
    let startThreads: UInt32

    var body: some View {
        let solid = trace.threadChanges(startThreads: startThreads)
        Chart {
            ForEach(Array(trace.samples.enumerated()), id: \.offset) { _, sample in
                LineMark(x: .value("s", sample.tS), y: .value("tok/s", sample.tokensPerS))
                    .foregroundStyle(by: .value("state", sample.state.name))
            }
            ForEach(Array(trace.marks.enumerated()), id: \.offset) { _, mark in
                RuleMark(x: .value("s", mark.tS))
                    .lineStyle(StrokeStyle(dash: solid.contains(mark) ? [] : [4, 4]))
            }
        }
        .chartForegroundStyleScale(["nominal": Color.green, "fair": Color.yellow, "serious": Color.orange, "critical": Color.red])
        .frame(height: 200)
        ForEach(Array(trace.marks.enumerated()), id: \.offset) { _, mark in
            Text("\(formatNumber(mark.tS)) s: \(mark.state.name), \(mark.threads) threads, \(mark.pauseMs) ms pause")
                .font(.caption)
        }
        if let stop = trace.thermalStopS {
            Text("Thermal stop at \(formatNumber(stop)) s").font(.caption).foregroundStyle(.red)
        }
    }
}
#endif
