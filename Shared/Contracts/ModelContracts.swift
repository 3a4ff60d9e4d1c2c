/// The boundary between the model registry (the training-orchestrator) and the predictor.
///
/// A model version's files live in the shared data directory (`BUILDRISK_DATA_DIR`), at
/// `models/<modelName>/<version>/` as `ModelArtifact.save(to:)` writes them; the registry hands out
/// that relative path and the predictor loads it. The predictor asks `registry.active` at start and
/// is told of every later change through the registry's outbox (`predictions.activeModelChanged`).
public enum RegistryMethods {
    public static let active = RPCMethod<ActiveModelParams, ActiveModelAnswer>(
        "registry.active",
        summary: "The active version of a model name (none when no version of it is active), with the path of its artifact under the data directory and the sequence of the last activation change."
    )
}

/// Methods the predictor serves to the other services.
public enum PredictorMethods {
    public static let activeModelChanged = RPCMethod<ActiveModelChange, Empty>(
        "predictions.activeModelChanged",
        summary: "The active version of a model name changed (sent through the registry's outbox): the predictor loads it and swaps it in atomically; a change older (by sequence) than the one it serves is ignored."
    )
}

/// The model name used when none is given.
public enum ModelNames {
    public static let standard = "build-risk"

    /// A model name is 1–64 characters of letters, digits, `-`, `_` and `.`, starting with a
    /// letter or digit (it names a directory under the data directory).
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64,
              first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)
        }
    }

    /// Where a version's artifact lives, relative to the data directory.
    public static func artifactPath(modelName: String, version: Int) -> String {
        "models/\(modelName)/\(version)"
    }
}

/// One registered model version, as the predictor needs it.
public struct ModelVersionRef: Codable, Sendable, Equatable {
    public var modelName: String
    public var version: Int
    /// `xgboost`, `logistic_regression`, `gru` (BuildRiskLearning's `ModelKind` raw values).
    public var kind: String
    /// The artifact directory relative to the data directory (`ModelNames.artifactPath`).
    public var artifactPath: String
    /// The feature-DAG version of the vectors the model was trained on, when known (a model
    /// imported from outside may not say).
    public var dagVersion: String?

    public init(modelName: String, version: Int, kind: String, artifactPath: String, dagVersion: String?) {
        self.modelName = modelName
        self.version = version
        self.kind = kind
        self.artifactPath = artifactPath
        self.dagVersion = dagVersion
    }
}

public struct ActiveModelParams: Codable, Sendable, Equatable {
    public var modelName: String

    public init(modelName: String = ModelNames.standard) {
        self.modelName = modelName
    }
}

public struct ActiveModelAnswer: Codable, Sendable, Equatable {
    /// Nil when no version of the name is active.
    public var model: ModelVersionRef?
    /// The sequence of the last activation change of this name (0 when there never was one).
    public var sequence: Int64

    public init(model: ModelVersionRef?, sequence: Int64) {
        self.model = model
        self.sequence = sequence
    }
}

/// The active version of a model name changed: another version was activated, or the active one
/// was deleted (`active` nil).
public struct ActiveModelChange: Codable, Sendable, Equatable {
    public var modelName: String
    public var active: ModelVersionRef?
    /// Grows with every change of this name; a receiver ignores a change older than the one it has.
    public var sequence: Int64

    public init(modelName: String, active: ModelVersionRef?, sequence: Int64) {
        self.modelName = modelName
        self.active = active
        self.sequence = sequence
    }
}
