import Foundation

// Each test tool's console output in the sandbox's run logs, imitated from the real tool's format
// (pytest, unittest, Maven Surefire, Gradle, go test, Jest, Mocha, cargo, RSpec, PHPUnit), written
// independently of the product's parser.

extension SandboxLogWriter {
    enum Outcome { case passed, failed, skipped }

    /// One planned test: a suite (class, file, describe block) and a test in words, written in each tool's own naming style.
    struct PlannedTest {
        var suite: String
        var words: [String]
        var outcome: Outcome
        var index: Int

        var snake: String { (words + ["\(index)"]).joined(separator: "_") }
        var camel: String { words.enumerated().map { $0.offset == 0 ? $0.element : $0.element.capitalized }.joined() + "\(index)" }
        var sentence: String { (words + ["\(index)"]).joined(separator: " ") }
        var suiteType: String { suite.capitalized }
    }

    static let suites = ["parser", "cache", "router", "config", "auth", "queue", "store", "client"]
    static let phrases = [["parses", "empty", "input"], ["rejects", "invalid", "token"], ["handles", "timeout"], ["retries", "on", "conflict"],
                          ["evicts", "oldest", "entry"], ["reads", "defaults"], ["encodes", "unicode"], ["keeps", "order"], ["closes", "connection"]]

    static func plan(failing: Bool, random: inout LogRandom) -> [PlannedTest] {
        let total = random.int(5...400)
        let failed = failing ? random.int(1...min(5, max(1, total / 3))) : 0
        let skipped = random.int(0...(total / 10))
        var outcomes = Array(repeating: Outcome.failed, count: failed) + Array(repeating: Outcome.skipped, count: skipped)
        outcomes += Array(repeating: Outcome.passed, count: total - failed - skipped)
        random.shuffle(&outcomes)
        let suiteCount = random.int(1...min(suites.count, max(1, total / 4)))
        return outcomes.enumerated().map { offset, outcome in
            PlannedTest(suite: suites[offset * suiteCount / total], words: phrases[offset % phrases.count], outcome: outcome, index: offset + 1)
        }
    }

    /// The tests grouped by suite, in order.
    static func bySuite(_ tests: [PlannedTest]) -> [(suite: String, tests: [PlannedTest])] {
        var groups: [(suite: String, tests: [PlannedTest])] = []
        for test in tests {
            if groups.last?.suite == test.suite { groups[groups.count - 1].tests.append(test) } else { groups.append((test.suite, [test])) }
        }
        return groups
    }

    static func testRun(framework: String, failing: Bool, random: inout LogRandom) -> (command: String, lines: [String], counts: SandboxTestCounts) {
        let tests = plan(failing: failing, random: &random)
        let failed = tests.filter { $0.outcome == .failed }
        let skipped = tests.filter { $0.outcome == .skipped }.count
        func counts(_ names: [String]) -> SandboxTestCounts {
            SandboxTestCounts(framework: framework, total: tests.count, passed: tests.count - failed.count - skipped,
                              failed: failed.count, skipped: skipped, failedTests: names)
        }
        let seconds = String(format: "%.2f", random.double(0.3...90))
        switch framework {
        case "pytest":
            return ("python -m pytest --color=yes", pytest(tests, seconds: seconds), counts(failed.map { "tests/test_\($0.suite).py::test_\($0.snake)" }))
        case "unittest":
            return ("python -m unittest discover -v", unittest(tests, seconds: seconds, random: &random), counts(failed.map { unittestName($0) }))
        case "maven_surefire":
            return ("mvn -B verify", maven(tests, random: &random), counts(failed.map { "\($0.suiteType)Test.\($0.camel)" }))
        case "gradle":
            return ("./gradlew test", gradle(tests), counts(failed.map { "\($0.suiteType)Test > \($0.camel)()" }))
        case "go_test":
            return ("go test -v ./...", goTest(tests, random: &random), counts(failed.map { "Test\($0.suiteType)\($0.camel.capitalizedFirst)" }))
        case "jest":
            return ("npx jest --ci", jest(tests, seconds: seconds), counts(failed.map { "\($0.suiteType) › \($0.sentence)" }))
        case "mocha":
            return ("npx mocha", mocha(tests), counts(failed.map { "\($0.suiteType) \($0.sentence)" }))
        case "cargo":
            return ("cargo test", cargo(tests, random: &random), counts(failed.map { "\($0.suite)::tests::\($0.snake)" }))
        case "rspec":
            return ("bundle exec rspec", rspec(tests, seconds: seconds, colored: random.chance(0.5)), counts(failed.map { "\($0.suiteType) \($0.sentence)" }))
        default:
            // PHPUnit lists errors before failures; the writer makes every second failed test an error.
            let listed = failed.enumerated().filter { $0.offset % 2 == 1 } + failed.enumerated().filter { $0.offset % 2 == 0 }
            return ("vendor/bin/phpunit --colors=always", phpunit(tests, seconds: seconds), counts(listed.map { "Tests\\Unit\\\($0.element.suiteType)Test::test\($0.element.camel.capitalizedFirst)" }))
        }
    }

