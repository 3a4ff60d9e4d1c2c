import Foundation

// The sandbox's run logs: what GitHub Actions serves for a run (`GET .../runs/{id}/logs`, a zip) and
// for a job (`GET .../jobs/{id}/logs`, plain text). Each test tool's output is imitated from the real
// tool's console format, written here independently of the product's parser so that a parser bug is
// not mirrored by the emulator.

/// One step of a job: GitHub's step number and name, its outcome and its log text.
public struct SandboxLogStep: Sendable, Codable, Equatable {
    /// 1-based, GitHub's step number.
    public var number: Int
    /// "Set up job", "Run actions/checkout@v4", "Run make test", "Complete job", ...
    public var name: String
    /// success | failure | skipped
    public var conclusion: String
    public var startedAt: Date
    public var completedAt: Date
    /// The step's log text: timestamped lines ending in `\n`; empty for a skipped step.
    public var text: String

    public init(number: Int, name: String, conclusion: String, startedAt: Date, completedAt: Date, text: String) {
        self.number = number
        self.name = name
        self.conclusion = conclusion
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.text = text
    }
}

/// The test counts a job's log states, as the tool printed them.
public struct SandboxTestCounts: Sendable, Codable, Equatable {
    /// pytest unittest maven_surefire gradle go_test jest mocha cargo rspec phpunit (BuildRiskLogs.TestFramework's raw values).
    public var framework: String
    public var total: Int
    public var passed: Int
    public var failed: Int
    public var skipped: Int
    /// Failed test names as the tool prints them in its failure list.
    public var failedTests: [String]

    public init(framework: String, total: Int, passed: Int, failed: Int, skipped: Int, failedTests: [String]) {
        self.framework = framework
        self.total = total
        self.passed = passed
        self.failed = failed
        self.skipped = skipped
        self.failedTests = failedTests
    }
}

/// One job of a run with its steps and whole log.
public struct SandboxJobLog: Sendable, Codable, Equatable {
    /// Job name, e.g. "build" or "test (ubuntu-latest)".
    public var name: String
    /// success | failure
    public var conclusion: String
    public var startedAt: Date
    public var completedAt: Date
    public var steps: [SandboxLogStep]
    /// The counts the job's test step printed; nil when the job runs no tests or failed before them.
    public var tests: SandboxTestCounts?
    /// The whole job's log as GitHub serves it for the job (all steps' text concatenated in order).
    public var text: String

    public init(name: String, conclusion: String, startedAt: Date, completedAt: Date, steps: [SandboxLogStep], tests: SandboxTestCounts?, text: String) {
        self.name = name
        self.conclusion = conclusion
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.steps = steps
        self.tests = tests
        self.text = text
    }
}

/// Generates realistic GitHub Actions job logs (runner set-up, actions, a test tool's output).
public enum SandboxLogWriter {
    static let allFrameworks = ["pytest", "unittest", "maven_surefire", "gradle", "go_test", "jest", "mocha", "cargo", "rspec", "phpunit"]

    /// The frameworks a repository of this language tests with; all ten for a language without a mapping (Swift included), so every framework appears in a world.
    public static func frameworks(language: String) -> [String] {
        switch language.lowercased() {
        case "python": ["pytest", "unittest"]
        case "go": ["go_test"]
        case "java": ["maven_surefire", "gradle"]
        case "kotlin": ["gradle"]
        case "javascript", "typescript": ["jest", "mocha"]
        case "rust": ["cargo"]
        case "ruby": ["rspec"]
        case "php": ["phpunit"]
        default: allFrameworks
        }
    }

    /// The jobs of one run: 1–3 jobs; a failed run has exactly one failing job. The framework is chosen among
    /// `frameworks(language:)` by `seed` alone (pass a per-repository seed to keep a repository on one tool); `runId` varies the rest.
    public static func jobs(runId: Int64, language: String, failed: Bool, startedAt: Date, seed: UInt64) -> [SandboxJobLog] {
        let candidates = frameworks(language: language)
        var frameworkRandom = LogRandom(seed: seed)
        let framework = candidates[frameworkRandom.int(0...(candidates.count - 1))]
        var random = LogRandom(seed: seed ^ (UInt64(bitPattern: runId) &* 0x9E37_79B9_7F4A_7C15))

        // Shapes seen in real workflows: one build job; a lint job beside the tests; an OS matrix.
        let shape = random.int(0...3)
        var names: [(name: String, runsTests: Bool)]
        switch shape {
        case 0, 1: names = [("build", true)]
        case 2: names = [("lint", false), ("test", true)]
        default: names = [("lint", false), ("test (ubuntu-latest)", true), ("test (macos-latest)", true)]
        }
        let testJobs = names.indices.filter { names[$0].runsTests }
        let failingJob = failed ? testJobs[random.int(0...(testJobs.count - 1))] : -1
        let start = milliseconds(startedAt)
        return names.indices.map { index in
            var jobRandom = LogRandom(seed: random.next())
            let queued = start + Int64(jobRandom.int(1_000...9_000))
            let failure: JobFailure = index != failingJob ? .none : jobRandom.chance(0.1) ? .build : .tests
            return makeJob(name: names[index].name, framework: names[index].runsTests ? framework : nil, failure: failure, start: queued, random: &jobRandom)
        }
    }

