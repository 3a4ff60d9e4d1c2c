import Foundation

/// Reads GitHub Actions run logs into facts: steps and their times, errors and warnings, test summaries.
public enum BuildLogParser {
    /// The facts of a run from the text files of its log zip: `N_<job>.txt` per job and `<job>/N_<step>.txt` per step.
    ///
    /// Jobs come from the top-level files in index order; a step folder is matched to its job by name, and a folder without a
    /// top-level file becomes a job of its own (its text is its steps' text). Other files (`<job>/system.txt`) are ignored.
    public static func parseRun(_ files: [LogFile]) -> RunLogFacts {
        var jobFiles: [(index: Int, name: String, text: String)] = []
        var stepFiles: [String: [(number: Int, name: String, text: String)]] = [:]
        var folderOrder: [String] = []
        for file in files {
            let parts = file.path.split(separator: "/", omittingEmptySubsequences: true)
            if parts.count == 1, let (index, name) = numberedName(parts[0]) {
                jobFiles.append((index, name, file.text))
            } else if parts.count == 2, let (number, name) = numberedName(parts[1]) {
                let folder = String(parts[0])
                if stepFiles[folder] == nil { folderOrder.append(folder) }
                stepFiles[folder, default: []].append((number, name, file.text))
            }
        }
        jobFiles.sort { $0.index < $1.index }
        var jobs = jobFiles.map { job in
            parseJob(name: job.name, text: job.text, steps: (stepFiles[job.name] ?? []).sorted { $0.number < $1.number })
        }
        let named = Set(jobFiles.map(\.name))
        for folder in folderOrder where !named.contains(folder) {
            jobs.append(parseJob(name: folder, text: "", steps: (stepFiles[folder] ?? []).sorted { $0.number < $1.number }))
        }
        return RunLogFacts(jobs: jobs, tests: sum(jobs.flatMap(\.tests)),
                           errorCount: jobs.reduce(0) { $0 + $1.errorCount }, warningCount: jobs.reduce(0) { $0 + $1.warningCount })
    }

    /// The facts of one job from its whole log and its steps' logs; with an empty `text` the steps' text stands for the job's.
    ///
    /// `setupSeconds` runs from the start of the first step to the start of the first step that is not runner set-up
    /// ("Set up job", "Initialize containers", "Pre …" action hooks). Without step logs it runs from the job's first timestamp
    /// to its first `##[group]Run …` line, which is where GitHub starts the first action or script of the job.
    public static func parseJob(name: String, text: String, steps: [(number: Int, name: String, text: String)]) -> JobLogFacts {
        var job = LogAccumulator(collectsTests: true)
        if text.isEmpty {
            for step in steps { job.scan(step.text) }
        } else {
            job.scan(text)
        }
        let stepFacts = steps.map { step in
            var log = LogAccumulator(collectsTests: false)
            log.scan(step.text)
            return StepFacts(number: step.number, name: step.name, startedAt: log.firstTime.map(date), completedAt: log.lastTime.map(date),
                             durationSeconds: log.duration, errorCount: log.errorCount, warningCount: log.warningCount)
        }
        return JobLogFacts(jobName: name, steps: stepFacts, durationSeconds: job.duration,
                           setupSeconds: steps.isEmpty ? job.setupSeconds : setupSeconds(stepFacts),
                           lineCount: job.lineCount, errorCount: job.errorCount, warningCount: job.warningCount,
                           errors: job.errors, warnings: job.warnings, tests: job.tests?.summaries() ?? [])
    }

    static func setupSeconds(_ steps: [StepFacts]) -> Double? {
        let setUp = steps.prefix { isSetUpStep($0.name) }
        guard let start = steps.lazy.compactMap(\.startedAt).first, !setUp.isEmpty else { return nil }
        if let next = steps.dropFirst(setUp.count).lazy.compactMap(\.startedAt).first {
            return max(0, next.timeIntervalSince(start))
        }
        return setUp.compactMap(\.durationSeconds).reduce(0, +)
    }

    static func isSetUpStep(_ name: String) -> Bool {
        name == "Set up job" || name == "Initialize containers" || name.hasPrefix("Pre ")
    }

