import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Validates one repository's rows of a build source against GitHub: the repository must exist,
/// each build must be a run of it, and the source's filters decide found or filtered. Found runs
/// go into the warehouse like imported ones.
///
/// Two ways to meet the runs, whichever costs fewer requests: the repository's run listing (one
/// request per 100 runs, four pages at a time) when it holds fewer pages than there are pending
/// rows, then one `GET …/runs/{id}` per row the listing did not meet (eight at a time). The
/// pending ids are read a page at a time, so memory stays flat however many rows there are.
struct BuildSourceValidator: Sendable {
    let importer: RepositoryImporter
    let sources: BuildSourcePostgresStore
    let concurrency = 8
    let listingConcurrency = 4
    let chunk = 200
    let page = 10_000

    /// At most one progress announcement per this interval while a repository is validated: each
    /// makes the gateway count the source's rows by status (0.9 s for a million rows here).
    let announceEvery: Duration = .seconds(10)

    /// Validates the task's repository, announcing progress every `announceEvery` and at the end.
    func validate(_ task: BuildSourcePostgresStore.ValidateRepository) async throws {
        let pendingCount = try await sources.pendingCount(task)
        guard pendingCount > 0 else { return }
        try await validatePending(task, pendingCount: pendingCount)
        try await sources.announceProgress(task.sourceId)
    }

    private func validatePending(_ task: BuildSourcePostgresStore.ValidateRepository, pendingCount: Int) async throws {
        var pendingCount = pendingCount
        var lastAnnounced = ContinuousClock.now
        func announceIfDue() async throws {
            guard ContinuousClock.now - lastAnnounced >= announceEvery else { return }
            lastAnnounced = .now
            try await sources.announceProgress(task.sourceId)
        }
        let filters = try await sources.filters(task.sourceId)
        let counter = RequestCounter()
        let summary: RepositorySummary
        do {
            summary = try await importer.fetchRepository(task.repoName, counter: counter)
        } catch GitHubError.notFound {
            let reason = "repository \(task.repoName) not found on GitHub"
            var after: Int64 = 0
            while let (_, last) = try await sources.markPending(task, after: after, limit: page, status: "not_found", reason: reason) {
                after = last
                try await announceIfDue()
            }
            return
        }
        if pendingCount > 1 {
            pendingCount -= try await matchListing(task, summary: summary, filters: filters, pendingCount: pendingCount, counter: counter)
        }
        var after: Int64 = 0
        while true {
            let ids = try await sources.pending(task, after: after, limit: page)
            guard let last = ids.last else { break }
            after = last
            for start in stride(from: 0, to: ids.count, by: chunk) {
                try await validateEach(Array(ids[start..<min(start + chunk, ids.count)]), task, summary: summary, filters: filters, counter: counter)
                try await announceIfDue()
            }
        }
        importer.logger.info(
            "build source repository validated",
            metadata: ["source": "\(task.sourceId)", "repository": "\(summary.fullName)", "apiRequests": "\(counter.requests)"])
    }

    /// Reads the repository's run listing when that takes fewer requests than asking for the
    /// pending runs one by one, and settles every pending row it meets; answers how many.
    private func matchListing(
        _ task: BuildSourcePostgresStore.ValidateRepository, summary: RepositorySummary, filters: BuildFilters, pendingCount: Int, counter: RequestCounter
    ) async throws -> Int {
        let first = try await importer.runsPage(summary.fullName, page: 1, counter: counter)
        var settled = try await settle(first.workflow_runs, task, summary: summary, filters: filters)
        let pages = (first.total_count + 99) / 100
        guard pages > 1, pages - 1 < pendingCount - settled else { return settled }
        let importer = self.importer
        let fullName = summary.fullName
        try await forEachConcurrently(2...pages, limit: listingConcurrency) { number in
            try await importer.runsPage(fullName, page: number, counter: counter).workflow_runs
        } handle: { runs in
            settled += try await settle(runs, task, summary: summary, filters: filters)
            // A run pushed to a later page by new runs, or missed, is asked for by id below.
            return settled < pendingCount
        }
        return settled
    }

    /// Settles the pending rows of the source among `runs`; answers how many.
    private func settle(_ runs: [GitHubRun], _ task: BuildSourcePostgresStore.ValidateRepository, summary: RepositorySummary, filters: BuildFilters) async throws -> Int {
        let pending = try await sources.pending(task, among: runs.map(\.id))
        var outcomes: [(Int64, String, String?)] = []
        var found: [GitHubRun] = []
        for run in runs where pending.contains(run.id) {
            outcomes.append(Self.outcome(run, filters: filters, found: &found))
        }
        try await store(found, outcomes, task, summary: summary)
        return outcomes.count
    }

    /// Asks GitHub for each run, eight at a time.
    private func validateEach(
        _ ids: [Int64], _ task: BuildSourcePostgresStore.ValidateRepository, summary: RepositorySummary, filters: BuildFilters, counter: RequestCounter
    ) async throws {
        let github = importer.github
        var outcomes: [(Int64, String, String?)] = []
        var found: [GitHubRun] = []
        try await forEachConcurrently(ids, limit: concurrency) { id -> (Int64, GitHubRun?) in
            do {
                let response = try await github.get("/repos/\(summary.fullName)/actions/runs/\(id)", counter: counter)
                return (id, try JSONDecoder().decode(GitHubRun.self, from: response.body))
            } catch GitHubError.notFound {
                return (id, nil)
            }
        } handle: { (id, run) in
            if let run {
                outcomes.append(Self.outcome(run, filters: filters, found: &found))
            } else {
                outcomes.append((id, "not_found", "no run \(id) in \(summary.fullName)"))
            }
            return true
        }
        try await store(found, outcomes, task, summary: summary)
    }

    /// Found, or filtered with the reason.
    static func outcome(_ run: GitHubRun, filters: BuildFilters, found: inout [GitHubRun]) -> (Int64, String, String?) {
        if run.status != "completed" { return (run.id, "filtered", "not completed (\(run.status ?? "no status"))") }
        if let reason = filters.exclusion(run) { return (run.id, "filtered", reason) }
        found.append(run)
        return (run.id, "found", nil)
    }

    /// Found runs enter the warehouse, then the rows get their outcomes.
    private func store(_ found: [GitHubRun], _ outcomes: [(Int64, String, String?)], _ task: BuildSourcePostgresStore.ValidateRepository, summary: RepositorySummary) async throws {
        if !found.isEmpty {
            let store = importer.store
            _ = try await importer.postgres.withTransaction(logger: importer.logger) { connection in
                try await store.insert(found, githubId: summary.githubId, on: connection)
            }
        }
        try await sources.record(task, githubId: summary.githubId, outcomes: outcomes)
    }
}
