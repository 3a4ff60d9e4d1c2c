import BuildRiskGit
import Foundation
import Logging
import NIOPosix
import PostgresNIO

/// One bare clone per repository under `<data>/repos/<github id>.git`, fetched (pruning) when it
/// exists. A PostgreSQL advisory lock per repository makes sure no two clones or fetches of one
/// repository run at once, in this process or any replica; a crash releases it with the connection.
public struct RepositoryClones: Sendable {
    let postgres: PostgresClient
    let directory: String
    let logger: Logger
    /// Attempts per clone or fetch; a failing attempt is retried after 1 s, 2 s, 4 s …
    let attempts: Int
    let timeout: Duration

    /// Pull-request heads (a fork's head commit is reachable only through these).
    static let pullRefspec = "+refs/pull/*/head:refs/pull/*/head"

    /// The advisory-lock class of repository locks (the first key of `pg_advisory_lock(int, int)`).
    static let lockClass: Int32 = 0x1_6E57

    public init(postgres: PostgresClient, dataDirectory: String, attempts: Int = 3, timeout: Duration = .seconds(600), logger: Logger) {
        self.postgres = postgres
        directory = ClonePaths.directory(dataDirectory: dataDirectory)
        self.attempts = attempts
        self.timeout = timeout
        self.logger = logger
    }

    public func path(githubId: Int64) -> String { ClonePaths.bare(in: directory, githubId: githubId) }

    /// Runs `body` holding the repository's advisory lock.
    public func withLock<T: Sendable>(githubId: Int64, _ body: @Sendable () async throws -> T) async throws -> T {
        try await postgres.withConnection { connection in
            let key = Int32(truncatingIfNeeded: githubId ^ (githubId >> 32))
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockClass), \(key))", logger: logger)
            do {
                let result = try await body()
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockClass), \(key))", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockClass), \(key))", logger: logger)
                throw error
            }
        }
    }

    /// What `update` did.
    public enum Outcome: Sendable, Equatable {
        case cloned
        case fetched
    }

    /// Clones the repository, or fetches it when the clone exists; also fetches the pull-request
    /// heads (`refs/pull/*/head`) when asked. Must run inside ``withLock(githubId:_:)``.
    public func update(githubId: Int64, url: String, token: String?, pullRefs: Bool) async throws -> Outcome {
        let path = path(githubId: githubId)
        let directory = directory
        let timeout = timeout
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await BlockingWork.run {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    // A clone is made beside its final place and renamed into it, so a crash mid-clone
                    // never leaves a half clone that looks complete; leftovers of one are removed here.
                    let prefix = "\(githubId).git.partial-"
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) {
                        try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                    }
                    let options = GitTransferOptions(token: token, timeout: timeout)
                    if FileManager.default.fileExists(atPath: path + "/HEAD") {
                        // One negotiation for branches and pull heads: libgit2 1.5 speaks only
                        // protocol v0, where every request makes the server list all of the
                        // repository's refs (thousands of refs/pull/* on a busy repository).
                        let repository = try GitRepository.open(path)
                        try repository.fetch(refspecs: pullRefs ? ["+refs/heads/*:refs/heads/*", Self.pullRefspec] : [], prune: true, options: options)
                        return .fetched
                    }
                    let partial = "\(directory)/\(prefix)\(UUID().uuidString)"
                    do {
                        let repository = try GitRepository.cloneBare(from: url, to: partial, options: options)
                        if pullRefs { try repository.fetch(refspecs: [Self.pullRefspec], prune: false, options: options) }
                    } catch {
                        try? FileManager.default.removeItem(atPath: partial)
                        throw error
                    }
                    try FileManager.default.moveItem(atPath: partial, toPath: path)
                    return .cloned
                }
            } catch {
                guard attempt < attempts else { throw error }
                logger.info("clone or fetch failed; retrying", metadata: ["github_id": "\(githubId)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: .seconds(1 << (attempt - 1)))
            }
        }
    }

    /// Bytes a directory tree takes on disk (file sizes; a repository or a worktree).
    public static func diskUsage(_ path: String) -> Int64 {
        guard let enumerator = FileManager.default.enumerator(at: URL(fileURLWithPath: path), includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey]) else { return 0 }
        var total: Int64 = 0
        for case let url as URL in enumerator {
            if let values = try? url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey]), values.isRegularFile == true {
                total += Int64(values.fileSize ?? 0)
            }
        }
        return total
    }
}
