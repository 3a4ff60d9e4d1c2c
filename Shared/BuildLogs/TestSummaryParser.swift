import Foundation

/// Finds test-run summaries in build-log text.
///
/// Counts are defined the same way for every framework: `total = passed + failed + skipped`; errors count as failed
/// (pytest/unittest/Maven/PHPUnit errors, RSpec errors outside examples, unittest unexpected successes); pending, ignored,
/// todo, incomplete, xfailed and expected failures count as skipped; xpassed counts as passed. When the tool prints a total
/// (unittest, Maven, Gradle, Jest, RSpec, PHPUnit) `passed = total - failed - skipped`, so PHPUnit's risky tests or
/// Maven's flakes are passed. Deselected/filtered-out tests are not counted.
public enum TestSummaryParser {
    /// One summary per framework seen in `text`, summed when the framework printed several (modules, packages, binaries).
    public static func summaries(in text: String) -> [TestSummary] {
        var scanner = TestSummaryScanner()
        LogScanner.forEachLine(in: text) { _, line in scanner.consume(line) }
        return scanner.summaries()
    }
}

/// The counts of one framework while a log is read.
struct TestTally {
    var total = 0
    var passed = 0
    var failed = 0
    var skipped = 0

    static func + (lhs: TestTally, rhs: TestTally) -> TestTally {
        TestTally(total: lhs.total + rhs.total, passed: lhs.passed + rhs.passed, failed: lhs.failed + rhs.failed, skipped: lhs.skipped + rhs.skipped)
    }

    /// From a tool-printed total: what is neither failed nor skipped passed (a total below failed + skipped is raised to it).
    static func of(total: Int, failed: Int, skipped: Int) -> TestTally {
        TestTally(total: max(total, failed + skipped), passed: max(0, total - failed - skipped), failed: failed, skipped: skipped)
    }

    /// From per-outcome counts when the tool prints no total.
    static func of(passed: Int, failed: Int, skipped: Int) -> TestTally {
        TestTally(total: passed + failed + skipped, passed: passed, failed: failed, skipped: skipped)
    }
}

/// Reads a log line by line (one pass, state carried between lines) and sums each framework's summaries.
struct TestSummaryScanner {
    static let maxFailedNames = 200
    /// Larger printed counts are taken as this, so that summing hostile input cannot overflow.
    static let maxCount = 1_000_000_000

    /// A printed count, nil when `digits` is not a number.
    static func count(_ digits: some StringProtocol) -> Int? {
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return digits.count > 10 ? maxCount : Int(digits).map { min($0, maxCount) }
    }

    private var tallies: [TestFramework: TestTally] = [:]
    private var names: [TestFramework: [String]] = [:]
    private var nameSets: [TestFramework: Set<String>] = [:]

    /// unittest: `Ran N tests` was seen; the verdict (`OK`, `FAILED (...)`) follows within a few lines.
    private var unittestRan: (total: Int, linesLeft: Int)?
    /// Maven: per-class `Tests run:` lines since the last aggregate (used only if no `Results:` aggregate follows).
    private var mavenPending: TestTally?
    private var inMavenFailureList = false
    /// Gradle: counts from `Class > test() PASSED/FAILED/SKIPPED` events, replaced by `N tests completed` when printed.
    private var gradlePending: TestTally?
    /// Mocha: after `N passing`, its `pending`/`failing` lines; after `N failing`, the numbered failure titles.
    private var mochaSummaryOpen = false
    private var mochaList: (next: Int, last: Int, title: [String])?
    private var inPHPUnitDefects = false

    /// The summaries found so far, in `TestFramework.allCases` order.
    func summaries() -> [TestSummary] {
        var tallies = tallies
        if let mavenPending { tallies[.mavenSurefire] = (tallies[.mavenSurefire] ?? TestTally()) + mavenPending }
        if let gradlePending { tallies[.gradle] = (tallies[.gradle] ?? TestTally()) + gradlePending }
        return TestFramework.allCases.compactMap { framework in
            tallies[framework].map {
                TestSummary(framework: framework, total: $0.total, passed: $0.passed, failed: $0.failed, skipped: $0.skipped, failedTests: names[framework] ?? [])
            }
        }
    }

