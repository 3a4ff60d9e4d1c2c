import BuildRiskGit
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Makes builds' resources available and records how each ended: the repository's bare clone
/// and every build's commit (from the clone, a pull ref, or replayed from its patch), worktrees
/// where asked, and parsed build logs.
public struct Ingestor: Sendable {
    let store: IngestionPostgresStore
    let clones: RepositoryClones
    let github: GitHubClient
    let logs: BuildLogDownloader
    let queue: JobQueue
    let postgres: PostgresClient
    let configuration: IngestorConfiguration
    let worktreeDirectory: String
    let logger: Logger
    /// Scans' checkouts in flight, one at a time per commit.
    let checkouts = CommitCheckouts()

    /// Runs per log job.
    static let logChunk = 25
    /// Builds per worktree job.
    static let worktreeChunk = 20

    // MARK: Repository job

    /// Clones or fetches the repository, resolves every pending build's commit, then queues the
    /// log and worktree jobs.
    func runRepository(_ job: IngestionPostgresStore.RepositoryJob) async throws {
        guard let pipeline = try await store.pipeline(job.pipelineId) else { return }
        let pending = try await store.unfinished(.gitHistory, pipelineId: pipeline.pipelineId)
        if !pending.isEmpty {
            try await store.begin(.gitHistory, pipelineId: pipeline.pipelineId, runIds: pending.map(\.runId))
            do {
                try await resolveCommits(pipeline, pending)
            } catch {
                // A clone failure fails git_history of every build of the repository in this pipeline.
                logger.warning("clone or fetch failed", metadata: ["repository": "\(pipeline.fullName)", "error": "\(error)"])
                try await store.finish(.gitHistory, pipelineId: pipeline.pipelineId, runIds: pending.map(\.runId), status: .failed, error: "clone or fetch failed: \(error)")
            }
        }
        // Worktrees and logs are handed to jobs once: marked in progress in the transaction that
        // queues them (a job that dies is run again and picks up what is still in progress).
        try await postgres.withTransaction(logger: logger) { connection in
            let (worktrees, logs) = try await store.dispatch(pipelineId: pipeline.pipelineId, on: connection)
            for chunk in worktrees.chunks(of: Self.worktreeChunk) {
                try await queue.enqueue(
                    IngestionPostgresStore.Jobs.worktrees, IngestionPostgresStore.ChunkJob(pipelineId: pipeline.pipelineId, runIds: chunk),
                    options: JobOptions(priority: 4, maxAttempts: 3), on: connection)
            }
            for chunk in logs.chunks(of: Self.logChunk) {
                try await queue.enqueue(
                    IngestionPostgresStore.Jobs.logs, IngestionPostgresStore.ChunkJob(pipelineId: pipeline.pipelineId, runIds: chunk),
                    options: JobOptions(priority: 3, maxAttempts: 3), on: connection)
            }
        }
        try await settleAndReport(pipeline.pipelineId)
    }

    /// Makes each build's commit available: in the clone, through `refs/pull/*/head`, or as a
    /// synthetic commit replayed from its patch; what none gives is missing, with the reason.
    private func resolveCommits(_ pipeline: IngestionPostgresStore.Pipeline, _ builds: [IngestionPostgresStore.PendingBuild]) async throws {
        let repository = try await githubRepository(pipeline.fullName)
        let path = clones.path(githubId: pipeline.githubId)
        let wantsPullRefs = builds.contains { $0.event.hasPrefix("pull_request") }
        let token = github.configuration.tokens.first
        try await clones.withLock(githubId: pipeline.githubId) {
            _ = try await clones.update(githubId: pipeline.githubId, url: repository.clone_url, token: token, pullRefs: wantsPullRefs)
        }
        try await store.recordClone(githubId: pipeline.githubId, fullName: pipeline.fullName, path: path, fetched: true, sizeBytes: RepositoryClones.diskUsage(path))

        let byCommit = Dictionary(grouping: builds, by: \.headSha)
        let shas = Array(byCommit.keys)
        let present = try await BlockingWork.run {
            let git = try GitRepository.open(path)
            return Set(shas.filter { git.containsCommit($0) })
        }
        // Pull-request heads the clone has only through refs/pull/N/head came by the pull ref.
        let candidates = present.filter { sha in byCommit[sha, default: []].contains { $0.event.hasPrefix("pull_request") } }
        let viaPullRef = try await BlockingWork.run {
            let git = try GitRepository.open(path)
            return Set(try candidates.filter { try !git.isOnBranch($0) })
        }
        try await store.setCommits(pipelineId: pipeline.pipelineId, present.flatMap { sha in
            byCommit[sha, default: []].map { (runId: $0.runId, sha: sha, source: viaPullRef.contains(sha) ? "pull_ref" : "clone") }
        })
        for sha in shas where !present.contains(sha) {
            let runIds = byCommit[sha, default: []].map(\.runId)
            do {
                let replayed = try await replay(sha, fullName: pipeline.fullName, githubId: pipeline.githubId, path: path)
                try await store.setCommits(pipelineId: pipeline.pipelineId, runIds.map { (runId: $0, sha: replayed, source: "patch") })
            } catch let problem as CommitProblem {
                try await store.finish(.gitHistory, pipelineId: pipeline.pipelineId, runIds: runIds, status: problem.retryable ? .failed : .missing, error: problem.reason)
            }
        }
    }

