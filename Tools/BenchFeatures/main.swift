import BuildRiskContracts
import BuildRiskGit
import FeatureExtractorCore
import Foundation
import GitHubSandboxCore

// bench-features: the feature extractor over a sandbox repository's builds, oldest to newest.
//
//   bench-features generate --commits 3000 --out DIR   writes DIR/world (the repository) and DIR/builds.json
//   bench-features extract DIR [--select PATTERN]...   extracts every build; prints builds/s and peak memory,
//                                                      writes DIR/built-commits.json (each build's commits, for the oracle)
//
// scripts/bench-features runs both (extraction in a process of its own, so its peak memory is its own)
// and PyDriller over the same commits.

struct BenchBuild: Codable {
    var runId: Int64
    var runNumber: Int
    var workflowName: String
    var event: String
    var headBranch: String?
    var headSha: String
    var actor: String
    var createdAt: String
    var updatedAt: String
    var conclusion: String?
}

/// A build's commits and the line counts the extractor gave them, for the oracle to compare.
struct BuiltCommits: Codable {
    var commits: [String]
    var added: Int?
    var deleted: Int?
}

struct BenchError: Error, CustomStringConvertible { var description: String }

func peakMemoryMB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

func generate(commits: Int, out: String) throws {
    let world = SandboxWorld(directory: out + "/world", seed: 11)
    try world.addRepository(owner: "bench", name: "features", commits: commits)
    guard let repository = world.repository("bench/features") else { throw BenchError(description: "no repository") }
    let builds = repository.runs.reversed().map {
        BenchBuild(runId: $0.id, runNumber: $0.run_number, workflowName: $0.name, event: $0.event, headBranch: $0.head_branch, headSha: $0.head_sha,
                   actor: $0.actor.login, createdAt: $0.created_at, updatedAt: $0.updated_at, conclusion: $0.conclusion)
    }
    try JSONEncoder().encode(builds).write(to: URL(fileURLWithPath: out + "/builds.json"))
    try repository.gitPath.write(toFile: out + "/git-path", atomically: true, encoding: .utf8)
    let count = try SandboxGit.run(["--git-dir", repository.gitPath, "rev-list", "--count", "--all"])
    print("generated \(String(decoding: count, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) commits, \(builds.count) runs in \(out)")
}

func extract(directory: String, patterns: [String]) throws {
    let runs = try JSONDecoder().decode([BenchBuild].self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/builds.json")))
    let gitPath = try String(contentsOfFile: directory + "/git-path", encoding: .utf8)
    let format = Date.ISO8601FormatStyle()
    let builds = try runs.map { run in
        ExtractionBuild(runId: run.runId, runNumber: run.runNumber, workflowName: run.workflowName, event: run.event, headBranch: run.headBranch,
                        headSha: run.headSha, actor: run.actor, createdAt: try format.parse(run.createdAt), finishedAt: try format.parse(run.updatedAt),
                        conclusion: run.conclusion)
    }.sorted { ($0.createdAt, $0.runId) < ($1.createdAt, $1.runId) }
    let before = peakMemoryMB()
    let extractor = FeatureExtractor(selection: try FeatureDAG.standard.select(patterns), repository: try GitRepository.open(gitPath))
    let start = ContinuousClock.now
    var builtCommits: [String: BuiltCommits] = [:]
    var statuses: [ExtractionStatus: Int] = [:]
    for build in builds {
        let vector = try extractor.extract(build)
        statuses[vector.status, default: 0] += 1
        if let commits = vector.features["git_all_built_commits"]?.strings {
            builtCommits[String(build.runId)] = BuiltCommits(commits: commits, added: vector.features["gh_lines_added"]?.int, deleted: vector.features["gh_lines_deleted"]?.int)
        }
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let statusText = statuses.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
    print(String(format: "extractor: %d builds in %.2f s = %.0f builds/s; peak RSS %.1f MB (%.1f MB before extraction); %@",
                 builds.count, seconds, Double(builds.count) / seconds, peakMemoryMB(), before, statusText))
    try JSONEncoder().encode(builtCommits).write(to: URL(fileURLWithPath: directory + "/built-commits.json"))
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "generate":
        var commits = 3000
        var out = ""
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--commits": commits = Int(iterator.next() ?? "") ?? commits
            case "--out": out = iterator.next() ?? ""
            default: throw BenchError(description: "unexpected \(argument)")
            }
        }
        guard !out.isEmpty else { throw BenchError(description: "generate needs --out DIR") }
        try generate(commits: commits, out: out)
    case "extract":
        guard arguments.count >= 2 else { throw BenchError(description: "extract needs DIR") }
        var patterns: [String] = []
        var iterator = arguments.dropFirst(2).makeIterator()
        while let argument = iterator.next() {
            guard argument == "--select", let pattern = iterator.next() else { throw BenchError(description: "unexpected \(argument)") }
            patterns.append(pattern)
        }
        try extract(directory: arguments[1], patterns: patterns.isEmpty ? ["*"] : patterns)
    default:
        throw BenchError(description: "usage: bench-features generate --commits N --out DIR | extract DIR [--select PATTERN]...")
    }
} catch {
    FileHandle.standardError.write(Data("bench-features: \(error)\n".utf8))
    exit(1)
}
