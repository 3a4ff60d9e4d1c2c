import BuildRiskGit
import Foundation

/// Counts of one commit's changed files against its first parent, made once when the commit is
/// diffed, so a build's diff features add up a few numbers per commit instead of judging every
/// file's path again for every feature.
struct ChangeCounts: Sendable, Equatable {
    /// Per ``FileKind``.
    struct PerKind: Sendable, Equatable {
        var source = 0, test = 0, documentation = 0, other = 0

        subscript(kind: FileKind) -> Int {
            get {
                switch kind {
                case .source: source
                case .test: test
                case .documentation: documentation
                case .other: other
                }
            }
            set {
                switch kind {
                case .source: source = newValue
                case .test: test = newValue
                case .documentation: documentation = newValue
                case .other: other = newValue
                }
            }
        }
    }

    /// Per ``GitChangeStatusName``.
    struct PerStatus: Sendable, Equatable {
        var added = 0, deleted = 0, modified = 0, renamed = 0

        subscript(status: GitChangeStatusName) -> Int {
            get {
                switch status {
                case .added: added
                case .deleted: deleted
                case .modified: modified
                case .renamed: renamed
                }
            }
            set {
                switch status {
                case .added: added = newValue
                case .deleted: deleted = newValue
                case .modified: modified = newValue
                case .renamed: renamed = newValue
                }
            }
        }
    }

    /// `git diff --numstat` over all files (binary files count 0).
    var linesAdded = 0
    var linesDeleted = 0
    /// Lines added plus deleted, by the kind of the file's path.
    var churn = PerKind()
    /// Changed files by the kind of their path.
    var files = PerKind()
    var statuses = PerStatus()
}

/// What one commit changed against its first parent (a root commit: against the empty tree).
struct CommitChanges: Sendable {
    var counts: ChangeCounts
    var testsAdded: Int
    var testsDeleted: Int
    /// Every path the commit touched, old paths of renames included, sorted.
    var paths: [String]
    /// The same paths as the reader's path ids.
    var pathIDs: [Int32]
}

/// Commits and their diffs, read once per repository (they never change) and kept. Commits, paths
/// and e-mail addresses get small integer ids, so the walks every build makes (its 90-day window,
/// the files it touched) compare integers in arrays instead of hashing strings.
final class GitReader {
    let repository: GitRepository
    private(set) lazy var trees = TreeMeasurer(repository)

    // Per commit id, in parallel arrays (the walks read only what they need, without copying a
    // commit's strings): filled when the commit is read; a parent is named (given an id) first.
    private var commitIDs: [String: Int32] = [:]
    private var shas: [String] = []
    private var loaded: [Bool] = []
    private var commits: [GitCommit?] = []
    private var parents: [[Int32]] = []
    private var committerTimes: [Date] = []
    private var authors: [Int32] = []
    private var changes: [CommitChanges?] = []

    private var emailIDs: [String: Int32] = [:]
    private var pathIDs: [String: Int32] = [:]
    private var pathKinds: [String: FileKind] = [:]

    /// Marks for one walk at a time: an entry equal to the current stamp was seen in this walk.
    private var commitMarks: [UInt32] = []
    private var emailMarks: [UInt32] = []
    private var pathMarks: [UInt32] = []
    private var stamp: UInt32 = 0

    init(_ repository: GitRepository) { self.repository = repository }

    func hasCommit(_ sha: String) -> Bool {
        if let id = commitIDs[sha], loaded[Int(id)] { return true }
        return repository.containsCommit(sha)
    }

    func id(of sha: String) -> Int32 {
        if let id = commitIDs[sha] { return id }
        let id = Int32(shas.count)
        commitIDs[sha] = id
        shas.append(sha)
        loaded.append(false)
        commits.append(nil)
        parents.append([])
        committerTimes.append(.distantPast)
        authors.append(-1)
        changes.append(nil)
        commitMarks.append(0)
        return id
    }

    private static func intern(_ key: String, in table: inout [String: Int32], marks: inout [UInt32]) -> Int32 {
        if let id = table[key] { return id }
        let id = Int32(table.count)
        table[key] = id
        marks.append(0)
        return id
    }

    /// Reads the commit into the arrays once.
    private func load(_ id: Int32) throws {
        let index = Int(id)
        guard !loaded[index] else { return }
        var commit = try repository.commit(shas[index])
        commit.message = ""  // not read by any feature; commits stay small in the cache
        let parentIDs = commit.parents.map(self.id(of:))
        parents[index] = parentIDs
        committerTimes[index] = commit.committer.time
        authors[index] = Self.intern(commit.author.email.lowercased(), in: &emailIDs, marks: &emailMarks)
        commits[index] = commit
        loaded[index] = true
    }

