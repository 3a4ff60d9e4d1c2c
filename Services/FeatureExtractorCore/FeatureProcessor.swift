import BuildRiskContracts
import BuildRiskGit
import BuildRiskLogs
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The job's extractor, carried from one blocking call to the next. Used by one thread at a time:
/// each call awaits the previous one (libgit2 handles must not be used concurrently).
final class ExtractorHandle: @unchecked Sendable {
    let extractor: FeatureExtractor
    let hadClone: Bool

    init(_ extractor: FeatureExtractor, hadClone: Bool) {
        self.extractor = extractor
        self.hadClone = hadClone
    }
}

/// The processing job of one pipeline: gathers its ingested builds from their owners (runs from
/// the warehouse, ingestion records and parsed log facts from the ingestor, history from the bare
/// clone), extracts them strictly oldest to newest from the checkpoint on, and stores each chunk
/// of vectors with the checkpoint after it, so a crash or a later sync resumes without redoing.
struct FeatureProcessor: Sendable {
    let store: FeatureVectorPostgresStore
    let postgres: PostgresClient
    let queue: JobQueue
    let directory: ServiceDirectory
    let dataDirectory: String
    let pullRequests: PullRequestFetcher
    let logger: Logger

    /// Builds extracted (and stored, with a checkpoint and a report) per transaction.
    static let chunk = 200
    /// Log facts asked of the ingestor per call.
    static let logBatch = 200

    struct ProcessJob: Codable, Sendable {
        var pipelineId: String
    }

    static let processJob = JobKind<ProcessJob>("features.process")
    static let jobKinds = [processJob.erased]

    /// One build with what the owners know of it.
    struct Gathered: Sendable {
        var run: BuildRun
        var createdAt: Date
        var record: IngestionBuildRecord
    }