    /// pytest 8 with `--color=yes`: a progress line per file, FAILURES, the short summary (`-rfE` is the default) and the bar.
    static func pytest(_ tests: [PlannedTest], seconds: String) -> [String] {
        let (bold, red, green, yellow, reset) = ("\u{1B}[1m", "\u{1B}[31m", "\u{1B}[32m", "\u{1B}[33m", "\u{1B}[0m")
        var lines = ["\(bold)\(bar(" test session starts ", "="))\(reset)", "platform linux -- Python 3.12.3, pytest-8.2.0, pluggy-1.5.0",
                     "rootdir: /home/runner/work/app/app", "configfile: pyproject.toml", "collected \(tests.count) items", ""]
        var done = 0
        for group in bySuite(tests) {
            done += group.tests.count
            let marks = group.tests.map { $0.outcome == .passed ? "." : $0.outcome == .failed ? "F" : "s" }.joined()
            let head = "tests/test_\(group.suite).py \(marks)"
            let percent = "[\(String(repeating: " ", count: max(0, 3 - "\(done * 100 / tests.count)".count)))\(done * 100 / tests.count)%]"
            lines.append("\(head)\(String(repeating: " ", count: max(1, 80 - head.count - percent.count)))\(percent)")
        }
        let failed = tests.filter { $0.outcome == .failed }
        let skipped = tests.filter { $0.outcome == .skipped }.count
        var parts: [String] = []
        if !failed.isEmpty {
            lines += ["", "\(red)\(bar(" FAILURES ", "="))\(reset)"]
            for test in failed {
                lines += ["\(red)\(bold)\(bar(" test_\(test.snake) ", "_"))\(reset)", "", "    def test_\(test.snake)():",
                          ">       assert \(test.words[0])(\"\") == []", "\(red)E       AssertionError: assert None == []\(reset)", "",
                          "\(red)tests/test_\(test.suite).py\(reset):\(test.index * 3): AssertionError"]
            }
            lines.append("\(bold)\(bar(" short test summary info ", "="))\(reset)")
            lines += failed.map { "\(red)FAILED\(reset) tests/test_\($0.suite).py::test_\($0.snake) - AssertionError: assert None == []" }
            parts.append("\(red)\(bold)\(failed.count) failed\(reset)")
        }
        parts.append("\(green)\(tests.count - failed.count - skipped) passed\(reset)")
        if skipped > 0 { parts.append("\(yellow)\(skipped) skipped\(reset)") }
        let colour = failed.isEmpty ? green : red
        let summary = " \(parts.joined(separator: ", "))\(colour) in \(seconds)s\(reset) "
        // pytest centres the plain text in 80 columns; the colour codes take no columns.
        let visible = summary.split(separator: "\u{1B}").enumerated().reduce(0) { $0 + ($1.offset == 0 ? $1.element.count : $1.element.drop { $0 != "m" }.dropFirst().count) }
        let side = max(1, (80 - visible) / 2)
        lines.append("\(colour)\(String(repeating: "=", count: side))\(summary)\(colour)\(String(repeating: "=", count: side))\(reset)")
        return lines
    }

