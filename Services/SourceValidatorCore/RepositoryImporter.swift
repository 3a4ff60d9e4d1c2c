import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Imports one repository's completed workflow runs into the warehouse and reports progress to
/// the gateway through the outbox. Either all pages in parallel (created-date windows of at most
/// 1,000 runs, GitHub's cap on filtered listings), or newest first until a run the warehouse
/// already holds (sync), with the first page conditional on its ETag so an unchanged repository
/// costs only 304s.
struct RepositoryImporter: Sendable {
    let github: GitHubClient
    /// The same GitHub, through an HTTP client that does not follow redirects: whether a run's
    /// logs exist is the 302 of its logs URL (410 when expired), not the download behind it.
    let githubNoRedirects: GitHubClient
    let store: WarehousePostgresStore
    let queue: JobQueue
    let postgres: PostgresClient
    let logger: Logger
    /// Pages fetched at once in parallel mode.
    let concurrency = 4

    struct RunList: Decodable {
        var total_count: Int
        var workflow_runs: [GitHubRun]
    }

    final class Tally: @unchecked Sendable {
        // Only touched from the importing task and its awaited children, one at a time.
        var imported = 0
        var filtered = 0
        var existing = 0
    }

    func run(_ params: ImportRepositoryParams) async throws {
        let counter = RequestCounter()
        let tally = Tally()
        do {
            guard try await store.ensureImport(id: params.importId, fullName: params.fullName) else { throw ImportForgotten(importId: params.importId) }
            try await report(params, .fetching, "fetching \(params.fullName)", nil, tally, counter)
            let summary = try await fetchRepository(params.fullName, counter: counter, importId: params.importId)
            try await report(params, .fetching, "fetching runs", summary, tally, counter)
            if params.options.syncUntilExisting || params.options.maxBuilds != nil {
                try await importNewestFirst(params, summary: summary, tally: tally, counter: counter)
            } else {
                try await importAllWindows(params, summary: summary, tally: tally, counter: counter)
            }
            let message = "\(tally.imported) new runs, \(tally.existing) already stored, \(tally.filtered) filtered; \(counter.requests) API requests (\(counter.notModified) not modified)"
            try await report(params, .fetched, message, summary, tally, counter)
        } catch let forgotten as ImportForgotten {
            // DELETE /repos/{id} came first: nothing to import, nothing to report.
            logger.info("import stopped: its repository was deleted", metadata: ["import": "\(forgotten.importId)"])
        } catch let error as GitHubError where !error.isRetryable {
            try await report(params, .failed, error.description, nil, tally, counter)
            throw JobError.permanent(error.description)
        } catch {
            try? await report(params, .fetching, "retrying after: \(error)", nil, tally, counter)
            throw error
        }
    }

    /// The repository from GitHub, stored; with `importId`, only while that import is live.
    func fetchRepository(_ fullName: String, counter: RequestCounter, importId: String? = nil) async throws -> RepositorySummary {
        let stored = try await store.repository(named: fullName)
        let response = try await github.get("/repos/\(fullName)", etag: stored?.repositoryETag, counter: counter)
        if response.status == 304, let stored { return stored.summary }
        let repository = try JSONDecoder().decode(GitHubRepository.self, from: response.body)
        let store = self.store
        try await postgres.withTransaction(logger: logger) { connection in
            if let importId, try await !store.lockLiveImport(importId, on: connection) { throw ImportForgotten(importId: importId) }
            try await store.upsert(repository, metadata: String(decoding: response.body, as: UTF8.self), repositoryETag: response.etag, on: connection)
        }
        return RepositorySummary(
            githubId: repository.id, fullName: repository.full_name, defaultBranch: repository.default_branch,
            isPrivate: repository.private, language: repository.language)
    }

