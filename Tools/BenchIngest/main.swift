import BuildRiskGit
import AsyncHTTPClient
import BuildRiskGitHub
import BuildRiskLogs
import Foundation
import GitHubSandboxCore
import Hummingbird
import IngestorCore
import Logging
import ServiceLifecycle

// bench-ingest: the ingestor's git and log work against a sandbox repository, with the git CLI
// as the yardstick.
//
//   bench-ingest [--commits 3000] [--rounds 3] [--worktrees 20] [--runs 200]
//
// Prints clone and fetch times (libgit2 vs `git clone --bare` / `git fetch`, same file:// URL),
// worktree creation per commit (libgit2 vs `git worktree add --detach`), log download + parse
// throughput through the sandbox's HTTP API, and disk used.

var commits = 3000
var rounds = 3
var worktreeCount = 20
var runCount = 200
var gitHTTPServer = "scripts/git-http-server.py"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--commits": commits = Int(arguments.next() ?? "") ?? commits
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--worktrees": worktreeCount = Int(arguments.next() ?? "") ?? worktreeCount
    case "--runs": runCount = Int(arguments.next() ?? "") ?? runCount
    case "--git-http-server": gitHTTPServer = arguments.next() ?? gitHTTPServer
    default:
        FileHandle.standardError.write(Data("usage: bench-ingest [--commits N] [--rounds N] [--worktrees N] [--runs N]\n".utf8))
        exit(2)
    }
}