    static func bar(_ title: String, _ fill: Character) -> String {
        let side = max(1, (80 - title.count) / 2)
        return String(repeating: fill, count: side) + title + String(repeating: fill, count: max(1, 80 - side - title.count))
    }

    static func unittestName(_ test: PlannedTest) -> String {
        "test_\(test.snake) (tests.test_\(test.suite).Test\(test.suiteType).test_\(test.snake))"
    }

    /// `python -m unittest -v` (3.11+ names): a line per test, the FAIL/ERROR blocks, `Ran N tests`, then OK or FAILED (...).
    static func unittest(_ tests: [PlannedTest], seconds: String, random: inout LogRandom) -> [String] {
        var lines = tests.map { test in
            "\(unittestName(test)) ... " + (test.outcome == .passed ? "ok" : test.outcome == .skipped ? "skipped 'needs network'" : "FAIL")
        }
        let failed = tests.filter { $0.outcome == .failed }
        var errors = 0
        for (offset, test) in failed.enumerated() {
            let isError = offset % 2 == 1
            if isError { errors += 1 }
            lines += ["", String(repeating: "=", count: 70), "\(isError ? "ERROR" : "FAIL"): \(unittestName(test))", String(repeating: "-", count: 70),
                      "Traceback (most recent call last):",
                      "  File \"/home/runner/work/app/app/tests/test_\(test.suite).py\", line \(test.index * 3), in test_\(test.snake)",
                      isError ? "TypeError: 'NoneType' object is not iterable" : "AssertionError: None != []"]
        }
        lines += ["", String(repeating: "-", count: 70), "Ran \(tests.count) test\(tests.count == 1 ? "" : "s") in \(seconds)s", ""]
        let skipped = tests.filter { $0.outcome == .skipped }.count
        var details: [String] = []
        if failed.count - errors > 0 { details.append("failures=\(failed.count - errors)") }
        if errors > 0 { details.append("errors=\(errors)") }
        if skipped > 0 { details.append("skipped=\(skipped)") }
        if failed.isEmpty {
            lines.append(details.isEmpty ? "OK" : "OK (\(details.joined(separator: ", ")))")
        } else {
            lines.append("FAILED (\(details.joined(separator: ", ")))")
        }
        return lines
    }

