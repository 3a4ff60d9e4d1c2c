import BuildRiskGit
import BuildRiskRuntime
import Foundation
import GitHubSandboxCore
import IngestorCore
import Synchronization
import Testing

/// Processes to kill with the suite.
final class GitServers: Sendable {
    private let pids = Mutex<[Int32]>([])
    func add(_ pid: Int32) { pids.withLock { $0.append(pid) } }
    deinit {
        for pid in pids.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}

/// The libgit2 layer against real repositories written by git itself, checked with the git CLI.
@Suite(.timeLimit(.minutes(5)))
struct GitRepositoryTests {
    func withWorld<T>(_ body: (SandboxWorld, String) throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("git-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let world = SandboxWorld(directory: directory + "/world", seed: 5)
        try await offThePool { try world.addRepository(owner: "acme", name: "lib", commits: 120) }
        return try body(world, directory)
    }

    @Test func aBareCloneAndAnIncrementalFetchHoldWhatTheRemoteHas() async throws {
        try await withWorld { world, directory in
            let remote = try #require(world.repository("acme/lib")).gitPath
            let clonePath = directory + "/clone.git"
            let clone = try GitRepository.cloneBare(from: remote, to: clonePath, options: GitTransferOptions())
            #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "refs/heads/main"]) == (try gitLine(["--git-dir", remote, "rev-parse", "refs/heads/main"])))
            #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "--is-bare-repository"]) == "true")

            try world.addActivity(fullName: "acme/lib", commits: 7)
            let newHead = try gitLine(["--git-dir", remote, "rev-parse", "refs/heads/main"])
            #expect(!clone.containsCommit(newHead))
            try clone.fetch(options: GitTransferOptions())
            #expect(clone.containsCommit(newHead))
            #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "refs/heads/main"]) == newHead)
            #expect(try clone.isOnBranch(newHead))
            #expect(!clone.containsCommit(String(repeating: "0", count: 40)))
        }
    }

    /// Over smart HTTP (`git http-backend`, the protocol GitHub speaks), through BuildRisk's own
    /// libgit2 socket stream: a clone and a fetch hold what the remote has, and a port nobody
    /// listens on fails with the address in the reason.
    @Test func aCloneAndAFetchOverSmartHTTPGoThroughOurSocketStream() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("git-http-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let world = SandboxWorld(directory: directory + "/world", seed: 5)
        try await offThePool { try world.addRepository(owner: "acme", name: "lib", commits: 60) }
        let remote = try #require(world.repository("acme/lib")).gitPath
        let url = try await startGitHTTPServer(root: directory + "/world") + "/acme/lib.git"
        try await offThePool {
            let clonePath = directory + "/clone.git"
            let clone = try GitRepository.cloneBare(from: url, to: clonePath, options: GitTransferOptions(timeout: .seconds(60)))
            guard try gitLine(["--git-dir", clonePath, "rev-parse", "refs/heads/main"]) == (try gitLine(["--git-dir", remote, "rev-parse", "refs/heads/main"])) else {
                throw WaitTimeout(description: "the clone's main is not the remote's")
            }
            try world.addActivity(fullName: "acme/lib", commits: 5)
            let newHead = try gitLine(["--git-dir", remote, "rev-parse", "refs/heads/main"])
            try clone.fetch(options: GitTransferOptions(timeout: .seconds(60)))
            guard clone.containsCommit(newHead) else { throw WaitTimeout(description: "the fetch did not bring \(newHead)") }
        }
        let closed = freePort()
        let error = await #expect(throws: GitError.self) {
            _ = try GitRepository.cloneBare(from: "http://127.0.0.1:\(closed)/acme/lib.git", to: directory + "/nothing.git", options: GitTransferOptions())
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("127.0.0.1:\(closed)"))
    }

    /// Serves every repository under `root` over smart HTTP (`git http-backend`, the protocol
    /// GitHub speaks) until the test ends; with `token`, only to requests that carry it; with
    /// `tls`, over https with that certificate and key. Answers the server's base URL.
    func startGitHTTPServer(root: String, token: String? = nil, tls: (certificate: String, key: String)? = nil) async throws -> String {
        let port = freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/git-http-server.py").path
        server.arguments = ["python3", script, root, String(port)] + (token.map { [$0] } ?? []) + (tls.map { ["--tls", $0.certificate, $0.key] } ?? [])
        // Not our stdout: a server outliving a crashed test process would hold swift test's pipe open.
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let pid = server.processIdentifier
        // SIGKILL: the test process ignores SIGTERM (ServiceLifecycle handles it), and children inherit that.
        servers.add(pid)
        // A TCP connection, not a request: a server whose certificate nobody trusts is ready too.
        try await waitUntil("the git HTTP server listens", timeout: startupTimeout) { PortAllocator.acceptsConnections(port) }
        return "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
    }

