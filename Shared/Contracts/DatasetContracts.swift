/// A dataset version's builds as the other services read them.
///
/// A version spans several repositories; the ingestor, the feature-extractor and the scanner-bridge
/// each keep one pipeline per repository (their pipelines are single-repository), so a version is
/// one pipeline per repository, named ``DatasetPipelineRef/pipelineId(versionId:githubId:)``.
public struct DatasetVersionSpec: Codable, Sendable, Equatable {
    /// The gateway's version id.
    public var versionId: String
    /// One pipeline per repository of the version, in a stable order (by repository name).
    public var pipelines: [DatasetPipelineRef]
    /// The feature columns: the selection as the DAG resolved it (``ResolvedFeatureSelection/features``), in that order.
    public var features: [String]
    /// The selected scan metrics: prefixed names or wildcards (`trivy_vuln_*`, `sonar_ncloc`);
    /// empty keeps every metric a scan gave.
    public var scanMetrics: [String]
    /// Whether each build's current prediction follows its features (a repository's export: the
    /// predictor's status, risk level, score, uncertainty and model version).
    public var withPredictions: Bool?

    public init(versionId: String, pipelines: [DatasetPipelineRef], features: [String], scanMetrics: [String], withPredictions: Bool? = nil) {
        self.versionId = versionId
        self.pipelines = pipelines
        self.features = features
        self.scanMetrics = scanMetrics
        self.withPredictions = withPredictions
    }
}

/// One repository's pipeline of a dataset version.
public struct DatasetPipelineRef: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var githubId: Int64
    /// `owner/name`.
    public var fullName: String

    public init(pipelineId: String, githubId: Int64, fullName: String) {
        self.pipelineId = pipelineId
        self.githubId = githubId
        self.fullName = fullName
    }

    /// The pipeline id of a version's repository: `dataset:<version>:<repository github id>`. The
    /// gateway routes reports by it (a model pipeline's id is a bare config id).
    public static func pipelineId(versionId: Int64, githubId: Int64) -> String {
        "\(prefix)\(versionId):\(githubId)"
    }

    /// The version and repository a dataset pipeline id names; nil for any other id.
    public static func parse(_ pipelineId: String) -> (versionId: Int64, githubId: Int64)? {
        guard pipelineId.hasPrefix(prefix) else { return nil }
        let parts = pipelineId.dropFirst(prefix.count).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let version = Int64(parts[0]), let github = Int64(parts[1]) else { return nil }
        return (version, github)
    }

    static let prefix = "dataset:"
}

/// Names a dataset version at the dataset-splitter.
public struct DatasetVersionRef: Codable, Sendable, Equatable {
    public var versionId: String

    public init(versionId: String) {
        self.versionId = versionId
    }
}

/// Asks the dataset-splitter for a version's quality report.
public struct EvaluateDatasetParams: Codable, Sendable, Equatable {
    public var spec: DatasetVersionSpec
    /// Unique per request; a redelivered request queues nothing new.
    public var requestId: String

    public init(spec: DatasetVersionSpec, requestId: String) {
        self.spec = spec
        self.requestId = requestId
    }
}