    mutating func consume(_ line: LogLine) {
        let text = line.trimmingLeadingWhitespace
        if mochaSummaryOpen, !text.isEmpty, !text.startsWithDigit { mochaSummaryOpen = false }
        if unittestRan != nil { unittestVerdict(text) }
        if mochaList != nil { mochaFailure(text) }
        if inPHPUnitDefects { phpunitDefect(line) }
        guard let first = text.first else { return }
        switch first {
        case UInt8(ascii: "="): if text.contains(" in ") || text.contains("no tests ran") { pytestSummary(text) }
        case UInt8(ascii: "0")...UInt8(ascii: "9"): countLine(text)
        case UInt8(ascii: "F"):
            if text.hasPrefix("FAILED ") { pytestFailure(text.dropFirst(7)) } else if line.hasPrefix("FAIL: ") { unittestFailure(line.dropFirst(6)) }
        case UInt8(ascii: "E"):
            if text.hasPrefix("ERROR ") { pytestFailure(text.dropFirst(6)) } else if line.hasPrefix("ERROR: ") { unittestFailure(line.dropFirst(7)) }
        case UInt8(ascii: "O"): if text.hasPrefix("OK (") { phpunitOK(text.string) }
        case UInt8(ascii: "R"): if text.hasPrefix("Ran ") { unittestRanLine(text.string) }
        case UInt8(ascii: "T"):
            if text.hasPrefix("Tests run: ") { maven(text) }
            else if text.hasPrefix("Tests:") { text.contains("Assertions: ") ? phpunitCounts(text) : jestCounts(text.string) }
            else if text.hasPrefix("There was ") || text.hasPrefix("There were ") { phpunitSection(text.string) }
        case UInt8(ascii: "["): mavenLevelLine(text)
        case UInt8(ascii: "-"): if line.hasPrefix("--- ") { goResult(line) }
        case UInt8(ascii: "t"):
            if text.hasPrefix("test result: ") { cargoCounts(text) }
            else if text.hasPrefix("test "), text.hasSuffix(" ... FAILED") { addName(.cargo, String(text.string.dropFirst(5).dropLast(11))) }
        case UInt8(ascii: "r"): if text.hasPrefix("rspec "), let hash = text.firstOffset(of: " # ") { addName(.rspec, text.dropFirst(hash + 3).string) }
        case UInt8(ascii: ">"): if text.hasPrefix("> Task ") { flushGradle() }
        case 0xE2: if text.hasPrefix("● ") { jestFailure(text.dropFirst(4).string) }
        default: break
        }
        if text.hasSuffix(" PASSED") || text.hasSuffix(" FAILED") || text.hasSuffix(" SKIPPED") { gradleEvent(text) }
    }

    // MARK: Bookkeeping

    private mutating func add(_ framework: TestFramework, _ tally: TestTally) {
        tallies[framework] = (tallies[framework] ?? TestTally()) + tally
    }

    private mutating func addName(_ framework: TestFramework, _ name: String) {
        let name = String(name.trimmed)
        guard !name.isEmpty, names[framework, default: []].count < Self.maxFailedNames,
              nameSets[framework, default: []].insert(name).inserted else { return }
        names[framework, default: []].append(name)
    }

    // MARK: pytest

    /// `===== 3 failed, 10 passed, 2 skipped, 1 xfailed in 1.23s =====` (or without the bars under `-q`).
    private mutating func pytestSummary(_ line: LogLine) {
        let inner = line.trimming("= ")
        guard let split = inner.lastOffset(of: " in "), inner.dropFirst(split + 4).startsWithDigit else { return }
        let head = inner.prefix(split).string
        if head == "no tests ran" {
            add(.pytest, TestTally())
            return
        }
        guard let pairs = countWords(head[...]), pairs.contains(where: { Self.pytestOutcomes.contains($0.word) }),
              pairs.allSatisfy({ Self.pytestOutcomes.contains($0.word) || Self.pytestOthers.contains($0.word) }) else { return }
        func count(_ words: String...) -> Int { pairs.filter { words.contains($0.word) }.reduce(0) { $0 + $1.count } }
        add(.pytest, .of(passed: count("passed", "xpassed"), failed: count("failed", "error", "errors"), skipped: count("skipped", "xfailed")))
    }

