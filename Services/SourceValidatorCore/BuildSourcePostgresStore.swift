import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Build sources (uploaded CSVs) and their rows, in the warehouse schema.
public struct BuildSourcePostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let queue: JobQueue
    let logger: Logger

    /// Validates one repository's rows of a build source.
    static let validateJob = JobKind<ValidateRepository>("buildsource.validate")

    public static let migrations: [Migration] = [
        Migration(version: 101, name: "build_sources", statements: [
            """
            CREATE TABLE {schema}.build_sources (
                source_id text PRIMARY KEY,
                name text NOT NULL,
                mapping jsonb NOT NULL,
                filters jsonb NOT NULL,
                duplicates integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {schema}.source_builds (
                source_id text NOT NULL REFERENCES {schema}.build_sources (source_id) ON DELETE CASCADE,
                repo_name text NOT NULL,
                build_id bigint NOT NULL,
                line integer NOT NULL,
                status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'found', 'not_found', 'filtered')),
                reason text,
                PRIMARY KEY (source_id, repo_name, build_id)
            )
            """,
            "CREATE INDEX source_builds_status ON {schema}.source_builds (source_id, status)",
        ]),
        Migration(version: 103, name: "source_builds_github_id", statements: [
            // The repository a row was validated against (its GitHub id survives a rename), so a
            // found row joins its run in the warehouse; rows validated before stay NULL.
            "ALTER TABLE {schema}.source_builds ADD COLUMN github_id bigint",
            "CREATE INDEX source_builds_found ON {schema}.source_builds (source_id, github_id, build_id) WHERE status = 'found'",
        ]),
    ]

    /// The validation job of one repository's rows of a source.
    struct ValidateRepository: Codable, Sendable {
        var sourceId: String
        var repoName: String
    }

    /// Reads the file once: every row is checked and streamed with `COPY` into a temporary table,
    /// then moved into `source_builds` (duplicates dropped, the first line wins) in the same
    /// transaction that queues one validation job per repository. A bad row fails the COPY and
    /// rolls the transaction back, so a refused file writes nothing.
    func create(_ params: CreateBuildSourceParams) async throws -> BuildSourceStatus {
        var reader = CSVReader(path: params.path).makeIterator()
        guard let header = reader.next() else {
            throw RPCError(.invalidInput, "Empty CSV", reason: reader.error?.description ?? "line 1: the file has no header")
        }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        guard let repoColumn = columns.firstIndex(of: params.mapping.repoName) else {
            throw RPCError(.invalidInput, "Bad column mapping", reason: "line \(header.line): no column '\(params.mapping.repoName)' (columns: \(columns.joined(separator: ", ")))")
        }
        guard let buildColumn = columns.firstIndex(of: params.mapping.buildId) else {
            throw RPCError(.invalidInput, "Bad column mapping", reason: "line \(header.line): no column '\(params.mapping.buildId)' (columns: \(columns.joined(separator: ", ")))")
        }
        var providerColumn: Int?
        if let name = params.mapping.provider {
            guard let index = columns.firstIndex(of: name) else {
                throw RPCError(.invalidInput, "Bad column mapping", reason: "line \(header.line): no column '\(name)' (columns: \(columns.joined(separator: ", ")))")
            }
            providerColumn = index
        }
        for pattern in params.filters.branches ?? [] where pattern.hasPrefix("/") {
            guard pattern.count >= 2, pattern.hasSuffix("/"), (try? Regex(String(pattern.dropFirst().dropLast()))) != nil else {
                throw RPCError(.invalidInput, "Bad branch filter", reason: "'\(pattern)' is not a valid /regular expression/")
            }
        }
        let mapping = String(decoding: try JSONEncoder().encode(params.mapping), as: UTF8.self)
        let filters = String(decoding: try JSONEncoder().encode(params.filters), as: UTF8.self)
        let headerLine = header.line
        let (rows, inserted, repositories) = try await Self.refusalUnwrapped { try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "INSERT INTO \(unescaped: schema).build_sources (source_id, name, mapping, filters) VALUES (\(params.sourceId), \(params.name), \(mapping)::jsonb, \(filters)::jsonb)",
                logger: logger)
            // Not logged and dropped at commit: a scratch table private to this transaction.
            try await connection.query(
                "CREATE TEMPORARY TABLE upload_rows (line int4, repo_name text, build_id int8, reason text) ON COMMIT DROP", logger: logger)
            var rows = 0
            try await connection.copyFrom(table: "upload_rows", columns: ["line", "repo_name", "build_id", "reason"], logger: logger) { writer in
                var buffer = ByteBuffer()
                buffer.reserveCapacity(1 << 18)
                while let record = reader.next() {
                    let (repo, build) = try Self.check(record, columns: columns.count, repoColumn: repoColumn, buildColumn: buildColumn)
                    rows += 1
                    // COPY's text format: tab-separated, a backslash escapes (names hold no tabs or line ends, see check).
                    buffer.writeString(String(record.line))
                    buffer.writeInteger(UInt8(ascii: "\t"))
                    if repo.utf8.contains(UInt8(ascii: "\\")) {
                        buffer.writeString(repo.replacingOccurrences(of: "\\", with: "\\\\"))
                    } else {
                        buffer.writeString(repo)
                    }
                    buffer.writeInteger(UInt8(ascii: "\t"))
                    buffer.writeString(String(build))
                    buffer.writeInteger(UInt8(ascii: "\t"))
                    // A provider that cannot be validated yet keeps the row, filtered with the reason (plain text, no tabs).
                    if let providerColumn, let refusal = try Self.provider(record, column: providerColumn).importRefusal {
                        buffer.writeString(refusal)
                    } else {
                        buffer.writeString("\\N")
                    }
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    if buffer.readableBytes >= 1 << 18 {
                        try await writer.write(buffer)
                        buffer = ByteBuffer()
                        buffer.reserveCapacity(1 << 18)
                    }
                }
                if let error = reader.error { throw RPCError(.invalidInput, "Malformed CSV", reason: error.description) }
                guard rows > 0 else { throw RPCError(.invalidInput, "Empty CSV", reason: "line \(headerLine + 1): the file has a header but no rows") }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
            // In file order, so of two rows naming the same build the first line is kept.
            let inserted = try await connection.query(
                """
                WITH stored AS (
                    INSERT INTO \(unescaped: schema).source_builds (source_id, line, repo_name, build_id, status, reason)
                    SELECT \(params.sourceId), line, repo_name, build_id, CASE WHEN reason IS NULL THEN 'pending' ELSE 'filtered' END, reason
                    FROM upload_rows ORDER BY line
                    ON CONFLICT DO NOTHING RETURNING 1
                ) SELECT count(*)::int8 FROM stored
                """, logger: logger
            ).collect().first.map { Int(try $0.decode(Int64.self)) } ?? 0
            try await connection.query(
                "UPDATE \(unescaped: schema).build_sources SET duplicates = \(rows - inserted) WHERE source_id = \(params.sourceId)", logger: logger)
            // Autovacuum's statistics lag a bulk load: without fresh ones the validation job's
            // slices of a million new rows were planned as whole-table scans (674 s instead of seconds).
            try await connection.query("ANALYZE \(unescaped: schema).source_builds", logger: logger)
            let repositories = try await connection.query("SELECT DISTINCT repo_name FROM upload_rows WHERE reason IS NULL", logger: logger)
                .collect().map { try $0.decode(String.self) }
            for repository in repositories {
                try await queue.enqueue(
                    Self.validateJob, ValidateRepository(sourceId: params.sourceId, repoName: repository),
                    options: JobOptions(priority: 3, maxAttempts: 5, idempotencyKey: "validate:\(params.sourceId):\(repository)"), on: connection)
            }
            return (rows, inserted, repositories.count)
        } }
        logger.info("build source stored", metadata: ["source": "\(params.sourceId)", "rows": "\(rows)", "stored": "\(inserted)", "repositories": "\(repositories)"])
        return try await status(params.sourceId)
    }

    /// A refusal thrown inside a transaction comes out as itself, not as PostgresNIO's wrapper.
    static func refusalUnwrapped<T>(_ body: () async throws -> sending T) async throws -> sending T {
        do {
            return try await body()
        } catch let error as PostgresTransactionError {
            if let refusal = error.closureError as? RPCError { throw refusal }
            throw error
        }
    }

    /// A row's repository (trimmed `owner/name`) and build id, or why the row is refused.
    static func check(_ record: (line: Int, fields: [String]), columns: Int, repoColumn: Int, buildColumn: Int) throws -> (String, Int64) {
        guard record.fields.count == columns else {
            throw RPCError(.invalidInput, "Malformed CSV", reason: "line \(record.line): \(record.fields.count) fields, the header has \(columns)")
        }
        let repo = trimmed(record.fields[repoColumn])
        guard RepositoryName.isValid(repo) else {
            throw RPCError(.invalidInput, "Malformed CSV", reason: "line \(record.line): '\(repo)' is not owner/name")
        }
        guard let build = Int64(trimmed(record.fields[buildColumn])), build > 0 else {
            throw RPCError(.invalidInput, "Malformed CSV", reason: "line \(record.line): build id '\(record.fields[buildColumn])' is not a positive integer")
        }
        return (repo, build)
    }

    /// A row's CI provider (`github_actions`, `circleci`, `travis`; case and `-`/space for `_` do not
    /// matter), or why the row is refused.
    static func provider(_ record: (line: Int, fields: [String]), column: Int) throws -> CIProvider {
        let text = trimmed(record.fields[column])
        let key = text.lowercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
        guard let provider = CIProvider(rawValue: key) else {
            throw RPCError(
                .invalidInput, "Malformed CSV",
                reason: "line \(record.line): provider '\(text)' is not one of \(CIProvider.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return provider
    }

    /// `trimmingCharacters(in: .whitespaces)`, without its cost when there is nothing to trim (nearly always).
    static func trimmed(_ text: String) -> String {
        guard let first = text.utf8.first, let last = text.utf8.last else { return text }
        func plain(_ byte: UInt8) -> Bool { byte < 0x80 && byte != 0x20 && byte != 0x09 }
        return plain(first) && plain(last) ? text : text.trimmingCharacters(in: .whitespaces)
    }

    /// Tells the gateway (through the outbox) that the source's validation moved on; the gateway
    /// reads the status and pushes it to admins.
    func announceProgress(_ sourceId: String) async throws {
        try await client.withTransaction(logger: logger) { connection in
            _ = try await Outbox.enqueue(
                to: .gateway, GatewayMethods.sourceProgress, BuildSourceRef(sourceId: sourceId),
                key: "source-progress:\(sourceId):\(UUID().uuidString)", queue: queue, on: connection)
        }
    }

    /// Counts overall and per repository.
    func status(_ sourceId: String) async throws -> BuildSourceStatus {
        let sources = try await client.query(
            "SELECT name, duplicates FROM \(unescaped: schema).build_sources WHERE source_id = \(sourceId)", logger: logger
        ).collect()
        guard let source = sources.first else { throw RPCError(.notFound, "No such build source", reason: "no build source \(sourceId)") }
        let (name, duplicates) = try source.decode((String, Int).self)
        var total = BuildSourceCounts()
        var repositories: [String: BuildSourceCounts] = [:]
        let rows = try await client.query(
            "SELECT repo_name, status, count(*)::int8 FROM \(unescaped: schema).source_builds WHERE source_id = \(sourceId) GROUP BY 1, 2",
            logger: logger)
        for try await (repo, status, count) in rows.decode((String, String, Int64).self) {
            func add(_ counts: inout BuildSourceCounts) {
                counts.total += Int(count)
                switch status {
                case "found": counts.found += Int(count)
                case "not_found": counts.notFound += Int(count)
                case "filtered": counts.filtered += Int(count)
                default: counts.pending += Int(count)
                }
            }
            add(&total)
            add(&repositories[repo, default: BuildSourceCounts()])
        }
        return BuildSourceStatus(
            sourceId: sourceId, name: name, status: total.pending == 0 ? "validated" : "validating", duplicates: duplicates,
            counts: total, repositories: repositories)
    }

    func rows(_ params: ListSourceBuildsParams) async throws -> [SourceBuildRow] {
        var result: [SourceBuildRow] = []
        let rows = try await client.query(
            """
            SELECT line, repo_name, build_id, status, reason FROM \(unescaped: schema).source_builds
            WHERE source_id = \(params.sourceId) AND (\(params.status)::text IS NULL OR status = \(params.status))
              AND line > \(params.afterLine ?? 0)
            ORDER BY line LIMIT \(min(max(params.limit, 1), 10_000))
            """, logger: logger)
        for try await row in rows.decode((Int, String, Int64, String, String?).self) {
            result.append(SourceBuildRow(line: row.0, repoName: row.1, buildId: row.2, status: row.3, reason: row.4))
        }
        return result
    }

    /// A page of a source's found rows joined to their runs in the warehouse.
    func foundBuilds(_ params: FoundBuildsParams) async throws -> FoundBuildPage {
        try await requireSource(params.sourceId)
        let limit = min(max(params.limit, 1), 1000)
        let rows = try await client.query(
            """
            SELECT s.github_id, p.full_name, r.run_id, r.run_number, r.workflow_name, r.event, r.head_branch, r.head_sha, r.conclusion,
                   r.actor, r.created_at, r.updated_at, r.pull_request_number
            FROM \(unescaped: schema).source_builds s
            JOIN \(unescaped: schema).raw_build_runs r ON r.github_id = s.github_id AND r.run_id = s.build_id
            JOIN \(unescaped: schema).raw_repositories p ON p.github_id = s.github_id
            WHERE s.source_id = \(params.sourceId) AND s.status = 'found'
              AND (s.github_id, s.build_id) > (\(params.after?.githubId ?? Int64.min), \(params.after?.runId ?? Int64.min))
            ORDER BY s.github_id, s.build_id LIMIT \(limit)
            """, logger: logger)
        var builds: [FoundBuild] = []
        for try await row in rows.decode((Int64, String, Int64, Int, String, String, String?, String, String, String?, Date, Date, Int?).self) {
            builds.append(FoundBuild(githubId: row.0, fullName: row.1, build: BuildRun(
                runId: row.2, runNumber: row.3, workflowName: row.4, event: row.5, headBranch: row.6, headSha: row.7, conclusion: row.8,
                actor: row.9, createdAt: row.10.formatted(.iso8601), updatedAt: row.11.formatted(.iso8601), pullRequestNumber: row.12)))
        }
        let next = builds.count == limit ? builds.last.map { FoundBuildCursor(githubId: $0.githubId, runId: $0.build.runId) } : nil
        return FoundBuildPage(builds: builds, next: next)
    }

    /// Deletes a source and its rows; its validation jobs find nothing pending and end.
    func delete(_ sourceId: String) async throws {
        let deleted = try await client.query(
            "DELETE FROM \(unescaped: schema).build_sources WHERE source_id = \(sourceId) RETURNING 1", logger: logger
        ).collect()
        guard !deleted.isEmpty else { throw RPCError(.notFound, "No such build source", reason: "no build source \(sourceId)") }
    }

    private func requireSource(_ sourceId: String) async throws {
        let found = try await client.query(
            "SELECT 1 FROM \(unescaped: schema).build_sources WHERE source_id = \(sourceId)", logger: logger).collect()
        guard !found.isEmpty else { throw RPCError(.notFound, "No such build source", reason: "no build source \(sourceId)") }
    }

    /// The filters of a source.
    func filters(_ sourceId: String) async throws -> BuildFilters {
        try await client.query(
            "SELECT filters::text FROM \(unescaped: schema).build_sources WHERE source_id = \(sourceId)", logger: logger
        ).collect().first.map { try JSONDecoder().decode(BuildFilters.self, from: Data(try $0.decode(String.self).utf8)) } ?? BuildFilters()
    }

    /// How many of one repository's rows are pending.
    func pendingCount(_ job: ValidateRepository) async throws -> Int {
        Int(try await client.query(
            "SELECT count(*)::int8 FROM \(unescaped: schema).source_builds WHERE source_id = \(job.sourceId) AND repo_name = \(job.repoName) AND status = 'pending'",
            logger: logger
        ).collect().first?.decode(Int64.self) ?? 0)
    }

    /// One page of a repository's pending build ids, in id order after `after` (keyset paging, so
    /// a million rows never sit in memory at once).
    func pending(_ job: ValidateRepository, after: Int64, limit: Int) async throws -> [Int64] {
        try await client.query(
            """
            SELECT build_id FROM \(unescaped: schema).source_builds
            WHERE source_id = \(job.sourceId) AND repo_name = \(job.repoName) AND build_id > \(after) AND status = 'pending'
            ORDER BY build_id LIMIT \(limit)
            """, logger: logger
        ).collect().map { try $0.decode(Int64.self) }
    }

    /// Which of `ids` are pending rows of the repository.
    func pending(_ job: ValidateRepository, among ids: [Int64]) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return Set(try await client.query(
            """
            SELECT build_id FROM \(unescaped: schema).source_builds
            WHERE source_id = \(job.sourceId) AND repo_name = \(job.repoName) AND build_id = ANY(\(ids)::int8[]) AND status = 'pending'
            """, logger: logger
        ).collect().map { try $0.decode(Int64.self) })
    }

    /// Gives up to `limit` pending rows with ids after `after` one outcome, in the database (no id
    /// reaches this process); answers how many and the last id, nil when none was left.
    func markPending(_ job: ValidateRepository, after: Int64, limit: Int, status: String, reason: String) async throws -> (count: Int, last: Int64)? {
        let row = try await client.query(
            """
            WITH slice AS (
                SELECT build_id FROM \(unescaped: schema).source_builds
                WHERE source_id = \(job.sourceId) AND repo_name = \(job.repoName) AND build_id > \(after) AND status = 'pending'
                ORDER BY build_id LIMIT \(limit)
            ), marked AS (
                UPDATE \(unescaped: schema).source_builds AS s SET status = \(status), reason = \(reason)
                FROM slice WHERE s.source_id = \(job.sourceId) AND s.repo_name = \(job.repoName) AND s.build_id = slice.build_id
                RETURNING s.build_id
            ) SELECT count(*)::int8, max(build_id) FROM marked
            """, logger: logger
        ).collect().first
        guard let (count, last) = try row?.decode((Int64, Int64?).self), let last, count > 0 else { return nil }
        return (Int(count), last)
    }

    /// Records outcomes of rows of one repository (`githubId`: the repository GitHub answered for it).
    func record(_ job: ValidateRepository, githubId: Int64, outcomes: [(Int64, String, String?)]) async throws {
        guard !outcomes.isEmpty else { return }
        try await client.query(
            """
            UPDATE \(unescaped: schema).source_builds AS s SET status = o.status, reason = NULLIF(o.reason, ''), github_id = \(githubId)
            FROM unnest(\(outcomes.map(\.0))::int8[], \(outcomes.map(\.1))::text[], \(outcomes.map { $0.2 ?? "" })::text[]) AS o (build_id, status, reason)
            WHERE s.source_id = \(job.sourceId) AND s.repo_name = \(job.repoName) AND s.build_id = o.build_id
            """, logger: logger)
    }
}

