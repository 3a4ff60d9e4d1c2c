import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird
import ServiceLifecycle

/// The scanner-bridge: commit scans with Trivy and SonarQube, one per unique (repository, commit,
/// configuration), their metrics back-filled into every requester's feature vectors of the commit.
public enum ScannerBridgeService {
    /// The service as its executable runs it: the tools and SonarQube as the configuration says.
    public static var definition: ServiceDefinition {
        definition { try ScannerBridgeConfiguration(environment: $0) }
    }

    /// The service definition with the tools configured as `configuration` says (tests, benchmarks).
    public static func definition(configuration: ScannerBridgeConfiguration) -> ServiceDefinition {
        definition { _ in configuration }
    }

    static func definition(_ read: @escaping @Sendable ([String: String]) throws -> ScannerBridgeConfiguration) -> ServiceDefinition {
        ServiceDefinition(
            service: .scannerBridge, settings: ScannerBridgeConfiguration.settings, migrations: CommitScanPostgresStore.migrations,
            jobKinds: ScanRunner.jobKinds
        ) { environment in
            let configuration = try read(environment.configuration.environment)
            let store = CommitScanPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
            let runner = ScanRunner(
                store: store, postgres: environment.postgres, queue: environment.queue, directory: environment.directory,
                configuration: configuration,
                sonarClient: SonarQubeClient(httpClient: environment.directory.httpClient, baseURL: configuration.sonar.hostURL, token: configuration.sonar.token),
                logger: environment.logger)

            /// Sets a requester's failed scans (of one tool, of one commit, or all) pending and queues them again.
            @Sendable func requeueFailed(_ pipelineId: String, tool: ScanToolName?, commitSha: String? = nil) async throws -> ScanRetryResult {
                let queued = try await environment.postgres.withTransaction(logger: environment.logger) { connection in
                    var queued = 0
                    for tool in tool.map({ [$0] }) ?? ScanToolName.allCases {
                        let ids = try await store.resetFailed(tool, pipelineId: pipelineId, commitSha: commitSha, on: connection)
                        try await runner.enqueue(tool, ids, on: connection)
                        queued += ids.count
                    }
                    return queued
                }
                return ScanRetryResult(pipelineId: pipelineId, queued: queued)
            }

            var methods = RPCDispatcher()
            methods.register(ScanMethods.request) { request, _ in
                try validate(request)
                return try await accept(request, store: store, runner: runner, environment: environment)
            }
            methods.register(ScanMethods.status) { params, _ in
                guard try await store.hasRequester(pipelineId: params.pipelineId) else {
                    throw RPCError(.notFound, "No scans", reason: "the scanner-bridge has no scans requested by \(params.pipelineId)")
                }
                return try await store.summary(pipelineId: params.pipelineId)
            }
            methods.register(ScanMethods.retryFailed) { params, _ in
                guard try await store.hasRequester(pipelineId: params.pipelineId) else {
                    throw RPCError(.notFound, "No scans", reason: "the scanner-bridge has no scans requested by \(params.pipelineId)")
                }
                return try await requeueFailed(params.pipelineId, tool: params.tool)
            }
            methods.register(ScanMethods.commits) { params, _ in
                guard try await store.hasRequester(pipelineId: params.pipelineId) else {
                    throw RPCError(.notFound, "No scans", reason: "the scanner-bridge has no scans requested by \(params.pipelineId)")
                }
                return try await store.commits(params)
            }
            methods.register(ScanMethods.retryCommit) { params, _ in
                let known = try await store.commits(CommitScansParams(pipelineId: params.pipelineId, commitSha: params.commitSha, tool: params.tool, limit: 1))
                guard !known.scans.isEmpty else {
                    throw RPCError(.notFound, "No such scan", reason: "\(params.pipelineId) asked for no scan of commit \(params.commitSha)")
                }
                return try await requeueFailed(params.pipelineId, tool: params.tool, commitSha: params.commitSha)
            }

            let backoff = Backoff(base: .seconds(2), cap: .seconds(120))
            var jobs = JobHandlers()
            jobs.register(ScanRunner.trivyJob, backoff: backoff) { job, context in try await runner.runTrivy(job, context: context) }
            jobs.register(ScanRunner.sonarJob, backoff: backoff) { job, context in try await runner.runSonar(job, context: context) }
            jobs.register(ScanRunner.sonarResultJob, backoff: backoff) { job, context in try await runner.runSonarResult(job, context: context) }

            var services: [any Service] = []
            if let port = configuration.webhookPort {
                let route = SonarWebhookRoute(
                    store: store, queue: environment.queue,
                    webhook: configuration.sonar.webhookSecret.isEmpty ? nil : SonarWebhook(secret: configuration.sonar.webhookSecret),
                    logger: environment.logger)
                services.append(Application(
                    router: route.router(),
                    configuration: ApplicationConfiguration(address: .hostname(environment.configuration.host, port: port), serverName: "buildrisk-scanner-bridge"),
                    logger: environment.logger))
            }
            return ServiceAssembly(methods: methods, jobs: jobs, services: services)
        }
    }

