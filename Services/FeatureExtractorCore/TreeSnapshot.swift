import BuildRiskGit

/// Whole-tree measures of one commit (TravisTorrent's gh_sloc and test-density fields): every file
/// of the commit's tree, read from the object database rather than a checked-out worktree.
struct TreeSnapshot: Equatable {
    /// Files (blobs) in the tree, submodules left out.
    var files = 0
    /// Non-blank, non-comment lines of production source files.
    var sourceLines = 0
    /// Non-blank, non-comment lines of test files.
    var testLines = 0
    /// Test-case declarations in test files (``TestCaseMatcher``).
    var testCases = 0
    /// Lines of test files that assert (``TreeSnapshot/asserts(_:)``).
    var asserts = 0

    static func + (lhs: TreeSnapshot, rhs: TreeSnapshot) -> TreeSnapshot {
        TreeSnapshot(files: lhs.files + rhs.files, sourceLines: lhs.sourceLines + rhs.sourceLines, testLines: lhs.testLines + rhs.testLines,
                     testCases: lhs.testCases + rhs.testCases, asserts: lhs.asserts + rhs.asserts)
    }

    /// Blobs larger than this are generated or vendored (minified bundles, fixtures) and counted as
    /// files only; no hand-written source file comes near it.
    static let largestCountedBlob = 2 << 20

    /// Languages whose line comments start with `#` (in the C family `#` starts a directive, which is code).
    static let hashCommentExtensions: Set<String> = ["py", "rb", "sh", "bash", "pl", "pm", "r", "ex", "exs"]
    /// Languages whose line comments start with `--`.
    static let dashCommentExtensions: Set<String> = ["sql", "lua", "hs"]

    /// A line that asserts: xUnit's `assert…`/`XCTAssert…`, Swift Testing's `#expect`/`#require`,
    /// Jest's and RSpec's `expect(`, and `.should`.
    static func asserts(_ line: Substring) -> Bool {
        let lowered = line.lowercased()
        return lowered.contains("assert") || lowered.contains("expect(") || lowered.contains("#require(") || lowered.contains(".should")
    }

    /// Measures one blob found at `path`; only source and test files are read.
    static func measure(blob bytes: UnsafeRawBufferPointer, path: String) -> TreeSnapshot {
        var result = TreeSnapshot(files: 1)
        let kind = FileKind(path: path)
        guard kind == .source || kind == .test, bytes.count <= largestCountedBlob, !bytes.prefix(8000).contains(0) else { return result }
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        let fileExtension = fileName.contains(".") ? String(fileName.split(separator: ".").last ?? "").lowercased() : ""
        let hashComments = hashCommentExtensions.contains(fileExtension)
        let dashComments = dashCommentExtensions.contains(fileExtension)
        let text = String(decoding: bytes, as: UTF8.self)
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            guard !line.isEmpty else { continue }
            if line.hasPrefix("//") || line.hasPrefix("/*") || line.hasPrefix("*") || (hashComments && line.hasPrefix("#"))
                || (dashComments && line.hasPrefix("--")) { continue }
            if kind == .source {
                result.sourceLines += 1
            } else {
                result.testLines += 1
                if TestCaseMatcher.declaresTestCase(String(line)) { result.testCases += 1 }
                if asserts(line) { result.asserts += 1 }
            }
        }
        return result
    }
}

/// Measures commits' trees, caching every subtree by its id and path (a subtree's id changes only
/// when a file under it changes, and its path decides what its files are), so consecutive builds
/// read only the folders their commits touched.
final class TreeMeasurer {
    private let repository: GitRepository
    private struct Key: Hashable { var oid: String; var path: String }
    private var trees: [Key: TreeSnapshot] = [:]
    private var blobs: [Key: TreeSnapshot] = [:]

    init(_ repository: GitRepository) { self.repository = repository }

    func snapshot(ofCommit sha: String) throws -> TreeSnapshot {
        try snapshot(tree: repository.treeID(ofCommit: sha), path: "")
    }

    private func snapshot(tree oid: String, path: String) throws -> TreeSnapshot {
        let key = Key(oid: oid, path: path)
        if let cached = trees[key] { return cached }
        var total = TreeSnapshot()
        for entry in try repository.treeEntries(oid) {
            let entryPath = path.isEmpty ? entry.name : path + "/" + entry.name
            switch entry.kind {
            case .tree: total = total + (try snapshot(tree: entry.oid, path: entryPath))
            case .blob: total = total + (try blob(entry.oid, path: entryPath))
            case .commit: continue
            }
        }
        trees[key] = total
        return total
    }

    private func blob(_ oid: String, path: String) throws -> TreeSnapshot {
        // Keyed by path too: the same content is source in one folder and a test in another.
        let key = Key(oid: oid, path: path)
        if let cached = blobs[key] { return cached }
        let result = try repository.withBlob(oid) { TreeSnapshot.measure(blob: $0, path: path) }
        blobs[key] = result
        return result
    }
}
