import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// A user's uploaded CSV of builds, validated by the warehouse as a build source.
public struct Dataset: Codable, Sendable, Equatable {
    public var id: Int64
    public var ownerId: Int64
    public var name: String
    public var description: String?
    /// The warehouse's build source holding the rows and their validation.
    public var sourceId: String
    public var mapping: ColumnMapping
    public var filters: BuildFilters
    public var createdAt: Date
    /// The validation as the warehouse counts it now (rows found / not found / filtered, per
    /// repository); nil in listings, and when the source-validator could not be asked.
    public var validation: BuildSourceStatus?
}

/// What a version scans, and how.
public struct DatasetScanSelection: Codable, Sendable, Equatable {
    public var tools: [ScanToolName]
    /// Per tool (`trivy`, `sonar`): the metrics kept, prefixed names or wildcards
    /// (`trivy_vuln_*`, `sonar_ncloc`); a tool left out keeps all of its metrics.
    public var metrics: [String: [String]]
    public var configuration: ScanConfiguration
    /// Per repository (`owner/name`): a configuration used instead of ``configuration``.
    public var repositories: [String: ScanConfiguration]

    public init(tools: [ScanToolName] = [], metrics: [String: [String]] = [:], configuration: ScanConfiguration = ScanConfiguration(),
                repositories: [String: ScanConfiguration] = [:]) {
        self.tools = tools
        self.metrics = metrics
        self.configuration = configuration
        self.repositories = repositories
    }

    /// Every field may be left out: no tools, every metric of a chosen tool, the bridge's defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tools = try container.decodeIfPresent([ScanToolName].self, forKey: .tools) ?? []
        metrics = try container.decodeIfPresent([String: [String]].self, forKey: .metrics) ?? [:]
        configuration = try container.decodeIfPresent(ScanConfiguration.self, forKey: .configuration) ?? ScanConfiguration()
        repositories = try container.decodeIfPresent([String: ScanConfiguration].self, forKey: .repositories) ?? [:]
    }

    /// The metric selection as the scanner-bridge takes it: every selected name of the chosen
    /// tools, and the whole tool (`trivy_*`) for a chosen tool with no list.
    public var selectedMetrics: [String] {
        tools.flatMap { tool in metrics[tool.rawValue] ?? ["\(tool.rawValue)_*"] }
    }
}

/// One repository of a dataset version: its pipeline at the other services and its last reports.
public struct DatasetVersionRepository: Codable, Sendable, Equatable {
    public var githubId: Int64
    public var fullName: String
    public var pipelineId: String
    public var builds: Int
    public var ingestion: IngestionProgress?
    public var processing: ProcessingProgress?
}

/// A dataset version (DatasetVersion): a feature and scan selection over the dataset's found builds.
public struct DatasetVersion: Codable, Sendable, Equatable {
    public var id: Int64
    public var datasetId: Int64
    public var ownerId: Int64
    public var name: String
    /// The selection as asked (names and wildcards).
    public var features: [String]
    /// The selection as the DAG resolved it: the columns of the version.
    public var resolvedFeatures: [String]
    public var dagVersion: String
    /// What the ingestion asks for each build (the features' needs; scans add worktrees).
    public var resources: [IngestionResource]
    public var scans: DatasetScanSelection
    public var status: DatasetVersionStatus
    public var message: String?
    public var repositories: [DatasetVersionRepository]
    public var createdAt: Date
    public var updatedAt: Date
}

/// A store operation that could not be carried out.
public enum DatasetStoreError: Error, Equatable {
    case notInserted(String)
}