    static let pytestOutcomes: Set = ["passed", "failed", "error", "errors", "skipped", "xfailed", "xpassed"]
    static let pytestOthers: Set = ["deselected", "warning", "warnings", "rerun", "reruns"]

    /// Short test summary: `FAILED tests/test_x.py::test_y - AssertionError` / `ERROR tests/test_x.py::test_z - ...`.
    private mutating func pytestFailure(_ rest: LogLine) {
        guard rest.contains("::") || rest.contains(".py") else { return }
        addName(.pytest, (rest.firstOffset(of: " - ").map { rest.prefix($0) } ?? rest).string)
    }

    // MARK: unittest

    /// `Ran 12 tests in 0.005s`; the verdict comes after a blank line.
    private mutating func unittestRanLine(_ line: String) {
        let words = line.split(separator: " ")
        guard words.count >= 4, let total = Self.count(words[1]), words[2].hasPrefix("test"), words[3] == "in" else { return }
        unittestRan = (total, 5)
    }

    /// `OK`, `OK (skipped=2, expected failures=1)` or `FAILED (failures=1, errors=1, skipped=2)`.
    private mutating func unittestVerdict(_ text: LogLine) {
        guard let ran = unittestRan, !text.isEmpty else { return }
        let line = String(text.string.trimmed)
        var details: Substring?
        if line == "OK" || line == "FAILED" {
            details = ""
        } else if (line.hasPrefix("OK (") || line.hasPrefix("FAILED (")) && line.hasSuffix(")") && line.contains("=") {
            details = line[line.index(after: line.firstIndex(of: "(") ?? line.startIndex)..<line.index(before: line.endIndex)]
        }
        guard let details else {
            unittestRan = ran.linesLeft > 1 ? (ran.total, ran.linesLeft - 1) : nil
            return
        }
        unittestRan = nil
        let values = keyValues(details, separator: "=")
        func value(_ key: String) -> Int { values[key] ?? 0 }
        add(.unittest, .of(total: ran.total, failed: value("failures") + value("errors") + value("unexpected successes"),
                           skipped: value("skipped") + value("expected failures")))
    }

    /// `FAIL: test_b (tests.test_mod.TestX.test_b)` and `ERROR: ...`, optionally followed by ` (subtest params)`; the strict
    /// shape keeps pip's `ERROR: Could not find a version ... (from versions: none)` out.
    private mutating func unittestFailure(_ rest: LogLine) {
        guard let open = rest.firstOffset(of: " ("), open > 0 else { return }
        let method = rest.prefix(open).string
        let after = rest.dropFirst(open + 2).string
        guard let close = after.firstIndex(of: ")") else { return }
        let owner = after[..<close]
        guard !method.contains(" "), !owner.isEmpty, owner.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else { return }
        addName(.unittest, "\(method) (\(owner))")
    }

    // MARK: Maven Surefire

