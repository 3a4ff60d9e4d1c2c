import Foundation
import Synchronization

/// A workflow run in GitHub's REST format (the fields BuildRisk reads, named as GitHub names them).
public struct SandboxRun: Codable, Sendable {
    public struct Actor: Codable, Sendable {
        public var login: String
        public var id: Int64
        public var type: String
    }
    public var id: Int64
    public var name: String
    public var head_branch: String
    public var head_sha: String
    public var event: String
    public var status: String
    public var conclusion: String?
    public var run_number: Int
    public var run_attempt: Int
    public var created_at: String
    public var updated_at: String
    public var actor: Actor
    public var html_url: String
}

/// One generated repository: a real bare git repository on disk and the runs built on it.
public struct SandboxRepository: Sendable {
    public var id: Int64
    public var owner: String
    public var name: String
    public var defaultBranch: String
    public var isPrivate: Bool
    public var language: String
    public var createdAt: Date
    public var gitPath: String
    /// Newest first, as GitHub lists them.
    public var runs: [SandboxRun]
    var history: HistoryState

    public var fullName: String { "\(owner)/\(name)" }
}

/// What the generator remembers of a repository's history to extend it later.
struct HistoryState: Sendable {
    var commits = 0
    var nextRunID: Int64
    var nextRunNumber = 1
    var clock: Date
    var lastFailed = false
    var flakyStreak = 0
    var authorCommits: [String: Int] = [:]
}

/// Why the sandbox could not generate its world.
public struct SandboxError: Error, CustomStringConvertible {
    public var description: String
}

/// The sandbox's world: repositories with histories and runs, generated from a seed.
///
/// Conclusions come from a hidden mechanism a model can learn: big and spread-out changes,
/// changes to risky modules, inexperienced authors, a failure just before and flaky streaks all
/// raise the chance that a run fails.
public final class SandboxWorld: Sendable {
    private let state: Mutex<[String: SandboxRepository]>
    public let directory: String
    let seed: UInt64

    public init(directory: String, seed: UInt64) {
        self.directory = directory
        self.seed = seed
        state = Mutex([:])
    }