    /// Maven 3.9 with Surefire 3: a `Tests run:` line per class, then per module `Results:` with the failure list and the
    /// module's aggregate `Tests run:` line (no `Time elapsed`). The failing module is the last one, as Maven stops there.
    static func maven(_ tests: [PlannedTest], random: inout LogRandom) -> [String] {
        let groups = bySuite(tests)
        let moduleCount = min(groups.count, random.int(1...2))
        var lines = ["[INFO] Scanning for projects..."]
        let anyFailed = tests.contains { $0.outcome == .failed }
        for module in 0..<moduleCount {
            let mine = groups.indices.filter { $0 * moduleCount / groups.count == module }.map { groups[$0] }
            let name = ["core", "web"][module]
            lines += ["[INFO] ", "[INFO] ------------------------< com.example:\(name) >------------------------",
                      "[INFO] Building \(name) 1.0.0-SNAPSHOT                                      [\(module + 1)/\(moduleCount)]",
                      "[INFO] --- surefire:3.2.5:test (default-test) @ \(name) ---", "[INFO] ",
                      "[INFO] -------------------------------------------------------", "[INFO]  T E S T S", "[INFO] -------------------------------------------------------"]
            var failures: [String] = []
            var run = 0, failed = 0, skipped = 0
            for group in mine {
                let type = "com.example.\(name).\(group.suite.capitalized)Test"
                let classFailed = group.tests.filter { $0.outcome == .failed }
                let classSkipped = group.tests.filter { $0.outcome == .skipped }.count
                run += group.tests.count; failed += classFailed.count; skipped += classSkipped
                let level = !classFailed.isEmpty ? "ERROR" : classSkipped > 0 ? "WARNING" : "INFO"
                lines.append("[INFO] Running \(type)")
                lines.append("[\(level)] Tests run: \(group.tests.count), Failures: \(classFailed.count), Errors: 0, Skipped: \(classSkipped), Time elapsed: 0.\(random.int(10...999)) s"
                             + (classFailed.isEmpty ? "" : " <<< FAILURE!") + " -- in \(type)")
                for test in classFailed {
                    lines += ["[ERROR] \(type).\(test.camel) -- Time elapsed: 0.005 s <<< FAILURE!", "org.opentest4j.AssertionFailedError: expected: <1> but was: <2>",
                              "\tat com.example.\(name).\(test.suiteType)Test.\(test.camel)(\(test.suiteType)Test.java:\(test.index + 20))"]
                    failures.append("[ERROR]   \(test.suiteType)Test.\(test.camel):\(test.index + 20) expected: <1> but was: <2>")
                }
            }
            lines += ["[INFO] ", "[INFO] Results:", "[INFO] "]
            if !failures.isEmpty { lines += ["[ERROR] Failures: "] + failures + ["[INFO] "] }
            let level = failed > 0 ? "ERROR" : skipped > 0 ? "WARNING" : "INFO"
            lines += ["[\(level)] Tests run: \(run), Failures: \(failed), Errors: 0, Skipped: \(skipped)", "[INFO] "]
        }
        lines += ["[INFO] ------------------------------------------------------------------------", anyFailed ? "[INFO] BUILD FAILURE" : "[INFO] BUILD SUCCESS",
                  "[INFO] ------------------------------------------------------------------------"]
        if anyFailed { lines.append("[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.2.5:test (default-test) on project core: There are test failures.") }
        return lines
    }

    /// Gradle 8 with `testLogging { events "passed", "skipped", "failed" }`; the `N tests completed` line is only printed when tests fail.
    static func gradle(_ tests: [PlannedTest]) -> [String] {
        var lines = ["> Task :compileJava", "> Task :processResources NO-SOURCE", "> Task :classes", "> Task :compileTestJava", "> Task :test"]
        for test in tests {
            lines += ["", "\(test.suiteType)Test > \(test.camel)() \(test.outcome == .passed ? "PASSED" : test.outcome == .failed ? "FAILED" : "SKIPPED")"]
            if test.outcome == .failed { lines.append("    org.opentest4j.AssertionFailedError at \(test.suiteType)Test.java:\(test.index + 20)") }
        }
        let failed = tests.filter { $0.outcome == .failed }.count
        let skipped = tests.filter { $0.outcome == .skipped }.count
        if failed > 0 {
            lines += ["", "\(tests.count) tests completed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : ""), "", "> Task :test FAILED", "",
                      "FAILURE: Build failed with an exception.", "", "* What went wrong:", "Execution failed for task ':test'.",
                      "> There were failing tests. See the report at: file:///home/runner/work/app/app/build/reports/tests/test/index.html", "", "BUILD FAILED in 48s"]
        } else {
            lines += ["", "BUILD SUCCESSFUL in 41s", "4 actionable tasks: 4 executed"]
        }
        return lines
    }