/// Datasets, their versions and the versions' repositories, in the gateway's schema: rows only.
/// The pipeline's steps are decided by ``DatasetPipeline`` and issued by ``DatasetPipelineService``.
public struct DatasetPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public static let migrations: [Migration] = [
        Migration(version: 106, name: "datasets", statements: [
            """
            CREATE TABLE {schema}.datasets (
                id bigserial PRIMARY KEY,
                owner_id bigint NOT NULL REFERENCES {schema}.users (id) ON DELETE CASCADE,
                name text NOT NULL,
                description text,
                source_id text NOT NULL UNIQUE,
                mapping jsonb NOT NULL,
                filters jsonb NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX datasets_owner ON {schema}.datasets (owner_id, id)",
            """
            CREATE TABLE {schema}.dataset_versions (
                id bigserial PRIMARY KEY,
                dataset_id bigint NOT NULL REFERENCES {schema}.datasets (id) ON DELETE CASCADE,
                name text NOT NULL,
                features jsonb NOT NULL,
                resolved_features jsonb NOT NULL,
                dag_version text NOT NULL,
                resources text[] NOT NULL,
                scans jsonb NOT NULL,
                status text NOT NULL DEFAULT 'queued',
                message text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX dataset_versions_dataset ON {schema}.dataset_versions (dataset_id, id)",
            """
            CREATE TABLE {schema}.dataset_version_repositories (
                version_id bigint NOT NULL REFERENCES {schema}.dataset_versions (id) ON DELETE CASCADE,
                github_id bigint NOT NULL,
                full_name text NOT NULL,
                builds integer NOT NULL DEFAULT 0,
                ingestion jsonb,
                processing jsonb,
                processing_sequence integer NOT NULL DEFAULT 0,
                PRIMARY KEY (version_id, github_id)
            )
            """,
        ])
    ]

    // MARK: datasets

    func insertDataset(
        ownerId: Int64, name: String, description: String?, sourceId: String, mapping: ColumnMapping, filters: BuildFilters
    ) async throws -> Dataset {
        let rows = try await client.query(
            """
            INSERT INTO \(unescaped: schema).datasets (owner_id, name, description, source_id, mapping, filters)
            VALUES (\(ownerId), \(name), \(description), \(sourceId), \(try Self.json(mapping))::jsonb, \(try Self.json(filters))::jsonb)
            RETURNING id, created_at
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw DatasetStoreError.notInserted(name) }
        let (id, createdAt) = try row.decode((Int64, Date).self)
        return Dataset(
            id: id, ownerId: ownerId, name: name, description: description, sourceId: sourceId, mapping: mapping, filters: filters,
            createdAt: createdAt, validation: nil)
    }

    /// A dataset the user may see (`ownerId` nil: any), or nil.
    func dataset(id: Int64, ownerId: Int64?) async throws -> Dataset? {
        try await datasets(where: id, ownerId: ownerId).first
    }

    /// The datasets the user may see, newest first.
    func datasets(ownerId: Int64?) async throws -> [Dataset] {
        try await datasets(where: nil, ownerId: ownerId)
    }

    private func datasets(where id: Int64?, ownerId: Int64?) async throws -> [Dataset] {
        let rows = try await client.query(
            """
            SELECT id, owner_id, name, description, source_id, mapping::text, filters::text, created_at FROM \(unescaped: schema).datasets
            WHERE (\(id)::int8 IS NULL OR id = \(id)) AND (\(ownerId)::int8 IS NULL OR owner_id = \(ownerId))
            ORDER BY id DESC
            """, logger: logger)
        var result: [Dataset] = []
        for try await row in rows.decode((Int64, Int64, String, String?, String, String, String, Date).self) {
            result.append(Dataset(
                id: row.0, ownerId: row.1, name: row.2, description: row.3, sourceId: row.4,
                mapping: try Self.decode(ColumnMapping.self, row.5), filters: try Self.decode(BuildFilters.self, row.6), createdAt: row.7,
                validation: nil))
        }
        return result
    }

    /// Deletes a dataset row (its versions go with it) on the caller's transaction.
    func deleteDataset(id: Int64, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM \(unescaped: schema).datasets WHERE id = \(id)", logger: logger)
    }

    // MARK: versions

    func insertVersion(
        datasetId: Int64, name: String, features: [String], resolved: ResolvedFeatureSelection, resources: [IngestionResource],
        scans: DatasetScanSelection, on connection: PostgresConnection
    ) async throws -> Int64 {
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).dataset_versions (dataset_id, name, features, resolved_features, dag_version, resources, scans, message)
            VALUES (\(datasetId), \(name), \(try Self.json(features))::jsonb, \(try Self.json(resolved.features))::jsonb, \(resolved.dagVersion),
                    \(resources.map(\.rawValue)), \(try Self.json(scans))::jsonb, 'ingestion queued')
            RETURNING id
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw DatasetStoreError.notInserted(name) }
        return try row.decode(Int64.self)
    }

    /// The versions of a dataset (or one of them) the user may see, newest first.
    func versions(datasetId: Int64?, versionId: Int64? = nil, ownerId: Int64?) async throws -> [DatasetVersion] {
        try await client.withConnection { connection in
            try await versions(datasetId: datasetId, versionId: versionId, ownerId: ownerId, lock: false, on: connection)
        }
    }

    /// A version the user may see, with its pipeline state, locked until the transaction ends.
    func lock(versionId: Int64, datasetId: Int64?, ownerId: Int64?, on connection: PostgresConnection) async throws -> (DatasetVersion, DatasetPipeline)? {
        guard let version = try await versions(datasetId: datasetId, versionId: versionId, ownerId: ownerId, lock: true, on: connection).first else {
            return nil
        }
        var repositories: [Int64: DatasetPipeline.Repository] = [:]
        let sequences = try await connection.query(
            "SELECT github_id, processing_sequence FROM \(unescaped: schema).dataset_version_repositories WHERE version_id = \(versionId)",
            logger: logger
        ).collect()
        let processingSequence = Dictionary(uniqueKeysWithValues: try sequences.map { try $0.decode((Int64, Int).self) })
        for repository in version.repositories {
            repositories[repository.githubId] = DatasetPipeline.Repository(
                builds: repository.builds, ingestion: repository.ingestion, processing: repository.processing,
                processingSequence: processingSequence[repository.githubId])
        }
        return (version, DatasetPipeline(status: version.status, message: version.message, repositories: repositories, scans: !version.scans.tools.isEmpty))
    }

    private func versions(
        datasetId: Int64?, versionId: Int64?, ownerId: Int64?, lock: Bool, on connection: PostgresConnection
    ) async throws -> [DatasetVersion] {
        let rows = try await connection.query(
            """
            SELECT v.id, v.dataset_id, d.owner_id, v.name, v.features::text, v.resolved_features::text, v.dag_version, v.resources,
                   v.scans::text, v.status, v.message, v.created_at, v.updated_at
            FROM \(unescaped: schema).dataset_versions v JOIN \(unescaped: schema).datasets d ON d.id = v.dataset_id
            WHERE (\(datasetId)::int8 IS NULL OR v.dataset_id = \(datasetId)) AND (\(versionId)::int8 IS NULL OR v.id = \(versionId))
              AND (\(ownerId)::int8 IS NULL OR d.owner_id = \(ownerId))
            ORDER BY v.id DESC \(unescaped: lock ? "FOR UPDATE OF v" : "")
            """, logger: logger
        ).collect()
        var result: [DatasetVersion] = []
        for row in rows {
            let cells = try row.decode((Int64, Int64, Int64, String, String, String, String, [String], String, String, String?, Date, Date).self)
            result.append(DatasetVersion(
                id: cells.0, datasetId: cells.1, ownerId: cells.2, name: cells.3, features: try Self.decode([String].self, cells.4),
                resolvedFeatures: try Self.decode([String].self, cells.5), dagVersion: cells.6,
                resources: cells.7.compactMap(IngestionResource.init(rawValue:)), scans: try Self.decode(DatasetScanSelection.self, cells.8),
                status: DatasetVersionStatus(rawValue: cells.9) ?? .failed, message: cells.10, repositories: [],
                createdAt: cells.11, updatedAt: cells.12))
        }
        guard !result.isEmpty else { return [] }
        let repositoryRows = try await connection.query(
            """
            SELECT version_id, github_id, full_name, builds, ingestion::text, processing::text
            FROM \(unescaped: schema).dataset_version_repositories WHERE version_id = ANY(\(result.map(\.id))) ORDER BY full_name
            """, logger: logger
        ).collect()
        var byVersion: [Int64: [DatasetVersionRepository]] = [:]
        for row in repositoryRows {
            let cells = try row.decode((Int64, Int64, String, Int, String?, String?).self)
            byVersion[cells.0, default: []].append(DatasetVersionRepository(
                githubId: cells.1, fullName: cells.2, pipelineId: DatasetPipelineRef.pipelineId(versionId: cells.0, githubId: cells.1),
                builds: cells.3, ingestion: try cells.4.map { try Self.decode(IngestionProgress.self, $0) },
                processing: try cells.5.map { try Self.decode(ProcessingProgress.self, $0) }))
        }
        for index in result.indices { result[index].repositories = byVersion[result[index].id] ?? [] }
        return result
    }

    /// Records a repository of a version (its full name) before its builds are handed over.
    func addRepository(versionId: Int64, githubId: Int64, fullName: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).dataset_version_repositories (version_id, github_id, full_name)
            VALUES (\(versionId), \(githubId), \(fullName)) ON CONFLICT (version_id, github_id) DO NOTHING
            """, logger: logger)
    }

    /// Writes a version's pipeline state: its status and each repository's counts and last reports
    /// (without their lists of builds, which went out as events).
    func save(versionId: Int64, _ pipeline: DatasetPipeline, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE \(unescaped: schema).dataset_versions SET status = \(pipeline.status.rawValue), message = \(pipeline.message), updated_at = now()
            WHERE id = \(versionId)
            """, logger: logger)
        for (githubId, repository) in pipeline.repositories {
            var ingestion = repository.ingestion
            ingestion?.settled = []
            var processing = repository.processing
            processing?.extracted = []
            try await connection.query(
                """
                UPDATE \(unescaped: schema).dataset_version_repositories
                SET builds = \(repository.builds), ingestion = \(try ingestion.map { try Self.json($0) })::jsonb, processing = \(try processing.map { try Self.json($0) })::jsonb,
                    processing_sequence = \(repository.processingSequence)
                WHERE version_id = \(versionId) AND github_id = \(githubId)
                """, logger: logger)
        }
    }

    /// Deletes a version row (its repositories go with it) on the caller's transaction.
    func deleteVersion(id: Int64, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM \(unescaped: schema).dataset_versions WHERE id = \(id)", logger: logger)
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