    func run(_ job: ProcessJob) async throws {
        guard let pipeline = try await store.pipeline(job.pipelineId) else { return }  // forgotten meanwhile
        let selection: FeatureSelection
        do {
            selection = try FeatureDAG.standard.select(pipeline.selection.isEmpty ? ["*"] : pipeline.selection)
        } catch {
            try await report(pipeline, status: .failed, message: "the feature selection is invalid: \(error)", extracted: [])
            return
        }
        let builds = try await gather(pipeline)
        let done = try await store.extractedRuns(pipelineId: pipeline.pipelineId, dagVersion: selection.dagVersion)
        let ordered = builds.sorted { ($0.createdAt, $0.run.runId) < ($1.createdAt, $1.run.runId) }

        // Resume after the checkpoint unless a build not yet extracted lies before it (a sync that
        // brought older runs): then start over from the oldest, which recomputes the same values.
        var state = ExtractorState()
        var start = 0
        if let checkpoint = pipeline.checkpoint, let at = pipeline.checkpointCreatedAt, let runId = pipeline.checkpointRunId,
            let saved = try? JSONDecoder().decode(ExtractorState.self, from: Data(checkpoint.utf8))
        {
            let position = ordered.firstIndex { ($0.createdAt, $0.run.runId) > (at, runId) } ?? ordered.endIndex
            if ordered[..<position].allSatisfy({ done.contains($0.run.runId) }) {
                state = saved
                start = position
            }
        }
        let todo = Array(ordered[start...])
        if todo.isEmpty {
            try await report(pipeline, status: .processed, message: "\(ordered.count) builds extracted", extracted: [])
            return
        }
        try await report(pipeline, status: .processing, message: "extracting \(todo.count) builds", extracted: [])
        let clonePath = ClonePaths.bare(dataDirectory: dataDirectory, githubId: pipeline.githubId)
        // One extractor for the whole job, so the commits and diffs it has read serve every chunk.
        let handle = try await BlockingWork.run { [state] in
            let repository = FileManager.default.fileExists(atPath: clonePath) ? try? GitRepository.open(clonePath) : nil
            return ExtractorHandle(FeatureExtractor(selection: selection, repository: repository, state: state), hadClone: repository != nil)
        }
        // Fetched once per job: a pull request's builds share it, and so do the builds of a commit.
        var pulls: [Int: PullRequestFacts?] = [:]
        var commitComments: [String: [Date]?] = [:]
        for chunk in todo.chunks(of: Self.chunk) {
            try Task.checkCancellation()
            let logs = try await logFacts(githubId: pipeline.githubId, builds: chunk)
            var inputs: [ExtractionBuild] = []
            var refused: [FeatureVectorPostgresStore.Extracted] = []
            for build in chunk {
                do {
                    var input = try ExtractionBuild(run: build.run, effectiveSha: build.record.effectiveSha, logs: logs[build.run.runId])
                    if selection.resources.contains(.githubAPI), input.isPullRequest, let number = input.pullRequestNumber {
                        if pulls[number] == nil { pulls[number] = .some(try await pullRequests.facts(fullName: pipeline.fullName, number: number)) }
                        input.pullRequest = pulls[number] ?? nil
                    }
                    inputs.append(input)
                } catch let error as ExtractionError {
                    refused.append(Self.failed(build, error: "\(error)"))
                }
            }
            if selection.inputs.contains(.commitComments) {
                // The commits each build built are known only from the history before it: worked out
                // ahead (without changing the extractor), then their comments fetched.
                let planned = try await BlockingWork.run { [inputs] in handle.extractor.plannedBuiltCommits(inputs) }
                try await pullRequests.attachCommitComments(to: &inputs, planned: planned, fullName: pipeline.fullName, known: &commitComments)
            }
            let (vectors, next) = try await BlockingWork.run { [inputs] in
                var vectors: [(FeatureVector, Bool)] = []
                for input in inputs {
                    vectors.append((try handle.extractor.extract(input), handle.hadClone))
                }
                return (vectors, handle.extractor.state)
            }
            state = next
            let byRun = Dictionary(chunk.map { ($0.run.runId, $0) }, uniquingKeysWith: { first, _ in first })
            let stored = try vectors.compactMap { vector, hadClone -> FeatureVectorPostgresStore.Extracted? in
                guard let build = byRun[vector.runId] else { return nil }
                return try Self.extracted(vector, build: build, hadLogs: logs[vector.runId] != nil, hadClone: hadClone)
            } + refused
            guard let last = chunk.last else { continue }
            let checkpoint = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
            try await postgres.withTransaction(logger: logger) { connection in
                try await store.store(
                    stored, pipelineId: pipeline.pipelineId, dagVersion: selection.dagVersion,
                    checkpoint: checkpoint, checkpointCreatedAt: last.createdAt, checkpointRunId: last.run.runId, on: connection)
                try await reportOn(connection, pipeline, status: .processing, message: "extracting", extracted: stored)
            }
        }
        let counts = try await store.counts(pipelineId: pipeline.pipelineId, dagVersion: selection.dagVersion)
        try await report(pipeline, status: .processed, message: "\(counts.total) builds extracted (\(counts.partial) partial, \(counts.failed) failed)", extracted: [])
    }

    /// Every build whose ingestion ended for good (ingested, or missing a resource that cannot come
    /// back), the ingestor's records joined with the warehouse's runs.
    func gather(_ pipeline: FeatureVectorPostgresStore.Pipeline) async throws -> [Gathered] {
        let ingestor = directory.client(for: .ingestor)
        var records: [Int64: IngestionBuildRecord] = [:]
        var before: Int64?
        repeat {
            let page = try await ingestor.call(IngestionMethods.builds, IngestionBuildsParams(pipelineId: pipeline.pipelineId, limit: 1000, beforeRunId: before))
            // A build whose ingestion failed (retryable) waits for `reingest-failed`: extracted now, it
            // would keep a partial vector after its resources arrive. Once ingested it sorts before the
            // checkpoint, and the next run starts over and extracts it with the rest.
            for record in page.builds where record.status == .ingested || record.status == .missingResource {
                records[record.runId] = record
            }
            guard page.builds.count == 1000, let last = page.builds.last else { break }
            before = last.runId
        } while true
        let warehouse = directory.client(for: .sourceValidator)
        var gathered: [Gathered] = []
        before = nil
        repeat {
            let page = try await warehouse.call(WarehouseMethods.listBuilds, ListBuildsParams(githubId: pipeline.githubId, limit: 1000, beforeRunId: before))
            for run in page.builds {
                guard let record = records[run.runId], let createdAt = ExtractionBuild.parseTime(run.createdAt) else { continue }
                gathered.append(Gathered(run: run, createdAt: createdAt, record: record))
            }
            guard page.builds.count == 1000, let last = page.builds.last else { break }
            before = last.runId
        } while true
        return gathered
    }