    /// Maven prefixes its lines with `[INFO] `, `[WARNING] ` or `[ERROR] ` (coloured without `-B`, stripped by then); under
    /// `Results:` it lists `[ERROR] Failures: ` / `[ERROR] Errors: ` and then one indented failed test per line.
    private mutating func mavenLevelLine(_ text: LogLine) {
        let level: Int
        if text.hasPrefix("[INFO]") { level = 6 } else if text.hasPrefix("[ERROR]") { level = 7 } else if text.hasPrefix("[WARNING]") { level = 9 } else { return }
        let body = text.dropFirst(level).trimmingLeadingWhitespace
        if body.hasPrefix("Tests run: ") {
            inMavenFailureList = false
            maven(body)
        } else if body.hasPrefix("Failures:") || body.hasPrefix("Errors:") {
            inMavenFailureList = true
        } else if body.isEmpty || level != 7 {
            inMavenFailureList = false
        } else if inMavenFailureList, !(body.hasPrefix("Run ") && body.contains(": ")) {
            // `[ERROR]   BarTest.testBaz:42 expected: <1> but was: <2>` / `[ERROR]   BarTest.testQux:50 » NullPointer`
            addName(.mavenSurefire, String(body.string.prefix { $0 != ":" && $0 != " " }))
        }
    }

    /// Surefire prints `Tests run: 3, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.02 s -- in FooTest` per class and,
    /// under `Results:`, the module's aggregate without `Time elapsed`; the aggregate is counted and the per-class lines only
    /// when no aggregate follows (a forked VM crash, a truncated log).
    private mutating func maven(_ text: LogLine) {
        let values = keyValues(text.string.prefix { $0 != "<" }, separator: ":")
        guard let run = values["Tests run"] else { return }
        let tally = TestTally.of(total: run, failed: (values["Failures"] ?? 0) + (values["Errors"] ?? 0), skipped: values["Skipped"] ?? 0)
        if text.contains("Time elapsed") || text.contains(" - in ") || text.contains(" -- in ") {
            mavenPending = (mavenPending ?? TestTally()) + tally
        } else {
            add(.mavenSurefire, tally)
            mavenPending = nil
        }
    }

    // MARK: Gradle

    /// `57 tests completed, 2 failed, 1 skipped` (Gradle prints it when tests fail, and with some configurations always).
    private mutating func gradleCompleted(_ line: String) {
        guard let pairs = countWords(line[...]), let total = pairs.first, total.word == "tests completed" || total.word == "test completed" else { return }
        func count(_ word: String) -> Int { pairs.dropFirst().filter { $0.word == word }.reduce(0) { $0 + $1.count } }
        add(.gradle, .of(total: total.count, failed: count("failed"), skipped: count("skipped")))
        gradlePending = nil
    }

    /// `ParserTest > parsesEmpty() FAILED` (default for failures; PASSED/SKIPPED with `testLogging.events`).
    private mutating func gradleEvent(_ text: LogLine) {
        guard !text.hasPrefix("> "), let arrow = text.firstOffset(of: " > "), arrow > 0 else { return }
        var tally = gradlePending ?? TestTally()
        if text.hasSuffix(" PASSED") {
            tally = tally + .of(passed: 1, failed: 0, skipped: 0)
        } else if text.hasSuffix(" SKIPPED") {
            tally = tally + .of(passed: 0, failed: 0, skipped: 1)
        } else {
            tally = tally + .of(passed: 0, failed: 1, skipped: 0)
            addName(.gradle, String(text.string.dropLast(7)))
        }
        gradlePending = tally
    }

    private mutating func flushGradle() {
        if let gradlePending { add(.gradle, gradlePending) }
        gradlePending = nil
    }

    // MARK: go test

    /// `--- PASS: TestX (0.00s)`, `--- FAIL: TestY (0.01s)`, `--- SKIP: TestZ (0.00s)` at column 0; subtests are indented
    /// under their parent and not counted, since a failing subtest also fails its parent.
    private mutating func goResult(_ line: LogLine) {
        let outcome: TestTally
        if line.hasPrefix("--- PASS: ") { outcome = .of(passed: 1, failed: 0, skipped: 0) }
        else if line.hasPrefix("--- FAIL: ") { outcome = .of(passed: 0, failed: 1, skipped: 0) }
        else if line.hasPrefix("--- SKIP: ") { outcome = .of(passed: 0, failed: 0, skipped: 1) }
        else { return }
        add(.goTest, outcome)
        if outcome.failed > 0 { addName(.goTest, String(line.dropFirst(10).string.prefix { $0 != " " })) }
    }

    // MARK: Jest

