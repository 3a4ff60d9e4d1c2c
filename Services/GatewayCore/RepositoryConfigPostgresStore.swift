import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

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
    /// The latest processing report (feature extraction of the ingested builds).
    public var processing: ProcessingProgress?
    /// The latest prediction report (the extracted builds' risk by the active model).
    public var prediction: PredictionProgress?
    public var createdAt: Date
    public var updatedAt: Date
}

/// A store operation that could not be carried out.
public enum RepositoryStoreError: Error, Equatable {
    case notInserted(String)
}

/// Repository configs (ModelRepoConfig) in the gateway's schema: rows only. The pipeline's steps
/// are decided by ``ModelPipeline`` and issued by ``ModelPipelineService``.
public struct RepositoryConfigPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger
    /// Repositories `exists` found, by (id, visibility): believed again for the cache's lifetime.
    private let seen: ExpiringCache<SeenKey, Bool>

    struct SeenKey: Hashable, Sendable {
        var id: Int64
        var ownerId: Int64?
    }

    /// `seenLifetime`: how long a repository `exists` found is believed without asking again
    /// (zero: every call asks); `forgetSeen` drops one at once.
    public init(client: PostgresClient, schema: String, logger: Logger, seenLifetime: Duration = .zero) {
        self.client = client
        self.schema = schema
        self.logger = logger
        seen = ExpiringCache(lifetime: seenLifetime, capacity: 10_000)
    }

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
        Migration(version: 104, name: "repo_configs_processing", statements: [
            """
            ALTER TABLE {schema}.repo_configs ADD COLUMN processing jsonb, ADD COLUMN processing_sequence integer NOT NULL DEFAULT 0,
                ADD COLUMN ingestion_ended boolean NOT NULL DEFAULT false
            """,
        ]),
        Migration(version: 105, name: "repo_configs_prediction", statements: [
            "ALTER TABLE {schema}.repo_configs ADD COLUMN prediction jsonb, ADD COLUMN prediction_sequence integer NOT NULL DEFAULT 0",
        ]),
    ]

    /// Inserts a config (status queued) on `connection`; the caller issues its import in the same transaction.
    func insert(ownerId: Int64, fullName: String, options: ImportOptions, on connection: PostgresConnection) async throws -> RepositoryConfig {
        let optionsJSON = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).repo_configs (owner_id, full_name, options) VALUES (\(ownerId), \(fullName), \(optionsJSON)::jsonb)
            RETURNING id, created_at
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw RepositoryStoreError.notInserted(fullName) }
        let (id, createdAt) = try row.decode((Int64, Date).self)
        return RepositoryConfig(
            id: id, ownerId: ownerId, fullName: fullName, options: options, status: .queued, message: nil,
            repository: nil, progress: nil, ingestion: nil, processing: nil, prediction: nil, createdAt: createdAt, updatedAt: createdAt)
    }

    /// Which of `names` (lower-cased) the owner has imported already.
    func takenNames(ownerId: Int64, names: [String], on connection: PostgresConnection) async throws -> [String] {
        try await connection.query(
            "SELECT full_name FROM \(unescaped: schema).repo_configs WHERE owner_id = \(ownerId) AND lower(full_name) = ANY(\(names))",
            logger: logger
        ).collect().map { try $0.decode(String.self) }
    }

    /// A config with its pipeline state, locked (`FOR UPDATE`) until the transaction ends; nil when
    /// there is none the user may see (`ownerId` nil: any).
    func lock(id: Int64, ownerId: Int64?, on connection: PostgresConnection) async throws -> (RepositoryConfig, ModelPipeline)? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: Self.columns), sequence, ingestion_sequence, processing_sequence, ingestion_ended, prediction_sequence FROM \(unescaped: schema).repo_configs
            WHERE id = \(id) AND (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId))
            FOR UPDATE
            """, logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let config = try Self.config(row)
        let cells = row.makeRandomAccess()
        let first = Self.columnCount
        return (config, ModelPipeline(
            status: config.status, message: config.message, importSequence: try cells[first].decode(Int.self),
            ingestionSequence: try cells[first + 1].decode(Int.self), processingSequence: try cells[first + 2].decode(Int.self),
            predictionSequence: try cells[first + 4].decode(Int.self), autoProcess: config.options.autoProcess ?? false,
            ingestionEnded: try cells[first + 3].decode(Bool.self)))
    }

    /// Writes a config's pipeline state, with the report that moved it when there is one.
    func save(
        id: Int64, _ pipeline: ModelPipeline, importReport: ImportProgress? = nil, ingestionReport: IngestionProgress? = nil,
        processingReport: ProcessingProgress? = nil, predictionReport: PredictionProgress? = nil, on connection: PostgresConnection
    ) async throws {
        let encoder = JSONEncoder()
        let prediction = try predictionReport.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let processing = try processingReport.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let progress = try importReport.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let repository = try importReport?.repository.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let ingestion = try ingestionReport.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try await connection.query(
            """
            UPDATE \(unescaped: schema).repo_configs
            SET status = \(pipeline.status.rawValue), message = \(pipeline.message),
                sequence = \(pipeline.importSequence), ingestion_sequence = \(pipeline.ingestionSequence),
                processing_sequence = \(pipeline.processingSequence), ingestion_ended = \(pipeline.ingestionEnded),
                processing = coalesce(\(processing)::jsonb, processing),
                prediction_sequence = \(pipeline.predictionSequence), prediction = coalesce(\(prediction)::jsonb, prediction),
                progress = coalesce(\(progress)::jsonb, progress), repository = coalesce(\(repository)::jsonb, repository),
                ingestion = coalesce(\(ingestion)::jsonb, ingestion), updated_at = now()
            WHERE id = \(id)
            """, logger: logger)
    }

    /// Deletes a locked config; returns the GitHub id of its repository when no other config holds it.
    func delete(id: Int64, on connection: PostgresConnection) async throws -> Int64? {
        let rows = try await connection.query(
            "DELETE FROM \(unescaped: schema).repo_configs WHERE id = \(id) RETURNING (repository->>'githubId')::int8", logger: logger
        ).collect()
        guard let githubId = try rows.first?.decode(Int64?.self) else { return nil }
        let others = try await connection.query(
            "SELECT 1 FROM \(unescaped: schema).repo_configs WHERE (repository->>'githubId')::int8 = \(githubId) LIMIT 1", logger: logger
        ).collect()
        return others.isEmpty ? githubId : nil
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

    /// Whether the repository exists (for `ownerId` when given), without decoding its documents.
    func exists(id: Int64, ownerId: Int64?) async throws -> Bool {
        let key = SeenKey(id: id, ownerId: ownerId)
        guard case .missing(let ticket) = seen.lookup(key) else { return true }
        let rows = try await client.query(
            "SELECT 1 FROM \(unescaped: schema).repo_configs WHERE id = \(id) AND (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId))",
            logger: logger
        ).collect()
        if !rows.isEmpty { seen.store(true, for: key, ticket: ticket) }
        return !rows.isEmpty
    }

    /// Forgets that a repository exists (it was deleted); call after the deletion committed.
    func forgetSeen(id: Int64) {
        seen.removeAll { $0.id == id }
    }

    private static let columns = "id, owner_id, full_name, options::text, status, message, repository::text, progress::text, ingestion::text, processing::text, prediction::text, created_at, updated_at"
    private static let columnCount = 13

    private func decode(_ rows: PostgresRowSequence) async throws -> [RepositoryConfig] {
        var configs: [RepositoryConfig] = []
        for try await row in rows { configs.append(try Self.config(row)) }
        return configs
    }

    private static func config(_ row: PostgresRow) throws -> RepositoryConfig {
        let decoder = JSONDecoder()
        let row = try row.decode((Int64, Int64, String, String, String, String?, String?, String?, String?, String?, String?, Date, Date).self)
        return RepositoryConfig(
            id: row.0, ownerId: row.1, fullName: row.2,
            options: try decoder.decode(ImportOptions.self, from: Data(row.3.utf8)),
            status: RepositoryStatus(rawValue: row.4) ?? .queued, message: row.5,
            repository: try row.6.map { try decoder.decode(RepositorySummary.self, from: Data($0.utf8)) },
            progress: try row.7.map { try decoder.decode(ImportProgress.self, from: Data($0.utf8)) },
            ingestion: try row.8.map { try decoder.decode(IngestionProgress.self, from: Data($0.utf8)) },
            processing: try row.9.map { try decoder.decode(ProcessingProgress.self, from: Data($0.utf8)) },
            prediction: try row.10.map { try decoder.decode(PredictionProgress.self, from: Data($0.utf8)) },
            createdAt: row.11, updatedAt: row.12)
    }
}
