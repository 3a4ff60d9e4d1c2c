import Foundation

/// The git CLI as the sandbox uses it: writing histories (fast-import, refs) and reading commits,
/// diffs and patches back in GitHub's shapes.
public enum SandboxGit {
    /// SIGPIPE ignored once for the process (a write to a closed pipe then fails with EPIPE).
    static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Runs `git arguments`; its standard output, or a ``SandboxError`` when git exits non-zero.
    @discardableResult
    public static func run(_ arguments: [String], input: String? = nil) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let stdin = Pipe()
        if input != nil { process.standardInput = stdin }
        let stdout = Pipe()
        process.standardOutput = stdout
        let stderr = Pipe()
        process.standardError = stderr
        _ = ignoreBrokenPipes
        try process.run()
        if let input {
            // A git that exits early (an error) closes its stdin: the write fails with EPIPE and the
            // exit status below says why, instead of SIGPIPE ending this whole process unannounced.
            try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SandboxError(description: "git \(arguments.prefix(4).joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return output
    }

    /// The output as text, or nil when git fails (an unknown revision, say).
    static func text(_ arguments: [String]) -> String? {
        (try? run(arguments)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The full sha of `reference` as a commit in `gitDir`, or nil.
    static func resolve(_ reference: String, in gitDir: String) -> String? {
        guard isPlausibleReference(reference) else { return nil }
        return text(["--git-dir", gitDir, "rev-parse", "--verify", "--quiet", reference + "^{commit}"])?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A sha or branch name, never an option or a range (the text reaches git's command line).
    static func isPlausibleReference(_ reference: String) -> Bool {
        guard let first = reference.unicodeScalars.first, CharacterSet.alphanumerics.contains(first), reference.count <= 255,
            !reference.contains("..")
        else { return false }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._/-~^"))
        return reference.unicodeScalars.allSatisfy { allowed.contains($0) && $0.isASCII }
    }

    // MARK: Commits

    /// A commit's metadata as `git log` prints it.
    struct Commit {
        var sha: String
        var parents: [String]
        var authorName: String
        var authorEmail: String
        var authorDate: Date
        var committerName: String
        var committerEmail: String
        var committerDate: Date
        var tree: String
        var message: String
    }

    private static let logFormat = "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%cn%x1f%ce%x1f%ct%x1f%T%x1f%B%x1e"

    /// Commits as `git log arguments` lists them.
    static func commits(in gitDir: String, _ arguments: [String]) throws -> [Commit] {
        let output = String(decoding: try run(["--git-dir", gitDir, "log", logFormat] + arguments), as: UTF8.self)
        return output.split(separator: "\u{1e}").compactMap { record in
            let fields = record.trimmingCharacters(in: .newlines).split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 10, let authored = Double(fields[4]), let committed = Double(fields[7]) else { return nil }
            return Commit(
                sha: fields[0], parents: fields[1].split(separator: " ").map(String.init),
                authorName: fields[2], authorEmail: fields[3], authorDate: Date(timeIntervalSince1970: authored),
                committerName: fields[5], committerEmail: fields[6], committerDate: Date(timeIntervalSince1970: committed),
                tree: fields[8], message: fields[9].trimmingCharacters(in: .newlines))
        }
    }

    /// The unified diff between two commits (`from` nil: against the empty tree), renames detected as GitHub does.
    static func diff(in gitDir: String, from: String?, to: String) throws -> String {
        let arguments = ["--git-dir", gitDir, "diff-tree", "-r", "-p", "-M", "--full-index", "--no-color"]
        return String(decoding: try run(arguments + (from.map { [$0, to] } ?? ["--root", to])), as: UTF8.self)
    }

    /// A commit as `git format-patch` writes it (what `git am` replays); merges against their first parent.
    static func patch(in gitDir: String, _ commit: Commit) throws -> String {
        // format-patch skips merge commits; `git show --pretty=email` writes the same mbox shape for them.
        let arguments = commit.parents.count > 1
            ? ["show", "--pretty=email", "--diff-merges=first-parent", "--patch", "--stat", "--full-index", commit.sha]
            : ["format-patch", "-1", "--stdout", "--full-index"] + (commit.parents.isEmpty ? ["--root"] : []) + [commit.sha]
        return String(decoding: try run(["--git-dir", gitDir] + arguments), as: UTF8.self)
    }

    /// One file of a diff in GitHub's shape (`files[]` of the commit and compare answers).
    struct FileChange: Encodable {
        var sha: String?
        var filename: String
        var status: String
        var additions: Int
        var deletions: Int
        var changes: Int
        var patch: String?
        var previous_filename: String?
    }

    /// Splits a unified diff into GitHub's per-file entries: the `patch` is the file's hunks without git's headers.
    static func files(ofDiff diff: String) -> [FileChange] {
        var files: [FileChange] = []
        var lines: [Substring] = []
        func flush() {
            defer { lines = [] }
            guard !lines.isEmpty else { return }
            var file = FileChange(filename: "", status: "modified", additions: 0, deletions: 0, changes: 0)
            var hunks: [Substring] = []
            for line in lines.dropFirst() {
                if !hunks.isEmpty || line.hasPrefix("@@") {
                    hunks.append(line)
                    if line.hasPrefix("+") { file.additions += 1 } else if line.hasPrefix("-") { file.deletions += 1 }
                } else if line.hasPrefix("new file mode") {
                    file.status = "added"
                } else if line.hasPrefix("deleted file mode") {
                    file.status = "removed"
                } else if line.hasPrefix("rename from ") {
                    file.status = "renamed"
                    file.previous_filename = String(line.dropFirst("rename from ".count))
                } else if line.hasPrefix("rename to ") {
                    file.filename = String(line.dropFirst("rename to ".count))
                } else if line.hasPrefix("index "), let range = line.split(separator: " ").dropFirst().first {
                    let shas = range.components(separatedBy: "..")
                    file.sha = shas.count == 2 ? (file.status == "removed" ? shas[0] : shas[1]) : nil
                } else if line.hasPrefix("+++ b/") {
                    file.filename = String(line.dropFirst(6))
                } else if line.hasPrefix("--- a/"), file.filename.isEmpty {
                    file.filename = String(line.dropFirst(6))
                }
            }
            if file.filename.isEmpty, let header = lines.first, let range = header.range(of: " b/") {
                file.filename = String(header[range.upperBound...])
            }
            file.changes = file.additions + file.deletions
            file.patch = hunks.isEmpty ? nil : hunks.joined(separator: "\n")
            files.append(file)
        }
        for line in diff.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("diff --git ") { flush() }
            if line.hasPrefix("diff --git ") || !lines.isEmpty { lines.append(line) }
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        flush()
        return files
    }
}
