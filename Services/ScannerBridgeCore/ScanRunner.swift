import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The scanner-bridge's jobs: a commit's Trivy scan, its SonarQube submission, and the completion a
/// SonarQube webhook starts; each finished scan's metrics go to every requester through the outbox.
struct ScanRunner: Sendable {
    let store: CommitScanPostgresStore
    let postgres: PostgresClient
    let queue: JobQueue
    let directory: ServiceDirectory
    let configuration: ScannerBridgeConfiguration
    let sonarClient: SonarQubeClient
    let logger: Logger

    struct ScanJob: Codable, Sendable {
        var scanId: Int64
    }

    struct WebhookJob: Codable, Sendable {
        var scanId: Int64
        var ceTaskId: String
        /// The analysis' status as the webhook said it: `SUCCESS`, `FAILED`, `CANCELED`.
        var status: String
    }

    static let trivyJob = JobKind<ScanJob>("scans.trivy")
    static let sonarJob = JobKind<ScanJob>("scans.sonar")
    static let sonarResultJob = JobKind<WebhookJob>("scans.sonarResult")
    static let jobKinds = [trivyJob.erased, sonarJob.erased, sonarResultJob.erased]
    /// A job that cannot reach the ingestor or SonarQube retries this often before its scan fails.
    static let maxAttempts = 6

    static func job(for tool: ScanToolName) -> JobKind<ScanJob> { tool == .trivy ? trivyJob : sonarJob }

    /// Queues scans in batches of `batchSize`, each batch `batchInterval` after the previous, on `connection`.
    func enqueue(_ tool: ScanToolName, _ ids: [Int64], on connection: PostgresConnection) async throws {
        let start = Date()
        for (index, id) in ids.enumerated() {
            let batch = Double(index / configuration.batchSize)
            try await queue.enqueue(
                Self.job(for: tool), ScanJob(scanId: id),
                options: JobOptions(priority: 2, runAt: start.addingTimeInterval(batch * configuration.batchInterval.inSeconds), maxAttempts: Self.maxAttempts),
                on: connection)
        }
    }

    // MARK: Trivy