    /// The files of the run-log zip: "\(i)_\(job.name).txt" with the job's whole text, and "\(job.name)/\(step.number)_\(step.name).txt"
    /// per step that ran. GitHub cannot put '/', ':' and the other characters Windows forbids in these names and writes '_' instead
    /// ("2_Run actions_checkout@v4.txt"); skipped steps have no file.
    public static func zipEntries(_ jobs: [SandboxJobLog]) -> [(path: String, text: String)] {
        var entries: [(path: String, text: String)] = []
        for (index, job) in jobs.enumerated() {
            let folder = fileName(job.name)
            entries.append(("\(index)_\(folder).txt", job.text))
            for step in job.steps where step.conclusion != "skipped" {
                entries.append(("\(folder)/\(step.number)_\(fileName(step.name)).txt", step.text))
            }
        }
        return entries
    }

    static func fileName(_ name: String) -> String {
        let forbidden: Set<Character> = ["/", "\\", ":", "*", "?", "\"", "<", ">", "|"]
        return String(name.map { forbidden.contains($0) || $0.isNewline ? "_" : $0 })
    }
}

// MARK: - Jobs and steps

extension SandboxLogWriter {
    enum JobFailure { case none, build, tests }

    /// A step before it is given times: its lines (without timestamps) and how long it takes.
    struct StepPlan {
        var name: String
        var lines: [String]
        var seconds: Double
        var conclusion = "success"
    }

    static func makeJob(name: String, framework: String?, failure: JobFailure, start: Int64, random: inout LogRandom) -> SandboxJobLog {
        var plans = [StepPlan(name: "Set up job", lines: setUpJobLines(jobName: name, random: &random), seconds: random.double(1...4))]
        plans.append(StepPlan(name: "Run actions/checkout@v4", lines: checkoutLines(), seconds: random.double(0.8...3)))
        var tests: SandboxTestCounts?
        if let framework {
            let toolchain = toolchainStep(framework)
            plans.append(StepPlan(name: "Run \(toolchain.action)", lines: actionHeader(toolchain.action, with: toolchain.with) + toolchain.output, seconds: random.double(2...15)))
            let build = buildStep(framework)
            var buildPlan = StepPlan(name: "Run \(build.command)", lines: runHeader(build.command) + build.output, seconds: random.double(5...60))
            if random.chance(0.3) {
                buildPlan.lines.append("##[warning]\(build.warning)")
            }
            if failure == .build {
                buildPlan.lines += build.error + ["##[error]Process completed with exit code 1."]
                buildPlan.conclusion = "failure"
            }
            plans.append(buildPlan)
            let run = testRun(framework: framework, failing: failure == .tests, random: &random)
            var testPlan = StepPlan(name: "Run \(run.command)", lines: runHeader(run.command) + run.lines, seconds: random.double(10...300))
            if failure == .tests {
                testPlan.lines.append("##[error]Process completed with exit code 1.")
                testPlan.conclusion = "failure"
            }
            if failure == .build {
                testPlan.lines = []
                testPlan.conclusion = "skipped"
            } else {
                tests = run.counts
            }
            plans.append(testPlan)
        } else {
            var lint = StepPlan(name: "Run make lint", lines: runHeader("make lint") + ["lint: 42 files checked"], seconds: random.double(3...30))
            if random.chance(0.4) {
                lint.lines.insert("##[warning]Sources/App/Config.swift:12: line too long (131 > 120)", at: lint.lines.count - 1)
            }
            plans.append(lint)
        }
        plans.append(StepPlan(name: "Post Run actions/checkout@v4", lines: postCheckoutLines(), seconds: random.double(0.2...1)))
        plans.append(StepPlan(name: "Complete job", lines: ["Cleaning up orphan processes"], seconds: random.double(0.05...0.5)))

        var clock = start
        var steps: [SandboxLogStep] = []
        for (offset, plan) in plans.enumerated() {
            // A step's log spans its first to last line, so a one-line step takes no time.
            let duration = plan.lines.count < 2 ? 0 : Int64(plan.seconds * 1000)
            let text = stamped(plan.lines, from: clock, duration: duration)
            steps.append(SandboxLogStep(number: offset + 1, name: plan.name, conclusion: plan.conclusion,
                                        startedAt: date(clock), completedAt: date(clock + duration), text: text))
            clock += duration + (plan.lines.isEmpty ? 0 : Int64(random.int(5...400)))
        }
        return SandboxJobLog(name: name, conclusion: failure == .none ? "success" : "failure", startedAt: date(start),
                             completedAt: steps.last?.completedAt ?? date(start), steps: steps, tests: tests,
                             text: steps.map(\.text).joined())
    }

