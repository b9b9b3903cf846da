// The deployment profiles and thermal states, listed and named (the generated enums have neither).

import BitNet

extension Profile {
    /// Every profile, smallest budget first.
    public static let all: [Profile] = [.mobile, .edge, .server, .cloud]

    /// Its name in lowercase ("mobile"), as the CLI writes it.
    public var name: String {
        switch self {
        case .mobile: "mobile"
        case .edge: "edge"
        case .server: "server"
        case .cloud: "cloud"
        }
    }
}

extension ThermalState {
    /// Every state, coolest first.
    public static let all: [ThermalState] = [.nominal, .fair, .serious, .critical]

    /// Its name in lowercase ("serious"), as `bitnet bench --thermal-schedule` writes it.
    public var name: String {
        switch self {
        case .nominal: "nominal"
        case .fair: "fair"
        case .serious: "serious"
        case .critical: "critical"
        }
    }
}
