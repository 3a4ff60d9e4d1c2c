/// The eight BuildRisk services. The raw value is the executable's product name.
public enum ServiceName: String, CaseIterable, Codable, Sendable, Hashable {
    case gateway = "gateway"
    case sourceValidator = "source-validator"
    case ingestor = "ingestor"
    case featureExtractor = "feature-extractor"
    case scannerBridge = "scanner-bridge"
    case predictor = "predictor"
    case datasetSplitter = "dataset-splitter"
    case trainingOrchestrator = "training-orchestrator"

    /// The PostgreSQL schema the service owns (and the only one its role can use).
    public var schema: String { String(rawValue.map { $0 == "-" ? "_" : $0 }) }

    /// The PostgreSQL role the service connects as.
    public var databaseRole: String { "buildrisk_\(schema)" }

    /// Prefix of the service's own environment variables, e.g. `SOURCE_VALIDATOR_PORT`.
    public var environmentPrefix: String { schema.uppercased() }

    /// The internal (TLS, HTTP/2) port used when `<PREFIX>_PORT` is not set.
    public var defaultPort: Int {
        8101 + (Self.allCases.firstIndex(of: self) ?? 0)
    }
}