    /// `go test -v ./...`: `=== RUN`, `--- PASS/FAIL/SKIP` per test (subtests indented under their parent), then `ok`/`FAIL` per package.
    static func goTest(_ tests: [PlannedTest], random: inout LogRandom) -> [String] {
        var lines = ["?   \tgithub.com/sandbox/app/cmd/app\t[no test files]"]
        var anyFailed = false
        for group in bySuite(tests) {
            var packageFailed = false
            for test in group.tests {
                let name = "Test\(test.suiteType)\(test.camel.capitalizedFirst)"
                lines.append("=== RUN   \(name)")
                switch test.outcome {
                case .passed:
                    if test.index % 5 == 0 {
                        lines += ["=== RUN   \(name)/empty", "=== RUN   \(name)/large", "--- PASS: \(name) (0.00s)",
                                  "    --- PASS: \(name)/empty (0.00s)", "    --- PASS: \(name)/large (0.00s)"]
                    } else {
                        lines.append("--- PASS: \(name) (0.0\(random.int(0...9))s)")
                    }
                case .failed:
                    packageFailed = true
                    lines += ["    \(group.suite)_test.go:\(test.index + 10): expected 1, got 2", "--- FAIL: \(name) (0.00s)"]
                case .skipped:
                    lines += ["    \(group.suite)_test.go:\(test.index + 10): skipping: needs network", "--- SKIP: \(name) (0.00s)"]
                }
            }
            anyFailed = anyFailed || packageFailed
            lines += packageFailed ? ["FAIL", "FAIL\tgithub.com/sandbox/app/\(group.suite)\t0.0\(random.int(10...99))s"]
                                   : ["PASS", "ok  \tgithub.com/sandbox/app/\(group.suite)\t0.0\(random.int(10...99))s"]
        }
        if anyFailed { lines.append("FAIL") }
        return lines
    }

    /// Jest 29 (coloured: supports-color recognises GitHub Actions): PASS/FAIL per file, a `●` block per failure, the summary.
    static func jest(_ tests: [PlannedTest], seconds: String) -> [String] {
        let (bold, unbold, red, green, yellow, plain) = ("\u{1B}[1m", "\u{1B}[22m", "\u{1B}[31m", "\u{1B}[32m", "\u{1B}[33m", "\u{1B}[39m")
        var lines: [String] = []
        var failedFiles = 0
        var summaryOfFailures: [String] = []
        let groups = bySuite(tests)
        for group in groups {
            let failed = group.tests.filter { $0.outcome == .failed }
            let label = failed.isEmpty ? "\u{1B}[0m\u{1B}[7m\(bold)\(green) PASS \(plain)\(unbold)\u{1B}[27m\u{1B}[0m" : "\u{1B}[0m\u{1B}[7m\(bold)\(red) FAIL \(plain)\(unbold)\u{1B}[27m\u{1B}[0m"
            lines.append("\(label) \u{1B}[2msrc/\(unbold)\(bold)\(group.suite).test.js\(unbold)")
            if !failed.isEmpty { failedFiles += 1 }
            for test in failed {
                let block = ["\(bold)\(red)  \(bold)● \(unbold)\(bold)\(test.suiteType) › \(test.sentence)\(plain)\(unbold)", "",
                             "    \u{1B}[2mexpect(\(unbold)\(red)received\(plain)\u{1B}[2m).\(unbold)toBe\u{1B}[2m(\(unbold)\(green)expected\(plain)\u{1B}[2m) // Object.is equality\(unbold)", "",
                             "    Expected: \(green)1\(plain)", "    Received: \(red)2\(plain)", "",
                             "\u{1B}[2m      at Object.toBe (\(unbold)src/\(group.suite).test.js\u{1B}[2m:\(test.index + 10):22)\(unbold)", ""]
                lines += block
                summaryOfFailures += block
            }
        }
        if failedFiles > 1 { lines += ["\(bold)Summary of all failing tests\(unbold)"] + summaryOfFailures }
        let failed = tests.filter { $0.outcome == .failed }.count
        let skipped = tests.filter { $0.outcome == .skipped }.count
        var suites: [String] = []
        if failedFiles > 0 { suites.append("\(bold)\(red)\(failedFiles) failed\(plain)\(unbold)") }
        suites.append("\(bold)\(green)\(groups.count - failedFiles) passed\(plain)\(unbold)")
        var parts: [String] = []
        if failed > 0 { parts.append("\(bold)\(red)\(failed) failed\(plain)\(unbold)") }
        if skipped > 0 { parts.append("\(bold)\(yellow)\(skipped) skipped\(plain)\(unbold)") }
        parts.append("\(bold)\(green)\(tests.count - failed - skipped) passed\(plain)\(unbold)")
        lines += ["\(bold)Test Suites: \(unbold)\(suites.joined(separator: ", ")), \(groups.count) total",
                  "\(bold)Tests:       \(unbold)\(parts.joined(separator: ", ")), \(tests.count) total",
                  "\(bold)Snapshots:   \(unbold)0 total", "\(bold)Time:\(unbold)        \(seconds) s", "\u{1B}[2mRan all test suites\(unbold)\u{1B}[2m.\(unbold)"]
        return lines
    }