@discardableResult
func git(_ arguments: [String]) throws -> String {
    String(decoding: try SandboxGit.run(arguments), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return (ContinuousClock.now - start).inSecondsDouble
}

extension Duration {
    var inSecondsDouble: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func line(_ label: String, _ libgit2: [Double], _ cli: [Double]) {
    let ratio = median(cli) > 0 ? median(libgit2) / median(cli) : 0
    print(String(format: "%-44@ libgit2 %8.1f ms   git CLI %8.1f ms   ratio %.2f   (medians of %d)", label as NSString, median(libgit2) * 1000, median(cli) * 1000, ratio, libgit2.count))
}

let work = FileManager.default.temporaryDirectory.appendingPathComponent("bench-ingest-\(UUID().uuidString)").path
defer { try? FileManager.default.removeItem(atPath: work) }
let world = SandboxWorld(directory: work + "/world", seed: 3)
let generation = try seconds { try world.addRepository(owner: "bench", name: "repo", commits: commits, language: "Python") }
guard let repository = world.repository("bench/repo") else { exit(1) }
print("bench-ingest: sandbox repository of \(commits) commits, \(repository.runs.count) runs (generated in \(String(format: "%.1f", generation)) s)")

// Clone and fetch over three transports, each timed for libgit2 and the git CLI against the same
// remote: smart HTTP (git http-backend behind scripts/git-http-server.py — the protocol GitHub
// speaks), a file:// URL (the pack protocol run locally) and a plain local path.
let httpPort = Int.random(in: 40_000..<50_000)
let server = Process()
server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
server.arguments = ["python3", gitHTTPServer, work + "/world", String(httpPort)]
try server.run()
defer { server.terminate() }
try await Task.sleep(for: .milliseconds(800))
let transports: [(label: String, url: String)] = [
    ("smart HTTP", "http://127.0.0.1:\(httpPort)/bench/repo.git"),
    ("file:// URL", "file://\(repository.gitPath)"),
    ("local path", repository.gitPath),
]
for (index, transport) in transports.enumerated() {
    var libgit2Clone: [Double] = []
    var cliClone: [Double] = []
    for round in 0..<rounds {
        libgit2Clone.append(try seconds { _ = try GitRepository.cloneBare(from: transport.url, to: "\(work)/lg-\(index)-\(round).git", options: GitTransferOptions()) })
        cliClone.append(try seconds { try git(["clone", "--bare", "--quiet", transport.url, "\(work)/cli-\(index)-\(round).git"]) })
    }
    line("bare clone, \(transport.label)", libgit2Clone, cliClone)
}
// Incremental fetch: new commits on the remote, then one clone of each kind fetches them.
for (index, transport) in transports.enumerated() {
    var libgit2Fetch: [Double] = []
    var cliFetch: [Double] = []
    for round in 0..<rounds {
        try world.addActivity(fullName: "bench/repo", commits: 50)
        let clone = try GitRepository.open("\(work)/lg-\(index)-\(round).git")
        libgit2Fetch.append(try seconds { try clone.fetch(options: GitTransferOptions()) })
        cliFetch.append(try seconds { try git(["--git-dir", "\(work)/cli-\(index)-\(round).git", "fetch", "--quiet", "--prune", transport.url, "+refs/heads/*:refs/heads/*"]) })
    }
    line("fetch of 50 new commits, \(transport.label)", libgit2Fetch, cliFetch)
}

// Worktrees.
let shas = try git(["--git-dir", "\(work)/cli-0-0.git", "rev-list", "--max-count=\(worktreeCount)", "main"]).split(separator: "\n").map(String.init)
let lg = try GitRepository.open("\(work)/lg-0-0.git")
try FileManager.default.createDirectory(atPath: "\(work)/wt-lg", withIntermediateDirectories: true)
try FileManager.default.createDirectory(atPath: "\(work)/wt-cli", withIntermediateDirectories: true)
var libgit2Worktree: [Double] = []
var cliWorktree: [Double] = []
for (index, sha) in shas.enumerated() {
    libgit2Worktree.append(try seconds { try lg.addDetachedWorktree(name: "w\(index)", path: "\(work)/wt-lg/\(index)", at: sha) })
    cliWorktree.append(try seconds { try git(["--git-dir", "\(work)/cli-0-0.git", "worktree", "add", "--detach", "--quiet", "\(work)/wt-cli/\(index)", sha]) })
}
line("worktree per commit", libgit2Worktree, cliWorktree)
let worktreeBytes = RepositoryClones.diskUsage("\(work)/wt-lg") / Int64(max(shas.count, 1))

// Logs through the sandbox's HTTP API: 302 → zip → unpack → parse.
let port = Int.random(in: 20_000..<40_000)
let baseURL = "http://127.0.0.1:\(port)"
var logger = Logger(label: "bench-ingest")
logger.logLevel = .error
let api = SandboxAPI(world: world)
let app = Application(router: api.router(baseURL: baseURL), configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
// The ingestor's two clients, as IngestorService makes them.
let apiClient = LazyHTTPClient(redirects: .disallow)
let downloadClient = LazyHTTPClient(read: IngestorConfiguration().logTimeout, redirects: .follow(max: 3, allowCycles: false))
let downloader = BuildLogDownloader(
    github: GitHubClient(configuration: GitHubConfiguration(baseURL: baseURL, tokens: ["bench"]), httpClient: apiClient, logger: logger),
    downloads: downloadClient, dataDirectory: work + "/data", configuration: IngestorConfiguration(), logger: logger)
try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    try await Task.sleep(for: .milliseconds(500))
    let runs = Array(repository.runs.filter { $0.status == "completed" }.prefix(runCount))
    var zipBytes: Int64 = 0
    var parsed = 0
    var missing = 0
    var lines = 0
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: BuildLogDownloader.Outcome.self) { downloads in
        var iterator = runs.makeIterator()
        for _ in 0..<4 {
            guard let run = iterator.next() else { break }
            downloads.addTask { try await downloader.fetch(fullName: repository.fullName, githubId: repository.id, runId: run.id) }
        }
        while let outcome = try await downloads.next() {
            switch outcome {
            case .parsed(let facts, let bytes):
                zipBytes += bytes
                parsed += 1
                lines += facts.jobs.reduce(0) { $0 + $1.lineCount }
            case .missing: missing += 1
            }
            if let run = iterator.next() {
                downloads.addTask { try await downloader.fetch(fullName: repository.fullName, githubId: repository.id, runId: run.id) }
            }
        }
    }
    let elapsed = (ContinuousClock.now - start).inSecondsDouble
    print(String(format: "logs: %d runs parsed (%d expired) in %.2f s = %.0f runs/s, %.1f MB zipped, %.0f lines/s (4 at a time, download + unzip + parse)",
                 parsed, missing, elapsed, Double(parsed) / elapsed, Double(zipBytes) / 1e6, Double(lines) / elapsed))
    let logBytes = RepositoryClones.diskUsage(work + "/data/logs")
    print(String(format: "disk: bare clone %.1f MB (git CLI's %.1f MB); unpacked job logs %.1f KB per run; worktree %.1f MB per commit",
                 Double(RepositoryClones.diskUsage("\(work)/lg-0-1.git")) / 1e6, Double(RepositoryClones.diskUsage("\(work)/cli-0-1.git")) / 1e6,
                 Double(logBytes) / Double(max(parsed, 1)) / 1e3, Double(worktreeBytes) / 1e6))
    await group.triggerGracefulShutdown()
    try await tasks.waitForAll()
}
try await apiClient.shutdown()
try await downloadClient.shutdown()
