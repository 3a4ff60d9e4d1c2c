import BuildRiskLogs
import Foundation

// scripts/bench-logs: throughput of BuildLogParser.parseRun over a run-log archive's files. Without file arguments it
// generates a job of N MB (runner set-up, coloured build output, a go test run with failures, annotations) laid out as
// GitHub zips it: the whole job in `0_build.txt` and the same text split into `build/N_<step>.txt`, so the parser reads
// every byte twice, as it does for a real archive. With file arguments each file is parsed as one job's log.
// Usage: bench-logs [--mb N] [--iterations K] [FILE...]

var megabytes = 50
var iterations = 3
var paths: [String] = []
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--mb": megabytes = max(1, Int(arguments.next() ?? "") ?? megabytes)
    case "--iterations": iterations = max(1, Int(arguments.next() ?? "") ?? iterations)
    case "-h", "--help":
        print("usage: bench-logs [--mb N] [--iterations K] [FILE...]")
        exit(0)
    default: paths.append(argument)
    }
}

/// A generated job of about `megabytes` MB: its steps' texts, in order.
func generatedSteps(megabytes: Int) -> [(name: String, text: String)] {
    let target = megabytes * 1_000_000
    let stepNames = ["Set up job", "Run actions/checkout@v4", "Run actions/setup-go@v5", "Run go build ./...", "Run go test -v ./...", "Complete job"]
    let shares = [0.001, 0.004, 0.005, 0.29, 0.699, 0.001]
    var tick = 0
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    func line(_ content: String) -> String {
        tick += 1
        let seconds = tick / 100
        return "2024-03-05T\(two(10 + seconds / 3600 % 12)):\(two(seconds / 60 % 60)):\(two(seconds % 60)).\(two(tick % 100))00000Z \(content)\n"
    }
    let filler = [
        "\u{1B}[36;1mgo build -v ./...\u{1B}[0m",
        "github.com/acme/app/internal/storage/postgres",
        "go: downloading golang.org/x/sync v0.7.0",
        "\u{1B}[1m\u{1B}[32m   Compiling\u{1B}[0m serde_derive v1.0.197",
        "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory. Do not use it.",
        "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/junit/junit-bom/5.10.2/junit-bom-5.10.2.pom (5.6 kB at 187 kB/s)",
        "    cache_test.go:42: request 17 finished in 1.2ms with status 200 and body {\"id\":17,\"name\":\"widget\",\"tags\":[\"a\",\"b\"]}",
        String(repeating: "x", count: 600),
    ]
    var steps: [(name: String, text: String)] = []
    for (index, name) in stepNames.enumerated() {
        var text = ""
        let budget = Int(Double(target) * shares[index])
        text += line("##[group]\(name)")
        text += line("##[endgroup]")
        var counter = 0
        while text.utf8.count < budget {
            counter += 1
            if name.hasPrefix("Run go test") {
                let test = "TestCase\(counter)"
                text += line("=== RUN   \(test)")
                text += line(counter % 97 == 0 ? "--- FAIL: \(test) (0.01s)" : counter % 31 == 0 ? "--- SKIP: \(test) (0.00s)" : "--- PASS: \(test) (0.00s)")
                if counter % 250 == 0 { text += line("ok  \tgithub.com/acme/app/pkg\(counter / 250)\t0.123s") }
            } else {
                text += line(filler[counter % filler.count])
                if counter % 5000 == 0 { text += line("##[warning]Deprecated flag --foo at build step \(counter)") }
            }
        }
        if name.hasPrefix("Run go test") { text += line("FAIL") + line("##[error]Process completed with exit code 1.") }
        steps.append((name, text))
    }
    return steps
}

var files: [LogFile] = []
if paths.isEmpty {
    let steps = generatedSteps(megabytes: megabytes)
    files.append(LogFile(path: "0_build.txt", text: steps.map(\.text).joined()))
    for (index, step) in steps.enumerated() {
        files.append(LogFile(path: "build/\(index + 1)_\(step.name.replacingOccurrences(of: "/", with: "_")).txt", text: step.text))
    }
} else {
    for (index, path) in paths.enumerated() {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("bench-logs: cannot read \(path)\n".utf8))
            exit(1)
        }
        files.append(LogFile(path: "\(index)_\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent).txt", text: String(decoding: data, as: UTF8.self)))
    }
}

let bytes = files.reduce(0) { $0 + $1.text.utf8.count }
func lineCount(_ text: String) -> Int {
    var count = 0
    for byte in text.utf8 where byte == 0x0A { count += 1 }
    return count
}
let lines = files.reduce(0) { $0 + lineCount($1.text) }
print("input: \(files.count) files, \(String(format: "%.1f", Double(bytes) / 1e6)) MB, \(lines) lines")
var best = Double.infinity
var facts = BuildLogParser.parseRun([])
for _ in 0..<iterations {
    let clock = ContinuousClock()
    let elapsed = clock.measure { facts = BuildLogParser.parseRun(files) }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    best = min(best, seconds)
    print(String(format: "parseRun: %.3f s, %.0f MB/s, %.2f M lines/s", seconds, Double(bytes) / 1e6 / seconds, Double(lines) / 1e6 / seconds))
}
print(String(format: "best: %.0f MB/s, %.2f M lines/s", Double(bytes) / 1e6 / best, Double(lines) / 1e6 / best))
for job in facts.jobs {
    let tests = job.tests.map { "\($0.framework.rawValue) \($0.total) total, \($0.failed) failed, \($0.skipped) skipped" }.joined(separator: "; ")
    print("job \(job.jobName): \(job.steps.count) steps, \(job.lineCount) lines, \(job.errorCount) errors, \(job.warningCount) warnings; \(tests)")
}
