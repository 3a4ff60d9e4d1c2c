import Foundation
import GitHubSandboxCore
import IngestorCore
import Testing

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
        let port = freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/git-http-server.py").path
        server.arguments = ["python3", script, directory + "/world", String(port)]
        // Not our stdout: a server outliving a crashed test process would hold swift test's pipe open.
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the test process ignores SIGTERM (ServiceLifecycle handles it), and children inherit that.
        defer { kill(server.processIdentifier, SIGKILL) }
        let url = "http://127.0.0.1:\(port)/acme/lib.git"
        try await waitUntil("the git HTTP server answers", timeout: .seconds(20)) {
            (try? await http(TestEnvironment.httpClient, .GET, url + "/info/refs?service=git-upload-pack"))?.status == 200
        }
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