    func commit(_ sha: String) throws -> GitCommit {
        let id = id(of: sha)
        try load(id)
        guard let commit = commits[Int(id)] else { throw ExtractionError.badInput("commit \(sha) was not read") }
        return commit
    }

    /// The kind of a path, judged once per path.
    func kind(of path: String) -> FileKind {
        if let kind = pathKinds[path] { return kind }
        let kind = FileKind(path: path)
        pathKinds[path] = kind
        return kind
    }

    func changes(of sha: String) throws -> CommitChanges { try changes(id(of: sha)) }

    func changes(_ id: Int32) throws -> CommitChanges {
        if let cached = changes[Int(id)] { return cached }
        let sha = shas[Int(id)]
        try load(id)
        let parent = parents[Int(id)].first.map { shas[Int($0)] }
        let files = try repository.diff(from: parent, to: sha, keepText: { self.kind(of: $0) == .test })
        var counts = ChangeCounts()
        var added = 0, deleted = 0
        var paths: Set<String> = []
        for file in files {
            let kind = kind(of: file.path)
            counts.linesAdded += file.addedLines
            counts.linesDeleted += file.deletedLines
            counts.churn[kind] += file.addedLines + file.deletedLines
            counts.files[kind] += 1
            counts.statuses[GitChangeStatusName(file.status)] += 1
            added += file.addedText.count(where: TestCaseMatcher.declaresTestCase)
            deleted += file.deletedText.count(where: TestCaseMatcher.declaresTestCase)
            paths.insert(file.path)
            if let oldPath = file.oldPath { paths.insert(oldPath) }
        }
        let sorted = paths.sorted()
        let result = CommitChanges(counts: counts, testsAdded: added, testsDeleted: deleted, paths: sorted,
                                   pathIDs: sorted.map { Self.intern($0, in: &pathIDs, marks: &pathMarks) })
        changes[Int(id)] = result
        return result
    }

    private func nextStamp() -> UInt32 {
        if stamp == .max {
            stamp = 0
            for index in commitMarks.indices { commitMarks[index] = 0 }
            for index in emailMarks.indices { emailMarks[index] = 0 }
            for index in pathMarks.indices { pathMarks[index] = 0 }
        }
        stamp += 1
        return stamp
    }

    /// Commits reachable from `sha` whose committer time is at or after `start`; the walk stops at
    /// older commits, as `git rev-list --since` does (it does not look past them).
    func window(from sha: String, since start: Date) throws -> [Int32] {
        let root = id(of: sha)
        let mark = nextStamp()
        commitMarks[Int(root)] = mark
        var stack = [root]
        var result: [Int32] = []
        while let id = stack.popLast() {
            try load(id)
            guard committerTimes[Int(id)] >= start else { continue }
            result.append(id)
            for parent in parents[Int(id)] where commitMarks[Int(parent)] != mark {
                commitMarks[Int(parent)] = mark
                stack.append(parent)
            }
        }
        return result
    }

    /// Distinct author e-mail addresses (lower case) of these commits (read already: a window's).
    func distinctAuthors(_ ids: [Int32]) throws -> Int {
        let mark = nextStamp()
        var count = 0
        for id in ids {
            try load(id)
            let author = Int(authors[Int(id)])
            if emailMarks[author] != mark {
                emailMarks[author] = mark
                count += 1
            }
        }
        return count
    }

    /// Whether a commit among `ids`, not among `excluded`, has the author (lower-case e-mail) of `sha`.
    func hasAuthor(of sha: String, among ids: [Int32], excluding excluded: [String]) throws -> Bool {
        let own = id(of: sha)
        try load(own)
        let author = authors[Int(own)]
        let excludedIDs = excluded.map(id(of:))
        let mark = nextStamp()
        for id in excludedIDs { commitMarks[Int(id)] = mark }
        for id in ids where commitMarks[Int(id)] != mark {
            try load(id)
            if authors[Int(id)] == author { return true }
        }
        return false
    }

    /// How many of the commits `ids` touched one of `paths` (each diffed against its first parent).
    func countTouching(_ paths: [String], among ids: [Int32]) throws -> Int {
        let mark = nextStamp()
        for path in paths { pathMarks[Int(Self.intern(path, in: &pathIDs, marks: &pathMarks))] = mark }
        // Diffing a commit may name new paths; they join the marks unmarked.
        var count = 0
        for id in ids {
            if try changes(id).pathIDs.contains(where: { pathMarks[Int($0)] == mark }) { count += 1 }
        }
        return count
    }
}
