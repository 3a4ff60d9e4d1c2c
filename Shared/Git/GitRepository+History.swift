import CLibGit2
import Foundation

/// A person and instant of a commit (author or committer).
public struct GitPerson: Sendable, Equatable, Hashable {
    public var name: String
    public var email: String
    public var time: Date

    public init(name: String, email: String, time: Date) {
        self.name = name
        self.email = email
        self.time = time
    }
}

/// What one commit says of itself, read from the object database.
public struct GitCommit: Sendable, Equatable {
    public var sha: String
    /// In order: the first parent is the branch the commit was made on.
    public var parents: [String]
    public var author: GitPerson
    public var committer: GitPerson
    public var message: String

    public init(sha: String, parents: [String], author: GitPerson, committer: GitPerson, message: String) {
        self.sha = sha
        self.parents = parents
        self.author = author
        self.committer = committer
        self.message = message
    }

    public var isMerge: Bool { parents.count > 1 }
}

/// How a file changed between two trees, in `git diff --name-status` letters.
public enum GitChangeStatus: String, Sendable, Equatable, Codable {
    case added = "A"
    case deleted = "D"
    case modified = "M"
    case renamed = "R"
    case copied = "C"
    /// A file became a symbolic link or the other way round.
    case typeChanged = "T"
}

/// One file of a tree-to-tree diff, with `git diff --numstat`'s line counts.
public struct GitFileChange: Sendable, Equatable {
    public var status: GitChangeStatus
    /// The path after the change (the old path for a deletion).
    public var path: String
    /// The path before the change when it differs (renames and copies).
    public var oldPath: String?
    public var addedLines: Int
    public var deletedLines: Int
    /// Binary files have no line counts (`-` in `--numstat`).
    public var isBinary: Bool
    /// The added and deleted lines themselves, only for the paths the caller asked for.
    public var addedText: [String]
    public var deletedText: [String]

    public init(status: GitChangeStatus, path: String, oldPath: String? = nil, addedLines: Int, deletedLines: Int, isBinary: Bool = false,
                addedText: [String] = [], deletedText: [String] = []) {
        self.status = status
        self.path = path
        self.oldPath = oldPath
        self.addedLines = addedLines
        self.deletedLines = deletedLines
        self.isBinary = isBinary
        self.addedText = addedText
        self.deletedText = deletedText
    }
}

extension GitRepository {
    /// Reads one commit: parents, author, committer and message.
    public func commit(_ sha: String) throws -> GitCommit {
        var oid = try Self.oid(sha)
        var commit: OpaquePointer?
        try GitError.check(git_commit_lookup(&commit, pointer, &oid), "look up \(sha)")
        defer { git_commit_free(commit) }
        let parents = (0..<git_commit_parentcount(commit)).compactMap { index in
            git_commit_parent_id(commit, index).map { Self.string($0.pointee) }
        }
        return GitCommit(
            sha: sha,
            parents: parents,
            author: Self.person(git_commit_author(commit)),
            committer: Self.person(git_commit_committer(commit)),
            message: git_commit_message(commit).map { String(cString: $0) } ?? ""
        )
    }

    /// The commits reachable from `sha`, newest first as `git rev-list` (topological, then by
    /// committer time); with `firstParentOnly`, only the first-parent chain (`--first-parent`).
    /// `limit` stops the walk after that many commits.
    public func revwalk(from sha: String, firstParentOnly: Bool = false, limit: Int? = nil) throws -> [String] {
        var oid = try Self.oid(sha)
        var walker: OpaquePointer?
        try GitError.check(git_revwalk_new(&walker, pointer), "revwalk")
        defer { git_revwalk_free(walker) }
        try GitError.check(git_revwalk_sorting(walker, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue), "revwalk sorting")
        if firstParentOnly { try GitError.check(git_revwalk_simplify_first_parent(walker), "revwalk first parent") }
        try GitError.check(git_revwalk_push(walker, &oid), "revwalk from \(sha)")
        var result: [String] = []
        var next = git_oid()
        while limit.map({ result.count < $0 }) ?? true {
            let code = git_revwalk_next(&next, walker)
            if code == GIT_ITEROVER.rawValue { break }
            try GitError.check(code, "revwalk step")
            result.append(Self.string(next))
        }
        return result
    }