    /// `3_Run make test.txt` → (3, "Run make test").
    static func numberedName(_ fileName: Substring) -> (Int, String)? {
        guard fileName.hasSuffix(".txt"), let underscore = fileName.firstIndex(of: "_"),
              let number = Int(fileName[..<underscore]) else { return nil }
        return (number, String(fileName[fileName.index(after: underscore)...].dropLast(4)))
    }

    /// Sums summaries per framework (jobs of a matrix, several runs of one tool), keeping at most 200 failed names.
    static func sum(_ summaries: [TestSummary]) -> [TestSummary] {
        TestFramework.allCases.compactMap { framework in
            let mine = summaries.filter { $0.framework == framework }
            guard !mine.isEmpty else { return nil }
            return TestSummary(framework: framework, total: mine.reduce(0) { $0 + $1.total }, passed: mine.reduce(0) { $0 + $1.passed },
                               failed: mine.reduce(0) { $0 + $1.failed }, skipped: mine.reduce(0) { $0 + $1.skipped },
                               failedTests: Array(mine.flatMap(\.failedTests).prefix(TestSummaryScanner.maxFailedNames)))
        }
    }

    static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }
}

/// What one pass over a log's lines collects.
struct LogAccumulator {
    static let maxMessages = 50
    /// Longer error and warning lines are cut (at a UTF-8 character boundary) so that one runaway line cannot bloat the facts.
    static let maxMessageBytes = 1000

    var firstTime: Double?
    var lastTime: Double?
    var firstRunGroupTime: Double?
    var lineCount = 0
    var errorCount = 0
    var warningCount = 0
    var errors: [String] = []
    var warnings: [String] = []
    var tests: TestSummaryScanner?

    init(collectsTests: Bool) {
        tests = collectsTests ? TestSummaryScanner() : nil
    }

    var duration: Double? {
        guard let firstTime, let lastTime else { return nil }
        return max(0, lastTime - firstTime)
    }

    var setupSeconds: Double? {
        guard let firstTime, let firstRunGroupTime else { return nil }
        return max(0, firstRunGroupTime - firstTime)
    }

    mutating func scan(_ text: String) {
        LogScanner.forEachLine(in: text) { time, line in consume(time: time, line: line) }
    }

    mutating func consume(time: Double?, line: LogLine) {
        lineCount += 1
        if let time {
            if firstTime == nil { firstTime = time }
            lastTime = time
        }
        switch line.first {
        case UInt8(ascii: "#") where line.hasPrefix("##["):
            if line.hasPrefix("##[error]") {
                record(error: line.dropFirst(9))
            } else if line.hasPrefix("##[warning]") {
                record(warning: line.dropFirst(11))
            } else if firstRunGroupTime == nil, line.hasPrefix("##[group]Run ") {
                firstRunGroupTime = time ?? lastTime
            }
        case UInt8(ascii: ":") where line.hasPrefix("::error") || line.hasPrefix("::warning"):
            // Workflow commands: `::error::message` or `::error file=app.js,line=1::message`.
            let isError = line.hasPrefix("::error")
            let rest = line.dropFirst(isError ? 7 : 9)
            guard rest.first == UInt8(ascii: " ") || rest.first == UInt8(ascii: ":"),
                  let end = rest.firstOffset(of: "::") else {
                tests?.consume(line)
                return
            }
            if isError { record(error: rest.dropFirst(end + 2)) } else { record(warning: rest.dropFirst(end + 2)) }
        default:
            tests?.consume(line)
        }
    }

    private mutating func record(error message: LogLine) {
        errorCount += 1
        if errors.count < Self.maxMessages { errors.append(Self.message(message)) }
    }

    private mutating func record(warning message: LogLine) {
        warningCount += 1
        if warnings.count < Self.maxMessages { warnings.append(Self.message(message)) }
    }

    static func message(_ line: LogLine) -> String {
        var length = min(line.count, maxMessageBytes)
        // Step back over UTF-8 continuation bytes (10xxxxxx) so the cut does not split a character.
        while length < line.count, length > 0, line.bytes[length] & 0xC0 == 0x80 { length -= 1 }
        return String(String(decoding: UnsafeBufferPointer(rebasing: line.bytes[..<length]), as: UTF8.self).trimmed)
    }
}