    struct Person: Decodable { var name: String; var email: String; var date: String }

    struct CommitProblem: Error {
        var reason: String
        var retryable: Bool
    }

    /// Replays a commit the clone does not have from GitHub's patch of it onto its parent.
    private func replay(_ sha: String, fullName: String, githubId: Int64, path: String) async throws -> String {
        struct Commit: Decodable {
            struct Detail: Decodable { var author: Person; var committer: Person; var message: String }
            struct Parent: Decodable { var sha: String }
            var commit: Detail
            var parents: [Parent]
        }
        let commit: Commit
        let patch: String
        do {
            let json = try await github.get("/repos/\(fullName)/commits/\(sha)")
            commit = try JSONDecoder().decode(Commit.self, from: json.body)
            patch = String(decoding: try await github.get("/repos/\(fullName)/commits/\(sha)", accept: "application/vnd.github.patch").body, as: UTF8.self)
        } catch let error as GitHubError {
            switch error {
            case .notFound, .gone, .unprocessable:
                throw CommitProblem(reason: "commit \(sha) is not in the clone, the pull refs or GitHub: \(error)", retryable: false)
            case .unauthorized, .unexpected, .unavailable:
                throw CommitProblem(reason: "could not fetch the patch of \(sha): \(error)", retryable: true)
            }
        } catch let error as DecodingError {
            throw CommitProblem(reason: "GitHub's commit \(sha) could not be read: \(error)", retryable: true)
        }
        guard let parent = commit.parents.first?.sha else {
            throw CommitProblem(reason: "commit \(sha) has no parent to replay its patch onto", retryable: false)
        }
        func signature(_ person: Person) -> GitRepository.Signature {
            GitRepository.Signature(name: person.name, email: person.email, time: (try? Date(person.date, strategy: .iso8601)) ?? Date())
        }
        let author = signature(commit.commit.author)
        let committer = signature(commit.commit.committer)
        let message = commit.commit.message
        do {
            return try await clones.withLock(githubId: githubId) {
                try await BlockingWork.run {
                    let git = try GitRepository.open(path)
                    guard git.containsCommit(parent) else {
                        throw CommitProblem(reason: "the parent \(parent) of \(sha) is not in the clone either", retryable: false)
                    }
                    let replayed = try git.replayPatch(patch, onto: parent, message: message, author: author, committer: committer)
                    // A ref keeps the synthetic commit from being garbage-collected.
                    try git.setReference("refs/buildrisk/replayed/\(sha)", to: replayed)
                    return replayed
                }
            }
        } catch let error as GitError {
            throw CommitProblem(reason: "the patch of \(sha) does not apply onto \(parent): \(error)", retryable: false)
        }
    }

    func githubRepository(_ fullName: String) async throws -> GitHubRepositoryInfo {
        let response = try await github.get("/repos/\(fullName)")
        return try JSONDecoder().decode(GitHubRepositoryInfo.self, from: response.body)
    }

    struct GitHubRepositoryInfo: Decodable {
        var clone_url: String
    }

    // MARK: Log job

    /// Downloads and parses the logs of a chunk of runs, a few at a time.
    func runLogs(_ job: IngestionPostgresStore.ChunkJob) async throws {
        guard let pipeline = try await store.pipeline(job.pipelineId) else { return }
        let pending = Set(try await store.unfinished(.buildLogs, pipelineId: pipeline.pipelineId).map(\.runId))
        let runIds = job.runIds.filter { pending.contains($0) }
        guard !runIds.isEmpty else { return try await settleAndReport(pipeline.pipelineId) }
        try await store.begin(.buildLogs, pipelineId: pipeline.pipelineId, runIds: runIds)
        try await forEachConcurrently(runIds, limit: configuration.logConcurrency) { runId in
            try await ingestLogs(pipeline, runId: runId)
        }
        try await settleAndReport(pipeline.pipelineId)
    }