    /// Lines spread evenly from `from` to `from + duration`, so the first and last stamps are the step's start and end.
    static func stamped(_ lines: [String], from start: Int64, duration: Int64) -> String {
        var text = ""
        let gaps = Int64(max(lines.count - 1, 1))
        for (index, line) in lines.enumerated() {
            text += timestamp(start + duration * Int64(index) / gaps)
            text += " "
            text += line
            text += "\n"
        }
        return text
    }

    static func setUpJobLines(jobName: String, random: inout LogRandom) -> [String] {
        [
            "Current runner version: '2.317.0'",
            "##[group]Operating System", "Ubuntu", "22.04.4", "LTS", "##[endgroup]",
            "##[group]Runner Image", "Image: ubuntu-22.04", "Version: 20240\(random.int(310...630)).1.0",
            "Included Software: https://github.com/actions/runner-images/blob/ubuntu22/20240310.1/images/ubuntu/Ubuntu2204-Readme.md",
            "##[endgroup]",
            "##[group]GITHUB_TOKEN Permissions", "Contents: read", "Metadata: read", "##[endgroup]",
            "Secret source: Actions",
            "Prepare workflow directory",
            "Prepare all required actions",
            "Getting action download info",
            "Download action repository 'actions/checkout@v4' (SHA:b4ffde65f46336ab88eb53be808477a3936bae11)",
            "Complete job name: \(jobName)",
        ]
    }

    static func checkoutLines() -> [String] {
        actionHeader("actions/checkout@v4", with: ["repository: sandbox/app", "token: ***", "ssh-strict: true", "persist-credentials: true", "clean: true", "fetch-depth: 1"]) + [
            "Syncing repository: sandbox/app",
            "##[group]Getting Git version info", "Working directory is '/home/runner/work/app/app'", "[command]/usr/bin/git version", "git version 2.43.2", "##[endgroup]",
            "[command]/usr/bin/git init /home/runner/work/app/app",
            "##[group]Fetching the repository",
            "[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules --depth=1 origin +refs/heads/main:refs/remotes/origin/main",
            "##[endgroup]",
            "##[group]Checking out the ref", "[command]/usr/bin/git checkout --progress --force -B main refs/remotes/origin/main", "Switched to a new branch 'main'", "##[endgroup]",
        ]
    }

    static func postCheckoutLines() -> [String] {
        ["Post job cleanup.", "[command]/usr/bin/git version", "git version 2.43.2",
         "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
         "[command]/usr/bin/git config --local --name-only --get-regexp http\\.https\\:\\/\\/github\\.com\\/\\.extraheader",
         "http.https://github.com/.extraheader"]
    }

    static func actionHeader(_ action: String, with inputs: [String]) -> [String] {
        ["##[group]Run \(action)", "with:"] + inputs.map { "  \($0)" } + ["##[endgroup]"]
    }

    static func runHeader(_ command: String) -> [String] {
        ["##[group]Run \(command)", "\u{1B}[36;1m\(command)\u{1B}[0m", "shell: /usr/bin/bash -e {0}", "##[endgroup]"]
    }