extension BuildFilters {
    /// Why a run is filtered out, or nil when it is kept.
    public func exclusion(_ run: GitHubRun) -> String? {
        if let conclusions, !conclusions.contains(run.conclusion ?? "") { return "conclusion \(run.conclusion ?? "none") not in \(conclusions.joined(separator: ", "))" }
        if let events, !events.contains(run.event) { return "event \(run.event) not in \(events.joined(separator: ", "))" }
        if let branches {
            let branch = run.head_branch ?? ""
            if !branches.contains(where: { Self.matches(branch, pattern: $0) }) { return "branch \(branch) matches none of \(branches.joined(separator: ", "))" }
        }
        if excludeBots, run.isBot { return "bot actor \(run.actor?.login ?? "?")" }
        return nil
    }

    /// A glob matching the whole name — `*` within one path segment and `**` across them, as in
    /// GitHub's workflow branch filters, `?` one character — or, between slashes, a regular
    /// expression matching anywhere in it (anchor it with `^…$`).
    static func matches(_ text: String, pattern: String) -> Bool {
        if pattern.count >= 2, pattern.hasPrefix("/"), pattern.hasSuffix("/") {
            guard let regex = try? Regex(String(pattern.dropFirst().dropLast())) else { return false }
            return text.contains(regex)
        }
        var expression = "^"
        var characters = pattern[...]
        while let character = characters.popFirst() {
            switch character {
            case "*" where characters.first == "*":
                characters.removeFirst()
                expression += ".*"
            case "*": expression += "[^/]*"
            case "?": expression += "[^/]"
            default: expression += NSRegularExpression.escapedPattern(for: String(character))
            }
        }
        guard let regex = try? Regex(expression + "$") else { return false }
        return text.contains(regex)
    }
}
