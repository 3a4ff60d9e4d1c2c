import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The records of what lies on disk: clones, run logs and their parsed facts, worktrees.
extension IngestionPostgresStore {
    func clonePath(githubId: Int64) async throws -> String? {
        let rows = try await client.query("SELECT path FROM \(unescaped: schema).clones WHERE github_id = \(githubId)", logger: logger)
        for try await path in rows.decode(String.self) { return path }
        return nil
    }

    func recordClone(githubId: Int64, fullName: String, path: String, fetched: Bool, sizeBytes: Int64) async throws {
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).clones (github_id, full_name, path, size_bytes) VALUES (\(githubId), \(fullName), \(path), \(sizeBytes))
            ON CONFLICT (github_id) DO UPDATE SET path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes,
                fetched_at = now(), cloned_at = CASE WHEN \(fetched) THEN clones.cloned_at ELSE now() END
            """, logger: logger)
    }

    func hasLogs(githubId: Int64, runId: Int64) async throws -> Bool {
        let rows = try await client.query(
            "SELECT 1 FROM \(unescaped: schema).run_logs WHERE github_id = \(githubId) AND run_id = \(runId)", logger: logger
        ).collect()
        return !rows.isEmpty
    }

    func storeLogs(githubId: Int64, runId: Int64, factsJSON: String, zipBytes: Int64) async throws {
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).run_logs (github_id, run_id, facts, zip_bytes) VALUES (\(githubId), \(runId), \(factsJSON)::jsonb, \(zipBytes))
            ON CONFLICT (github_id, run_id) DO UPDATE SET facts = EXCLUDED.facts, zip_bytes = EXCLUDED.zip_bytes, fetched_at = now()
            """, logger: logger)
    }

    /// The parsed log facts of a run, as stored JSON.
    /// The stored facts of those of `runIds` whose logs were ingested.
    func logFacts(githubId: Int64, runIds: [Int64]) async throws -> [RunLogFactsRecord] {
        let rows = try await client.query(
            "SELECT run_id, facts::text FROM \(unescaped: schema).run_logs WHERE github_id = \(githubId) AND run_id = ANY(\(runIds)) ORDER BY run_id",
            logger: logger)
        var records: [RunLogFactsRecord] = []
        for try await (runId, facts) in rows.decode((Int64, String).self) { records.append(RunLogFactsRecord(runId: runId, factsJSON: facts)) }
        return records
    }

    struct Worktree: Sendable {
        var sha: String
        var name: String
        var path: String
        var bytes: Int64
    }

    func worktree(githubId: Int64, sha: String) async throws -> Worktree? {
        let rows = try await client.query(
            "SELECT name, path, bytes FROM \(unescaped: schema).worktrees WHERE github_id = \(githubId) AND sha = \(sha)", logger: logger)
        for try await (name, path, bytes) in rows.decode((String, String, Int64).self) {
            return Worktree(sha: sha, name: name, path: path, bytes: bytes)
        }
        return nil
    }

    func recordWorktree(githubId: Int64, _ worktree: Worktree) async throws {
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).worktrees (github_id, sha, name, path, bytes) VALUES (\(githubId), \(worktree.sha), \(worktree.name), \(worktree.path), \(worktree.bytes))
            ON CONFLICT (github_id, sha) DO UPDATE SET name = EXCLUDED.name, path = EXCLUDED.path, bytes = EXCLUDED.bytes, last_used = now()
            """, logger: logger)
    }

    /// Marks a worktree used now (a build or a scan reused it), which puts it last in line for eviction.
    func touchWorktree(githubId: Int64, sha: String) async throws {
        try await client.query(
            "UPDATE \(unescaped: schema).worktrees SET last_used = now() WHERE github_id = \(githubId) AND sha = \(sha)", logger: logger)
    }

    func forgetWorktree(githubId: Int64, sha: String) async throws {
        try await client.query("DELETE FROM \(unescaped: schema).worktrees WHERE github_id = \(githubId) AND sha = \(sha)", logger: logger)
    }

    func worktreeBytes() async throws -> Int64 {
        let rows = try await client.query("SELECT coalesce(sum(bytes), 0)::int8 FROM \(unescaped: schema).worktrees", logger: logger)
        for try await bytes in rows.decode(Int64.self) { return bytes }
        return 0
    }

    /// Worktrees that no pipeline still needs: no unreleased pipeline has a build of that commit
    /// whose worktree is pending, in progress or completed. Least recently used first.
    func unneededWorktrees(githubId: Int64? = nil) async throws -> [(githubId: Int64, worktree: Worktree)] {
        let rows = try await client.query(
            """
            SELECT w.github_id, w.sha, w.name, w.path, w.bytes FROM \(unescaped: schema).worktrees w
            WHERE (\(githubId)::int8 IS NULL OR w.github_id = \(githubId)) AND NOT EXISTS (
                SELECT 1 FROM \(unescaped: schema).ingestion_builds b JOIN \(unescaped: schema).pipelines p USING (pipeline_id)
                WHERE b.github_id = w.github_id AND b.effective_sha = w.sha AND NOT p.worktrees_released
                    AND b.worktree_status IN ('pending', 'in_progress', 'completed'))
                AND NOT EXISTS (SELECT 1 FROM \(unescaped: schema).worktree_holds h WHERE h.github_id = w.github_id AND h.sha = w.sha)
            ORDER BY w.last_used, w.created_at
            """, logger: logger)
        var result: [(Int64, Worktree)] = []
        for try await (githubId, sha, name, path, bytes) in rows.decode((Int64, String, String, String, Int64).self) {
            result.append((githubId, Worktree(sha: sha, name: name, path: path, bytes: bytes)))
        }
        return result
    }

    func releaseWorktrees(pipelineId: String) async throws -> Int {
        let rows = try await client.query(
            "UPDATE \(unescaped: schema).pipelines SET worktrees_released = true WHERE pipeline_id = \(pipelineId) AND NOT worktrees_released RETURNING github_id",
            logger: logger
        ).collect()
        return rows.count
    }

    /// Deletes a pipeline's records; when no other pipeline holds its repository, also the
    /// repository's parsed logs and clone record. Returns the records deleted and the repository
    /// whose files may go (nil while another pipeline still needs them).
    func forget(pipelineId: String) async throws -> (deleted: Int, orphaned: Int64?) {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                "DELETE FROM \(unescaped: schema).ingestion_builds WHERE pipeline_id = \(pipelineId) RETURNING run_id", logger: logger
            ).collect()
            let pipelines = try await connection.query(
                "DELETE FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId) RETURNING github_id", logger: logger
            ).collect()
            guard let githubId = try pipelines.first?.decode(Int64.self) else { return (rows.count, nil) }
            let others = try await connection.query(
                "SELECT 1 FROM \(unescaped: schema).pipelines WHERE github_id = \(githubId) LIMIT 1", logger: logger
            ).collect()
            guard others.isEmpty else { return (rows.count, nil) }
            try await connection.query("DELETE FROM \(unescaped: schema).run_logs WHERE github_id = \(githubId)", logger: logger)
            try await connection.query("DELETE FROM \(unescaped: schema).clones WHERE github_id = \(githubId)", logger: logger)
            return (rows.count, githubId)
        }
    }
}