    /// A certificate for 127.0.0.1 signed by the tests' CA, which libgit2 is told to trust (the
    /// product's GIT_SSL_CA_FILE). mbedTLS 2.28 matches a host only against DNS names (no IP
    /// address entries), so the address is one of them too.
    static let trustedServerCertificate: Result<(certificate: String, key: String), any Error> = Result {
        let pair = try gitHTTPSCertificate.get()
        try GitRepository.trustCertificates(inFile: TestEnvironment.tls.caCertificatePath)
        return pair
    }

    /// The git servers' certificate and key (PEM paths), made once; trusting its CA is left to the
    /// caller (the ingestor does it from GIT_SSL_CA_FILE).
    static let gitHTTPSCertificate: Result<(certificate: String, key: String), any Error> = Result {
        let material = TestEnvironment.tls
        try material.ensure(names: ["git-https"], hostnames: ["localhost", "127.0.0.1"])
        return (material.certificatePath(for: "git-https"), material.keyPath(for: "git-https"))
    }

    /// The git servers this suite started; killed when the suite value goes away.
    let servers = GitServers()

    /// A private repository (GitHub answers 401 without credentials) clones with its token, sent
    /// as the password of `x-access-token`, over https as from GitHub (the server's certificate
    /// checked against the configured CA) and over plain http to this machine; without it, or
    /// with a wrong one, the clone fails with the reason, and the token appears in no message.
    @Test(arguments: ["https", "http"])
    func aPrivateRepositoryClonesWithItsTokenAndIsRefusedWithoutIt(scheme: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("git-auth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let world = SandboxWorld(directory: directory + "/world", seed: 8)
        try await offThePool { try world.addRepository(owner: "acme", name: "secret", commits: 30) }
        let remote = try #require(world.repository("acme/secret")).gitPath
        let token = "ghs_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
        let tls = scheme == "https" ? try Self.trustedServerCertificate.get() : nil
        let url = try await startGitHTTPServer(root: directory + "/world", token: token, tls: tls) + "/acme/secret.git"
        #expect(url.hasPrefix("\(scheme)://127.0.0.1:"))

        for (index, (attempt, given)) in [("no token", nil), ("a wrong token", "ghs_wrong\(token.suffix(6))")].enumerated() {
            let refused = directory + "/refused-\(index).git"
            let error = await #expect(throws: GitError.self, "a clone with \(attempt) must fail") {
                try await offThePool {
                    _ = try GitRepository.cloneBare(from: url, to: refused, options: GitTransferOptions(token: given, timeout: .seconds(30)))
                }
            }
            let message = error.map { "\($0)" } ?? ""
            #expect(message.contains(given == nil ? "authentication required (HTTP 401)" : "refused the token"), "reason: \(message)")
            #expect(!message.contains(token) && !message.contains(given ?? token))
            #expect(!FileManager.default.fileExists(atPath: refused + "/HEAD"))
        }
        let clonePath = directory + "/clone.git"
        try await offThePool {
            _ = try GitRepository.cloneBare(from: url, to: clonePath, options: GitTransferOptions(token: token, timeout: .seconds(60)))
        }
        #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "refs/heads/main"]) == (try gitLine(["--git-dir", remote, "rev-parse", "refs/heads/main"])))
        // The token is not written into the clone's configuration.
        let config = try String(contentsOfFile: clonePath + "/config", encoding: .utf8)
        #expect(!config.contains(token))
        // Fetches need it too.
        try world.addActivity(fullName: "acme/secret", commits: 3)
        let newHead = try gitLine(["--git-dir", remote, "rev-parse", "refs/heads/main"])
        let (refusal, fetched) = try await offThePool {
            let clone = try GitRepository.open(clonePath)
            var refusal: String?
            do { try clone.fetch(options: GitTransferOptions(timeout: .seconds(30))) } catch { refusal = "\(error)" }
            try clone.fetch(options: GitTransferOptions(token: token, timeout: .seconds(60)))
            return (refusal, clone.containsCommit(newHead))
        }
        #expect(refusal?.contains("authentication required (HTTP 401)") == true, "a fetch without the token must fail: \(refusal ?? "it did not")")
        #expect(fetched)
    }

