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
    public var pull_requests: [PullRequest]
    public var repository: Repository
    /// The repository the head commit lives in: a fork's for a pull request from a fork. GitHub sends
    /// null once that fork is deleted; the sandbox's forks are never deleted.
    public var head_repository: Repository?

    /// The short repository object GitHub nests in a run.
    public struct Repository: Codable, Sendable {
        public struct Owner: Codable, Sendable {
            public var login: String
        }
        public var id: Int64
        public var name: String
        public var full_name: String
        public var owner: Owner
        public var `private`: Bool
        public var fork: Bool
        public var html_url: String
    }

    /// An entry of `pull_requests`. GitHub lists only pull requests whose head branch is in the run's
    /// own repository there, so the run of a pull request from a fork has none.
    public struct PullRequest: Codable, Sendable {
        public struct Branch: Codable, Sendable {
            public struct Repo: Codable, Sendable {
                public var id: Int64
                public var name: String
            }
            public var ref: String
            public var sha: String
            public var repo: Repo
        }
        public var id: Int64
        public var number: Int
        public var head: Branch
        public var base: Branch
    }
}

/// A pull request of a generated repository; the API answers GitHub's pull-request JSON from it.
public struct SandboxPullRequest: Sendable {
    public var number: Int
    public var title: String
    /// The author's login.
    public var author: String
    public var headRef: String
    public var headSha: String
    /// Full name of the repository holding the head branch: the base repository's own, or a fork's.
    public var headRepository: String
    /// The main commit the pull request was opened against.
    public var baseSha: String
    public var fromFork: Bool
    public var createdAt: Date
    public var closedAt: Date?
    public var mergedAt: Date?
    public var commits: Int
    public var comments: Int
    public var reviewComments: Int
}

/// A comment on a commit (GitHub's commit comments), not on a line of it.
public struct SandboxCommitComment: Sendable {
    public var id: Int64
    public var sha: String
    /// The author's login.
    public var author: String
    public var body: String
    public var createdAt: Date
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
    /// For a fork: the full name of the repository it was forked from.
    public var parent: String?
    /// Oldest first.
    public var pulls: [SandboxPullRequest]
    var history: HistoryState

    public var fullName: String { "\(owner)/\(name)" }
}

/// What the generator remembers of a repository's history to extend it later.
struct HistoryState: Sendable {
    var commits = 0
    var nextRunID: Int64
    var nextRunNumber = 1
    var nextPullNumber = 1
    var clock: Date
    var lastFailed = false
    var flakyStreak = 0
    var authorCommits: [String: Int] = [:]
    /// Every file at main's tip with its content, so renames, merges and fork patches can edit them.
    var files: [String: String] = [:]
}

/// Why the sandbox could not generate its world.
public struct SandboxError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// The sandbox's world: repositories with histories and runs, generated from a seed.
///
/// Conclusions come from a hidden mechanism a model can learn: big and spread-out changes,
/// changes to risky modules, inexperienced authors, a failure just before and flaky streaks all
/// raise the chance that a run fails.
///
/// Histories also hold what real ones do: feature branches merged by merge commits, renames, and
/// pull requests from forks. A fork is a bare repository of its own at `<directory>/<fork owner>/<name>.git`
/// with the head on a branch; in the base repository the head commit (a child of a main commit) is only
/// under `refs/pull/N/head`, as on GitHub.
public final class SandboxWorld: Sendable {
    private let state: Mutex<[String: SandboxRepository]>
    /// Fork pull requests whose `refs/pull/N/head` is withheld: all of them, or these numbers.
    private let pullRefsWithheld = Mutex((all: false, numbers: Set<Int>()))
    /// Old names of renamed repositories, to their ids.
    private let moved = Mutex<[String: Int64]>([:])
    /// Comments on commits, by lower-case repository name and full sha, oldest first.
    private let commitComments = Mutex<[String: [String: [SandboxCommitComment]]]>([:])
    public let directory: String
    let seed: UInt64