    /// One page of the repository's unfiltered run listing (newest first, 100 a page; GitHub caps
    /// only filtered listings at 1,000 results).
    func runsPage(_ fullName: String, page: Int, counter: RequestCounter) async throws -> RunList {
        let response = try await github.get("/repos/\(fullName)/actions/runs?per_page=100&page=\(page)", counter: counter)
        return try JSONDecoder().decode(RunList.self, from: response.body)
    }

    // MARK: Newest first (sync, max builds)

    private func importNewestFirst(_ params: ImportRepositoryParams, summary: RepositorySummary, tally: Tally, counter: RequestCounter) async throws {
        let since = params.options.sinceDays.map { Date().addingTimeInterval(-Double($0) * 86_400) }
        // Unfiltered listing: no 1,000-result cap; filtering happens here.
        var next: String? = "/repos/\(summary.fullName)/actions/runs?per_page=100"
        let storedETag = params.options.syncUntilExisting ? try await store.repository(named: summary.fullName)?.runsETag : nil
        var firstETag: String?
        var first = true
        while let url = next {
            let response = try await github.get(url, etag: first ? storedETag : nil, counter: counter)
            if first {
                firstETag = response.etag
                if response.status == 304 { return }
            }
            first = false
            let list = try JSONDecoder().decode(RunList.self, from: response.body)
            let existing = try await store.existingRunIDs(githubId: summary.githubId, among: list.workflow_runs.map(\.id))
            var admitted: [GitHubRun] = []
            var reachedLimit = false
            for run in list.workflow_runs {
                if existing.contains(run.id) {
                    tally.existing += 1
                    continue
                }
                if run.exclusionReason(options: params.options, since: since) != nil {
                    tally.filtered += 1
                    continue
                }
                if let limit = params.options.maxBuilds, tally.imported + admitted.count >= limit {
                    reachedLimit = true
                    break
                }
                admitted.append(run)
            }
            try await store(admitted, params, summary: summary, tally: tally, counter: counter)
            let olderThanWindow = since.map { since in list.workflow_runs.last.flatMap { try? Date($0.created_at, strategy: .iso8601) }.map { $0 < since } ?? false } ?? false
            if reachedLimit || (params.options.syncUntilExisting && !existing.isEmpty) || olderThanWindow { break }
            next = response.links["next"]
        }
        try await store.setRunsETag(githubId: summary.githubId, etag: firstETag)
    }

    // MARK: All pages, in parallel

    private func importAllWindows(_ params: ImportRepositoryParams, summary: RepositorySummary, tally: Tally, counter: RequestCounter) async throws {
        let lower = params.options.sinceDays.map { Date().addingTimeInterval(-Double($0) * 86_400) } ?? Date(timeIntervalSince1970: 1_199_145_600)
        let upper = Date().addingTimeInterval(86_400)
        try await importWindow(params, summary: summary, from: lower, to: upper, tally: tally, counter: counter)
        // The next sync starts from the newest page's ETag.
        let newest = try await github.get("/repos/\(summary.fullName)/actions/runs?per_page=100", counter: counter)
        try await store.setRunsETag(githubId: summary.githubId, etag: newest.etag)
    }

    /// Imports the completed runs created in [from, to]; splits the window while GitHub's
    /// total_count says it holds more than the 1,000 runs a filtered listing returns.
    private func importWindow(_ params: ImportRepositoryParams, summary: RepositorySummary, from: Date, to: Date, tally: Tally, counter: RequestCounter) async throws {
        let created = "\(Self.stamp(from))..\(Self.stamp(to))"
        let base = "/repos/\(summary.fullName)/actions/runs?per_page=100&status=completed&created=\(created)"
        let firstResponse = try await github.get(base + "&page=1", counter: counter)
        let first = try JSONDecoder().decode(RunList.self, from: firstResponse.body)
        if first.total_count > 1000, to.timeIntervalSince(from) > 2 {
            let middle = Date(timeIntervalSince1970: ((from.timeIntervalSince1970 + to.timeIntervalSince1970) / 2).rounded(.down))
            try await importWindow(params, summary: summary, from: from, to: middle, tally: tally, counter: counter)
            try await importWindow(params, summary: summary, from: middle.addingTimeInterval(1), to: to, tally: tally, counter: counter)
            return
        }
        try await admitAndStore(first.workflow_runs, params, summary: summary, tally: tally, counter: counter)
        let pages = (min(first.total_count, 1000) + 99) / 100
        guard pages > 1 else { return }
        let github = self.github
        try await forEachConcurrently(2...pages, limit: concurrency) { page in
            let response = try await github.get(base + "&page=\(page)", counter: counter)
            return try JSONDecoder().decode(RunList.self, from: response.body).workflow_runs
        } handle: { runs in
            try await admitAndStore(runs, params, summary: summary, tally: tally, counter: counter)
            return true
        }
    }

