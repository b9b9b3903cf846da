// Mean and standard deviation of repeated measurements.

import Foundation

/// The mean of some measurements and their sample standard deviation (0 for one).
public struct MeanSd: Sendable, Equatable {
    /// The mean.
    public let mean: Double
    /// The sample standard deviation.
    public let sd: Double

    /// The mean and sample standard deviation of `values` (not empty).
    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "no measurements")
        let mean = values.reduce(0, +) / Double(values.count)
        self.mean = mean
        sd = values.count < 2 ? 0 : (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }
}