    static func validate(_ request: ScanRequest) throws {
        func refuse(_ reason: String) -> RPCError { RPCError(.invalidInput, "Invalid scan request", reason: reason) }
        guard !request.pipelineId.isEmpty, RepositoryName.isValid(request.fullName) else { throw refuse("pipelineId must be set and fullName be owner/name") }
        guard !request.tools.isEmpty else { throw refuse("name at least one tool (trivy, sonar)") }
        guard !request.commits.isEmpty else { throw refuse("name at least one commit") }
        if let bad = request.commits.first(where: { !CommitID.isValid($0) }) {
            throw refuse("commit '\(bad)' is not a 40-digit commit id")
        }
        if let bad = request.selectedMetrics.first(where: { !$0.hasPrefix("trivy_") && !$0.hasPrefix("sonar_") }) {
            throw refuse("selected metric '\(bad)' must start with trivy_ or sonar_")
        }
        if let refusal = request.configuration.refusal { throw refuse(refusal) }
    }

    /// Records the scans and their requester and queues the new ones, in one transaction; a scan that
    /// already finished sends this requester its metrics at once.
    static func accept(_ request: ScanRequest, store: CommitScanPostgresStore, runner: ScanRunner, environment: ServiceEnvironment) async throws -> ScanRequestAccepted {
        var seen = Set<String>()
        let commits = request.commits.map { $0.lowercased() }.filter { seen.insert($0).inserted }
        let selection = request.selectedMetrics
        return try await environment.postgres.withTransaction(logger: environment.logger) { connection in
            var created = 0
            var requested = 0
            for tool in Set(request.tools).sorted(by: { $0.rawValue > $1.rawValue }) {
                let rows: [CommitScanPostgresStore.Requested]
                switch tool {
                case .trivy:
                    let options = TrivyScanOptions(
                        scanners: request.configuration.trivyScanners.isEmpty ? TrivyScanOptions().scanners : request.configuration.trivyScanners,
                        extraArguments: request.configuration.trivyExtraArgs, configYAML: request.configuration.trivyConfigYAML)
                    let (hash, json) = try CommitScanPostgresStore.hash(options)
                    rows = try await store.request(
                        tool: .trivy, githubId: request.githubId, fullName: request.fullName, commits: commits, configHash: hash, optionsJSON: json,
                        projectKeys: nil, pipelineId: request.pipelineId, selection: selection, on: connection)
                case .sonar:
                    // The key names the requester when the pattern has `{version}`, so such scans are the
                    // requester's own; a pattern without it shares the component (and the scan).
                    let pattern = (request.configuration.sonarProjectKeyPattern ?? SonarProjectKey.defaultPattern)
                        .replacingOccurrences(of: "{version}", with: request.pipelineId)
                    let options = ScanRunner.SonarOptions(pattern: pattern, properties: request.configuration.sonarProperties)
                    let (hash, json) = try CommitScanPostgresStore.hash(options)
                    let keys = commits.map { SonarProjectKey.make(pattern: pattern, version: request.pipelineId, repository: request.fullName, commit: $0) }
                    rows = try await store.request(
                        tool: .sonar, githubId: request.githubId, fullName: request.fullName, commits: commits, configHash: hash, optionsJSON: json,
                        projectKeys: keys, pipelineId: request.pipelineId, selection: selection, on: connection)
                }
                try await runner.enqueue(tool, rows.filter(\.created).map(\.id), on: connection)
                for row in rows where row.status == .completed {
                    guard let metrics = row.metrics else { continue }
                    try await runner.sendMetrics(
                        tool, scanId: row.id, githubId: request.githubId, commitSha: row.commitSha, metrics: metrics,
                        requester: .init(pipelineId: request.pipelineId, selection: selection), generation: row.attempts, on: connection)
                }
                created += rows.filter(\.created).count
                requested += rows.count
            }
            return ScanRequestAccepted(pipelineId: request.pipelineId, created: created, requested: requested)
        }
    }
}