    /// A server whose certificate no trusted CA signed (here, a CA of its own) is refused before
    /// any request, the token with it: the clone fails naming the certificate problem.
    @Test func aCertificateNoTrustedCASignedIsRefusedWithTheReason() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("git-untrusted-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let world = SandboxWorld(directory: directory + "/world", seed: 9)
        try await offThePool { try world.addRepository(owner: "acme", name: "secret", commits: 5) }
        let stranger = TLSMaterial(directory: directory + "/stranger-ca")
        try stranger.ensure(names: ["git-https"], hostnames: ["localhost", "127.0.0.1"])
        // libgit2 trusts the tests' CA (as GIT_SSL_CA_FILE makes the ingestor), which did not sign this one.
        _ = try Self.trustedServerCertificate.get()
        let token = "ghs_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
        let url = try await startGitHTTPServer(
            root: directory + "/world", token: token,
            tls: (stranger.certificatePath(for: "git-https"), stranger.keyPath(for: "git-https"))) + "/acme/secret.git"
        let clonePath = directory + "/clone.git"
        let error = await #expect(throws: GitError.self) {
            try await offThePool {
                _ = try GitRepository.cloneBare(from: url, to: clonePath, options: GitTransferOptions(token: token, timeout: .seconds(30)))
            }
        }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("TLS certificate is not trusted"), "reason: \(message)")
        #expect(message.contains("not correctly signed by the trusted CA"), "reason: \(message)")
        #expect(!message.contains(token))
        #expect(!FileManager.default.fileExists(atPath: clonePath + "/HEAD"))
    }

    @Test func aReplayedPatchGivesTheOriginalTree() async throws {
        try await withWorld { world, directory in
            let remote = try #require(world.repository("acme/lib")).gitPath
            let clonePath = directory + "/clone.git"
            let clone = try GitRepository.cloneBare(from: remote, to: clonePath, options: GitTransferOptions())
            // Replay the head commit onto its parent, as the ingestor does for a fork commit it cannot fetch.
            let head = try gitLine(["--git-dir", remote, "rev-parse", "main"])
            let parent = try gitLine(["--git-dir", remote, "rev-parse", "main^"])
            let patch = try gitLine(["--git-dir", remote, "format-patch", "-1", "--stdout", head]) + "\n"
            let signature = GitRepository.Signature(name: "Ada Lovelace", email: "ada@example.org", time: Date(timeIntervalSince1970: 1_700_000_000))
            let replayed = try clone.replayPatch(patch, onto: parent, message: "replayed\n", author: signature, committer: signature)
            #expect(clone.containsCommit(replayed))
            #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "\(replayed)^{tree}"]) == (try gitLine(["--git-dir", remote, "rev-parse", "\(head)^{tree}"])))
            #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "\(replayed)^"]) == parent)

            // A patch that does not fit the parent is refused, and a missing parent too.
            let root = try gitLine(["--git-dir", remote, "rev-list", "--max-parents=0", "main"])
            #expect(throws: GitError.self) { try clone.replayPatch(patch, onto: root, message: "x", author: signature, committer: signature) }
            #expect(throws: GitError.self) { try clone.replayPatch("not a patch", onto: parent, message: "x", author: signature, committer: signature) }
        }
    }

    @Test func aDetachedWorktreeChecksOutTheCommitAndIsRemovedCleanly() async throws {
        try await withWorld { world, directory in
            let remote = try #require(world.repository("acme/lib")).gitPath
            let clonePath = directory + "/clone.git"
            let clone = try GitRepository.cloneBare(from: remote, to: clonePath, options: GitTransferOptions())
            let commit = try gitLine(["--git-dir", remote, "rev-parse", "main~5"])
            let path = directory + "/worktrees/one"
            try FileManager.default.createDirectory(atPath: directory + "/worktrees", withIntermediateDirectories: true)
            try clone.addDetachedWorktree(name: "one", path: path, at: commit)
            #expect(try gitLine(["-C", path, "rev-parse", "HEAD"]) == commit)
            // Detached, and the temporary branch is gone.
            #expect((try? gitLine(["-C", path, "symbolic-ref", "-q", "HEAD"])) == nil)
            #expect(try gitLine(["--git-dir", clonePath, "branch", "--list", "buildrisk-worktree-*"]).isEmpty)
            // The checkout holds the commit's files.
            let files = try gitLine(["--git-dir", remote, "ls-tree", "-r", "--name-only", commit]).split(separator: "\n")
            #expect(!files.isEmpty)
            for file in files { #expect(FileManager.default.fileExists(atPath: "\(path)/\(file)")) }
            #expect(try clone.worktreeNames() == ["one"])

            try clone.removeWorktree(name: "one")
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try clone.worktreeNames().isEmpty)
        }
    }
}