    /// The files that differ between two commits' trees, with line counts, renames detected as
    /// `git diff -M` does (50 % similarity). `from` nil means the empty tree (a root commit's diff).
    /// The added and deleted lines are kept for the paths `keepText` accepts.
    public func diff(from: String?, to: String, detectRenames: Bool = true, keepText: (String) -> Bool = { _ in false }) throws -> [GitFileChange] {
        let newTree = try tree(of: to)
        defer { git_tree_free(newTree) }
        let oldTree = try from.map { try tree(of: $0) }
        defer { if let oldTree { git_tree_free(oldTree) } }

        var options = git_diff_options()
        try GitError.check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "diff options")
        var diff: OpaquePointer?
        try GitError.check(git_diff_tree_to_tree(&diff, pointer, oldTree, newTree, &options), "diff \(from ?? "empty tree")..\(to)")
        defer { git_diff_free(diff) }
        if detectRenames {
            var find = git_diff_find_options()
            try GitError.check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "find options")
            find.flags = GIT_DIFF_FIND_RENAMES.rawValue
            try GitError.check(git_diff_find_similar(diff, &find), "find renames")
        }

        var changes: [GitFileChange] = []
        for index in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, index)?.pointee else { continue }
            let status: GitChangeStatus
            switch delta.status {
            case GIT_DELTA_ADDED: status = .added
            case GIT_DELTA_DELETED: status = .deleted
            case GIT_DELTA_RENAMED: status = .renamed
            case GIT_DELTA_COPIED: status = .copied
            case GIT_DELTA_TYPECHANGE: status = .typeChanged
            case GIT_DELTA_MODIFIED: status = .modified
            default: continue
            }
            let newPath = delta.new_file.path.map { String(cString: $0) } ?? ""
            let oldPath = delta.old_file.path.map { String(cString: $0) } ?? newPath
            let path = status == .deleted ? oldPath : newPath
            var change = GitFileChange(status: status, path: path, oldPath: oldPath == path ? nil : oldPath, addedLines: 0, deletedLines: 0)

            var patch: OpaquePointer?
            try GitError.check(git_patch_from_diff(&patch, diff, index), "patch of \(path)")
            defer { git_patch_free(patch) }
            // libgit2 decides binary-ness while it loads the patch; the delta's flag is set then.
            if let loaded = git_patch_get_delta(patch)?.pointee, loaded.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0 {
                change.isBinary = true
            } else {
                var context = 0, additions = 0, deletions = 0
                try GitError.check(git_patch_line_stats(&context, &additions, &deletions, patch), "line stats of \(path)")
                change.addedLines = additions
                change.deletedLines = deletions
                if keepText(path) { try Self.collectLines(of: patch, into: &change) }
            }
            changes.append(change)
        }
        return changes
    }

    // MARK: Helpers

    private func tree(of sha: String) throws -> OpaquePointer {
        var oid = try Self.oid(sha)
        var commit: OpaquePointer?
        try GitError.check(git_commit_lookup(&commit, pointer, &oid), "look up \(sha)")
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try GitError.check(git_commit_tree(&tree, commit), "tree of \(sha)")
        guard let tree else { throw GitError(code: -1, message: "no tree", operation: "tree of \(sha)") }
        return tree
    }

    private static func collectLines(of patch: OpaquePointer?, into change: inout GitFileChange) throws {
        for hunk in 0..<git_patch_num_hunks(patch) {
            let count = git_patch_num_lines_in_hunk(patch, hunk)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                var line: UnsafePointer<git_diff_line>?
                try GitError.check(git_patch_get_line_in_hunk(&line, patch, hunk, index), "diff line")
                guard let line = line?.pointee, let content = line.content else { continue }
                let text = content.withMemoryRebound(to: UInt8.self, capacity: line.content_len) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: line.content_len), as: UTF8.self)
                }
                switch UInt8(bitPattern: line.origin) {
                case UInt8(ascii: "+"): change.addedText.append(text)
                case UInt8(ascii: "-"): change.deletedText.append(text)
                default: break
                }
            }
        }
    }

    private static func person(_ signature: UnsafePointer<git_signature>?) -> GitPerson {
        guard let signature = signature?.pointee else { return GitPerson(name: "", email: "", time: Date(timeIntervalSince1970: 0)) }
        return GitPerson(
            name: signature.name.map { String(cString: $0) } ?? "",
            email: signature.email.map { String(cString: $0) } ?? "",
            time: Date(timeIntervalSince1970: TimeInterval(signature.when.time))
        )
    }
}

/// What a tree entry points at.
public enum GitTreeEntryKind: Sendable, Equatable {
    case blob
    case tree
    /// A submodule's commit (its files are in another repository).
    case commit
}

/// One entry of a tree object: a name in its folder and the object it names.
public struct GitTreeEntry: Sendable, Equatable {
    public var name: String
    public var oid: String
    public var kind: GitTreeEntryKind
}

extension GitRepository {
    /// The id of a commit's root tree.
    public func treeID(ofCommit sha: String) throws -> String {
        let tree = try tree(of: sha)
        defer { git_tree_free(tree) }
        return Self.string(git_tree_id(tree).pointee)
    }

    /// The entries of one tree object (not recursive): subtrees are named by their ids, which
    /// change only when something under them changes, so callers can cache per subtree.
    public func treeEntries(_ treeID: String) throws -> [GitTreeEntry] {
        var oid = try Self.oid(treeID)
        var tree: OpaquePointer?
        try GitError.check(git_tree_lookup(&tree, pointer, &oid), "look up tree \(treeID)")
        defer { git_tree_free(tree) }
        return (0..<git_tree_entrycount(tree)).compactMap { index in
            guard let entry = git_tree_entry_byindex(tree, index), let id = git_tree_entry_id(entry) else { return nil }
            let kind: GitTreeEntryKind
            switch git_tree_entry_type(entry) {
            case GIT_OBJECT_BLOB: kind = .blob
            case GIT_OBJECT_TREE: kind = .tree
            case GIT_OBJECT_COMMIT: kind = .commit
            default: return nil
            }
            return GitTreeEntry(name: String(cString: git_tree_entry_name(entry)), oid: Self.string(id.pointee), kind: kind)
        }
    }

    /// Reads a blob's bytes in place (no copy); `body` must not keep the buffer.
    public func withBlob<R>(_ blobID: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        var oid = try Self.oid(blobID)
        var blob: OpaquePointer?
        try GitError.check(git_blob_lookup(&blob, pointer, &oid), "look up blob \(blobID)")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        return try body(UnsafeRawBufferPointer(start: git_blob_rawcontent(blob), count: size))
    }
}
