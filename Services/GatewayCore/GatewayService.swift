import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import HummingbirdWebSocket

/// The gateway: users and API tokens, the public REST API, and the pipeline records' state.
public enum GatewayService {
    /// The gateway's migrations (its schema holds users, tokens and step reports).
    public static let migrations: [Migration] = [
        Migration(version: 100, name: "users_and_tokens", statements: [
            """
            CREATE TABLE {schema}.users (
                id bigserial PRIMARY KEY,
                username text NOT NULL UNIQUE,
                role text NOT NULL CHECK (role IN ('admin', 'user')),
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {schema}.api_tokens (
                id bigserial PRIMARY KEY,
                user_id bigint NOT NULL REFERENCES {schema}.users (id) ON DELETE CASCADE,
                name text NOT NULL,
                token_hash text NOT NULL UNIQUE,
                created_at timestamptz NOT NULL DEFAULT now(),
                last_used_at timestamptz,
                revoked_at timestamptz
            )
            """,
            "CREATE INDEX api_tokens_user ON {schema}.api_tokens (user_id)",
        ]),
        Migration(version: 101, name: "step_reports", statements: [
            """
            CREATE TABLE {schema}.step_reports (
                message_id text PRIMARY KEY,
                service text NOT NULL,
                pipeline text NOT NULL,
                record_id text NOT NULL,
                step text NOT NULL,
                outcome text NOT NULL,
                detail text,
                received_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX step_reports_record ON {schema}.step_reports (pipeline, record_id, received_at)",
        ]),
    ]

    /// How long the gateway believes a token it verified, and a repository a caller may see.
    static let authCacheSetting: Setting<Duration> = .seconds(
        "GATEWAY_AUTH_CACHE_SECONDS", default: 5, in: 0...300,
        meaning: "how long a verified API token, and a repository its caller may see, are believed without asking PostgreSQL again; a token revoked through another gateway replica works for at most this long (0: every request asks)")

    /// The gateway's service definition.
    public static let definition = ServiceDefinition(
        service: .gateway, settings: [authCacheSetting.declaration, ScoreAnswerCache.lifetimeSetting.declaration],
        migrations: migrations + RepositoryConfigPostgresStore.migrations + DatasetPostgresStore.migrations,
        jobKinds: ModelPipelineService.jobKinds + DatasetPipelineService.jobKinds
    ) { environment in
        let believed = try authCacheSetting.read(environment.configuration.environment)
        let answers = ScoreAnswerCache(lifetime: try ScoreAnswerCache.lifetimeSetting.read(environment.configuration.environment), capacity: 20_000)
        let users = UserPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger, verifiedLifetime: believed)
        let reports = StepReportPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
        let repositories = RepositoryConfigPostgresStore(
            client: environment.postgres, schema: environment.schema, logger: environment.logger, seenLifetime: believed)
        let pipeline = ModelPipelineService(
            store: repositories, postgres: environment.postgres, queue: environment.queue, directory: environment.directory, logger: environment.logger)
        let datasets = DatasetPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
        let datasetPipeline = DatasetPipelineService(
            store: datasets, postgres: environment.postgres, queue: environment.queue, directory: environment.directory, logger: environment.logger)
        let events = EventHub()

        /// Applies a report on one repository's pipeline of a dataset version and, when it moved
        /// the version, tells the dataset's owner (DATASET_UPDATE, counts summed over its repositories).
        @Sendable func applyDataset(_ event: DatasetPipeline.Event, versionId: Int64) async throws {
            guard let (owner, datasetId, state) = try await datasetPipeline.apply(event, versionId: versionId) else { return }
            var counts: [String: Int] = [:]
            for repository in state.repositories.values {
                counts["builds", default: 0] += repository.builds
                if let ingestion = repository.ingestion?.counts {
                    counts["ingested", default: 0] += ingestion.ingested
                    counts["missing_resource", default: 0] += ingestion.missingResource
                    counts["ingestion_failed", default: 0] += ingestion.failed
                }
                if let processing = repository.processing?.counts {
                    counts["extracted", default: 0] += processing.total
                    counts["extraction_failed", default: 0] += processing.failed
                }
            }
            events.publish(
                .datasetUpdate(.init(datasetId: datasetId, versionId: versionId, status: state.status.rawValue, message: state.message, counts: counts, at: Date())),
                ownerId: owner)
        }

        /// Whom a report's builds are news to: the owner the applied report returned, else (a stale
        /// report) the config's owner, nil when the config is gone.
        @Sendable func owner(of id: Int64, applied: Int64?) async throws -> Int64? {
            if let applied { return applied }
            return try await repositories.get(id: id, ownerId: nil)?.ownerId
        }

        /// Pushes what a phase's progress report says: its builds (news even when the report was
        /// stale, to the config's owner) and, when the report was applied, the repository's state.
        @Sendable func publish(
            _ id: Int64, applied: Int64?, builds: GatewayEvent?, status: String, message: String?, counts: [String: Int]
        ) async throws {
            if let builds, let owner = try await owner(of: id, applied: applied) {
                events.publish(builds, ownerId: owner)
            }
            if let owner = applied {
                events.publish(.repoUpdate(.init(repoId: id, status: status, message: message, counts: counts, at: Date())), ownerId: owner)
            }
        }

        var methods = RPCDispatcher()
        methods.register(GatewayMethods.reportStep) { report, _ in
            try await reports.record(report)
        }
        methods.register(GatewayMethods.importProgress) { progress, _ in
            let id = try configId(progress.importId, field: "importId")
            if let owner = try await pipeline.apply(progress, configId: id) {
                events.publish(.repoUpdate(.init(
                    repoId: id, status: progress.status.rawValue, message: progress.message,
                    counts: ["imported": progress.imported, "filtered": progress.filtered, "existing": progress.existing], at: Date())),
                    ownerId: owner)
            }
            return Empty()
        }
        // Settled, extracted and predicted builds are news even in a report that arrived after a newer one.
        methods.register(GatewayMethods.ingestionProgress) { progress, _ in
            if let (versionId, githubId) = DatasetPipelineRef.parse(progress.pipelineId) {
                try await applyDataset(.ingestionReport(githubId: githubId, progress), versionId: versionId)
                return Empty()
            }
            let id = try configId(progress.pipelineId, field: "pipelineId")
            try await publish(
                id, applied: try await pipeline.apply(progress, configId: id),
                builds: progress.settled.isEmpty ? nil : .buildUpdate(.init(repoId: id, builds: progress.settled, at: Date())),
                status: progress.status.rawValue, message: progress.message,
                counts: ["total": progress.counts.total, "pending": progress.counts.pending, "ingested": progress.counts.ingested,
                         "missing_resource": progress.counts.missingResource, "failed": progress.counts.failed])
            return Empty()
        }
        methods.register(GatewayMethods.processingProgress) { progress, _ in
            if let (versionId, githubId) = DatasetPipelineRef.parse(progress.pipelineId) {
                try await applyDataset(.processingReport(githubId: githubId, progress), versionId: versionId)
                return Empty()
            }
            let id = try configId(progress.pipelineId, field: "pipelineId")
            answers.forget(repoId: id)
            try await publish(
                id, applied: try await pipeline.apply(progress, configId: id),
                builds: progress.extracted.isEmpty ? nil : .buildExtracted(.init(repoId: id, builds: progress.extracted, at: Date())),
                status: progress.status.rawValue, message: progress.message,
                counts: ["extracted": progress.counts.total, "completed": progress.counts.completed,
                         "partial": progress.counts.partial, "failed": progress.counts.failed])
            return Empty()
        }
        methods.register(GatewayMethods.activeModelChanged) { change, _ in
            answers.apply(change)
            return Empty()
        }
        methods.register(GatewayMethods.predictionProgress) { progress, _ in
            let id = try configId(progress.pipelineId, field: "pipelineId")
            answers.forget(repoId: id)
            try await publish(
                id, applied: try await pipeline.apply(progress, configId: id),
                builds: progress.predicted.isEmpty ? nil : .buildPredicted(.init(repoId: id, builds: progress.predicted, at: Date())),
                status: progress.phase.rawValue, message: progress.message,
                counts: ["predictions": progress.counts.total, "pending": progress.counts.pending, "completed": progress.counts.completed,
                         "failed": progress.counts.failed, "low": progress.counts.low, "medium": progress.counts.medium,
                         "high": progress.counts.high])
            return Empty()
        }
        // A scan's end, to the owner of the pipeline that asked for it (a repository config or a dataset
        // version); another requester (a benchmark, an operator's own id) has nobody to tell.
        methods.register(GatewayMethods.scanProgress) { update, _ in
            var event = GatewayEvent.ScanUpdateEvent(
                repoId: nil, datasetId: nil, versionId: nil, tool: update.tool, commitSha: update.commitSha, status: update.status,
                error: update.error, at: Date())
            let owner: Int64?
            if let (versionId, _) = DatasetPipelineRef.parse(update.pipelineId) {
                let version = try await datasets.versions(datasetId: nil, versionId: versionId, ownerId: nil).first
                (event.datasetId, event.versionId, owner) = (version?.datasetId, versionId, version?.ownerId)
            } else if let id = Int64(update.pipelineId) {
                event.repoId = id
                owner = try await repositories.get(id: id, ownerId: nil)?.ownerId
            } else {
                owner = nil
            }
            if let owner { events.publish(.scanUpdate(event), ownerId: owner) }
            return Empty()
        }
        methods.register(GatewayMethods.sourceProgress) { source, _ in
            // The current status, not the report's: reports may arrive out of order.
            let status: BuildSourceStatus
            do {
                status = try await environment.directory.client(for: .sourceValidator).call(BuildSourceMethods.status, source)
            } catch let error where remoteError(error)?.kind == .notFound {
                return Empty()  // The source is gone: nothing to tell.
            }
            events.publish(.sourceUpdate(.init(
                sourceId: status.sourceId, status: status.status, message: status.name,
                counts: ["total": status.counts.total, "pending": status.counts.pending, "found": status.counts.found,
                         "not_found": status.counts.notFound, "filtered": status.counts.filtered],
                at: Date())), ownerId: nil)
            return Empty()
        }
        methods.register(GatewayMethods.trainingUpdate) { update, _ in
            events.publish(.trainingUpdate(update), ownerId: update.ownerId)
            return Empty()
        }

        // The active model, asked of the registry at start (later changes come through its outbox).
        var services: [any Service] = [
            RegistryWatcher(directory: environment.directory, modelName: ModelNames.standard, logger: environment.logger) { answers.apply($0) }
        ]
        if let publicPort = environment.configuration.publicPort {
            let router = Router(context: GatewayRequestContext.self)
            router.get("/health") { _, _ in
                HTTPHelpers.json(["status": "ok", "service": "gateway"])
            }
            let api = router.group("/api/v1").add(middleware: TokenAuthMiddleware(users: users)).group(context: AuthenticatedContext.self)
            SystemController(environment: environment, reports: reports).addRoutes(to: api)
            UserController(users: users).addRoutes(to: api)
            RepositoryController(pipeline: pipeline, repositories: repositories, directory: environment.directory, answers: answers).addRoutes(to: api)
            BuildSourceController(directory: environment.directory, dataDirectory: environment.configuration.dataDirectory).addRoutes(to: api)
            FeatureController(directory: environment.directory).addRoutes(to: api)
            ScanController(repositories: repositories, directory: environment.directory).addRoutes(to: api)
            DatasetController(
                pipeline: datasetPipeline, datasets: datasets, directory: environment.directory, dataDirectory: environment.configuration.dataDirectory
            ).addRoutes(to: api)
            let datasetVersion = AnalysisSubject(
                path: "/datasets/{id}/versions/{versionId}",
                fileStem: { "dataset-\(try $0.id(of: "dataset"))-version-\(try $0.id("versionId", of: "version"))" }
            ) { context in
                let datasetId = try context.id(of: "dataset")
                let versionId = try context.id("versionId", of: "version")
                guard let version = try await datasets.versions(datasetId: datasetId, versionId: versionId, ownerId: context.visibility).first else {
                    throw APIError.notFound("you have no version \(versionId) of dataset \(datasetId)")
                }
                return DatasetPipelineService.spec(version)
            }
            DatasetAnalysisController(directory: environment.directory, dataDirectory: environment.configuration.dataDirectory, subject: datasetVersion)
                .addRoutes(to: api)
            let repositoryExport = DatasetAnalysisController(
                directory: environment.directory, dataDirectory: environment.configuration.dataDirectory,
                subject: RepositoryExport(repositories: repositories, directory: environment.directory).subject)
            repositoryExport.addExportRoutes(to: api)
            repositoryExport.addExportPreviewRoute(to: api)
            TrainingController(repositories: repositories, directory: environment.directory).addRoutes(to: api)
            ModelController(directory: environment.directory).addRoutes(to: api)
            ExperimentController(directory: environment.directory).addRoutes(to: api)
            PredictionController(repositories: repositories, directory: environment.directory, answers: answers).addRoutes(to: api)
            services.append(Application(
                router: router,
                server: .http1WebSocketUpgrade(webSocketRouter: EventRoutes(users: users, events: events).router()),
                configuration: ApplicationConfiguration(
                    address: .hostname(environment.configuration.host, port: publicPort), serverName: "buildrisk-gateway"),
                logger: environment.logger))
        }
        let configuration = environment.configuration
        var jobs = JobHandlers()
        jobs.register(ModelPipelineService.startIngestionJob, backoff: Backoff(base: .seconds(1), cap: .seconds(60))) { job, _ in
            try await pipeline.startIngestion(job)
        }
        jobs.register(DatasetPipelineService.startIngestionJob, backoff: Backoff(base: .seconds(1), cap: .seconds(60))) { job, _ in
            try await datasetPipeline.startIngestion(job)
        }
        jobs.register(DatasetPipelineService.requestScansJob, backoff: Backoff(base: .seconds(1), cap: .seconds(60))) { job, _ in
            try await datasetPipeline.requestScans(job)
        }
        return ServiceAssembly(
            methods: methods,
            jobs: jobs,
            services: services,
            afterMigrations: {
                try await seedAdmin(users: users, configuration: configuration, logger: environment.logger)
            },
            adminAuthorizer: { token in
                (try? await users.authenticate(token: token))?.role == .admin
            })
    }

    /// A report's record id as a repository config id; a report naming anything else is refused.
    static func configId(_ text: String, field: String) throws -> Int64 {
        guard let id = Int64(text) else {
            throw RPCError(.invalidInput, "Invalid \(field)", reason: "\(field) must be a repository config id")
        }
        return id
    }

    /// Makes sure an admin exists and that the configured admin token belongs to it. With no
    /// configured token and no admin yet, it makes one and writes it to
    /// `<data dir>/initial-admin-token` (mode 600); the token itself is never logged.
    static func seedAdmin(users: UserPostgresStore, configuration: ServiceConfiguration, logger: Logger) async throws {
        if let token = configuration.adminToken {
            try await users.ensureAdmin(token: token)
            return
        }
        guard try await users.adminCount() == 0 else { return }
        let token = APIToken.generate()
        try await users.ensureAdmin(token: token)
        let directory = configuration.dataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/initial-admin-token"
        try (token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        logger.notice("created the first admin; its API token is in \(path)")
    }
}