    /// Generates `owner/name` with `commits` commits (one push run each, plus pull-request runs).
    public func addRepository(owner: String, name: String, commits: Int, language: String = "Swift", isPrivate: Bool = false) throws {
        // Stable per name (FNV-1a), so worlds generated apart never reuse an id for another repository.
        let id = 100_000 + Int64("\(owner)/\(name)".lowercased().utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } % 900_000_000)
        let gitPath = directory + "/\(owner)/\(name).git"
        try FileManager.default.createDirectory(atPath: gitPath, withIntermediateDirectories: true)
        try Self.git(["init", "--bare", "--quiet", "--initial-branch=main", gitPath])
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var repository = SandboxRepository(
            id: id, owner: owner, name: name, defaultBranch: "main", isPrivate: isPrivate, language: language,
            createdAt: start, gitPath: gitPath, runs: [],
            history: HistoryState(nextRunID: id * 1_000_000, clock: start))
        try extend(&repository, commits: commits)
        let key = repository.fullName.lowercased()
        state.withLock { $0[key] = repository }
    }

    /// Adds `commits` new commits and their runs to a repository (new activity for a sync).
    public func addActivity(fullName: String, commits: Int) throws {
        guard var repository = repository(fullName) else { throw SandboxError(description: "no repository \(fullName)") }
        try extend(&repository, commits: commits)
        let key = repository.fullName.lowercased()
        state.withLock { $0[key] = repository }
    }

    public func repository(_ fullName: String) -> SandboxRepository? {
        state.withLock { $0[fullName.lowercased()] }
    }

    public var repositories: [SandboxRepository] {
        state.withLock { Array($0.values) }.sorted { $0.id < $1.id }
    }

    // MARK: Generation

    private static let humans: [(name: String, email: String, experience: Double)] = [
        ("Ada Lovelace", "ada@example.org", 0.9),
        ("Grace Hopper", "grace@example.org", 0.8),
        ("Linus Newcomer", "linus@example.org", 0.2),
        ("Margaret Hamilton", "margaret@example.org", 0.7),
        ("Sam Intern", "sam@example.org", 0.1),
    ]
    private static let bot = (name: "dependabot[bot]", email: "49699333+dependabot[bot]@users.noreply.github.com", experience: 1.0)
    private static let modules = ["core", "api", "storage", "ui", "util"]
    private static let riskyModules: Set<String> = ["storage", "core"]

    private func extend(_ repository: inout SandboxRepository, commits: Int) throws {
        var random = SeededRandom(seed: seed &+ UInt64(repository.id) &* 7919 &+ UInt64(repository.history.commits))
        let fileExtension = ["Swift": "swift", "Python": "py", "Go": "go"][repository.language] ?? "txt"
        var stream = ""
        var marks: [(mark: Int, commit: GeneratedCommit)] = []
        for index in 0..<commits {
            let number = repository.history.commits + index
            let isBot = random.next() < 0.08
            let author = isBot ? Self.bot : Self.humans[Int(random.next() * Double(Self.humans.count)) % Self.humans.count]
            let fileCount = 1 + Int(pow(random.next(), 2) * 8)
            var files: [String] = []
            var touchedModules = Set<String>()
            for _ in 0..<fileCount {
                let module = Self.modules[Int(random.next() * Double(Self.modules.count)) % Self.modules.count]
                touchedModules.insert(module)
                let isTest = random.next() < 0.3
                let file = isTest
                    ? "Tests/\(module)/\(module.capitalized)Tests\(Int(random.next() * 4)).\(fileExtension)"
                    : "Sources/\(module)/File\(Int(random.next() * 12)).\(fileExtension)"
                files.append(file)
            }
            if number == 0 { files.append(".github/workflows/ci.yml") }
            repository.history.clock += 600 + random.next() * 7200
            let timestamp = Int(repository.history.clock.timeIntervalSince1970)
            let mark = number + 1
            stream += "commit refs/heads/main\nmark :\(mark)\n"
            stream += "author \(author.name) <\(author.email)> \(timestamp) +0000\n"
            stream += "committer \(author.name) <\(author.email)> \(timestamp) +0000\n"
            let message = "\(isBot ? "Bump dependency" : "Change") \(touchedModules.sorted().joined(separator: ", ")) (#\(number + 1))"
            stream += "data \(message.utf8.count)\n\(message)\n"
            if number > 0 { stream += "from \(number == repository.history.commits ? "refs/heads/main^0" : ":\(mark - 1)")\n" }
            var linesAdded = 0
            for file in Set(files) {
                let content: String
                if file.hasSuffix("ci.yml") {
                    content = "name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make test\n"
                } else {
                    let lines = 5 + Int(random.next() * 60)
                    linesAdded += lines
                    content = (0..<lines).map { "// \(file) line \($0) rev \(number)" }.joined(separator: "\n") + "\n"
                }
                stream += "M 100644 inline \(file)\ndata \(content.utf8.count)\n\(content)\n"
            }
            let experience = Double(repository.history.authorCommits[author.email, default: 0])
            repository.history.authorCommits[author.email, default: 0] += 1
            marks.append((mark, GeneratedCommit(
                author: author.name, email: author.email, isBot: isBot, experience: author.experience, priorCommits: experience,
                files: Set(files).count, modules: touchedModules, linesAdded: linesAdded, time: repository.history.clock)))
        }
        repository.history.commits += commits
        // Real commits: git fast-import writes them into the bare repository.
        let marksFile = directory + "/.marks-\(repository.id)-\(repository.history.commits)"
        try Self.git(["--git-dir", repository.gitPath, "fast-import", "--quiet", "--export-marks=\(marksFile)"], input: stream)
        let shaByMark = try Self.readMarks(marksFile)
        try? FileManager.default.removeItem(atPath: marksFile)

        var newRuns: [SandboxRun] = []
        for (mark, commit) in marks {
            guard let sha = shaByMark[mark] else { throw SandboxError(description: "fast-import gave no sha for mark \(mark)") }
            newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "push", branch: "main", random: &random))
            if random.next() < 0.25 {
                newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "pull_request", branch: "feature/\(mark)", random: &random))
            }
        }
        repository.runs = newRuns.reversed() + repository.runs
    }

    private func makeRun(_ repository: inout SandboxRepository, commit: GeneratedCommit, sha: String, event: String, branch: String, random: inout SeededRandom) -> SandboxRun {
        // The hidden mechanism.
        var score = -2.4
        score += 0.18 * Double(commit.files)
        score += 0.9 * Double(commit.modules.intersection(Self.riskyModules).count)
        score += 0.25 * Double(commit.modules.count)
        score += 1.2 * (1 - commit.experience) * (commit.priorCommits < 10 ? 1 : 0.5)
        score += repository.history.lastFailed ? 1.1 : 0
        if repository.history.flakyStreak > 0 { score += 1.5 }
        if commit.isBot { score -= 1.0 }
        let failed = random.next() < 1 / (1 + exp(-score))
        if repository.history.flakyStreak > 0 {
            repository.history.flakyStreak -= 1
        } else if random.next() < 0.02 {
            repository.history.flakyStreak = 3
        }
        repository.history.lastFailed = failed
        var conclusion: String? = failed ? "failure" : "success"
        var status = "completed"
        let roll = random.next()
        if roll < 0.03 { conclusion = "cancelled" } else if roll < 0.05 { conclusion = "skipped" } else if roll < 0.06 { conclusion = "action_required" } else if roll < 0.065 { conclusion = "stale" }
        let created = commit.time.addingTimeInterval(30)
        let updated = created.addingTimeInterval(120 + random.next() * 900)
        if updated > Date() { status = "in_progress"; conclusion = nil }
        let id = repository.history.nextRunID
        repository.history.nextRunID += 1 + Int64(random.next() * 3)
        let number = repository.history.nextRunNumber
        repository.history.nextRunNumber += 1
        let login = commit.isBot ? "dependabot[bot]" : commit.email.split(separator: "@").first.map(String.init) ?? "someone"
        return SandboxRun(
            id: id, name: "CI", head_branch: branch, head_sha: sha, event: event, status: status, conclusion: conclusion,
            run_number: number, run_attempt: 1, created_at: Self.iso(created), updated_at: Self.iso(updated),
            actor: .init(login: login, id: login.utf8.reduce(Int64(17)) { ($0 &* 31 &+ Int64($1)) % 1_000_000_007 }, type: commit.isBot ? "Bot" : "User"),
            html_url: "https://github.com/\(repository.fullName)/actions/runs/\(id)")
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    static func git(_ arguments: [String], input: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let stdin = Pipe()
        if input != nil { process.standardInput = stdin }
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SandboxError(description: "git \(arguments.prefix(3).joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
        }
    }

    static func readMarks(_ path: String) throws -> [Int: String] {
        var result: [Int: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let mark = Int(parts[0].dropFirst()) { result[mark] = String(parts[1]) }
        }
        return result
    }
}

struct GeneratedCommit {
    var author: String
    var email: String
    var isBot: Bool
    var experience: Double
    var priorCommits: Double
    var files: Int
    var modules: Set<String>
    var linesAdded: Int
    var time: Date
}

/// SplitMix64: the same seed gives the same world.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    /// A double in [0, 1).
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }
}