    private func admitAndStore(_ runs: [GitHubRun], _ params: ImportRepositoryParams, summary: RepositorySummary, tally: Tally, counter: RequestCounter) async throws {
        let since = params.options.sinceDays.map { Date().addingTimeInterval(-Double($0) * 86_400) }
        var admitted: [GitHubRun] = []
        for run in runs {
            if run.exclusionReason(options: params.options, since: since) != nil {
                tally.filtered += 1
            } else {
                admitted.append(run)
            }
        }
        if params.options.onlyWithLogs == true {
            let withLogs = try await runsWithLogs(admitted, fullName: summary.fullName, counter: counter)
            tally.filtered += admitted.count - withLogs.count
            admitted = admitted.filter { withLogs.contains($0.id) }
        }
        try await store(admitted, params, summary: summary, tally: tally, counter: counter)
    }

    /// The runs whose logs GitHub still has, asked eight at a time.
    private func runsWithLogs(_ runs: [GitHubRun], fullName: String, counter: RequestCounter) async throws -> Set<Int64> {
        let github = githubNoRedirects
        var found = Set<Int64>()
        try await forEachConcurrently(runs, limit: 8) { run -> Int64? in
            do {
                _ = try await github.get("/repos/\(fullName)/actions/runs/\(run.id)/logs", counter: counter)
                return run.id
            } catch GitHubError.gone {
                return nil
            } catch GitHubError.notFound {
                return nil
            }
        } handle: { id in
            if let id { found.insert(id) }
            return true
        }
        return found
    }

    /// Stores runs and the progress report in one transaction.
    private func store(_ runs: [GitHubRun], _ params: ImportRepositoryParams, summary: RepositorySummary, tally: Tally, counter: RequestCounter) async throws {
        guard !runs.isEmpty else { return }
        let store = self.store
        let inserted = try await postgres.withTransaction(logger: logger) { connection in
            guard try await store.lockLiveImport(params.importId, on: connection) else { throw ImportForgotten(importId: params.importId) }
            return try await store.insert(runs, githubId: summary.githubId, on: connection)
        }
        tally.imported += inserted
        tally.existing += runs.count - inserted
        try await report(params, .fetching, "\(tally.imported) runs imported", summary, tally, counter)
    }

    private func report(_ params: ImportRepositoryParams, _ status: ImportStatus, _ message: String?, _ summary: RepositorySummary?, _ tally: Tally, _ counter: RequestCounter) async throws {
        let store = self.store
        let queue = self.queue
        let snapshot = (tally.imported, tally.filtered, tally.existing, counter.requests, counter.notModified)
        try await postgres.withTransaction(logger: logger) { connection in
            let sequence = try await store.nextSequence(importId: params.importId, status: status, message: message, on: connection)
            let progress = ImportProgress(
                importId: params.importId, sequence: sequence, status: status, message: message, repository: summary,
                imported: snapshot.0, filtered: snapshot.1, existing: snapshot.2, apiRequests: snapshot.3, notModified: snapshot.4)
            try await Outbox.enqueue(
                to: .gateway, GatewayMethods.importProgress, progress, key: "import:\(params.importId):\(sequence)",
                queue: queue, on: connection)
        }
    }

    static func stamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
