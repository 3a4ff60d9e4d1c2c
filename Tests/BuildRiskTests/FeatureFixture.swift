import BuildRiskContracts
import FeatureExtractorCore
import Foundation

/// A git repository written by the git CLI in a temporary folder, with authors and times chosen by
/// the test (GIT_AUTHOR_DATE, GIT_COMMITTER_DATE), for checking git-derived features.
final class FixtureRepository {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("features-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try run(["init", "-q", "-b", "main"])
        try run(["config", "commit.gpgsign", "false"])
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Runs git in the repository, as `person` at `time` when given; its standard output.
    @discardableResult
    func run(_ arguments: [String], as person: (name: String, email: String)? = nil, at time: Date? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", path] + arguments
        var environment = ProcessInfo.processInfo.environment
        if let person {
            for role in ["AUTHOR", "COMMITTER"] {
                environment["GIT_\(role)_NAME"] = person.name
                environment["GIT_\(role)_EMAIL"] = person.email
            }
        }
        if let time {
            let stamp = "@\(Int(time.timeIntervalSince1970)) +0000"
            environment["GIT_AUTHOR_DATE"] = stamp
            environment["GIT_COMMITTER_DATE"] = stamp
        }
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FixtureError(description: "git \(arguments.joined(separator: " ")) failed: \(errorText)") }
        return String(decoding: data, as: UTF8.self)
    }

