import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Where a repository stands in the model pipeline: its import, then its ingestion.
public enum RepositoryStatus: String, Codable, Sendable, CaseIterable {
    case queued, fetching, fetched, ingesting, ingested, partial, failed
}

/// A repository a user imported (ModelRepoConfig), as the API shows it.
public struct RepositoryConfig: Codable, Sendable, Equatable {
    public var id: Int64
    public var ownerId: Int64
    public var fullName: String
    public var options: ImportOptions
    public var status: RepositoryStatus
    public var message: String?
    public var repository: RepositorySummary?
    /// The latest import report (fetching the builds from GitHub).
    public var progress: ImportProgress?
    /// The latest ingestion report (clone, commits, logs of the fetched builds).
    public var ingestion: IngestionProgress?
    public var createdAt: Date
    public var updatedAt: Date
}

/// Why a repository request was refused.
public enum RepositoryConfigError: Error, Equatable {
    case invalid(index: Int, reason: String)
    case duplicate([String])
}

/// Repository configs in the gateway's schema, created together with the outbox message that
/// asks the source-validator to import them.
public struct RepositoryConfigPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let queue: JobQueue
    let logger: Logger

    public static let migrations: [Migration] = [
        Migration(version: 102, name: "repo_configs", statements: [
            """
            CREATE TABLE {schema}.repo_configs (
                id bigserial PRIMARY KEY,
                owner_id bigint NOT NULL REFERENCES {schema}.users (id) ON DELETE CASCADE,
                full_name text NOT NULL,
                options jsonb NOT NULL,
                status text NOT NULL DEFAULT 'queued',
                message text,
                repository jsonb,
                progress jsonb,
                sequence integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE UNIQUE INDEX repo_configs_owner_name ON {schema}.repo_configs (owner_id, lower(full_name))",
        ]),
        Migration(version: 103, name: "repo_configs_ingestion", statements: [
            "ALTER TABLE {schema}.repo_configs ADD COLUMN ingestion jsonb, ADD COLUMN ingestion_sequence integer NOT NULL DEFAULT 0",
        ]),
    ]

    /// The job that hands a fetched repository's builds to the ingestor.
    public static let ingestJobKind = "gateway.startIngestion"
    /// What the model pipeline needs of each build: its commit's history and its logs.
    public static let modelResources: [IngestionResource] = [.gitHistory, .buildLogs]

    struct StartIngestion: Codable, Sendable {
        var configId: Int64
    }

    /// Validates every request first; then, in one transaction, stores the configs and queues
    /// one import command each. Nothing is written when any request is invalid or a duplicate.
    func create(ownerId: Int64, requests: [(fullName: String, options: ImportOptions)]) async throws -> [RepositoryConfig] {
        for (index, request) in requests.enumerated() {
            guard RepositoryName.isValid(request.fullName) else {
                throw RepositoryConfigError.invalid(index: index, reason: "'\(request.fullName)' is not owner/name")
            }
            if let refusal = request.options.ciProvider.importRefusal {
                throw RepositoryConfigError.invalid(index: index, reason: refusal)
            }
            if let max = request.options.maxBuilds, max < 1 { throw RepositoryConfigError.invalid(index: index, reason: "maxBuilds must be at least 1") }
            if let days = request.options.sinceDays, days < 1 { throw RepositoryConfigError.invalid(index: index, reason: "sinceDays must be at least 1") }
        }
        let names = requests.map { $0.fullName.lowercased() }
        if Set(names).count != names.count {
            throw RepositoryConfigError.duplicate(Dictionary(grouping: names, by: { $0 }).filter { $0.value.count > 1 }.map(\.key))
        }
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let taken = try await connection.query(
                    "SELECT full_name FROM \(unescaped: schema).repo_configs WHERE owner_id = \(ownerId) AND lower(full_name) = ANY(\(names))",
                    logger: logger
                ).collect().map { try $0.decode(String.self) }
                if !taken.isEmpty { throw RepositoryConfigError.duplicate(taken) }
                var configs: [RepositoryConfig] = []
                for request in requests {
                    let options = String(decoding: try JSONEncoder().encode(request.options), as: UTF8.self)
                    let rows = try await connection.query(
                        """
                        INSERT INTO \(unescaped: schema).repo_configs (owner_id, full_name, options) VALUES (\(ownerId), \(request.fullName), \(options)::jsonb)
                        RETURNING id, created_at
                        """, logger: logger
                    ).collect()
                    guard let row = rows.first else { continue }
                    let (id, createdAt) = try row.decode((Int64, Date).self)
                    try await queueImport(configId: id, fullName: request.fullName, options: request.options, on: connection)
                    configs.append(RepositoryConfig(
                        id: id, ownerId: ownerId, fullName: request.fullName, options: request.options, status: .queued, message: nil,
                        repository: nil, progress: nil, ingestion: nil, createdAt: createdAt, updatedAt: createdAt))
                }
                return configs
            }
        } catch let error as PostgresTransactionError {
            if let configError = error.closureError as? RepositoryConfigError { throw configError }
            throw error
        }
    }

    /// Queues a sync (newest first until a stored run) of a config; false when there is no such config.
    func queueSync(configId: Int64, ownerId: Int64?) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE \(unescaped: schema).repo_configs SET status = 'queued', message = 'sync queued', updated_at = now()
                WHERE id = \(configId) AND (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId))
                RETURNING full_name, options::text
                """, logger: logger
            ).collect()
            guard let row = rows.first else { return false }
            let (fullName, optionsText) = try row.decode((String, String).self)
            var options = try JSONDecoder().decode(ImportOptions.self, from: Data(optionsText.utf8))
            options.syncUntilExisting = true
            options.maxBuilds = nil
            try await queueImport(configId: configId, fullName: fullName, options: options, on: connection)
            return true
        }
    }

    private func queueImport(configId: Int64, fullName: String, options: ImportOptions, on connection: PostgresConnection) async throws {
        let params = ImportRepositoryParams(importId: String(configId), requestId: "\(configId)-\(UUID().uuidString)", fullName: fullName, options: options)
        try await Outbox.enqueue(to: .sourceValidator, WarehouseMethods.importRepository, params, key: "import-request:\(params.requestId)", queue: queue, on: connection)
    }

    /// Deletes a config the user may delete and, in the same transaction, tells the
    /// source-validator to forget it (and the repository's runs when no other config has it).
    /// Returns false when there is no such config.
    func delete(configId: Int64, ownerId: Int64?) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                DELETE FROM \(unescaped: schema).repo_configs
                WHERE id = \(configId) AND (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId))
                RETURNING (repository->>'githubId')::int8
                """, logger: logger
            ).collect()
            guard let row = rows.first else { return false }
            var githubId = try row.decode(Int64?.self)
            if let id = githubId {
                let others = try await connection.query(
                    "SELECT 1 FROM \(unescaped: schema).repo_configs WHERE (repository->>'githubId')::int8 = \(id) LIMIT 1", logger: logger
                ).collect()
                if !others.isEmpty { githubId = nil }
            }
            try await Outbox.enqueue(
                to: .sourceValidator, WarehouseMethods.forgetRepository, ForgetRepositoryParams(importId: String(configId), githubId: githubId),
                key: "forget:\(configId)", queue: queue, on: connection)
            try await Outbox.enqueue(
                to: .ingestor, IngestionMethods.forget, IngestionPipelineParams(pipelineId: String(configId)),
                key: "forget-ingestion:\(configId)", queue: queue, on: connection)
            return true
        }
    }

    /// Applies a progress report unless a newer one was applied already; returns the config's
    /// owner when it was applied.
    @discardableResult
    func apply(_ progress: ImportProgress) async throws -> Int64? {
        guard let id = Int64(progress.importId) else {
            throw RPCError(.invalidInput, "Invalid import id", reason: "importId must be a repository config id")
        }
        let json = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
        let repository = try progress.repository.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE \(unescaped: schema).repo_configs
                SET status = \(progress.status.rawValue), message = \(progress.message), progress = \(json)::jsonb,
                    repository = coalesce(\(repository)::jsonb, repository), sequence = \(progress.sequence), updated_at = now()
                WHERE id = \(id) AND sequence < \(progress.sequence)
                RETURNING owner_id
                """, logger: logger
            ).collect()
            // No row: the report is older than the one recorded, or the config was deleted while its
            // import ran; either way there is nothing to apply, and the report is acknowledged.
            guard let owner = try rows.first?.decode(Int64.self) else { return nil }
            if progress.status == .fetched {
                // The model pipeline goes on: the fetched builds go to the ingestor.
                try await queue.enqueue(
                    Self.ingestJobKind, payload: StartIngestion(configId: id),
                    options: JobOptions(priority: 5, maxAttempts: 20, idempotencyKey: "ingest:\(id):\(progress.sequence)"), on: connection)
            }
            return owner
        }
    }

    /// Applies an ingestion report unless a newer one was applied; returns the config's owner when applied.
    @discardableResult
    func apply(_ progress: IngestionProgress) async throws -> Int64? {
        guard let id = Int64(progress.pipelineId) else {
            throw RPCError(.invalidInput, "Invalid pipeline id", reason: "pipelineId must be a repository config id")
        }
        let json = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).repo_configs
            SET status = \(progress.status.rawValue), message = \(progress.message), ingestion = \(json)::jsonb,
                ingestion_sequence = \(progress.sequence), updated_at = now()
            WHERE id = \(id) AND ingestion_sequence < \(progress.sequence)
            RETURNING owner_id
            """, logger: logger
        ).collect()
        return try rows.first?.decode(Int64.self)
    }

    /// Hands every stored build of a fetched repository to the ingestor (builds it has already are
    /// left as they are, so a sync hands over only what is new).
    func startIngestion(_ job: StartIngestion, directory: ServiceDirectory) async throws {
        guard let config = try await get(id: job.configId, ownerId: nil), let repository = config.repository else { return }
        let warehouse = directory.client(for: .sourceValidator)
        let ingestor = directory.client(for: .ingestor)
        var before: Int64?
        var total = 0
        repeat {
            let page = try await warehouse.call(WarehouseMethods.listBuilds, ListBuildsParams(githubId: repository.githubId, limit: 1000, beforeRunId: before))
            guard !page.builds.isEmpty else { break }
            let builds = page.builds.map { IngestionBuild(runId: $0.runId, headSha: $0.headSha, event: $0.event, createdAt: $0.createdAt) }
            _ = try await ingestor.call(IngestionMethods.start, IngestionRequest(
                pipelineId: String(config.id), fullName: repository.fullName, githubId: repository.githubId,
                resources: Self.modelResources, builds: builds))
            total += builds.count
            before = page.builds.last?.runId
        } while true
        try await markIngesting(configId: config.id, builds: total)
    }

    /// Marks a fetched config as handed to the ingestor (unless a newer report moved it on).
    func markIngesting(configId: Int64, builds: Int) async throws {
        try await client.query(
            """
            UPDATE \(unescaped: schema).repo_configs SET status = 'ingesting', message = \("\(builds) builds sent to the ingestor"), updated_at = now()
            WHERE id = \(configId) AND status = 'fetched'
            """, logger: logger)
    }

    /// The configs a user may see (all of them for an admin), newest first, optionally filtered by name.
    func list(ownerId: Int64?, search: String? = nil) async throws -> [RepositoryConfig] {
        let pattern = search.map { "%" + $0.lowercased().replacingOccurrences(of: "%", with: "") + "%" }
        return try await decode(client.query(
            """
            SELECT \(unescaped: Self.columns) FROM \(unescaped: schema).repo_configs
            WHERE (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId)) AND (\(pattern)::text IS NULL OR lower(full_name) LIKE \(pattern))
            ORDER BY id DESC
            """, logger: logger))
    }

    /// One config, if the user may see it.
    func get(id: Int64, ownerId: Int64?) async throws -> RepositoryConfig? {
        try await decode(client.query(
            """
            SELECT \(unescaped: Self.columns) FROM \(unescaped: schema).repo_configs
            WHERE id = \(id) AND (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId))
            """, logger: logger)).first
    }

    private static let columns = "id, owner_id, full_name, options::text, status, message, repository::text, progress::text, ingestion::text, created_at, updated_at"

    private func decode(_ rows: PostgresRowSequence) async throws -> [RepositoryConfig] {
        let decoder = JSONDecoder()
        var configs: [RepositoryConfig] = []
        for try await row in rows.decode((Int64, Int64, String, String, String, String?, String?, String?, String?, Date, Date).self) {
            configs.append(RepositoryConfig(
                id: row.0, ownerId: row.1, fullName: row.2,
                options: try decoder.decode(ImportOptions.self, from: Data(row.3.utf8)),
                status: RepositoryStatus(rawValue: row.4) ?? .queued, message: row.5,
                repository: try row.6.map { try decoder.decode(RepositorySummary.self, from: Data($0.utf8)) },
                progress: try row.7.map { try decoder.decode(ImportProgress.self, from: Data($0.utf8)) },
                ingestion: try row.8.map { try decoder.decode(IngestionProgress.self, from: Data($0.utf8)) },
                createdAt: row.9, updatedAt: row.10))
        }
        return configs
    }
}
