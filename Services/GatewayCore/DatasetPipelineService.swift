import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Why a dataset request was refused (the controller turns it into 400 / 409 with the reason).
public enum DatasetRequestError: Error, Equatable {
    case invalid(String)
    case conflict(String)
}

/// The dataset-enrichment pipeline's service layer: loads a version's ``DatasetPipeline`` under a
/// row lock, applies a transition, saves the state and issues the commands (outbox messages, jobs)
/// in one transaction, as ``ModelPipelineService`` does for repositories.
public struct DatasetPipelineService: Sendable {
    let store: DatasetPostgresStore
    let postgres: PostgresClient
    let queue: JobQueue
    let directory: ServiceDirectory
    let logger: Logger

    /// Hands a new version's found builds to the ingestor, one pipeline per repository.
    static let startIngestionJob = JobKind<VersionJob>("gateway.datasetIngestion")
    /// Asks the scanner-bridge to scan the commits of a version's ingested builds.
    static let requestScansJob = JobKind<VersionJob>("gateway.datasetScans")
    static let jobKinds = [startIngestionJob.erased, requestScansJob.erased]

    /// The feature that labels a build (false: the build failed).
    static let label = "build_successful"

    struct VersionJob: Codable, Sendable {
        var versionId: Int64
    }

    /// The outcome of an applied event: the version's owner and dataset (for events), nil when refused.
    public typealias Applied = (ownerId: Int64, datasetId: Int64, pipeline: DatasetPipeline)?

    // MARK: requests

    /// What a user asks of a new version.
    struct VersionRequest: Decodable {
        var name: String
        /// Feature names and wildcards; nil or empty: the whole catalogue.
        var features: [String]?
        var scans: DatasetScanSelection?
    }