    /// Mocha 10's spec reporter: a tree of ✔ / `N)` / `-` lines, the passing/pending/failing counts, then each failure's
    /// title path on indented lines ending in `:` (mocha's Base.list writes `  1) Suite\n       test:`).
    static func mocha(_ tests: [PlannedTest]) -> [String] {
        let (green, red, cyan, grey, reset) = ("\u{1B}[32m", "\u{1B}[31m", "\u{1B}[36m", "\u{1B}[90m", "\u{1B}[0m")
        var lines = ["", ""]
        var number = 0
        for group in bySuite(tests) {
            lines.append("  \(group.suite.capitalized)")
            for test in group.tests {
                switch test.outcome {
                case .passed: lines.append("    \(green)  ✔\(reset)\(grey) \(test.sentence)\(reset)")
                case .failed: number += 1; lines.append("\(red)    \(number)) \(test.sentence)\(reset)")
                case .skipped: lines.append("\(cyan)    - \(test.sentence)\(reset)")
                }
            }
            lines.append("")
        }
        let failed = tests.filter { $0.outcome == .failed }
        let skipped = tests.filter { $0.outcome == .skipped }.count
        lines += ["", "\(green)  \(tests.count - failed.count - skipped) passing\(reset)\(grey) (\(tests.count * 3)ms)\(reset)"]
        if skipped > 0 { lines.append("\(cyan)  \(skipped) pending\(reset)") }
        if !failed.isEmpty {
            lines += ["\(red)  \(failed.count) failing\(reset)", ""]
            for (offset, test) in failed.enumerated() {
                lines += ["\(reset)  \(offset + 1)) \(test.suiteType)", "       \(test.sentence):", "\(reset)\(red)     AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
                          "", "1 !== 2", "\(reset)", "\(grey)      at Context.<anonymous> (test/\(test.suite).test.js:\(test.index + 10):12)", "\(reset)", ""]
            }
        }
        return lines
    }

