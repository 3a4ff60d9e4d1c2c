import Foundation

/// The test frameworks whose summaries the log parser understands.
public enum TestFramework: String, Codable, Sendable, CaseIterable {
    case pytest
    case unittest
    case mavenSurefire = "maven_surefire"
    case gradle
    case goTest = "go_test"
    case jest
    case mocha
    case cargo
    case rspec
    case phpunit
}

/// What one test framework reported in one job (summed over its summaries in that job).
public struct TestSummary: Codable, Sendable, Equatable {
    public var framework: TestFramework
    public var total: Int
    public var passed: Int
    public var failed: Int
    public var skipped: Int
    /// Names of failed tests as the framework prints them (capped at 200).
    public var failedTests: [String]

    public init(framework: TestFramework, total: Int, passed: Int, failed: Int, skipped: Int, failedTests: [String] = []) {
        self.framework = framework
        self.total = total
        self.passed = passed
        self.failed = failed
        self.skipped = skipped
        self.failedTests = failedTests
    }
}

/// One step of a job, from its step log file.
public struct StepFacts: Codable, Sendable, Equatable {
    public var number: Int
    public var name: String
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationSeconds: Double?
    public var errorCount: Int
    public var warningCount: Int

    public init(number: Int, name: String, startedAt: Date? = nil, completedAt: Date? = nil, durationSeconds: Double? = nil, errorCount: Int = 0, warningCount: Int = 0) {
        self.number = number
        self.name = name
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.durationSeconds = durationSeconds
        self.errorCount = errorCount
        self.warningCount = warningCount
    }
}

/// What one job's log says.
public struct JobLogFacts: Codable, Sendable, Equatable {
    public var jobName: String
    public var steps: [StepFacts]
    /// From the first to the last timestamp of the job.
    public var durationSeconds: Double?
    /// Time spent in the "Set up job" step (and other set-up steps before the first user step).
    public var setupSeconds: Double?
    public var lineCount: Int
    public var errorCount: Int
    public var warningCount: Int
    /// The first error and warning lines, without timestamps and markers (capped at 50 each).
    public var errors: [String]
    public var warnings: [String]
    public var tests: [TestSummary]

    public init(jobName: String, steps: [StepFacts] = [], durationSeconds: Double? = nil, setupSeconds: Double? = nil, lineCount: Int = 0,
                errorCount: Int = 0, warningCount: Int = 0, errors: [String] = [], warnings: [String] = [], tests: [TestSummary] = []) {
        self.jobName = jobName
        self.steps = steps
        self.durationSeconds = durationSeconds
        self.setupSeconds = setupSeconds
        self.lineCount = lineCount
        self.errorCount = errorCount
        self.warningCount = warningCount
        self.errors = errors
        self.warnings = warnings
        self.tests = tests
    }
}

/// What a whole run's logs say: every job, and the test counts summed over jobs per framework.
public struct RunLogFacts: Codable, Sendable, Equatable {
    public var jobs: [JobLogFacts]
    public var tests: [TestSummary]
    public var errorCount: Int
    public var warningCount: Int

    public init(jobs: [JobLogFacts], tests: [TestSummary], errorCount: Int, warningCount: Int) {
        self.jobs = jobs
        self.tests = tests
        self.errorCount = errorCount
        self.warningCount = warningCount
    }
}

/// One file of a run's log archive: `path` as it appears in the zip (`0_build.txt`, `build/1_Set up job.txt`).
public struct LogFile: Sendable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}
