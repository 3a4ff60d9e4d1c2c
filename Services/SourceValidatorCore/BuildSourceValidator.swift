import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Validates one repository's rows of a build source against GitHub: the repository must exist,
/// each build must be a run of it, and the source's filters decide found or filtered. Found runs
/// go into the warehouse like imported ones. Runs are asked for in chunks, eight at a time.
struct BuildSourceValidator: Sendable {
    let importer: RepositoryImporter
    let sources: BuildSourcePostgresStore
    let concurrency = 8
    let chunk = 200

    func validate(_ task: BuildSourcePostgresStore.ValidateRepository) async throws {
        let (filters, ids) = try await sources.pending(task)
        guard !ids.isEmpty else { return }
        let summary: RepositorySummary
        do {
            summary = try await importer.fetchRepository(task.repoName, counter: RequestCounter())
        } catch GitHubError.notFound {
            // In slices, so a repository with a million rows never holds a million outcomes at once.
            let reason = "repository \(task.repoName) not found on GitHub"
            for start in stride(from: 0, to: ids.count, by: 10_000) {
                try await sources.record(task, outcomes: ids[start..<min(start + 10_000, ids.count)].map { ($0, "not_found", reason) })
            }
            return
        }
        let github = importer.github
        for start in stride(from: 0, to: ids.count, by: chunk) {
            let slice = Array(ids[start..<min(start + chunk, ids.count)])
            var outcomes: [(Int64, String, String?)] = []
            var found: [GitHubRun] = []
            try await withThrowingTaskGroup(of: (Int64, GitHubRun?).self) { group in
                var next = 0
                func add() {
                    let id = slice[next]
                    next += 1
                    group.addTask {
                        do {
                            let response = try await github.get("/repos/\(summary.fullName)/actions/runs/\(id)")
                            return (id, try JSONDecoder().decode(GitHubRun.self, from: response.body))
                        } catch GitHubError.notFound {
                            return (id, nil)
                        }
                    }
                }
                while next < slice.count, next < concurrency { add() }
                while let (id, run) = try await group.next() {
                    if let run {
                        if run.status != "completed" {
                            outcomes.append((id, "filtered", "not completed (\(run.status ?? "no status"))"))
                        } else if let reason = filters.exclusion(run) {
                            outcomes.append((id, "filtered", reason))
                        } else {
                            outcomes.append((id, "found", nil))
                            found.append(run)
                        }
                    } else {
                        outcomes.append((id, "not_found", "no run \(id) in \(summary.fullName)"))
                    }
                    if next < slice.count { add() }
                }
            }
            let store = importer.store
            let foundRuns = found
            _ = try await importer.postgres.withTransaction(logger: importer.logger) { connection in
                try await store.insert(foundRuns, githubId: summary.githubId, on: connection)
            }
            try await sources.record(task, outcomes: outcomes)
        }
    }
}
