import Foundation

/// A generated build history shaped like the field's datasets (TravisTorrent, GitHub Actions
/// studies): several repositories with their own failure rates, branches whose failures come in
/// streaks (what makes Parrot strong), change-size, author and configuration effects with
/// interactions, and missing values where a real extractor has none (first build of a branch,
/// a new author). Only pre-build facts are columns; the outcome is drawn from them plus noise.
struct SyntheticBuilds {
    var random: SeededRandom

    mutating func csv(builds: Int) -> String {
        let languages = ["swift", "go", "java", "python", "cpp", "javascript"]
        struct Repository { var name: String; var language: String; var base: Double; var branches: [String]; var authors: Int }
        var repositories: [Repository] = []
        for index in 0..<8 {
            let branches = ["main"] + (0..<(15 + index * 5)).map { "feature-\($0)" }
            repositories.append(Repository(
                name: "org/repo-\(index)", language: languages[index % languages.count],
                base: -2.2 + 0.25 * Double(index % 4), branches: branches, authors: 10 + 4 * index
            ))
        }
        var lastFailed: [String: Bool] = [:]
        var lastTime: [String: Double] = [:]
        var authorBuilds: [String: Int] = [:]
        var authorFailures: [String: Int] = [:]
        var lines = ["time,repository,branch,failed,language,ci,files_changed,lines_added,lines_deleted,commits,test_files_changed,config_changed,dependency_changed,author_builds,author_failure_rate,hours_since_branch_build,previous_failed,is_main,hour,weekday"]
        lines.reserveCapacity(builds + 1)
        var time = 1_700_000_000.0
        for _ in 0..<builds {
            time += random.exponential(mean: 600)
            let repository = repositories[random.int(below: repositories.count)]
            let branch = random.uniform() < 0.35 ? "main" : repository.branches[1 + random.int(below: repository.branches.count - 1)]
            let key = "\(repository.name)#\(branch)"
            let author = "\(repository.name)@\(Int(Double(repository.authors) * pow(random.uniform(), 2)))"
            let files = max(1, Int(exp(random.normal(mean: 1.3, deviation: 1.1))))
            let added = Int(Double(files) * exp(random.normal(mean: 2.5, deviation: 1)))
            let deleted = Int(Double(added) * random.uniform() * 0.8)
            let commits = 1 + Int(random.exponential(mean: 1.5))
            let testFiles = random.uniform() < 0.4 ? random.int(below: files + 1) : 0
            let config = random.uniform() < 0.08 ? 1 : 0
            let dependency = random.uniform() < 0.05 ? 1 : 0
            let experience = authorBuilds[author, default: 0]
            let authorRate: Double? = experience >= 3 ? Double(authorFailures[author, default: 0]) / Double(experience) : nil
            let sinceBranch: Double? = lastTime[key].map { (time - $0) / 3600 }
            let previous = lastFailed[key]
            let date = Date(timeIntervalSince1970: time)
            let hour = Calendar(identifier: .gregorian).component(.hour, from: date)
            let weekday = Calendar(identifier: .gregorian).component(.weekday, from: date)
            let ci = repository.name.hasSuffix("3") || repository.name.hasSuffix("6") ? "travis" : "github-actions"

            var logit = repository.base
            logit += previous == true ? 2.0 : previous == false ? -0.3 : 0.2
            logit += 0.35 * log(Double(files))
            logit += 1.1 * Double(config) + 0.9 * Double(dependency)
            logit -= 0.25 * log1p(Double(experience))
            if testFiles == 0 && added > 150 { logit += 0.6 }
            if repository.language == "cpp" && files > 15 { logit += 0.8 }
            if let sinceBranch, sinceBranch > 72 { logit += 0.5 }
            if let authorRate { logit += 1.5 * (authorRate - 0.15) }
            if branch == "main" { logit -= 0.3 }
            if hour >= 22 || hour < 5 { logit += 0.3 }
            logit += random.normal(mean: 0, deviation: 0.6)
            let failed = random.uniform() < 1 / (1 + exp(-logit))

            // Missing values a real extractor leaves: no diff for 2 % of builds (force-pushes).
            let diffKnown = random.uniform() >= 0.02
            func field(_ value: Double?) -> String { value.map { String($0) } ?? "" }
            lines.append([
                String(Int(time)), repository.name, branch, failed ? "1" : "0", repository.language, ci,
                diffKnown ? String(files) : "", diffKnown ? String(added) : "", diffKnown ? String(deleted) : "",
                String(commits), String(testFiles), String(config), String(dependency), String(experience),
                field(authorRate), field(sinceBranch), previous.map { $0 ? "1" : "0" } ?? "", branch == "main" ? "1" : "0",
                String(hour), String(weekday),
            ].joined(separator: ","))

            lastFailed[key] = failed
            lastTime[key] = time
            authorBuilds[author, default: 0] += 1
            if failed { authorFailures[author, default: 0] += 1 }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func int(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func exponential(mean: Double) -> Double { -mean * log(1 - uniform()) }
    mutating func normal(mean: Double, deviation: Double) -> Double {
        mean + deviation * (-2 * log(1 - uniform())).squareRoot() * cos(2 * .pi * uniform())
    }
}
