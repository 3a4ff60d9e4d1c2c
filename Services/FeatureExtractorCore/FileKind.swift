/// What a changed file is, judged by its path as TravisTorrent does (per-language conventions for
/// tests; documentation by extension and folder).
public enum FileKind: String, Sendable, Equatable {
    case source
    case test
    case documentation
    case other

    /// Extensions of programming languages; a file with one is source unless its path says test.
    static let sourceExtensions: Set<String> = [
        "swift", "java", "kt", "kts", "scala", "groovy", "py", "rb", "go", "rs", "js", "jsx", "mjs", "cjs", "ts", "tsx",
        "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "m", "mm", "cs", "fs", "php", "pl", "pm", "sh", "bash", "lua", "r",
        "dart", "ex", "exs", "erl", "hs", "clj", "ml", "vue", "svelte", "sql",
    ]
    static let documentationExtensions: Set<String> = ["md", "markdown", "rst", "adoc", "asciidoc", "txt", "rdoc", "textile", "org", "tex"]
    static let documentationNames: Set<String> = ["readme", "license", "licence", "changelog", "changes", "authors", "contributing", "notice", "copying", "history"]

    public init(path: String) {
        let lowered = path.lowercased()
        let components = lowered.split(separator: "/")
        let fileName = components.last.map(String.init) ?? lowered
        let stem = fileName.split(separator: ".", maxSplits: 1).first.map(String.init) ?? fileName
        let fileExtension = fileName.contains(".") ? String(fileName.split(separator: ".").last ?? "") : ""
        if Self.sourceExtensions.contains(fileExtension) {
            self = Self.isTestPath(components: components.dropLast().map(String.init), fileName: fileName, original: path) ? .test : .source
        } else if Self.documentationExtensions.contains(fileExtension) || Self.documentationNames.contains(stem)
            || components.dropLast().contains(where: { $0 == "doc" || $0 == "docs" || $0 == "documentation" }) {
            self = .documentation
        } else {
            self = .other
        }
    }

    /// Test folders (`test/`, `tests/`, `spec/`, `__tests__/`, Swift's `*Tests/`, Go's and Python's
    /// `_test`/`test_` files, JUnit's `*Test.java`, Jest's `*.test.js` and `*.spec.ts`).
    static func isTestPath(components: [String], fileName: String, original: String) -> Bool {
        let testFolders: Set<String> = ["test", "tests", "spec", "specs", "__tests__", "testing", "androidtest", "testcases"]
        if components.contains(where: { testFolders.contains($0) || ($0.hasSuffix("tests") && $0.count > 5) }) { return true }
        let stem = fileName.split(separator: ".").first.map(String.init) ?? fileName
        if stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("_spec") || stem.hasSuffix("-test") || stem.hasSuffix("-spec") { return true }
        if fileName.contains(".test.") || fileName.contains(".spec.") { return true }
        // JUnit and XCTest name classes FooTest / FooTests (case matters: "Contest.java" is not a test).
        let originalName = original.split(separator: "/").last.map(String.init) ?? original
        let originalStem = originalName.split(separator: ".").first.map(String.init) ?? originalName
        return originalStem.count > 4 && (originalStem.hasSuffix("Test") || originalStem.hasSuffix("Tests"))
    }

    /// Whether a path is a GitHub Actions workflow file.
    public static func isWorkflowFile(_ path: String) -> Bool {
        path.hasPrefix(".github/workflows/") && (path.hasSuffix(".yml") || path.hasSuffix(".yaml"))
    }

    /// Whether a path is a Dockerfile (`Dockerfile`, `Dockerfile.dev`, `api.Dockerfile`) or a compose file.
    public static func isDockerFile(_ path: String) -> Bool {
        let name = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        return name == "dockerfile" || name.hasPrefix("dockerfile.") || name.hasSuffix(".dockerfile")
            || name == "docker-compose.yml" || name == "docker-compose.yaml" || name == "compose.yml" || name == "compose.yaml"
    }
}

/// Recognises a test case's declaration in one line of a test file, per language (TravisTorrent
/// counts tests added and deleted from the diff's lines the same way).
public enum TestCaseMatcher {
    static let annotations = ["@Test", "#[test]", "#[tokio::test]", "[Test]", "[Fact]", "[Theory]", "[TestMethod]"]
    static let functions = ["def test", "async def test", "func test", "func Test", "public function test", "function test"]
    static let calls = ["it(", "test(", "it \"", "it '", "specify(", "specify \"", "scenario \""]
    static let prefixes: [[UInt8]] = (annotations + functions + calls).map { Array($0.utf8) }
    static let longestPrefix = prefixes.map(\.count).max() ?? 0

    public static func declaresTestCase(_ line: String) -> Bool {
        var bytes = line
        // nil: not decidable on bytes.
        let decided: Bool? = bytes.withUTF8 { bytes in
            var start = 0
            while start < bytes.count, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
            // Every prefix is ASCII, and ASCII characters other than CR LF are one character each: on
            // ASCII bytes, comparing bytes is comparing characters. A non-ASCII byte near the start
            // (a combining mark after a prefix would change its last character) takes the slow path.
            let end = min(bytes.count, start + longestPrefix + 1)
            if bytes[start..<end].contains(where: { $0 >= 0x80 }) { return nil }
            let rest = UnsafeBufferPointer(rebasing: bytes[start...])
            return prefixes.contains { prefix in rest.count >= prefix.count && rest.starts(with: prefix) }
        }
        return decided ?? declaresTestCaseByCharacter(line)
    }

    /// The same test on characters.
    static func declaresTestCaseByCharacter(_ line: String) -> Bool {
        let text = line.drop { $0 == " " || $0 == "\t" }
        // Annotations and attributes: JUnit/TestNG/Swift Testing `@Test`, Rust `#[test]`, xUnit `[Fact]`;
        // Python, Ruby (minitest), PHP, Swift XCTest, Go; Jest, Mocha, RSpec: `it("…")`, `test('…')`, `it "…" do`.
        return (annotations + functions + calls).contains { text.hasPrefix($0) }
    }
}