    private func ingestLogs(_ pipeline: IngestionPostgresStore.Pipeline, runId: Int64) async throws {
        if try await store.hasLogs(githubId: pipeline.githubId, runId: runId) {
            return try await store.finish(.buildLogs, pipelineId: pipeline.pipelineId, runIds: [runId], status: .completed)
        }
        do {
            switch try await logs.fetch(fullName: pipeline.fullName, githubId: pipeline.githubId, runId: runId) {
            case .parsed(let facts, let zipBytes):
                let json = String(decoding: try JSONEncoder().encode(facts), as: UTF8.self)
                try await store.storeLogs(githubId: pipeline.githubId, runId: runId, factsJSON: json, zipBytes: zipBytes)
                try await store.finish(.buildLogs, pipelineId: pipeline.pipelineId, runIds: [runId], status: .completed)
            case .missing(let reason):
                try await store.finish(.buildLogs, pipelineId: pipeline.pipelineId, runIds: [runId], status: .missing, error: reason)
            }
        } catch let failure as BuildLogDownloader.Failure {
            try await store.finish(.buildLogs, pipelineId: pipeline.pipelineId, runIds: [runId], status: .failed, error: failure.description)
        } catch let error as GitHubError {
            try await store.finish(.buildLogs, pipelineId: pipeline.pipelineId, runIds: [runId], status: .failed, error: "\(error)")
        }
    }

    // MARK: Worktree job

    /// Creates (or reuses) the worktrees of a chunk of builds, within the disk budget.
    func runWorktrees(_ job: IngestionPostgresStore.ChunkJob) async throws {
        guard let pipeline = try await store.pipeline(job.pipelineId) else { return }
        let pending = try await store.unfinished(.gitWorktree, pipelineId: pipeline.pipelineId).filter { job.runIds.contains($0.runId) }
        guard !pending.isEmpty else { return try await settleAndReport(pipeline.pipelineId) }
        try await store.begin(.gitWorktree, pipelineId: pipeline.pipelineId, runIds: pending.map(\.runId))
        let byCommit = Dictionary(grouping: pending.filter { $0.effectiveSha != nil }, by: { $0.effectiveSha ?? "" })
        let clonePath = clones.path(githubId: pipeline.githubId)
        // What a checkout will take is known only once made; the packed clone's size stands in.
        let estimate = RepositoryClones.diskUsage(clonePath)
        for (sha, builds) in byCommit.sorted(by: { $0.key < $1.key }) {
            let runIds = builds.map(\.runId)
            do {
                try await ensureWorktree(githubId: pipeline.githubId, sha: sha, clonePath: clonePath, estimate: estimate)
                try await store.finish(.gitWorktree, pipelineId: pipeline.pipelineId, runIds: runIds, status: .completed)
            } catch {
                // A worktree failure fails only the builds of that commit.
                try await store.finish(.gitWorktree, pipelineId: pipeline.pipelineId, runIds: runIds, status: .failed, error: "\(error)")
            }
        }
        try await settleAndReport(pipeline.pipelineId)
    }

    struct BudgetExceeded: Error, CustomStringConvertible {
        var budget: Int64
        var description: String { "the worktree disk budget of \(budget >> 20) MB is spent by worktrees still needed" }
    }

    func ensureWorktree(githubId: Int64, sha: String, clonePath: String, estimate cloneBytes: Int64) async throws {
        if let existing = try await store.worktree(githubId: githubId, sha: sha), FileManager.default.fileExists(atPath: existing.path + "/.git") {
            return try await store.touchWorktree(githubId: githubId, sha: sha)
        }
        let name = "\(githubId)-\(sha.prefix(16))"
        let path = "\(worktreeDirectory)/\(githubId)/\(sha)"
        // Make room: worktrees no pending pipeline needs (released ones, kept as a cache) go,
        // least recently used first.
        var used = try await store.worktreeBytes()
        if used + cloneBytes > configuration.worktreeBudgetBytes {
            for (owner, worktree) in try await store.unneededWorktrees() where used + cloneBytes > configuration.worktreeBudgetBytes {
                try await removeWorktree(githubId: owner, worktree)
                used -= worktree.bytes
            }
        }
        guard used + cloneBytes <= configuration.worktreeBudgetBytes else { throw BudgetExceeded(budget: configuration.worktreeBudgetBytes) }
        let bytes = try await clones.withLock(githubId: githubId) {
            try await BlockingWork.run {
                let git = try GitRepository.open(clonePath)
                // A crash may have left this worktree half made; start it again.
                try git.removeWorktree(name: name)
                try? FileManager.default.removeItem(atPath: path)
                try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
                try git.addDetachedWorktree(name: name, path: path, at: sha)
                return RepositoryClones.diskUsage(path)
            }
        }
        try await store.recordWorktree(githubId: githubId, .init(sha: sha, name: name, path: path, bytes: bytes))
    }