    func line(_ arguments: [String]) throws -> String {
        try run(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func write(_ file: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    func writeBytes(_ file: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path).appendingPathComponent(file))
    }

    /// Stages everything and commits; the new commit's id.
    @discardableResult
    func commit(_ message: String, as person: (name: String, email: String), at time: Date) throws -> String {
        try run(["add", "-A"])
        try run(["commit", "-q", "-m", message], as: person, at: time)
        return try line(["rev-parse", "HEAD"])
    }

    /// `git diff --numstat -M` and `--name-status -M` between a commit's first parent (or the empty
    /// tree) and the commit, as the CLI prints them.
    func cliChanges(of sha: String) throws -> [CLIChange] {
        let parent = try line(["rev-list", "--parents", "-n", "1", sha]).split(separator: " ").dropFirst().first.map(String.init)
            ?? "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  // git's empty tree
        let numstat = try run(["diff", "--numstat", "-M", "-z", parent, sha]).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        let names = try run(["diff", "--name-status", "-M", "-z", parent, sha]).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        var statuses: [String: (status: String, oldPath: String?)] = [:]
        var index = 0
        while index < names.count, !names[index].isEmpty {
            let status = String(names[index].prefix(1))
            if status == "R" || status == "C" {
                statuses[names[index + 2]] = (status, names[index + 1])
                index += 3
            } else {
                statuses[names[index + 1]] = (status, nil)
                index += 2
            }
        }
        var changes: [CLIChange] = []
        index = 0
        while index < numstat.count, !numstat[index].isEmpty {
            let fields = numstat[index].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            var path = fields[2]
            if path.isEmpty {  // a rename: old and new paths follow
                path = numstat[index + 2]
                index += 3
            } else {
                index += 1
            }
            let status = statuses[path] ?? ("?", nil)
            changes.append(CLIChange(status: status.status, path: path, oldPath: status.oldPath, added: Int(fields[0]), deleted: Int(fields[1])))
        }
        return changes
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// One line of the CLI's numstat joined with its name-status letter; nil line counts for binaries.
struct CLIChange: Equatable {
    var status: String
    var path: String
    var oldPath: String?
    var added: Int?
    var deleted: Int?
}

/// The history the feature tests share: main with a rename, a deletion, binaries and test files, a
/// feature branch merged with --no-ff, and five builds of the "CI" workflow.
struct FeatureHistory {
    static let alice = (name: "Alice", email: "alice@example.com")
    static let bob = (name: "Bob", email: "bob@example.com")
    static let carol = (name: "Carol", email: "carol@example.com")
    static let dave = (name: "Dave", email: "dave@example.com")
    /// The present of the fixture; commits and builds are placed in days before it.
    static let now = Date(timeIntervalSince1970: 1_780_000_000)
    static func day(_ offset: Double, hours: Double = 0) -> Date { now.addingTimeInterval(offset * 86_400 + hours * 3_600) }

    let repository: FixtureRepository
    var commits: [String: String] = [:]
    var builds: [ExtractionBuild] = []
    /// What the fixture says each path is (not what the extractor's classifier says).
    static let kinds: [String: String] = [
        "src/app.py": "source", "src/main.py": "source", "src/feature.go": "source",
        "tests/test_app.py": "test", "tests/test_main.py": "test", "src/feature_test.go": "test",
        "README.md": "documentation", "docs/guide.md": "documentation",
        ".github/workflows/ci.yml": "other", "Dockerfile": "other", "image.png": "other",
    ]

    static func lines(_ prefix: String, _ count: Int) -> String { (1...count).map { "\(prefix) line \($0)" }.joined(separator: "\n") + "\n" }

    init() throws {
        let git = try FixtureRepository()
        repository = git
        let app = Self.lines("value = 1 # app", 20)
        try git.write("src/app.py", app)
        try git.write("README.md", "# Demo\n")
        try git.write("tests/test_app.py", "import app\n\ndef test_one():\n    assert True\n\ndef test_two():\n    assert True\n\ndef test_three():\n    assert True\n")
        commits["c1"] = try git.commit("c1: the app", as: Self.alice, at: Self.day(-200))

        try git.write("src/app.py", app.replacingOccurrences(of: "app line 3\n", with: "app line three\nextra = 2\nextra = 3\n"))
        try git.write("docs/guide.md", Self.lines("guide", 5))
        try git.write(".github/workflows/ci.yml", "on: push\njobs: {}\n")
        commits["c2"] = try git.commit("c2: docs and CI", as: Self.bob, at: Self.day(-10))

        // A rename with a small edit (well above git's 50 % similarity) and a new test file.
        let renamed = try String(contentsOfFile: git.path + "/src/app.py", encoding: .utf8) + "print(value)\n"
        try FileManager.default.removeItem(atPath: git.path + "/src/app.py")
        try git.write("src/main.py", renamed)
        try git.write("tests/test_main.py", "def test_a():\n    pass\n\ndef test_b():\n    pass\n\nasync def test_c():\n    pass\n")
        commits["c3"] = try git.commit("c3: rename app to main", as: Self.alice, at: Self.day(-9))

        try git.run(["checkout", "-q", "-b", "feature"])
        try git.write("src/feature.go", "package feature\n\nfunc Feature() int { return 1 }\n")
        try git.write("src/feature_test.go", "package feature\n\nimport \"testing\"\n\nfunc TestFeature(t *testing.T) {}\n\nfunc TestMore(t *testing.T) {}\n")
        commits["f1"] = try git.commit("f1: feature", as: Self.carol, at: Self.day(-8))
        try FileManager.default.removeItem(atPath: git.path + "/README.md")
        try git.write("Dockerfile", "FROM alpine\n")
        commits["f2"] = try git.commit("f2: docker, no readme", as: Self.carol, at: Self.day(-7))

        try git.run(["checkout", "-q", "main"])
        try git.write("tests/test_app.py", "import app\n\ndef test_one():\n    assert True\n\ndef test_two():\n    assert True\n")
        try git.writeBytes("image.png", [0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3, 0, 255])
        commits["c4"] = try git.commit("c4: drop a test, add an image", as: Self.bob, at: Self.day(-7, hours: 12))
        try git.run(["merge", "-q", "--no-ff", "-m", "m1: merge feature", "feature"], as: Self.alice, at: Self.day(-6))
        commits["m1"] = try git.line(["rev-parse", "HEAD"])

        try git.write("src/main.py", renamed + "print(value + 1)\n")
        try FileManager.default.removeItem(atPath: git.path + "/tests/test_main.py")
        commits["c5"] = try git.commit("c5: no more test_main", as: Self.dave, at: Self.day(-5))
        try git.write("src/feature.go", "package feature\n\nfunc Feature() int { return 2 }\n")
        commits["c6"] = try git.commit("c6: feature returns 2", as: Self.alice, at: Self.day(-4))

        let shas = commits
        func build(_ id: Int64, _ commit: String, event: String = "push", actor: String, created: Date, finished: Date, conclusion: String) -> ExtractionBuild {
            ExtractionBuild(runId: id, runNumber: Int(id), workflowName: "CI", event: event, headBranch: event == "push" ? "main" : "feature",
                            headSha: shas[commit] ?? "", actor: actor, createdAt: created, finishedAt: finished, conclusion: conclusion,
                            pullRequestNumber: event == "push" ? nil : 1,
                            pullRequest: event == "push" ? nil : PullRequestFacts(
                                number: 1, createdAt: Self.day(-8), title: "Carol's feature", body: "", issueCommentTimes: [], reviewCommentTimes: []),
                            // GitHub has no comment on any of the fixture's commits.
                            commitComments: Dictionary(uniqueKeysWithValues: shas.values.map { ($0, [Date]()) }))
        }
        builds = [
            build(101, "c1", actor: "alice", created: Self.day(-199), finished: Self.day(-199, hours: 0.2), conclusion: "success"),
            build(102, "c3", actor: "alice", created: Self.day(-9, hours: 1), finished: Self.day(-9, hours: 1.2), conclusion: "failure"),
            // Runs long: still running when 104 is triggered, so 104 must not know its outcome.
            build(103, "f2", event: "pull_request", actor: "carol", created: Self.day(-7, hours: 1), finished: Self.day(-6, hours: 2.4), conclusion: "failure"),
            build(104, "m1", actor: "alice", created: Self.day(-6, hours: 1), finished: Self.day(-6, hours: 1.2), conclusion: "success"),
            build(105, "c6", actor: "alice", created: Self.day(-4, hours: 1), finished: Self.day(-4, hours: 1.2), conclusion: "failure"),
        ]
    }
}