    func runTrivy(_ job: ScanJob, context: JobContext) async throws {
        guard let (scan, options, worktree) = try await begin(.trivy, job, TrivyScanOptions.self, context: context) else { return }
        let outcome: Result<TrivyScanResult, ScanFailure>
        do throws(ScanFailure) {
            outcome = .success(try await TrivyScanner(configuration: configuration.trivy).scan(worktree: worktree, options: options))
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let result):
            try await finish(scan, metrics: result.metrics.values, extraAttempts: result.attempts - 1)
        case .failure(let failure):
            try await fail(scan, reason: failure.description, extraAttempts: max(failure.attempts - 1, 0), releasingWorktree: true)
            logger.notice("trivy scan failed", metadata: ["scan": "\(scan.id)", "commit": "\(scan.commitSha)", "reason": "\(failure.description)"])
        }
    }

    // MARK: SonarQube

    struct SonarOptions: Codable, Sendable {
        var pattern: String
        var properties: [String: String]
    }

    /// Submits the commit to SonarQube; the scan stays running until the webhook reports the analysis.
    func runSonar(_ job: ScanJob, context: JobContext) async throws {
        guard let (scan, options, worktree) = try await begin(.sonar, job, SonarOptions.self, context: context), let projectKey = scan.projectKey else { return }
        let outcome: Result<SonarSubmission, ScanFailure>
        do throws(ScanFailure) {
            outcome = .success(try await SonarScanner(configuration: configuration.sonar).submit(
                worktree: worktree, projectKey: projectKey, extraProperties: options.properties))
        } catch {
            outcome = .failure(error)
        }
        // The scanner has read the files; the server works on its own copy of the report.
        try await postgres.withTransaction(logger: logger) { connection in try await releaseWorktree(scan, on: connection) }
        switch outcome {
        case .success(let submission):
            try await store.recordSubmission(id: scan.id, ceTaskID: submission.ceTaskID)
        case .failure(let failure):
            try await fail(scan, reason: failure.description)
            logger.notice("sonar submission failed", metadata: ["scan": "\(scan.id)", "commit": "\(scan.commitSha)", "reason": "\(failure.description)"])
        }
    }

    /// Completes a SonarQube scan after its webhook: measures on success, SonarQube's reason on failure.
    func runSonarResult(_ job: WebhookJob, context: JobContext) async throws {
        guard let scan = try await store.scan(.sonar, id: job.scanId), scan.status == .running, let projectKey = scan.projectKey else { return }
        guard job.status == "SUCCESS" else {
            let message = (try? await sonarClient.task(id: job.ceTaskId))?.errorMessage
            try await fail(scan, reason: "SonarQube analysis \(job.status)" + (message.map { ": \($0)" } ?? ""))
            return
        }
        let selection = try await postgres.withConnection { connection in
            try await store.requesters(.sonar, scanId: scan.id, on: connection)
        }.map(\.selection)
        // One fetch for every requester: the union of their selections, or everything when one wants everything.
        let union: [String]? = selection.contains { $0.isEmpty } ? nil : Array(Set(selection.flatMap { $0 })).sorted()
        let metrics: ScanMetrics
        do throws(ScanFailure) {
            metrics = try await sonarClient.metrics(component: projectKey, selection: union)
        } catch {
            guard context.job.attempt >= context.job.maxAttempts || error.kind != .serverFailed else { throw error }
            try await fail(scan, reason: error.description)
            return
        }
        try await finish(scan, metrics: metrics.values, extraAttempts: 0)
    }

    // MARK: Shared steps

    /// Marks the scan running and gets its options and worktree; nil when there is nothing to run (the
    /// scan ended, or it failed here with the reason).
    private func begin<Options: Decodable>(
        _ tool: ScanToolName, _ job: ScanJob, _ type: Options.Type, context: JobContext
    ) async throws -> (CommitScanPostgresStore.Scan, Options, String)? {
        guard let scan = try await store.start(tool, id: job.scanId) else { return nil }
        let options: Options
        do {
            options = try JSONDecoder().decode(Options.self, from: Data(scan.optionsJSON.utf8))
        } catch {
            try await fail(scan, reason: "stored \(tool.rawValue) options do not decode: \(error)")
            return nil
        }
        guard let worktree = try await checkout(scan, context: context) else { return nil }
        return (scan, options, worktree)
    }

    /// Asks the ingestor for the commit's worktree; nil (and the scan failed with the reason) when it
    /// cannot have one. A call that does not get through is retried by the job until its last attempt.
    private func checkout(_ scan: CommitScanPostgresStore.Scan, context: JobContext) async throws -> String? {
        let checkout: CommitCheckout
        do {
            checkout = try await directory.client(for: .ingestor).call(
                IngestionMethods.checkoutCommit, CommitCheckoutParams(githubId: scan.githubId, commitSha: scan.commitSha, holder: holder(scan)),
                timeout: .seconds(300))
        } catch {
            guard !error.isRetryable || context.job.attempt >= context.job.maxAttempts else { throw error }
            try await fail(scan, reason: "no worktree for commit \(scan.commitSha): \(error)")
            return nil
        }
        return checkout.path
    }

    private func holder(_ scan: CommitScanPostgresStore.Scan) -> String { "scan:\(scan.tool.rawValue):\(scan.id)" }

    /// Releases the scan's hold on its worktree through the outbox (delivered once this transaction commits).
    private func releaseWorktree(_ scan: CommitScanPostgresStore.Scan, on connection: PostgresConnection) async throws {
        try await Outbox.enqueue(
            to: .ingestor, IngestionMethods.releaseCommit,
            CommitCheckoutParams(githubId: scan.githubId, commitSha: scan.commitSha, holder: holder(scan)),
            key: "release:\(holder(scan)):\(scan.attempts)", queue: queue, on: connection)
    }

    /// Completes the scan and, in the same transaction, sends each requester its selection of the metrics.
    private func finish(_ scan: CommitScanPostgresStore.Scan, metrics: [String: Double], extraAttempts: Int) async throws {
        try await postgres.withTransaction(logger: logger) { connection in
            guard try await store.complete(scan.tool, id: scan.id, metrics: metrics, on: connection) else { return }
            try await store.addAttempts(scan.tool, id: scan.id, extraAttempts, on: connection)
            if scan.tool == .trivy { try await releaseWorktree(scan, on: connection) }
            for requester in try await store.requesters(scan.tool, scanId: scan.id, on: connection) {
                try await sendMetrics(scan.tool, scanId: scan.id, githubId: scan.githubId, commitSha: scan.commitSha, metrics: metrics,
                                      requester: requester, generation: scan.attempts, on: connection)
                try await announce(scan, to: requester, status: .completed, error: nil, on: connection)
            }
        }
    }

    /// Fails the scan with the reason (counting the tool runs beyond the one `start` counted, and
    /// releasing its worktree when asked) and tells each requester, in one transaction.
    private func fail(_ scan: CommitScanPostgresStore.Scan, reason: String, extraAttempts: Int = 0, releasingWorktree: Bool = false) async throws {
        try await postgres.withTransaction(logger: logger) { connection in
            try await store.addAttempts(scan.tool, id: scan.id, extraAttempts, on: connection)
            if releasingWorktree { try await releaseWorktree(scan, on: connection) }
            guard try await store.fail(scan.tool, id: scan.id, reason: reason, on: connection) else { return }
            for requester in try await store.requesters(scan.tool, scanId: scan.id, on: connection) {
                try await announce(scan, to: requester, status: .failed, error: reason, on: connection)
            }
        }
    }

    /// Tells the gateway that a requester's scan ended (it pushes SCAN_UPDATE to the pipeline's owner).
    private func announce(
        _ scan: CommitScanPostgresStore.Scan, to requester: CommitScanPostgresStore.Requester, status: CommitScanStatus, error: String?,
        on connection: PostgresConnection
    ) async throws {
        try await Outbox.enqueue(
            to: .gateway, GatewayMethods.scanProgress,
            ScanUpdate(pipelineId: requester.pipelineId, tool: scan.tool, commitSha: scan.commitSha, status: status, error: error),
            key: "scan-update:\(scan.tool.rawValue):\(scan.id):\(requester.pipelineId):\(scan.attempts):\(status.rawValue)", queue: queue, on: connection)
    }

    /// One requester's back-fill: the metrics filtered to its selection (all of them when it selected none).
    func sendMetrics(
        _ tool: ScanToolName, scanId: Int64, githubId: Int64, commitSha: String, metrics: [String: Double],
        requester: CommitScanPostgresStore.Requester, generation: Int, on connection: PostgresConnection
    ) async throws {
        let selected = ScanMetrics(metrics).filtered(to: requester.selection.isEmpty ? nil : requester.selection).values
        try await Outbox.enqueue(
            to: .featureExtractor, FeatureMethods.backfillScanMetrics,
            ScanMetricsBackfill(pipelineId: requester.pipelineId, githubId: githubId, commitSha: commitSha, tool: tool, metrics: selected),
            key: "backfill:\(tool.rawValue):\(scanId):\(requester.pipelineId):\(generation)", queue: queue, on: connection)
    }
}
