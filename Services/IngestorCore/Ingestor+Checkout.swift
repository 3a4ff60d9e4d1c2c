import BuildRiskContracts
import BuildRiskGit
import BuildRiskRPC
import PostgresNIO
import Foundation

extension Ingestor {
    /// Why a commit could not be checked out for a scan.
    enum CheckoutFailure: Error, CustomStringConvertible {
        /// The ingestor holds no clone of the repository: it must be ingested first.
        case notCloned(githubId: Int64)
        /// The clone does not have the commit, or git could not check it out.
        case checkoutFailed(String)

        var description: String {
            switch self {
            case .notCloned(let githubId): "the ingestor has no clone of repository \(githubId); ingest its builds first"
            case .checkoutFailed(let reason): reason
            }
        }

        /// How a caller is told: the commit is not available, with the reason.
        var refusal: RPCError { RPCError(.notFound, "Commit not available", reason: description) }
    }

    /// Checks out one commit for `holder` (a scan), reusing the commit's worktree when one exists. The
    /// hold is written before the checkout so a sweep in between cannot take the worktree away.
    func checkout(_ params: CommitCheckoutParams) async throws -> CommitCheckout {
        let clonePath = clones.path(githubId: params.githubId)
        guard FileManager.default.fileExists(atPath: clonePath) else { throw CheckoutFailure.notCloned(githubId: params.githubId) }
        // A build whose head commit was replayed from its patch is scanned as features read it.
        let sha = try await store.effectiveSha(githubId: params.githubId, headSha: params.commitSha) ?? params.commitSha
        try await store.hold(githubId: params.githubId, sha: sha, holder: params.holder)
        // Two scans of one commit (Trivy and SonarQube) ask at once: the second must find the worktree the
        // first made, not make it again under the first one's reader.
        let key = "\(params.githubId)/\(sha)"
        await checkouts.acquire(key)
        do {
            try await ensureWorktree(githubId: params.githubId, sha: sha, clonePath: clonePath, estimate: RepositoryClones.diskUsage(clonePath))
            await checkouts.release(key)
        } catch let error as BudgetExceeded {
            await checkouts.release(key)
            try await store.release(githubId: params.githubId, sha: sha, holder: params.holder)
            throw error
        } catch {
            await checkouts.release(key)
            try await store.release(githubId: params.githubId, sha: sha, holder: params.holder)
            throw CheckoutFailure.checkoutFailed("commit \(params.commitSha) could not be checked out: \(error)")
        }
        guard let worktree = try await store.worktree(githubId: params.githubId, sha: sha) else {
            throw CheckoutFailure.checkoutFailed("the worktree of \(sha) vanished right after it was made")
        }
        return CommitCheckout(path: worktree.path, effectiveSha: sha)
    }

    /// Makes sure the clone has `commitSha` (a commit pushed after the last ingestion, scored before
    /// it is built): fetched under the clone's lock when missing, with pull-request heads.
    func fetchCommit(_ params: CommitFetchParams) async throws -> CommitFetchResult {
        let path = clones.path(githubId: params.githubId)
        guard FileManager.default.fileExists(atPath: path) else { throw CheckoutFailure.notCloned(githubId: params.githubId) }
        @Sendable func present() async throws -> Bool {
            try await BlockingWork.run { try GitRepository.open(path).containsCommit(params.commitSha) }
        }
        if try await present() { return CommitFetchResult(fetched: false) }
        let repository = try await githubRepository(params.fullName)
        try await clones.withLock(githubId: params.githubId) {
            _ = try await clones.update(githubId: params.githubId, url: repository.clone_url, token: github.configuration.tokens.first, pullRefs: true)
        }
        try await store.recordClone(githubId: params.githubId, fullName: params.fullName, path: path, fetched: true, sizeBytes: RepositoryClones.diskUsage(path))
        guard try await present() else {
            throw CheckoutFailure.checkoutFailed("\(params.fullName) has no commit \(params.commitSha) on its branches or pull requests (fetched just now)")
        }
        return CommitFetchResult(fetched: true)
    }

    /// Drops `holder`'s hold; with no holder and no pipeline needing it, the commit's worktree stays
    /// as a cache, evicted when a new worktree needs its room.
    func release(_ params: CommitCheckoutParams) async throws {
        let sha = try await store.effectiveSha(githubId: params.githubId, headSha: params.commitSha) ?? params.commitSha
        try await store.release(githubId: params.githubId, sha: sha, holder: params.holder)
    }
}

/// One checkout at a time per key (a commit) in this process; later callers wait their turn.
actor CommitCheckouts {
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ key: String) async {
        guard waiting[key] != nil else {
            waiting[key] = []
            return
        }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    func release(_ key: String) {
        guard var queue = waiting[key], !queue.isEmpty else {
            waiting[key] = nil
            return
        }
        let next = queue.removeFirst()
        waiting[key] = queue
        next.resume()
    }
}

extension IngestionPostgresStore {
    /// The commit a build of `headSha` was ingested as, when the ingestor has such a build.
    func effectiveSha(githubId: Int64, headSha: String) async throws -> String? {
        let rows = try await client.query(
            """
            SELECT effective_sha FROM \(unescaped: schema).ingestion_builds
            WHERE github_id = \(githubId) AND head_sha = \(headSha) AND effective_sha IS NOT NULL LIMIT 1
            """, logger: logger)
        for try await sha in rows.decode(String.self) { return sha }
        return nil
    }

    func hold(githubId: Int64, sha: String, holder: String) async throws {
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).worktree_holds (github_id, sha, holder) VALUES (\(githubId), \(sha), \(holder))
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    func release(githubId: Int64, sha: String, holder: String) async throws {
        try await client.query(
            "DELETE FROM \(unescaped: schema).worktree_holds WHERE github_id = \(githubId) AND sha = \(sha) AND holder = \(holder)", logger: logger)
    }
}