    /// `cargo test` with CARGO_TERM_COLOR=always: one `running N tests` … `test result:` block per test binary; a failing
    /// binary stops cargo, so it is the last one printed.
    static func cargo(_ tests: [PlannedTest], random: inout LogRandom) -> [String] {
        let (green, red, yellow, reset) = ("\u{1B}[32m", "\u{1B}[31m", "\u{1B}[33m", "\u{1B}[0m")
        var binaries = [(title: "unittests src/lib.rs (target/debug/deps/app-3f2a1c9d8e7b6a54)", tests: [PlannedTest]())]
        if tests.count > 10 { binaries.append(("tests/api.rs (target/debug/deps/api-9c8d7e6f5a4b3c21)", [])) }
        if tests.count > 30 { binaries.append(("Doc-tests app", [])) }
        // Failing tests go to the last binary: cargo stops after the first binary that fails.
        for test in tests {
            let slot = test.outcome == .failed ? binaries.count - 1 : random.int(0...(binaries.count - 1))
            binaries[slot].tests.append(test)
        }
        var lines = ["\u{1B}[1m\(green)   Compiling\(reset) app v0.1.0 (/home/runner/work/app/app)",
                     "\u{1B}[1m\(green)    Finished\(reset) `test` profile [unoptimized + debuginfo] target(s) in 18.20s"]
        for binary in binaries {
            lines.append(binary.title.hasPrefix("Doc-tests") ? "\u{1B}[1m\(green)   \(binary.title)\(reset)" : "\u{1B}[1m\(green)     Running\(reset) \(binary.title)")
            lines += ["", "running \(binary.tests.count) test\(binary.tests.count == 1 ? "" : "s")"]
            let failed = binary.tests.filter { $0.outcome == .failed }
            for test in binary.tests {
                let status = test.outcome == .passed ? "\(green)ok\(reset)" : test.outcome == .failed ? "\(red)FAILED\(reset)" : "\(yellow)ignored\(reset)"
                lines.append("test \(test.suite)::tests::\(test.snake) ... \(status)")
            }
            if !failed.isEmpty {
                lines += ["", "failures:", ""]
                for test in failed {
                    lines += ["---- \(test.suite)::tests::\(test.snake) stdout ----", "thread '\(test.suite)::tests::\(test.snake)' panicked at src/\(test.suite).rs:\(test.index + 10):9:",
                              "assertion `left == right` failed", "  left: 2", " right: 1", "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace", ""]
                }
                lines += ["", "failures:"] + failed.map { "    \($0.suite)::tests::\($0.snake)" }
            }
            let passed = binary.tests.filter { $0.outcome == .passed }.count
            let ignored = binary.tests.filter { $0.outcome == .skipped }.count
            lines += ["", "test result: \(failed.isEmpty ? "\(green)ok\(reset)" : "\(red)FAILED\(reset)"). \(passed) passed; \(failed.count) failed; \(ignored) ignored; 0 measured; 0 filtered out; finished in 0.\(random.int(10...99))s", ""]
        }
        if tests.contains(where: { $0.outcome == .failed }) { lines.append("\u{1B}[1m\(red)error\(reset)\u{1B}[1m: test failed, to rerun pass `--test api`\(reset)") }
        return lines
    }

