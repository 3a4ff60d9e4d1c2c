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
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
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