    public init(directory: String, seed: UInt64) {
        self.directory = directory
        self.seed = seed
        state = Mutex([:])
    }

    /// Generates `owner/name` with `commits` commits (one push run each, plus pull-request runs).
    public func addRepository(owner: String, name: String, commits: Int, language: String = "Swift", isPrivate: Bool = false) throws {
        let gitPath = directory + "/\(owner)/\(name).git"
        try FileManager.default.createDirectory(atPath: gitPath, withIntermediateDirectories: true)
        try SandboxGit.run(["init", "--bare", "--quiet", "--initial-branch=main", gitPath])
        let id = Self.stableID("\(owner)/\(name)")
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var repository = SandboxRepository(
            id: id, owner: owner, name: name, defaultBranch: "main", isPrivate: isPrivate, language: language,
            createdAt: start, gitPath: gitPath, runs: [], parent: nil, pulls: [],
            history: HistoryState(nextRunID: id * 1_000_000, clock: start))
        try store(try extend(&repository, commits: commits), repository)
    }

    /// Adds `commits` new commits and their runs to a repository (new activity for a sync).
    public func addActivity(fullName: String, commits: Int) throws {
        guard var repository = repository(fullName), repository.parent == nil else { throw SandboxError(description: "no repository \(fullName)") }
        try store(try extend(&repository, commits: commits), repository)
    }

    private func store(_ forks: [SandboxRepository], _ repository: SandboxRepository) throws {
        state.withLock { state in
            state[repository.fullName.lowercased()] = repository
            for fork in forks { state[fork.fullName.lowercased()] = fork }
        }
        let withheld = pullRefsWithheld.withLock { $0 }
        if withheld.all || !withheld.numbers.isEmpty { try applyPullRefs(repository, withheld: withheld) }
    }