    static func toolchainStep(_ framework: String) -> (action: String, with: [String], output: [String]) {
        switch framework {
        case "pytest", "unittest": ("actions/setup-python@v5", ["python-version: 3.12", "check-latest: false"], ["Successfully set up CPython (3.12.3)"])
        case "maven_surefire", "gradle": ("actions/setup-java@v4", ["distribution: temurin", "java-version: 21"], ["Java configuration:", "  Distribution: temurin", "  Version: 21.0.3+9"])
        case "go_test": ("actions/setup-go@v5", ["go-version: 1.22"], ["Setup go version spec 1.22", "Found in cache @ /opt/hostedtoolcache/go/1.22.3/x64"])
        case "jest", "mocha": ("actions/setup-node@v4", ["node-version: 20"], ["Found in cache @ /opt/hostedtoolcache/node/20.13.1/x64"])
        case "cargo": ("dtolnay/rust-toolchain@stable", ["toolchain: stable"], ["info: default toolchain set to 'stable-x86_64-unknown-linux-gnu'", "rustc 1.78.0 (9b00956e5 2024-04-29)"])
        case "rspec": ("ruby/setup-ruby@v1", ["ruby-version: 3.3", "bundler-cache: true"], ["Ruby 3.3.1 installed", "Bundle complete! 24 Gemfile dependencies, 61 gems now installed."])
        default: ("shivammathur/setup-php@v2", ["php-version: 8.3"], ["==> Setup PHP", "✓ PHP Installed PHP 8.3.7"])
        }
    }

    static func buildStep(_ framework: String) -> (command: String, output: [String], warning: String, error: [String]) {
        switch framework {
        case "pytest", "unittest":
            ("pip install -r requirements.txt", ["Collecting requests==2.31.0", "  Downloading requests-2.31.0-py3-none-any.whl (62 kB)", "Successfully installed requests-2.31.0 urllib3-2.2.1"],
             "pip's dependency resolver does not currently take into account all the packages that are installed.",
             ["ERROR: Could not find a version that satisfies the requirement numpy==9.9 (from versions: 1.26.4)", "ERROR: No matching distribution found for numpy==9.9"])
        case "maven_surefire":
            ("mvn -B -DskipTests package", ["[INFO] Scanning for projects...", "[INFO] BUILD SUCCESS"], "Maven: the POM for org.example:legacy:jar:1.0 is invalid",
             ["[ERROR] /home/runner/work/app/app/core/src/main/java/com/example/core/Parser.java:[42,17] cannot find symbol", "[ERROR] BUILD FAILURE"])
        case "gradle":
            ("./gradlew assemble", ["> Task :compileJava", "BUILD SUCCESSFUL in 31s"], "Deprecated Gradle features were used in this build, making it incompatible with Gradle 9.0.",
             ["e: file:///home/runner/work/app/app/src/main/kotlin/Parser.kt:42:17 Unresolved reference: tokenize", "BUILD FAILED in 22s"])
        case "go_test":
            ("go build ./...", ["go: downloading golang.org/x/sync v0.7.0"], "go: module github.com/pkg/errors is deprecated",
             ["# github.com/sandbox/app/cache", "cache/cache.go:42:9: undefined: evict"])
        case "jest", "mocha":
            ("npm ci", ["added 412 packages, and audited 413 packages in 9s", "found 0 vulnerabilities"], "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory.",
             ["npm ERR! code ERESOLVE", "npm ERR! ERESOLVE unable to resolve dependency tree"])
        case "cargo":
            ("cargo build --verbose", ["   Compiling app v0.1.0 (/home/runner/work/app/app)", "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 24.61s"],
             "unused variable: `retries`",
             ["error[E0425]: cannot find function `evict` in this scope", "error: could not compile `app` (lib) due to 1 previous error"])
        case "rspec":
            ("bundle exec rake db:setup", ["Created database 'app_test'"], "Rails 7.0 is deprecated",
             ["rake aborted!", "ActiveRecord::ConnectionNotEstablished: connection to server at \"127.0.0.1\", port 5432 failed"])
        default:
            ("composer install --no-progress", ["Installing dependencies from lock file (including require-dev)", "Generating optimized autoload files"],
             "Composer: the lock file is not up to date with the latest changes in composer.json",
             ["Your requirements could not be resolved to an installable set of packages.", "  Problem 1", "    - Root composer.json requires php ^8.4 but your php version (8.3.7) does not satisfy that requirement."])
        }
    }
}

// MARK: - Test tools

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

// MARK: - Time and randomness

extension SandboxLogWriter {
    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// GitHub's log timestamp, ISO 8601 in UTC with seven fractional digits: `2024-03-05T10:11:12.1230000Z`.
    static func timestamp(_ milliseconds: Int64) -> String {
        let seconds = milliseconds.floorDivided(by: 1000)
        let days = seconds.floorDivided(by: 86_400)
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = z.floorDivided(by: 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = milliseconds - seconds * 1000
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)).\(fraction)0000Z"
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

extension String {
    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

/// SplitMix64, the log writer's own so that its output does not shift when the world generator draws differently.
struct LogRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    mutating func double(_ range: ClosedRange<Double>) -> Double { range.lowerBound + unit() * (range.upperBound - range.lowerBound) }

    mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for index in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(index, int(0...index))
        }
    }
}