    /// The parsed log facts of the builds whose logs the ingestor has.
    func logFacts(githubId: Int64, builds: [Gathered]) async throws -> [Int64: RunLogFacts] {
        let withLogs = builds.filter { build in build.record.resources.contains { $0.resource == .buildLogs && $0.status == .completed } }.map(\.run.runId)
        var facts: [Int64: RunLogFacts] = [:]
        let decoder = JSONDecoder()
        for batch in withLogs.chunks(of: Self.logBatch) {
            let records = try await directory.client(for: .ingestor).call(IngestionMethods.logFacts, LogFactsParams(githubId: githubId, runIds: batch))
            for record in records {
                facts[record.runId] = try? decoder.decode(RunLogFacts.self, from: Data(record.factsJSON.utf8))
            }
        }
        return facts
    }

    static func extracted(_ vector: FeatureVector, build: Gathered, hadLogs: Bool, hadClone: Bool) throws -> FeatureVectorPostgresStore.Extracted {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        struct Inputs: Encodable {
            var commit: String?
            var commitSource: String?
            var logs: Bool
            var clone: Bool
            var computed: Int
            var skipped: Int
        }
        let inputs = Inputs(
            commit: build.record.effectiveSha ?? build.run.headSha, commitSource: build.record.commitSource, logs: hadLogs, clone: hadClone,
            computed: vector.features.count, skipped: vector.skippedFeatures.count)
        return FeatureVectorPostgresStore.Extracted(
            runId: vector.runId, runCreatedAt: build.createdAt, status: vector.status,
            featuresJSON: String(decoding: try encoder.encode(vector.features), as: UTF8.self),
            featureCount: vector.features.count, missingResources: vector.missingResources.map(\.rawValue),
            skippedFeatures: vector.skippedFeatures, error: vector.error, trPrevBuild: vector.trPrevBuild, headSha: build.run.headSha,
            inputsJSON: String(decoding: try encoder.encode(inputs), as: UTF8.self))
    }

    static func failed(_ build: Gathered, error: String) -> FeatureVectorPostgresStore.Extracted {
        FeatureVectorPostgresStore.Extracted(
            runId: build.run.runId, runCreatedAt: build.createdAt, status: .failed, featuresJSON: "{}", featureCount: 0,
            missingResources: [], skippedFeatures: [], error: error, trPrevBuild: nil, headSha: build.run.headSha, inputsJSON: "{}")
    }

    private func report(_ pipeline: FeatureVectorPostgresStore.Pipeline, status: ProcessingStatus, message: String, extracted: [FeatureVectorPostgresStore.Extracted]) async throws {
        try await postgres.withTransaction(logger: logger) { connection in
            try await reportOn(connection, pipeline, status: status, message: message, extracted: extracted)
        }
    }

    /// A numbered report to the gateway through the outbox, on the chunk's transaction.
    private func reportOn(
        _ connection: PostgresConnection, _ pipeline: FeatureVectorPostgresStore.Pipeline, status: ProcessingStatus, message: String,
        extracted: [FeatureVectorPostgresStore.Extracted]
    ) async throws {
        let sequence = try await store.nextSequence(pipelineId: pipeline.pipelineId, status: status, message: message, on: connection)
        let counts = try await store.counts(pipelineId: pipeline.pipelineId, dagVersion: pipeline.dagVersion, on: connection)
        let progress = ProcessingProgress(
            pipelineId: pipeline.pipelineId, sequence: sequence, status: status, counts: counts, message: message,
            extracted: extracted.prefix(1000).map { ExtractedBuild(runId: $0.runId, status: $0.status, error: $0.error) })
        try await Outbox.enqueue(
            to: .gateway, GatewayMethods.processingProgress, progress, key: "processing:\(pipeline.pipelineId):\(sequence)",
            queue: queue, on: connection)
    }
}