    /// RSpec 3 progress formatter: dots, Pending and Failures sections, the counts line and `rspec ./spec/…:N # description` per failure.
    static func rspec(_ tests: [PlannedTest], seconds: String, colored: Bool) -> [String] {
        func paint(_ text: String, _ code: String) -> String { colored ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        let marks = tests.map { $0.outcome == .passed ? paint(".", "32") : $0.outcome == .failed ? paint("F", "31") : paint("*", "33") }
        var lines = ["", "Randomized with seed \(tests.count * 7919 % 65536)"]
        for start in stride(from: 0, to: marks.count, by: 80) { lines.append(marks[start..<min(start + 80, marks.count)].joined()) }
        let pending = tests.filter { $0.outcome == .skipped }
        let failed = tests.filter { $0.outcome == .failed }
        if !pending.isEmpty {
            lines += ["", "Pending: (Failures listed here are expected and do not affect your suite's status)", ""]
            for (offset, test) in pending.enumerated() {
                lines += ["  \(offset + 1)) \(test.suiteType) \(test.sentence)", paint("     # Not yet implemented", "36"), paint("     # ./spec/\(test.suite)_spec.rb:\(test.index + 10)", "36"), ""]
            }
        }
        if !failed.isEmpty {
            lines += ["", "Failures:", ""]
            for (offset, test) in failed.enumerated() {
                lines += ["  \(offset + 1)) \(test.suiteType) \(test.sentence)", paint("     Failure/Error: expect(subject.call).to eq([])", "31"), "",
                          paint("       expected: []", "31"), paint("            got: nil", "31"), "",
                          paint("     # ./spec/\(test.suite)_spec.rb:\(test.index + 10):in `block (2 levels) in <top (required)>'", "36"), ""]
            }
        }
        var counts = "\(tests.count) example\(tests.count == 1 ? "" : "s"), \(failed.count) failure\(failed.count == 1 ? "" : "s")"
        if !pending.isEmpty { counts += ", \(pending.count) pending" }
        lines += ["", "Finished in \(seconds) seconds (files took 0.81 seconds to load)", paint(counts, failed.isEmpty ? (pending.isEmpty ? "32" : "33") : "31")]
        if !failed.isEmpty {
            lines += ["", "Failed examples:", ""]
            lines += failed.map { paint("rspec ./spec/\($0.suite)_spec.rb:\($0.index + 10)", "31") + " " + paint("# \($0.suiteType) \($0.sentence)", "36") }
        }
        lines += ["", "Randomized with seed \(tests.count * 7919 % 65536)", ""]
        return lines
    }

    /// PHPUnit 10 with `--colors=always`: progress rows, `There was/were N error(s)/failure(s):` sections numbered from 1,
    /// then `OK (N tests, M assertions)` or the `Tests: …, Failures: …` line.
    static func phpunit(_ tests: [PlannedTest], seconds: String) -> [String] {
        var lines = ["PHPUnit 10.5.20 by Sebastian Bergmann and contributors.", "", "Runtime:       PHP 8.3.7", "Configuration: /home/runner/work/app/app/phpunit.xml", ""]
        let marks = tests.map { $0.outcome == .passed ? "." : $0.outcome == .failed ? "F" : "\u{1B}[36;1mS\u{1B}[0m" }
        for start in stride(from: 0, to: marks.count, by: 63) {
            let end = min(start + 63, marks.count)
            let row = marks[start..<end].joined()
            let padding = String(repeating: " ", count: 63 - (end - start) + 1)
            lines.append("\(row)\(padding)\(end) / \(tests.count) (\(end * 100 / tests.count)%)")
        }
        lines += ["", "Time: 00:0\(seconds.prefix(1)).\(seconds.suffix(2))0, Memory: 12.00 MB", ""]
        let failed = tests.filter { $0.outcome == .failed }
        let errors = failed.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        let failures = failed.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        let skipped = tests.filter { $0.outcome == .skipped }.count
        func section(_ kind: String, _ defects: [PlannedTest], message: String) -> [String] {
            guard !defects.isEmpty else { return [] }
            var out = [defects.count == 1 ? "There was 1 \(kind):" : "There were \(defects.count) \(kind)s:", ""]
            for (offset, test) in defects.enumerated() {
                out += ["\(offset + 1)) Tests\\Unit\\\(test.suiteType)Test::test\(test.camel.capitalizedFirst)", message, "",
                        "/home/runner/work/app/app/tests/Unit/\(test.suiteType)Test.php:\(test.index + 10)", ""]
            }
            return out
        }
        lines += section("error", errors, message: "Error: Call to undefined method App\\Cache::load()")
        if !errors.isEmpty && !failures.isEmpty { lines += ["--", ""] }
        lines += section("failure", failures, message: "Failed asserting that null is identical to Array &0 [].")
        let assertions = tests.count * 2
        if failed.isEmpty && skipped == 0 {
            lines.append("\u{1B}[30;42mOK (\(tests.count) test\(tests.count == 1 ? "" : "s"), \(assertions) assertions)\u{1B}[0m")
        } else {
            var parts = ["Tests: \(tests.count)", "Assertions: \(assertions)"]
            if !errors.isEmpty { parts.append("Errors: \(errors.count)") }
            if !failures.isEmpty { parts.append("Failures: \(failures.count)") }
            if skipped > 0 { parts.append("Skipped: \(skipped)") }
            let colour = failed.isEmpty ? "30;43" : "37;41"
            let verdict = failed.isEmpty ? "OK, but some tests were skipped!" : errors.isEmpty ? "FAILURES!" : "ERRORS!"
            lines += ["\u{1B}[\(colour)m\(verdict)\u{1B}[0m", "\u{1B}[\(colour)m\(parts.joined(separator: ", ")).\u{1B}[0m"]
        }
        return lines
    }
}