    /// Writes a comment on a commit of `fullName` (GitHub's commit comments), at `time`.
    public func addCommitComment(fullName: String, sha: String, at time: Date, author: String = "reviewer", body: String = "Looks good.") throws {
        guard let repository = repository(fullName) else { throw SandboxError(description: "no repository \(fullName)") }
        commitComments.withLock { all in
            var comments = all[repository.fullName.lowercased(), default: [:]]
            let id = repository.id * 10_000_000 + Int64(comments.values.reduce(0) { $0 + $1.count } + 1)
            comments[sha, default: []].append(SandboxCommitComment(id: id, sha: sha, author: author, body: body, createdAt: time))
            comments[sha]?.sort { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            all[repository.fullName.lowercased()] = comments
        }
    }

    /// The comments on a commit of `fullName`, oldest first.
    public func commitComments(fullName: String, sha: String) -> [SandboxCommitComment] {
        commitComments.withLock { $0[fullName.lowercased()]?[sha] ?? [] }
    }

    /// A generated repository or fork.
    public func repository(_ fullName: String) -> SandboxRepository? {
        state.withLock { $0[fullName.lowercased()] }
    }

    /// A repository by its id (GitHub's `/repositories/{id}`).
    public func repository(id: Int64) -> SandboxRepository? {
        state.withLock { $0.values.first { $0.id == id } }
    }

    /// Renames or transfers a repository, as GitHub does: it keeps its id and runs, its forks
    /// point at the new name, and the old name answers `301` to `/repositories/{id}`.
    public func rename(_ fullName: String, to newFullName: String) throws {
        let parts = newFullName.split(separator: "/").map(String.init)
        guard parts.count == 2 else { throw SandboxError(description: "\(newFullName) is not owner/name") }
        try state.withLock { state in
            guard var repository = state.removeValue(forKey: fullName.lowercased()) else { throw SandboxError(description: "no repository \(fullName)") }
            guard state[newFullName.lowercased()] == nil else { throw SandboxError(description: "\(newFullName) exists") }
            repository.owner = parts[0]
            repository.name = parts[1]
            state[newFullName.lowercased()] = repository
            for (key, fork) in state where fork.parent?.lowercased() == fullName.lowercased() { state[key]?.parent = repository.fullName }
        }
        moved.withLock { $0[fullName.lowercased()] = repository(newFullName)?.id }
    }

    /// The id of the repository that was called `fullName` before a rename, if it moved.
    public func movedRepository(_ fullName: String) -> Int64? {
        guard repository(fullName) == nil else { return nil }
        return moved.withLock { $0[fullName.lowercased()] }
    }

    /// The generated repositories, without their forks.
    public var repositories: [SandboxRepository] {
        state.withLock { $0.values.filter { $0.parent == nil } }.sorted { $0.id < $1.id }
    }

    /// The forks of `fullName`.
    public func forks(of fullName: String) -> [SandboxRepository] {
        state.withLock { $0.values.filter { $0.parent?.lowercased() == fullName.lowercased() } }.sorted { $0.id < $1.id }
    }

    /// Deletes (`true`) or restores (`false`) the `refs/pull/N/head` refs of pull requests from forks in
    /// every base repository, as when a fork's branch was force-pushed away: a client can no longer fetch
    /// the head by its pull ref and must replay the commit's patch. The objects stay (unreferenced), so
    /// the sandbox's own checks can still read the commit, and so can a fetch by exact sha.
    /// With `only`, just those pull requests' refs are withheld and every other one is kept, as on
    /// GitHub, where one fork's force-push takes nothing from the other pull requests.
    public func setPullRefsWithheld(_ withheld: Bool, only numbers: Set<Int> = []) throws {
        let wanted = (all: withheld, numbers: numbers)
        let changed = pullRefsWithheld.withLock { current in
            defer { current = wanted }
            return current.all != wanted.all || current.numbers != wanted.numbers
        }
        guard changed else { return }
        for repository in repositories { try applyPullRefs(repository, withheld: wanted) }
    }

    private func applyPullRefs(_ repository: SandboxRepository, withheld: (all: Bool, numbers: Set<Int>)) throws {
        let pulls = repository.pulls.filter(\.fromFork)
        guard !pulls.isEmpty else { return }
        let updates = pulls.map {
            withheld.all || withheld.numbers.contains($0.number)
                ? "delete refs/pull/\($0.number)/head\n" : "update refs/pull/\($0.number)/head \($0.headSha)\n"
        }
        try SandboxGit.run(["--git-dir", repository.gitPath, "update-ref", "--stdin"], input: updates.joined())
    }

    /// Stable per name (FNV-1a), so worlds generated apart never reuse an id for another repository.
    static func stableID(_ fullName: String) -> Int64 {
        100_000 + Int64(fullName.lowercased().utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } % 900_000_000)
    }

    // MARK: Generation

    private static let humans: [(name: String, email: String, experience: Double)] = [
        ("Ada Lovelace", "ada@example.org", 0.9),
        ("Grace Hopper", "grace@example.org", 0.8),
        ("Linus Newcomer", "linus@example.org", 0.2),
        ("Margaret Hamilton", "margaret@example.org", 0.7),
        ("Sam Intern", "sam@example.org", 0.1),
    ]
    private static let maintainers = humans.filter { $0.experience >= 0.7 }
    private static let bot = (name: "dependabot[bot]", email: "49699333+dependabot[bot]@users.noreply.github.com", experience: 1.0)
    /// Outside contributors who open pull requests from their forks; the email's local part is their login.
    private static let outsiders: [(name: String, email: String)] = [
        ("Olive Contributor", "octo-contrib@example.net"),
        ("Dee Driveby", "drive-by-dev@example.net"),
        ("Pat Patchwork", "patchwork-pat@example.net"),
    ]
    private static let modules = ["core", "api", "storage", "ui", "util"]
    private static let riskyModules: Set<String> = ["storage", "core"]
    /// Where fast-import writes commits that no branch holds (fork heads, feature branches); deleted once they have refs.
    private static let scratchRef = "refs/sandbox/scratch"