    /// Checks a version request against the catalogue and the dataset's validation, then stores the
    /// version and queues its ingestion in one transaction. Nothing is written when it is refused.
    func createVersion(dataset: Dataset, request: VersionRequest) async throws -> DatasetVersion {
        let name = request.name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw DatasetRequestError.invalid("name: give the version a name") }
        let scans = request.scans ?? DatasetScanSelection()
        if Set(scans.tools).count != scans.tools.count { throw DatasetRequestError.invalid("scans.tools: a tool is named twice") }
        for (tool, metrics) in scans.metrics {
            guard let known = ScanToolName(rawValue: tool) else {
                throw DatasetRequestError.invalid("scans.metrics: '\(tool)' is not a tool (\(ScanToolName.contractValues.joined(separator: ", ")))")
            }
            guard scans.tools.contains(known) else { throw DatasetRequestError.invalid("scans.metrics: \(tool) is not among scans.tools") }
            for metric in metrics where !metric.hasPrefix("\(tool)_") {
                throw DatasetRequestError.invalid("scans.metrics.\(tool): '\(metric)' must start with \(tool)_")
            }
        }
        if let refusal = scans.configuration.refusal { throw DatasetRequestError.invalid("scans.configuration: \(refusal)") }
        for (repository, configuration) in scans.repositories {
            if let refusal = configuration.refusal { throw DatasetRequestError.invalid("scans.repositories.\(repository): \(refusal)") }
        }
        // The outcome label is always part of a version: the quality report's class balance and
        // every model trained on an export need it, whatever features were chosen.
        var selection = request.features ?? []
        if !selection.isEmpty, !selection.contains(Self.label) { selection.append(Self.label) }
        let resolved = try await resolve(selection.isEmpty ? ["*"] : selection)
        // Scans need each commit on disk: the ingestion checks the worktrees out.
        var resources = resolved.ingestion
        if !scans.tools.isEmpty, !resources.contains(.gitWorktree) { resources.append(.gitWorktree) }
        let validation = try await directory.client(for: .sourceValidator).call(BuildSourceMethods.status, BuildSourceRef(sourceId: dataset.sourceId))
        guard validation.status == "validated" else {
            throw DatasetRequestError.conflict("the dataset is still being validated (\(validation.counts.pending) of \(validation.counts.total) rows pending)")
        }
        guard validation.counts.found > 0 else {
            throw DatasetRequestError.conflict("the dataset has no found builds (\(validation.counts.notFound) not found, \(validation.counts.filtered) filtered)")
        }
        let versionId = try await postgres.withTransaction(logger: logger) { connection in
            let id = try await store.insertVersion(
                datasetId: dataset.id, name: name, features: selection, resolved: resolved, resources: resources, scans: scans, on: connection)
            let (_, commands) = DatasetPipeline.created(scans: !scans.tools.isEmpty)
            try await issue(commands, versionId: id, version: nil, on: connection)
            return id
        }
        guard let version = try await store.versions(datasetId: dataset.id, versionId: versionId, ownerId: nil).first else {
            throw DatasetStoreError.notInserted(name)
        }
        return version
    }

    /// A selection as the feature-extractor, which owns the catalogue, resolves it; one it cannot
    /// meet is an invalid request with its reason.
    private func resolve(_ selection: [String]) async throws -> ResolvedFeatureSelection {
        do {
            return try await directory.client(for: .featureExtractor).call(FeatureMethods.resolve, FeatureSelectionParams(selection: selection))
        } catch {
            guard let remote = remoteError(error), remote.kind == .invalidInput else { throw error }
            throw DatasetRequestError.invalid("features: \(remote.data?.reason ?? remote.message)")
        }
    }

    /// What became of a user's request on a version.
    enum Answer: Equatable {
        case accepted(DatasetVersion)
        case notFound
        case refused(DatasetPipeline.Refusal)
    }

    /// Applies a user's request (start processing, retry) to a version the user may see.
    func request(_ event: DatasetPipeline.Event, datasetId: Int64, versionId: Int64, ownerId: Int64?) async throws -> Answer {
        let answer: Answer = try await postgres.withTransaction(logger: logger) { connection in
            guard let (version, pipeline) = try await store.lock(versionId: versionId, datasetId: datasetId, ownerId: ownerId, on: connection) else {
                return .notFound
            }
            switch pipeline.transition(event) {
            case .refused(let refusal):
                return .refused(refusal)
            case .applied(let next, let commands):
                try await store.save(versionId: versionId, next, on: connection)
                try await issue(commands, versionId: versionId, version: version, on: connection)
                var updated = version
                updated.status = next.status
                updated.message = next.message
                return .accepted(updated)
            }
        }
        return answer
    }

    /// Deletes a version and tells the services to forget its pipelines; false when the user has no such version.
    func deleteVersion(datasetId: Int64, versionId: Int64, ownerId: Int64?) async throws -> Bool {
        try await postgres.withTransaction(logger: logger) { connection in
            guard let (version, pipeline) = try await store.lock(versionId: versionId, datasetId: datasetId, ownerId: ownerId, on: connection),
                case .applied(_, let commands) = pipeline.transition(.deleted)
            else { return false }
            try await store.deleteVersion(id: versionId, on: connection)
            try await issue(commands, versionId: versionId, version: version, on: connection)
            return true
        }
    }

    /// Deletes a dataset, every version's pipelines and its build source; false when the user has no such dataset.
    func deleteDataset(id: Int64, ownerId: Int64?) async throws -> Bool {
        guard let dataset = try await store.dataset(id: id, ownerId: ownerId) else { return false }
        let versions = try await store.versions(datasetId: id, ownerId: ownerId)
        try await postgres.withTransaction(logger: logger) { connection in
            for version in versions {
                guard let (locked, pipeline) = try await store.lock(versionId: version.id, datasetId: id, ownerId: nil, on: connection),
                    case .applied(_, let commands) = pipeline.transition(.deleted)
                else { continue }
                try await issue(commands, versionId: version.id, version: locked, on: connection)
            }
            try await store.deleteDataset(id: id, on: connection)
            try await Outbox.enqueue(
                to: .sourceValidator, BuildSourceMethods.delete, BuildSourceRef(sourceId: dataset.sourceId),
                key: "dataset-source-delete:\(dataset.sourceId)", queue: queue, on: connection)
        }
        return true
    }

    // MARK: reports

    /// Applies a report on one repository's pipeline of a version; nil when it was refused or the version is gone.
    func apply(_ event: DatasetPipeline.Event, versionId: Int64) async throws -> Applied {
        try await postgres.withTransaction(logger: logger) { connection in
            guard let (version, pipeline) = try await store.lock(versionId: versionId, datasetId: nil, ownerId: nil, on: connection) else { return nil }
            switch pipeline.transition(event) {
            case .refused(let refusal):
                logger.debug("dataset pipeline refused an event", metadata: ["version": "\(versionId)", "refusal": "\(refusal)"])
                return nil
            case .applied(let next, let commands):
                try await store.save(versionId: versionId, next, on: connection)
                try await issue(commands, versionId: versionId, version: version, on: connection)
                return (version.ownerId, version.datasetId, next)
            }
        }
    }

    // MARK: commands

    private func issue(_ commands: [DatasetPipeline.Command], versionId: Int64, version: DatasetVersion?, on connection: PostgresConnection) async throws {
        func pipelineId(_ githubId: Int64) -> String { DatasetPipelineRef.pipelineId(versionId: versionId, githubId: githubId) }
        func repository(_ githubId: Int64) -> DatasetVersionRepository? { version?.repositories.first { $0.githubId == githubId } }
        for command in commands {
            switch command {
            case .startIngestion:
                try await queue.enqueue(
                    Self.startIngestionJob, VersionJob(versionId: versionId),
                    options: JobOptions(priority: 5, maxAttempts: 20, idempotencyKey: "dataset-ingest:\(versionId)"), on: connection)
            case .startProcessing(let ids):
                guard let version else { continue }
                for id in ids {
                    guard let repository = repository(id) else { continue }
                    let request = ProcessFeaturesRequest(
                        pipelineId: pipelineId(id), githubId: id, fullName: repository.fullName,
                        selection: version.features.isEmpty ? [] : version.features, requestId: "\(pipelineId(id))-\(UUID().uuidString)")
                    try await Outbox.enqueue(
                        to: .featureExtractor, FeatureMethods.process, request, key: "process-request:\(request.requestId)", queue: queue, on: connection)
                }
            case .requestScans:
                try await queue.enqueue(
                    Self.requestScansJob, VersionJob(versionId: versionId),
                    options: JobOptions(priority: 5, maxAttempts: 20, idempotencyKey: "dataset-scans:\(versionId):\(UUID().uuidString)"), on: connection)
            case .retryIngestion(let ids):
                for id in ids {
                    try await Outbox.enqueue(
                        to: .ingestor, IngestionMethods.retryFailed, IngestionPipelineParams(pipelineId: pipelineId(id)),
                        key: "retry-ingestion:\(pipelineId(id)):\(UUID().uuidString)", queue: queue, on: connection)
                }
            case .retryProcessing(let ids):
                for id in ids {
                    try await Outbox.enqueue(
                        to: .featureExtractor, FeatureMethods.reprocessFailed, FeaturePipelineParams(pipelineId: pipelineId(id)),
                        key: "retry-processing:\(pipelineId(id)):\(UUID().uuidString)", queue: queue, on: connection)
                }
            case .evaluate:
                guard let version else { continue }
                try await Outbox.enqueue(
                    to: .datasetSplitter, DatasetMethods.evaluate,
                    EvaluateDatasetParams(spec: Self.spec(version), requestId: "evaluate:\(versionId):\(UUID().uuidString)"),
                    key: "evaluate:\(versionId):\(UUID().uuidString)", queue: queue, on: connection)
            case .forget(let ids):
                for id in ids {
                    try await Outbox.enqueue(
                        to: .ingestor, IngestionMethods.forget, IngestionPipelineParams(pipelineId: pipelineId(id)),
                        key: "forget-ingestion:\(pipelineId(id))", queue: queue, on: connection)
                    try await Outbox.enqueue(
                        to: .featureExtractor, FeatureMethods.forget, FeaturePipelineParams(pipelineId: pipelineId(id)),
                        key: "forget-features:\(pipelineId(id))", queue: queue, on: connection)
                }
                try await Outbox.enqueue(
                    to: .datasetSplitter, DatasetMethods.forget, DatasetVersionRef(versionId: String(versionId)),
                    key: "forget-dataset-version:\(versionId)", queue: queue, on: connection)
            }
        }
    }

    /// A version as the dataset-splitter reads it.
    static func spec(_ version: DatasetVersion) -> DatasetVersionSpec {
        DatasetVersionSpec(
            versionId: String(version.id),
            pipelines: version.repositories.map { DatasetPipelineRef(pipelineId: $0.pipelineId, githubId: $0.githubId, fullName: $0.fullName) },
            features: version.resolvedFeatures, scanMetrics: version.scans.selectedMetrics)
    }

    // MARK: jobs

    /// The start-ingestion job: pages the dataset's found builds (grouped by repository) to the
    /// ingestor, recording each repository on the version before its builds leave. The ingestor
    /// leaves builds it has as they are, so a rerun after a crash hands over only what is new.
    func startIngestion(_ job: VersionJob) async throws {
        guard let version = try await store.versions(datasetId: nil, versionId: job.versionId, ownerId: nil).first,
            let dataset = try await store.dataset(id: version.datasetId, ownerId: nil)
        else { return }
        let warehouse = directory.client(for: .sourceValidator)
        let ingestor = directory.client(for: .ingestor)
        var after: FoundBuildCursor?
        var handed: [Int64: Int] = [:]
        repeat {
            let page = try await warehouse.call(BuildSourceMethods.foundBuilds, FoundBuildsParams(sourceId: dataset.sourceId, after: after, limit: 1000))
            var groups: [(githubId: Int64, fullName: String, builds: [IngestionBuild])] = []
            for found in page.builds {
                let build = IngestionBuild(runId: found.build.runId, headSha: found.build.headSha, event: found.build.event, createdAt: found.build.createdAt)
                if groups.last?.githubId == found.githubId {
                    groups[groups.count - 1].builds.append(build)
                } else {
                    groups.append((found.githubId, found.fullName, [build]))
                }
            }
            for group in groups {
                handed[group.githubId, default: 0] += group.builds.count
                let count = handed[group.githubId]!
                // A version deleted meanwhile stops the hand-over: nothing is left to forget its builds.
                guard try await store.addRepository(versionId: job.versionId, githubId: group.githubId, fullName: group.fullName) else { return }
                _ = try await apply(.repositoryHandedOver(githubId: group.githubId, builds: count), versionId: job.versionId)
                _ = try await ingestor.call(IngestionMethods.start, IngestionRequest(
                    pipelineId: DatasetPipelineRef.pipelineId(versionId: job.versionId, githubId: group.githubId), fullName: group.fullName,
                    githubId: group.githubId, resources: version.resources, builds: group.builds))
            }
            after = page.next
        } while after != nil
        _ = try await apply(.ingestionHandedOver, versionId: job.versionId)
    }

    /// The scans job: for each repository, the commits of its builds whose git history was
    /// ingested, asked of the scanner-bridge once (it scans a commit once however many builds ran
    /// on it, and shares a scan between versions with the same configuration).
    func requestScans(_ job: VersionJob) async throws {
        guard let version = try await store.versions(datasetId: nil, versionId: job.versionId, ownerId: nil).first, !version.scans.tools.isEmpty else {
            return
        }
        for repository in version.repositories where (repository.ingestion?.counts.ingested ?? 0) > 0 {
            let commits = try await IngestedCommits.list(pipelineId: repository.pipelineId, directory: directory)
            guard !commits.isEmpty else { continue }
            _ = try await directory.client(for: .scannerBridge).call(ScanMethods.request, ScanRequest(
                pipelineId: repository.pipelineId, githubId: repository.githubId, fullName: repository.fullName, commits: commits,
                tools: version.scans.tools, configuration: version.scans.repositories[repository.fullName] ?? version.scans.configuration,
                selectedMetrics: version.scans.selectedMetrics))
        }
    }
}
