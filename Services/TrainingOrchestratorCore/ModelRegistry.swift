import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The model registry's decisions: version numbers, exactly one active version per name, aliases,
/// deletions. Every change of a name takes the name's row lock first (`lockModel`), so two
/// activations run one after the other and each sees the other's result; a change of the active
/// version raises the name's activation sequence and tells the predictor through the outbox in the
/// same transaction, so it is sent if and only if the change commits.
struct ModelRegistry: Sendable {
    let store: TrainingPostgresStore
    let postgres: PostgresClient
    let queue: JobQueue
    let dataDirectory: URL
    let logger: Logger

    func directory(of path: String) -> URL { dataDirectory.appending(path: path) }

    /// Registers a trained artifact on `connection` (inside the job's completing transaction):
    /// reserves the next version, writes the files, inserts the row, and activates it when the
    /// name has no active version (the first version of a name). Returns the version.
    func register(
        _ artifact: ModelArtifact, record template: ModelVersionRecord, on connection: PostgresConnection
    ) async throws -> (version: Int, directory: URL) {
        let model = try await store.lockModel(template.modelName, on: connection)
        var record = template
        record.version = model.nextVersion
        record.artifactPath = ModelNames.artifactPath(modelName: record.modelName, version: record.version)
        let directory = directory(of: record.artifactPath)
        // A directory left by a registration whose transaction did not commit holds nothing anyone uses.
        try? FileManager.default.removeItem(at: directory)
        try artifact.save(to: directory)
        do {
            try await store.insertVersion(record, on: connection)
            if model.active == nil {
                try await change(record.modelName, to: record.version, after: model.sequence, on: connection)
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        return (record.version, directory)
    }

    /// Makes `version` the active one; answers the name's active version and sequence after it.
    func activate(_ name: String, version: Int) async throws -> ActiveModelAnswer {
        try await postgres.withTransaction(logger: logger) { connection in
            let model = try await store.lockModel(name, on: connection)
            guard let ref = try await store.versionRef(name, version, on: connection) else { throw TrainingRefusal.noSuchVersion(name, version) }
            // Activating the active version again changes nothing and tells nobody.
            if model.active == version { return ActiveModelAnswer(model: ref, sequence: model.sequence) }
            let sequence = try await change(name, to: version, after: model.sequence, on: connection)
            return ActiveModelAnswer(model: ref, sequence: sequence)
        }
    }

    /// The active version of a name as the predictor needs it.
    func active(_ name: String) async throws -> ActiveModelAnswer {
        guard let model = try await store.model(name) else { return ActiveModelAnswer(model: nil, sequence: 0) }
        guard let version = model.active else { return ActiveModelAnswer(model: nil, sequence: model.sequence) }
        return ActiveModelAnswer(model: try await store.versionRef(name, version), sequence: model.sequence)
    }

    /// Deletes a version, its aliases and its files; the active one leaves the name with none active.
    func delete(_ name: String, version: Int) async throws {
        let path = ModelNames.artifactPath(modelName: name, version: version)
        try await postgres.withTransaction(logger: logger) { connection in
            let model = try await store.lockModel(name, on: connection)
            guard try await store.deleteVersion(name, version, on: connection) else { throw TrainingRefusal.noSuchVersion(name, version) }
            if model.active == version {
                try await change(name, to: nil, after: model.sequence, on: connection)
            }
        }
        // After the commit: a rolled-back deletion keeps its files. The predictor was told first
        // (the outbox message commits with the deletion), and loads the new active version, not this one.
        try? FileManager.default.removeItem(at: directory(of: path))
    }

    func setAlias(_ name: String, alias: String, version: Int) async throws -> ModelVersionRecord {
        guard Self.isValidAlias(alias) else {
            throw TrainingRefusal.invalid("an alias is 1–64 letters, digits, '-' or '_', starting with a letter")
        }
        try await postgres.withTransaction(logger: logger) { connection in
            _ = try await store.lockModel(name, on: connection)
            guard try await store.versionRef(name, version, on: connection) != nil else { throw TrainingRefusal.noSuchVersion(name, version) }
            try await store.setAlias(name, alias, version: version, on: connection)
        }
        guard let record = try await store.versions(modelName: name, version: version).first else { throw TrainingRefusal.noSuchVersion(name, version) }
        return record
    }

    func alias(_ name: String, alias: String) async throws -> ModelVersionRecord {
        guard let record = try await store.versions(modelName: name, alias: alias).first else { throw TrainingRefusal.notFound("model \(name) has no alias \(alias)") }
        return record
    }

    /// Letters, digits, `-` and `_`, starting with a letter (`champion`, `challenger`, `canary-2`).
    static func isValidAlias(_ alias: String) -> Bool {
        guard let first = alias.unicodeScalars.first, first.properties.isAlphabetic, alias.unicodeScalars.count <= 64 else { return false }
        return alias.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }
    }

    /// Switches the active version (nil: none) with the next sequence and queues the messages of
    /// the predictor (which serves it) and the gateway (which keeps the predictor's answers).
    @discardableResult
    private func change(_ name: String, to version: Int?, after sequence: Int64, on connection: PostgresConnection) async throws -> Int64 {
        let next = sequence + 1
        try await store.setActive(name, version: version, sequence: next, on: connection)
        let ref = try await version.asyncMap { try await store.versionRef(name, $0, on: connection) } ?? nil
        let change = ActiveModelChange(modelName: name, active: ref, sequence: next)
        try await Outbox.enqueue(to: .predictor, PredictorMethods.activeModelChanged, change, key: "active:\(name):\(next)", queue: queue, on: connection)
        try await Outbox.enqueue(to: .gateway, GatewayMethods.activeModelChanged, change, key: "active-gateway:\(name):\(next)", queue: queue, on: connection)
        return next
    }
}

extension Optional {
    fileprivate func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