    /// A commit the generator wrote, in history order, waiting for its sha and its runs.
    private enum Planned {
        /// A change on main; `parent` is a mark or main's tip before this batch.
        case change(mark: Int, number: Int, parent: String?, commit: GeneratedCommit)
        /// A change on a feature branch that a merge commit brings into main later.
        case topic(mark: Int, branch: String, base: String, commit: GeneratedCommit)
        case merge(mark: Int, branch: String, commit: GeneratedCommit)
        /// An outsider's change on a branch of their fork, on top of the main commit `parent`.
        case fork(mark: Int, owner: String, branch: String, parent: String, commit: GeneratedCommit)
    }

    /// A feature branch being written.
    private struct Topic {
        var branch: String
        var base: String
        var tip: String
        var remaining: Int
        var changed: Set<String> = []
        var removed: Set<String> = []
        var commits: [GeneratedCommit] = []
    }

    /// Writes `commits` changes (plus merge and fork commits) and their runs; returns the forks it created.
    private func extend(_ repository: inout SandboxRepository, commits: Int) throws -> [SandboxRepository] {
        var random = SeededRandom(seed: seed &+ UInt64(repository.id) &* 7919 &+ UInt64(repository.history.commits))
        // Merges, renames and forks draw from a stream of their own, so a seed's changes and
        // conclusions stay what they were before the generator made them.
        var shape = SeededRandom(seed: (seed ^ 0x6A09_E667_F3BC_C908) &+ UInt64(repository.id) &* 104_729 &+ UInt64(repository.history.commits))
        let fileExtension = ["Swift": "swift", "Python": "py", "Go": "go"][repository.language] ?? "txt"
        let startTip = repository.history.commits > 0 ? SandboxGit.resolve("main", in: repository.gitPath) : nil
        var mainTip = startTip == nil ? nil : "refs/heads/main^0"
        var files = repository.history.files
        var stream = ""
        var planned: [Planned] = []
        var mark = 0
        var topic: Topic?
        // Every repository generated with 100 commits or more gets at least three pull requests from forks.
        let forcedForks: Set<Int> = commits >= 100 ? [commits / 4, commits / 2, commits * 3 / 4] : []
        var forkDue = false
        for index in 0..<commits {
            let number = repository.history.commits + index
            let isBot = random.next() < 0.08
            let author = isBot ? Self.bot : Self.humans[Int(random.next() * Double(Self.humans.count)) % Self.humans.count]
            let fileCount = 1 + Int(pow(random.next(), 2) * 8)
            var paths: [String] = []
            var touchedModules = Set<String>()
            for _ in 0..<fileCount {
                let module = Self.modules[Int(random.next() * Double(Self.modules.count)) % Self.modules.count]
                touchedModules.insert(module)
                let isTest = random.next() < 0.3
                let file = isTest
                    ? "Tests/\(module)/\(module.capitalized)Tests\(Int(random.next() * 4)).\(fileExtension)"
                    : "Sources/\(module)/File\(Int(random.next() * 12)).\(fileExtension)"
                paths.append(file)
            }
            if number == 0 { paths.append(".github/workflows/ci.yml") }
            repository.history.clock += 600 + random.next() * 7200
            let time = repository.history.clock
            if forcedForks.contains(index) { forkDue = true }
            if topic == nil, let base = mainTip, shape.next() < 0.03 {
                let branch = "feature/\(touchedModules.sorted().first ?? "work")-\(number + 1)"
                topic = Topic(branch: branch, base: base, tip: base, remaining: min(1 + Int(shape.next() * 3), commits - index))
            }
            let parent = topic?.tip ?? mainTip
            mark += 1
            let message = "\(isBot ? "Bump dependency" : "Change") \(touchedModules.sorted().joined(separator: ", ")) (#\(number + 1))"
            stream += Self.header(ref: topic == nil ? "refs/heads/main" : Self.scratchRef, mark: mark, name: author.name, email: author.email, time: time, message: message, parent: parent)
            var linesAdded = 0
            var touched = Set(paths)
            // Sorted: a Set's order changes from process to process, and the contents draw from the seed.
            for file in touched.sorted() {
                let content: String
                if file.hasSuffix("ci.yml") {
                    content = "name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make test\n"
                } else {
                    let lines = 5 + Int(random.next() * 60)
                    linesAdded += lines
                    content = (0..<lines).map { "// \(file) line \($0) rev \(number)" }.joined(separator: "\n") + "\n"
                }
                stream += Self.modify(file, content)
                files[file] = content
                topic?.changed.insert(file)
            }
            // Now and then a file moves (with a small edit, so git still pairs the two paths).
            if number > 10, shape.next() < 0.03 {
                let candidates = files.keys.filter { !$0.hasPrefix(".github/") && !touched.contains($0) }.sorted()
                let pick = shape.next()
                if !candidates.isEmpty, case let old = candidates[Int(pick * Double(candidates.count)) % candidates.count], let content = files[old] {
                    let folder = old.split(separator: "/").dropLast().joined(separator: "/")
                    let new = "\(folder)/Renamed\(number + 1).\(fileExtension)"
                    let edited = content + "// moved from \(old)\n"
                    stream += "R \(old) \(new)\n" + Self.modify(new, edited)
                    files[old] = nil
                    files[new] = edited
                    touched.insert(new)
                    touchedModules.insert(Self.module(of: new))
                    linesAdded += 1
                    topic?.removed.insert(old)
                    topic?.changed.remove(old)
                    topic?.changed.insert(new)
                }
            }
            let experience = Double(repository.history.authorCommits[author.email, default: 0])
            repository.history.authorCommits[author.email, default: 0] += 1
            let commit = GeneratedCommit(
                author: author.name, email: author.email, isBot: isBot, experience: author.experience, priorCommits: experience,
                files: touched.count, modules: touchedModules, linesAdded: linesAdded, time: time, message: message)
            if var current = topic {
                current.tip = ":\(mark)"
                current.remaining -= 1
                current.commits.append(commit)
                planned.append(.topic(mark: mark, branch: current.branch, base: current.base, commit: commit))
                topic = current
                guard current.remaining == 0 else { continue }
                // The branch is done: a maintainer merges it with a merge commit (main has not moved meanwhile).
                topic = nil
                mark += 1
                let maintainer = Self.maintainers[Int(shape.next() * Double(Self.maintainers.count)) % Self.maintainers.count]
                repository.history.clock += 300 + shape.next() * 900
                stream += Self.header(
                    ref: "refs/heads/main", mark: mark, name: maintainer.name, email: maintainer.email, time: repository.history.clock,
                    message: "Merge branch '\(current.branch)'", parent: current.base)
                stream += "merge \(current.tip)\n"
                for path in current.removed.subtracting(current.changed).sorted() { stream += "D \(path)\n" }
                for path in current.changed.sorted() { if let content = files[path] { stream += Self.modify(path, content) } }
                mainTip = ":\(mark)"
                let paths = current.changed.union(current.removed)
                planned.append(.merge(mark: mark, branch: current.branch, commit: GeneratedCommit(
                    author: maintainer.name, email: maintainer.email, isBot: false, experience: maintainer.experience,
                    priorCommits: Double(repository.history.authorCommits[maintainer.email, default: 0]),
                    files: paths.count, modules: Set(paths.map(Self.module(of:))), linesAdded: current.commits.reduce(0) { $0 + $1.linesAdded },
                    time: repository.history.clock, message: "Merge branch '\(current.branch)'")))
                continue
            }
            mainTip = ":\(mark)"
            planned.append(.change(mark: mark, number: number, parent: parent, commit: commit))
            guard forkDue || shape.next() < 0.015 else { continue }
            // An outsider's small fix, on top of this commit, pushed to their fork.
            let candidates = files.keys.filter { !$0.hasPrefix(".github/") }.sorted()
            guard !candidates.isEmpty else { continue }
            forkDue = false
            let outsider = Self.outsiders[Int(shape.next() * Double(Self.outsiders.count)) % Self.outsiders.count]
            let login = String(outsider.email.prefix { $0 != "@" })
            var fixed: [String] = []
            for _ in 0..<(1 + Int(shape.next() * 2)) {
                let path = candidates[Int(shape.next() * Double(candidates.count)) % candidates.count]
                if !fixed.contains(path) { fixed.append(path) }
            }
            mark += 1
            let forkTime = time + 60 + shape.next() * 400
            let forkMessage = "Fix \(Self.module(of: fixed[0])) edge case in \(fixed[0].split(separator: "/").last ?? "")"
            stream += Self.header(ref: Self.scratchRef, mark: mark, name: outsider.name, email: outsider.email, time: forkTime, message: forkMessage, parent: ":\(mark - 1)")
            for path in fixed {
                var lines = (files[path] ?? "\n").components(separatedBy: "\n")
                lines[0] += " (fixed)"
                lines.insert("// handles the empty case (@\(login))", at: lines.count - 1)
                stream += Self.modify(path, lines.joined(separator: "\n"))
            }
            let prior = Double(repository.history.authorCommits[outsider.email, default: 0])
            repository.history.authorCommits[outsider.email, default: 0] += 1
            planned.append(.fork(mark: mark, owner: login, branch: "patch-\(number + 1)", parent: ":\(mark - 1)", commit: GeneratedCommit(
                author: outsider.name, email: outsider.email, isBot: false, experience: 0.3, priorCommits: prior,
                files: fixed.count, modules: Set(fixed.map(Self.module(of:))), linesAdded: 2 * fixed.count, time: forkTime, message: forkMessage)))
        }
        repository.history.commits += commits
        repository.history.files = files
        // Real commits: git fast-import writes them into the bare repository.
        let marksFile = directory + "/.marks-\(repository.id)-\(repository.history.commits)"
        try SandboxGit.run(["--git-dir", repository.gitPath, "fast-import", "--quiet", "--export-marks=\(marksFile)"], input: stream)
        let shaByMark = try Self.readMarks(marksFile)
        try? FileManager.default.removeItem(atPath: marksFile)
        func resolved(_ reference: String?) throws -> String? {
            guard let reference else { return nil }
            guard reference.hasPrefix(":") else { return startTip }
            guard let mark = Int(reference.dropFirst()), let sha = shaByMark[mark] else {
                throw SandboxError(description: "fast-import gave no sha for mark \(reference)")
            }
            return sha
        }

        // Runs and pull requests in history order, so pull request numbers grow with time as on GitHub.
        var newRuns: [SandboxRun] = []
        var refs: [(ref: String, sha: String)] = []
        var topicPulls: [String: Int] = [:]
        var forks: [String: (repository: SandboxRepository, isNew: Bool, refspecs: [String])] = [:]
        func pullRef(_ pull: SandboxPullRequest) -> [SandboxRun.PullRequest] {
            let repo = SandboxRun.PullRequest.Branch.Repo(id: repository.id, name: repository.name)
            return [SandboxRun.PullRequest(
                id: repository.id * 100_000 + Int64(pull.number), number: pull.number,
                head: .init(ref: pull.headRef, sha: pull.headSha, repo: repo), base: .init(ref: "main", sha: pull.baseSha, repo: repo))]
        }
        func openPull(title: String, commit: GeneratedCommit, headRef: String, headSha: String, headRepository: String, baseSha: String) -> Int {
            let number = repository.history.nextPullNumber
            repository.history.nextPullNumber += 1
            repository.pulls.append(SandboxPullRequest(
                number: number, title: title, author: Self.login(commit), headRef: headRef, headSha: headSha, headRepository: headRepository,
                baseSha: baseSha, fromFork: headRepository != repository.fullName, createdAt: commit.time, commits: 1,
                comments: Int(pow(shape.next(), 2) * 6), reviewComments: Int(pow(shape.next(), 2) * 4)))
            return repository.pulls.count - 1
        }
        for item in planned {
            switch item {
            case let .change(mark, number, parent, commit):
                guard let sha = try resolved(":\(mark)") else { continue }
                newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "push", branch: "main", random: &random))
                if random.next() < 0.25 {
                    // A one-commit pull request whose head landed on main as it was.
                    let branch = "feature/\(number + 1)"
                    let index = openPull(title: commit.message, commit: commit, headRef: branch, headSha: sha, headRepository: repository.fullName, baseSha: try resolved(parent) ?? sha)
                    repository.pulls[index].closedAt = commit.time.addingTimeInterval(60)
                    repository.pulls[index].mergedAt = commit.time.addingTimeInterval(60)
                    refs.append(("refs/pull/\(repository.pulls[index].number)/head", sha))
                    newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "pull_request", branch: branch, pullRequests: pullRef(repository.pulls[index]), random: &random))
                }
            case let .topic(mark, branch, base, commit):
                guard let sha = try resolved(":\(mark)"), let baseSha = try resolved(base) else { continue }
                if let index = topicPulls[branch] {
                    repository.pulls[index].headSha = sha
                    repository.pulls[index].commits += 1
                } else {
                    topicPulls[branch] = openPull(title: commit.message, commit: commit, headRef: branch, headSha: sha, headRepository: repository.fullName, baseSha: baseSha)
                }
                let pull = repository.pulls[topicPulls[branch] ?? 0]
                newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "push", branch: branch, random: &random))
                if random.next() < 0.25 {
                    newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "pull_request", branch: branch, pullRequests: pullRef(pull), random: &random))
                }
            case let .merge(mark, branch, commit):
                guard let sha = try resolved(":\(mark)"), let index = topicPulls[branch] else { continue }
                repository.pulls[index].closedAt = commit.time
                repository.pulls[index].mergedAt = commit.time
                refs.append(("refs/pull/\(repository.pulls[index].number)/head", repository.pulls[index].headSha))
                newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "push", branch: "main", random: &shape))
            case let .fork(mark, owner, branch, parent, commit):
                guard let sha = try resolved(":\(mark)"), let baseSha = try resolved(parent) else { continue }
                if forks[owner] == nil { forks[owner] = forkRepository(of: repository, owner: owner, created: commit.time) }
                guard let fork = forks[owner]?.repository else { continue }
                let index = openPull(title: commit.message, commit: commit, headRef: branch, headSha: sha, headRepository: fork.fullName, baseSha: baseSha)
                let number = repository.pulls[index].number
                if shape.next() < 0.4 { repository.pulls[index].closedAt = commit.time.addingTimeInterval(86_400 * (1 + shape.next() * 9)) }
                refs.append(("refs/pull/\(number)/head", sha))
                forks[owner]?.refspecs.append("+refs/pull/\(number)/head:refs/heads/\(branch)")
                newRuns.append(makeRun(&repository, commit: commit, sha: sha, event: "pull_request", branch: branch, head: Self.runRepository(fork), random: &shape))
            }
        }
        var transaction = refs.map { "update \($0.ref) \($0.sha)\n" }.joined()
        if stream.contains("commit \(Self.scratchRef)\n") { transaction += "delete \(Self.scratchRef)\n" }
        if !transaction.isEmpty { try SandboxGit.run(["--git-dir", repository.gitPath, "update-ref", "--stdin"], input: transaction) }
        // A fork starts as a clone of the base repository; its branches come from the base's pull refs.
        for fork in forks.values.sorted(by: { $0.repository.id < $1.repository.id }) {
            if fork.isNew {
                try FileManager.default.createDirectory(atPath: (fork.repository.gitPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try SandboxGit.run(["clone", "--bare", "--quiet", repository.gitPath, fork.repository.gitPath])
            }
            try SandboxGit.run(["--git-dir", fork.repository.gitPath, "fetch", "--quiet", "--no-tags", repository.gitPath] + fork.refspecs)
        }
        repository.runs = newRuns.reversed() + repository.runs
        return forks.values.filter(\.isNew).map(\.repository)
    }

    /// `owner`'s fork of `repository`: the one made before, or a new one named as GitHub would (`name-1` when taken).
    private func forkRepository(of repository: SandboxRepository, owner: String, created: Date) -> (repository: SandboxRepository, isNew: Bool, refspecs: [String]) {
        var name = repository.name
        while let existing = self.repository("\(owner)/\(name)") {
            if existing.parent == repository.fullName { return (existing, false, []) }
            name += "-1"
        }
        let fork = SandboxRepository(
            id: Self.stableID("\(owner)/\(name)"), owner: owner, name: name, defaultBranch: "main", isPrivate: repository.isPrivate,
            language: repository.language, createdAt: created, gitPath: directory + "/\(owner)/\(name).git", runs: [],
            parent: repository.fullName, pulls: [], history: HistoryState(nextRunID: 0, clock: created))
        return (fork, true, [])
    }

    private static func header(ref: String, mark: Int, name: String, email: String, time: Date, message: String, parent: String?) -> String {
        let timestamp = Int(time.timeIntervalSince1970)
        var text = "commit \(ref)\nmark :\(mark)\n"
        text += "author \(name) <\(email)> \(timestamp) +0000\ncommitter \(name) <\(email)> \(timestamp) +0000\n"
        text += "data \(message.utf8.count)\n\(message)\n"
        if let parent { text += "from \(parent)\n" }
        return text
    }

    private static func modify(_ path: String, _ content: String) -> String {
        "M 100644 inline \(path)\ndata \(content.utf8.count)\n\(content)\n"
    }

    /// `Sources/<module>/…` and `Tests/<module>/…` belong to `<module>`.
    private static func module(of path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.count > 2 ? String(parts[1]) : "root"
    }

    private static func login(_ commit: GeneratedCommit) -> String {
        commit.isBot ? "dependabot[bot]" : commit.email.split(separator: "@").first.map(String.init) ?? "someone"
    }

    static func runRepository(_ repository: SandboxRepository) -> SandboxRun.Repository {
        SandboxRun.Repository(
            id: repository.id, name: repository.name, full_name: repository.fullName, owner: .init(login: repository.owner),
            private: repository.isPrivate, fork: repository.parent != nil, html_url: "https://github.com/\(repository.fullName)")
    }

    private func makeRun(
        _ repository: inout SandboxRepository, commit: GeneratedCommit, sha: String, event: String, branch: String,
        pullRequests: [SandboxRun.PullRequest] = [], head: SandboxRun.Repository? = nil, random: inout SeededRandom
    ) -> SandboxRun {
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
        let login = Self.login(commit)
        let own = Self.runRepository(repository)
        return SandboxRun(
            id: id, name: "CI", head_branch: branch, head_sha: sha, event: event, status: status, conclusion: conclusion,
            run_number: number, run_attempt: 1, created_at: Self.iso(created), updated_at: Self.iso(updated),
            actor: .init(login: login, id: login.utf8.reduce(Int64(17)) { ($0 &* 31 &+ Int64($1)) % 1_000_000_007 }, type: commit.isBot ? "Bot" : "User"),
            html_url: "https://github.com/\(repository.fullName)/actions/runs/\(id)",
            pull_requests: pullRequests, repository: own, head_repository: head ?? own)
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601)
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
    var message: String
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