    /// `Tests:       1 failed, 2 skipped, 1 todo, 10 passed, 14 total`.
    private mutating func jestCounts(_ line: String) {
        guard let pairs = countWords(line.dropFirst(6).drop { $0 == " " }), let total = pairs.last, total.word == "total" else { return }
        func count(_ words: String...) -> Int { pairs.filter { words.contains($0.word) }.reduce(0) { $0 + $1.count } }
        add(.jest, .of(total: total.count, failed: count("failed"), skipped: count("skipped", "todo")))
    }

    /// `● Suite › test name`, printed again under "Summary of all failing tests"; `● Console` and warnings are not tests.
    private mutating func jestFailure(_ name: String) {
        guard name != "Console", name != "Test suite failed to run", !name.hasSuffix(":") else { return }
        addName(.jest, name)
    }

    // MARK: Mocha, Gradle totals, RSpec and pytest -q: lines that start with a count

    private mutating func countLine(_ text: LogLine) {
        if text.contains(" completed, ") {
            gradleCompleted(text.string)
        } else if text.contains(" example") {
            rspecCounts(text.string)
        } else if text.contains(" passing") || text.hasSuffix(" pending") || text.hasSuffix(" failing") {
            mochaCount(text.string)
        } else if text.contains(" in ") {
            pytestSummary(text)
        }
    }

    /// Mocha's spec reporter: `10 passing (20ms)`, then `2 pending` and `1 failing` when there are any.
    private mutating func mochaCount(_ line: String) {
        let words = line.split(separator: " ", maxSplits: 2)
        guard words.count >= 2, let count = Self.count(words[0]) else { return }
        if words[1] == "passing", words.count == 2 || words[2].hasPrefix("(") {
            add(.mocha, .of(passed: count, failed: 0, skipped: 0))
            mochaSummaryOpen = true
        } else if mochaSummaryOpen, words.count == 2, words[1] == "pending" {
            add(.mocha, .of(passed: 0, failed: 0, skipped: count))
        } else if mochaSummaryOpen, words.count == 2, words[1] == "failing" {
            add(.mocha, .of(passed: 0, failed: count, skipped: 0))
            mochaSummaryOpen = false
            if count > 0 { mochaList = (1, count, []) }
        }
    }

    /// Mocha lists each failure as `  1) Suite` + `       nested` + `         test title:` (one title segment per line,
    /// the last ending in `:`), which is joined with spaces as mocha's fullTitle() does.
    private mutating func mochaFailure(_ text: LogLine) {
        guard var list = mochaList, !text.isEmpty else { return }
        if !list.title.isEmpty {
            list.title.append(text.string)
        } else {
            let line = text.string
            let number = "\(list.next)) "
            guard line.hasPrefix(number) else { return }
            list.title = [String(line.dropFirst(number.count))]
        }
        if list.title.last?.hasSuffix(":") == true || list.title.count > 8 {
            var title = list.title.joined(separator: " ")
            if title.hasSuffix(":") { title.removeLast() }
            addName(.mocha, title)
            list.title = []
            list.next += 1
        }
        mochaList = list.next > list.last ? nil : list
    }

    /// `12 examples, 1 failure, 2 pending` and `0 examples, 0 failures, 1 error occurred outside of examples`.
    private mutating func rspecCounts(_ line: String) {
        guard let pairs = countWords(line[...]), let examples = pairs.first, examples.word == "examples" || examples.word == "example",
              pairs.count >= 2, pairs[1].word.hasPrefix("failure") else { return }
        let outside = pairs.filter { $0.word.hasPrefix("error") }.reduce(0) { $0 + $1.count }
        let pending = pairs.filter { $0.word == "pending" }.reduce(0) { $0 + $1.count }
        add(.rspec, .of(total: examples.count + outside, failed: pairs[1].count + outside, skipped: pending))
    }

    // MARK: cargo test