    func removeWorktree(githubId: Int64, _ worktree: IngestionPostgresStore.Worktree) async throws {
        let clonePath = clones.path(githubId: githubId)
        try await clones.withLock(githubId: githubId) {
            try await BlockingWork.run {
                if let git = try? GitRepository.open(clonePath) { try git.removeWorktree(name: worktree.name) }
                try? FileManager.default.removeItem(atPath: worktree.path)
            }
        }
        try await store.forgetWorktree(githubId: githubId, sha: worktree.sha)
    }

    /// Removes every worktree no pending pipeline needs (forgetting a pipeline; a release keeps them as a cache).
    func sweepWorktrees() async throws -> Int {
        let unneeded = try await store.unneededWorktrees()
        for (githubId, worktree) in unneeded { try await removeWorktree(githubId: githubId, worktree) }
        return unneeded.count
    }

    /// Forgets a pipeline; when it was the last to hold its repository, the clone and the
    /// unpacked logs go too (after its worktrees, which no pipeline needs any more).
    func forget(pipelineId: String) async throws -> Int {
        let (deleted, orphaned) = try await store.forget(pipelineId: pipelineId)
        _ = try await sweepWorktrees()
        if let githubId = orphaned {
            let clonePath = clones.path(githubId: githubId)
            let logDirectory = logs.directory + "/\(githubId)"
            let worktrees = worktreeDirectory + "/\(githubId)"
            try await clones.withLock(githubId: githubId) {
                try await BlockingWork.run {
                    for path in [clonePath, logDirectory, worktrees] { try? FileManager.default.removeItem(atPath: path) }
                }
            }
        }
        return deleted
    }

    // MARK: Reporting

    /// Settles finished builds and reports the pipeline's progress to the gateway.
    func settleAndReport(_ pipelineId: String) async throws {
        let settled = try await store.settle(pipelineId: pipelineId)
        try await postgres.withTransaction(logger: logger) { connection in
            _ = try await report(pipelineId, settled: settled, on: connection) { counts in
                if counts.pending > 0 {
                    (.ingesting, "\(counts.total - counts.pending) of \(counts.total) builds done")
                } else if counts.ingested == counts.total {
                    (.ingested, "\(counts.ingested) builds ingested")
                } else if counts.ingested > 0 {
                    (.partial, "\(counts.ingested) ingested, \(counts.missingResource) missing a resource, \(counts.failed) failed")
                } else {
                    (.failed, "no build ingested: \(counts.missingResource) missing a resource, \(counts.failed) failed")
                }
            }
        }
    }

    /// Queues the pipeline's failed builds again and, in the same transaction, reports it
    /// `ingesting` with them pending, so the gateway shows the retry at once and tells its
    /// reports from those of the run before.
    func retryFailed(_ pipelineId: String) async throws -> IngestionAccepted {
        try await postgres.withTransaction(logger: logger) { connection in
            let queued = try await store.retryFailed(pipelineId: pipelineId, queue: queue, on: connection)
            guard queued > 0 else { return IngestionAccepted(pipelineId: pipelineId, queued: 0) }
            let sequence = try await report(pipelineId, settled: [], on: connection) { _ in (.ingesting, "\(queued) failed builds queued again") }
            return IngestionAccepted(pipelineId: pipelineId, queued: queued, sequence: sequence)
        }
    }

    /// Counts the pipeline's builds under a lock on its row, records the status `describe` makes
    /// of them and puts the report in the gateway's outbox; returns its sequence. Counted under the
    /// lock, a report never carries counts from before a retry that was given a lower sequence.
    private func report(
        _ pipelineId: String, settled: [SettledBuild], on connection: PostgresConnection,
        describe: (IngestionCounts) -> (IngestionStatus, String)
    ) async throws -> Int {
        try await store.lockPipeline(pipelineId, on: connection)
        let counts = try await store.counts(pipelineId: pipelineId, on: connection)
        let (status, message) = describe(counts)
        let sequence = try await store.nextSequence(pipelineId: pipelineId, status: status, message: message, on: connection)
        try await Outbox.enqueue(
            to: .gateway, GatewayMethods.ingestionProgress,
            IngestionProgress(pipelineId: pipelineId, sequence: sequence, status: status, counts: counts, message: message, settled: Array(settled.prefix(1000))),
            key: "ingestion:\(pipelineId):\(sequence)", queue: queue, on: connection)
        return sequence
    }
}