    /// `test result: FAILED. 8 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s`, once per test binary.
    private mutating func cargoCounts(_ line: LogLine) {
        guard let dot = line.firstOffset(of: ". ") else { return }
        var passed = 0, failed = 0, ignored = 0
        for part in line.dropFirst(dot + 2).string.split(separator: ";") {
            let words = part.trimmed.split(separator: " ", maxSplits: 1)
            guard words.count == 2, let count = Self.count(words[0]) else { continue }
            switch words[1] {
            case "passed": passed += count
            case "failed": failed += count
            case "ignored": ignored += count
            default: break
            }
        }
        add(.cargo, .of(passed: passed, failed: failed, skipped: ignored))
    }

    // MARK: PHPUnit

    /// `OK (12 tests, 30 assertions)`.
    private mutating func phpunitOK(_ line: String) {
        guard line.contains("assertion"), let pairs = countWords(line.dropFirst(4).prefix { $0 != ")" }),
              let tests = pairs.first, tests.word == "tests" || tests.word == "test" else { return }
        add(.phpunit, .of(total: tests.count, failed: 0, skipped: 0))
        inPHPUnitDefects = false
    }

    /// `Tests: 12, Assertions: 30, Errors: 1, Failures: 1, Skipped: 2, Incomplete: 1, Risky: 1.`
    private mutating func phpunitCounts(_ line: LogLine) {
        let values = keyValues(line.trimming(". ").string[...], separator: ":")
        guard let tests = values["Tests"] else { return }
        add(.phpunit, .of(total: tests, failed: (values["Failures"] ?? 0) + (values["Errors"] ?? 0),
                          skipped: (values["Skipped"] ?? 0) + (values["Incomplete"] ?? 0)))
        inPHPUnitDefects = false
    }

    /// `There was 1 failure:` / `There were 2 errors:` open a numbered list of failed tests; risky, skipped, incomplete,
    /// warning and deprecation lists have the same shape and are not failures.
    private mutating func phpunitSection(_ line: String) {
        let words = line.split(separator: " ")
        guard words.count >= 4 else { return }
        let kind = words[3].filter { $0 != ":" }
        inPHPUnitDefects = words.count == 4 && ["failure", "failures", "error", "errors"].contains(kind)
    }

    /// `1) Tests\FooTest::testBar` (or `... with data set #0 (1, 2)`) at column 0.
    private mutating func phpunitDefect(_ line: LogLine) {
        guard line.startsWithDigit, let close = line.firstOffset(of: ") "), close <= 5 else {
            if line.hasPrefix("FAILURES!") || line.hasPrefix("ERRORS!") { inPHPUnitDefects = false }
            return
        }
        let number = line.string.prefix(close)
        guard number.allSatisfy(\.isNumber) else { return }
        addName(.phpunit, line.dropFirst(close + 2).string)
    }

    // MARK: Parsing helpers

    /// `3 failed, 10 passed` → [(3, "failed"), (10, "passed")]; nil when a part is not `<count> <words>`.
    private func countWords(_ text: Substring) -> [(count: Int, word: String)]? {
        var pairs: [(count: Int, word: String)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = part.trimmed
            let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
            guard let count = Self.count(digits), trimmed.dropFirst(digits.count).first == " " else { return nil }
            pairs.append((count, String(trimmed.dropFirst(digits.count + 1).trimmed)))
        }
        return pairs.isEmpty ? nil : pairs
    }

    /// `Tests run: 3, Failures: 1` → ["Tests run": 3, "Failures": 1] (`=` for unittest's `failures=1`); other parts are ignored.
    private func keyValues(_ text: Substring, separator: Character) -> [String: Int] {
        var values: [String: Int] = [:]
        for part in text.split(separator: ",") {
            guard let split = part.firstIndex(of: separator) else { continue }
            let key = String(part[..<split].trimmed)
            let value = part[part.index(after: split)...].trimmed.prefix { $0.isASCII && $0.isNumber }
            if let number = Self.count(value) { values[key, default: 0] = min(values[key, default: 0] + number, Self.maxCount) }
        }
        return values
    }
}
