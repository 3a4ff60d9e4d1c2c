import BuildRiskContracts
import BuildRiskGit
import BuildRiskLogs
import FeatureExtractorCore
import Foundation
import Testing

/// The feature DAG and the extractor over a real repository written by the git CLI, with every
/// git-derived value checked against the CLI's own output.
@Suite(.timeLimit(.minutes(5)))
struct FeatureExtractionTests {
    static func extractAll(_ builds: [ExtractionBuild], repository: GitRepository?, select patterns: [String] = ["*"]) throws -> [FeatureVector] {
        let extractor = FeatureExtractor(selection: try FeatureDAG.standard.select(patterns), repository: repository)
        return try builds.map { try extractor.extract($0) }
    }

    @Test func linearisedHistoryFollowsTravisTorrent() throws {
        let fixture = try FeatureHistory()
        let vectors = try Self.extractAll(fixture.builds, repository: GitRepository.open(fixture.repository.path))
        let c = fixture.commits
        let expected: [(commits: [String?], status: String, previous: String?, previousBuild: Int?)] = [
            ([c["c1"]], "no_previous_build", nil, nil),
            ([c["c3"], c["c2"]], "build_found", c["c1"], 101),
            ([c["f2"], c["f1"]], "build_found", c["c3"], 102),
            ([c["m1"]], "merge_found", nil, nil),
            ([c["c6"], c["c5"]], "build_found", c["m1"], 104),
        ]
        for (vector, expectation) in zip(vectors, expected) {
            // The fixture has no logs: only the log features are skipped.
            #expect(vector.error == nil && vector.missingResources == [.buildLogs], "run \(vector.runId): \(vector.error ?? "")")
            #expect(vector.features["git_all_built_commits"] == .stringList(expectation.commits.compactMap { $0 }), "run \(vector.runId)")
            #expect(vector.features["git_num_all_built_commits"] == .integer(expectation.commits.count))
            #expect(vector.features["git_prev_commit_resolution_status"] == .string(expectation.status), "run \(vector.runId)")
            #expect(vector.features["git_prev_built_commit"] == (expectation.previous.map(FeatureValue.string) ?? .null))
            #expect(vector.features["tr_prev_build"] == (expectation.previousBuild.map(FeatureValue.integer) ?? .null))
            #expect(vector.trPrevBuild == expectation.previousBuild.map(Int64.init))
        }
        // The first-parent walk is git's own: without a merge, the build's commits are rev-list's
        // first-parent commits since the previous built commit.
        let since = try fixture.repository.run(["rev-list", "--first-parent", try #require(c["c6"]), "^" + (try #require(c["m1"]))])
        #expect(vectors[4].features["git_all_built_commits"] == .stringList(since.split(separator: "\n").map(String.init)))
    }

    /// Churn, file counts and kinds: the sum of `git diff --numstat -M` / `--name-status -M` over
    /// each build's commits, grouped by what the fixture says each path is.
    @Test func diffFeaturesAreTheSumOfTheCLIsNumstatOverTheBuiltCommits() throws {
        let fixture = try FeatureHistory()
        let vectors = try Self.extractAll(fixture.builds, repository: GitRepository.open(fixture.repository.path))
        for vector in vectors {
            let commits = try #require(vector.features["git_all_built_commits"]?.strings)
            let changes = try commits.flatMap { try fixture.repository.cliChanges(of: $0) }
            func churn(_ kind: String) -> Int {
                changes.filter { FeatureHistory.kinds[$0.path] == kind }.reduce(0) { $0 + ($1.added ?? 0) + ($1.deleted ?? 0) }
            }
            func count(_ kind: String) -> Int { changes.filter { FeatureHistory.kinds[$0.path] == kind }.count }
            func status(_ letters: Set<String>) -> Int { changes.filter { letters.contains($0.status) }.count }
            let run = "run \(vector.runId)"
            #expect(vector.features["git_diff_src_churn"] == .integer(churn("source")), "\(run)")
            #expect(vector.features["git_diff_test_churn"] == .integer(churn("test")), "\(run)")
            #expect(vector.features["gh_lines_added"] == .integer(changes.reduce(0) { $0 + ($1.added ?? 0) }), "\(run)")
            #expect(vector.features["gh_lines_deleted"] == .integer(changes.reduce(0) { $0 + ($1.deleted ?? 0) }), "\(run)")
            #expect(vector.features["gh_diff_files_added"] == .integer(status(["A"])), "\(run)")
            #expect(vector.features["gh_diff_files_deleted"] == .integer(status(["D"])), "\(run)")
            #expect(vector.features["gh_diff_files_modified"] == .integer(status(["M", "T"])), "\(run)")
            #expect(vector.features["git_diff_files_renamed"] == .integer(status(["R", "C"])), "\(run)")
            #expect(vector.features["gh_diff_src_files"] == .integer(count("source")), "\(run)")
            #expect(vector.features["git_diff_test_files"] == .integer(count("test")), "\(run)")
            #expect(vector.features["gh_diff_doc_files"] == .integer(count("documentation")), "\(run)")
            #expect(vector.features["gh_diff_other_files"] == .integer(count("other")), "\(run)")
            #expect(vector.features["git_diff_num_files"] == .integer(Set(changes.flatMap { [$0.path] + ($0.oldPath.map { [$0] } ?? []) }).count), "\(run)")
        }
        // The fixture's churn is not trivially zero anywhere it should not be.
        #expect(vectors[1].features["git_diff_files_renamed"] == .integer(1))
        #expect(vectors[3].features["gh_diff_files_deleted"] == .integer(1))  // the merge removes README.md against its first parent
        // Test cases as the fixture wrote them: three in c1, three in c3, two Go tests on the
        // branch (and again in the merge, against main), test_main.py's three deleted in c5.
        #expect(vectors.map { $0.features["gh_diff_tests_added"] ?? .null } == [3, 3, 2, 2, 0].map(FeatureValue.integer))
        #expect(vectors.map { $0.features["gh_diff_tests_deleted"] ?? .null } == [0, 0, 0, 0, 3].map(FeatureValue.integer))
        #expect(vectors.map { $0.features["gh_workflow_changed"] ?? .null } == [false, true, false, false, false].map(FeatureValue.boolean))
        #expect(vectors.map { $0.features["gh_dockerfile_changed"] ?? .null } == [false, false, true, true, false].map(FeatureValue.boolean))
    }

    /// Team size, core-team membership and commits on the touched files over the 90 days before
    /// each build, from `git rev-list --since` and the CLI's diffs.
    @Test func teamFeaturesMatchTheCLIOverThreeMonths() throws {
        let fixture = try FeatureHistory()
        let git = fixture.repository
        let vectors = try Self.extractAll(fixture.builds, repository: GitRepository.open(git.path))
        for (build, vector) in zip(fixture.builds, vectors) {
            let since = build.createdAt.addingTimeInterval(-90 * 86_400).formatted(.iso8601)
            let window = try git.run(["rev-list", "--since=\(since)", build.commitSha]).split(separator: "\n").map(String.init)
            let authors = try Dictionary(uniqueKeysWithValues: window.map { ($0, try git.line(["log", "-1", "--format=%ae", $0])) })
            let own = Set(try #require(vector.features["git_all_built_commits"]?.strings))
            let headAuthor = try git.line(["log", "-1", "--format=%ae", build.commitSha])
            let touched = Set(try own.flatMap { try git.cliChanges(of: $0).flatMap { [$0.path] + ($0.oldPath.map { [$0] } ?? []) } })
            let onTouched = try window.filter { sha in try git.cliChanges(of: sha).contains { touched.contains($0.path) || $0.oldPath.map(touched.contains) == true } }
            let run = "run \(vector.runId)"
            #expect(vector.features["gh_team_size"] == .integer(Set(authors.values).count), "\(run)")
            #expect(vector.features["gh_by_core_team_member"] == .boolean(authors.contains { !own.contains($0.key) && $0.value == headAuthor }), "\(run)")
            #expect(vector.features["gh_num_commits_on_files_touched"] == .integer(onTouched.count), "\(run)")
        }
        // Carol's pull request: her commits are the only ones of hers, so she is not core; the
        // repository's first commit is outside every later build's window.
        #expect(vectors[2].features["gh_by_core_team_member"] == .boolean(false))
        #expect(vectors[4].features["gh_by_core_team_member"] == .boolean(true))
        #expect(vectors[4].features["gh_team_size"] == .integer(4))
    }

    /// Outcomes count only from builds finished before the build was triggered: 103 runs past 104's
    /// trigger, so 104 does not know it failed, and 105 does.
    @Test func historyFeaturesSeeOnlyBuildsFinishedBeforeTheTrigger() throws {
        let fixture = try FeatureHistory()
        let vectors = try Self.extractAll(fixture.builds, repository: GitRepository.open(fixture.repository.path))
        let first = vectors[0].features
        #expect(first["tr_prev_num_builds"] == .integer(0))
        #expect(first["tr_prev_outcome"] == .null && first["tr_prev_fail_ratio"] == .null && first["tr_prev_time_since"] == .null)

        let b104 = vectors[3].features
        #expect(b104["tr_prev_num_builds"] == .integer(2))
        #expect(b104["tr_prev_outcome"] == .string("failure"))  // 102, not the still running 103
        #expect(b104["tr_prev_fail_ratio"] == .number(0.5))
        #expect(b104["tr_prev_time_since"] == .number(86_400))  // 103 existed: it was triggered a day before
        #expect(b104["tr_prev_time_since_fail"] == .number(3 * 86_400))
        // README.md was touched by 101 (passed); 103 touched it too but had not finished.
        #expect(b104["git_files_fail_likelihood_max"] == .number(0))

        let b105 = vectors[4].features
        #expect(b105["tr_prev_num_builds"] == .integer(4))
        #expect(b105["tr_prev_outcome"] == .string("failure"))  // 103 finished last
        #expect(b105["tr_prev_failed"] == .boolean(true))
        #expect(b105["tr_prev_fail_ratio"] == .number(0.5))
        #expect(b105["tr_prev_fail_ratio_last5"] == .number(0.5))
        #expect(b105["tr_prev_fail_streak"] == .integer(1))
        #expect(b105["tr_prev_fail_streak_max"] == .integer(1))
        #expect(b105["tr_prev_fail_streak_avg"] == .number(1))
        #expect(b105["tr_prev_time_since"] == .number(2 * 86_400))
        #expect(b105["tr_prev_time_since_fail"] == .number(3 * 86_400))
        #expect(b105["committer_num_builds"] == .integer(3))
        #expect(b105["committer_fail_ratio"] == .number(1.0 / 3.0))
        // feature.go: 103 failed, 104 passed; main.py and test_main.py: only 102, failed.
        #expect(b105["git_files_fail_likelihood_max"] == .number(1))
        let mean: Double = (0.5 + 1 + 1) / 3
        #expect(b105["git_files_fail_likelihood_mean"] == .number(mean))
        #expect(b105["tr_duration"] == .number(0.2 * 3_600))
        #expect(b105["gh_is_pr"] == .boolean(false) && vectors[2].features["gh_is_pr"] == .boolean(true))
    }

    /// No feature sees the future: vectors computed again after later commits and builds arrive
    /// (a later build of an old commit, two builds triggered at the same instant) are unchanged.
    @Test func laterBuildsAndCommitsChangeNoEarlierVector() throws {
        let fixture = try FeatureHistory()
        let git = fixture.repository
        let before = try Self.extractAll(fixture.builds, repository: GitRepository.open(git.path))

        try git.write("src/main.py", "rewritten = True\n")
        try git.write("tests/test_new.py", "def test_new():\n    pass\n")
        let c7 = try git.commit("c7: later work", as: FeatureHistory.dave, at: FeatureHistory.day(-3))
        let later = [
            ExtractionBuild(runId: 106, workflowName: "CI", event: "push", headSha: try #require(fixture.commits["c4"]), actor: "bob",
                            createdAt: FeatureHistory.day(-3, hours: 1), finishedAt: FeatureHistory.day(-3, hours: 2), conclusion: "failure"),
            ExtractionBuild(runId: 107, workflowName: "CI", event: "push", headSha: c7, actor: "dave",
                            createdAt: FeatureHistory.day(-2), finishedAt: FeatureHistory.day(-2, hours: 1), conclusion: "success"),
            ExtractionBuild(runId: 108, workflowName: "CI", event: "workflow_dispatch", headSha: c7, actor: "dave",
                            createdAt: FeatureHistory.day(-2), finishedAt: FeatureHistory.day(-2, hours: 1), conclusion: "failure"),
        ]
        let after = try Self.extractAll(fixture.builds + later, repository: GitRepository.open(git.path))
        #expect(Array(after.prefix(before.count)) == before)

        // Triggered at the same instant, 107 and 108 do not see each other.
        #expect(after[6].features["tr_prev_build"] == .integer(105))
        #expect(after[7].features["tr_prev_build"] == .integer(105))
        #expect(after[7].features["tr_prev_num_builds"] == after[6].features["tr_prev_num_builds"])
        #expect(after[7].features["tr_prev_time_since"] == after[6].features["tr_prev_time_since"])

        let extractor = FeatureExtractor(selection: try FeatureDAG.standard.select(["*"]), repository: try GitRepository.open(git.path))
        _ = try extractor.extract(later[1])
        #expect(throws: ExtractionError.self) { try extractor.extract(fixture.builds[4]) }
    }

    /// The whole tree at each build's commit, counted by hand: lines that are neither blank nor
    /// line comments, test cases and asserts in test files, files of every kind. The second build
    /// leaves `Sources/` untouched (its measure is reused), the third moves the test into it.
    @Test func wholeTreeFeaturesCountEveryFileOfTheBuildsCommit() throws {
        let git = try FixtureRepository()
        let alice = FeatureHistory.alice
        // 7 lines of code: the blank line and both comments do not count.
        try git.write("Sources/App/main.swift", """
            // The entry point.
            import Foundation

            /* a block comment's first line */
            let a = 1
            let b = 2
            print(a + b)
            func f() {
                print("f")
            }
            """ + "\n")
        // 8 lines, 2 test cases, 3 lines that assert (two asserts on one line count once).
        try git.write("Tests/AppTests/AppTests.swift", """
            import XCTest
            final class AppTests: XCTestCase {

                func testSum() { XCTAssertEqual(1 + 2, 3) }
                func testProduct() {
                    XCTAssertEqual(2 * 3, 6); XCTAssertTrue(true)
                    XCTAssertNil(nil)
                }
            }
            """ + "\n")
        try git.write("README.md", "# App\n\nlong prose\n")
        try git.writeBytes("Sources/App/icon.png", [0x89, 0x50, 0x4E, 0x47, 0, 0, 10, 10])
        let c1 = try git.commit("c1", as: alice, at: FeatureHistory.day(-10))
        // 2 lines of Python: `#` is a comment there.
        try git.write("tools/lib.py", "# helper\ndef f():\n    return 1\n\n")
        let c2 = try git.commit("c2", as: alice, at: FeatureHistory.day(-9))
        try git.run(["mv", "Tests/AppTests/AppTests.swift", "Sources/App/Checks.swift"])
        let c3 = try git.commit("c3", as: alice, at: FeatureHistory.day(-8))

        let builds = [c1, c2, c3].enumerated().map { index, sha in
            ExtractionBuild(runId: Int64(index + 1), workflowName: "CI", event: "push", headSha: sha, actor: "alice",
                            createdAt: FeatureHistory.day(Double(-10 + index), hours: 1), finishedAt: FeatureHistory.day(Double(-10 + index), hours: 2),
                            conclusion: "success")
        }
        let vectors = try Self.extractAll(builds, repository: GitRepository.open(git.path), select: ["gh_sloc", "gh_*_per_kloc", "git_num_files"])
        func values(_ name: String) -> [FeatureValue?] { vectors.map { $0.features[name] } }
        let sloc: [FeatureValue?] = [.integer(7), .integer(9), .integer(17)]
        let files: [FeatureValue?] = [.integer(4), .integer(5), .integer(5)]
        func perKLOC(_ count: Double) -> [FeatureValue?] { [.number(count * 1000 / 7), .number(count * 1000 / 9), .number(0)] }
        #expect(values("gh_sloc") == sloc)
        #expect(values("git_num_files") == files)
        #expect(values("gh_test_lines_per_kloc") == perKLOC(8))
        #expect(values("gh_test_cases_per_kloc") == perKLOC(2))
        #expect(values("gh_asserts_cases_per_kloc") == perKLOC(3))
        #expect(vectors.allSatisfy { $0.status == .completed && $0.missingResources.isEmpty })
    }

    /// A pull request's comments count up to the run's trigger, never after; a push needs nothing
    /// of GitHub; a pull request GitHub could not give is reported missing, not guessed.
    @Test func pullRequestFeaturesSeeOnlyTheDiscussionBeforeTheTrigger() throws {
        let trigger = FeatureHistory.day(-1)
        let facts = PullRequestFacts(
            number: 7, createdAt: trigger.addingTimeInterval(-86_400), title: "Fix the parser", body: "It broke\non tabs.",
            issueCommentTimes: [trigger.addingTimeInterval(-7_200), trigger.addingTimeInterval(-3_600), trigger, trigger.addingTimeInterval(60)],
            reviewCommentTimes: [trigger.addingTimeInterval(3_600)])
        let builds = [
            ExtractionBuild(runId: 1, workflowName: "CI", event: "push", headSha: String(repeating: "a", count: 40), createdAt: trigger.addingTimeInterval(-60)),
            ExtractionBuild(runId: 2, workflowName: "CI", event: "pull_request", headSha: String(repeating: "b", count: 40), createdAt: trigger,
                            pullRequestNumber: 7, pullRequest: facts),
            ExtractionBuild(runId: 3, workflowName: "CI", event: "pull_request", headSha: String(repeating: "c", count: 40), createdAt: trigger,
                            pullRequestNumber: 8),
        ]
        let vectors = try Self.extractAll(builds, repository: nil, select: ["gh_pull_req_num", "gh_pr_*", "gh_num_issue_comments", "gh_num_pr_comments", "gh_description_complexity"])
        #expect(vectors[0].features["gh_pull_req_num"] == .null && vectors[0].features["gh_num_issue_comments"] == .null)
        #expect(vectors[0].missingResources.isEmpty && vectors[0].status == .completed)
        // Two comments before the trigger; the one at the trigger's instant and the later ones are its future.
        #expect(vectors[1].features["gh_num_issue_comments"] == .integer(2))
        #expect(vectors[1].features["gh_num_pr_comments"] == .integer(0))
        #expect(vectors[1].features["gh_pr_age"] == .number(86_400))
        #expect(vectors[1].features["gh_description_complexity"] == .integer(7))
        #expect(vectors[1].features["gh_pull_req_num"] == .integer(7))
        #expect(vectors[2].missingResources == [.githubAPI] && vectors[2].status == .partial)
        #expect(vectors[2].features["gh_pull_req_num"] == .integer(8) && vectors[2].features["gh_num_issue_comments"] == nil)
        #expect(vectors[2].skippedFeatures.contains("gh_num_issue_comments"))
    }

    /// TravisTorrent's gh_num_commit_comments: the comments on the build's commits
    /// (git_all_built_commits) written before its trigger. The processor learns those commits ahead
    /// (plannedBuiltCommits, which changes nothing) to fetch their comments; a build GitHub gave
    /// none for skips the feature and says github_api is missing.
    @Test func commitCommentsCountOnlyTheBuiltCommitsCommentsBeforeTheTrigger() throws {
        let fixture = try FeatureHistory()
        let c = fixture.commits
        var builds = fixture.builds
        let trigger = builds[1].createdAt  // run 102 built c3 and c2
        var comments = try #require(builds[1].commitComments)
        comments[try #require(c["c3"])] = [trigger.addingTimeInterval(-3_600), trigger.addingTimeInterval(3_600)]
        comments[try #require(c["c2"])] = [trigger.addingTimeInterval(-60)]
        comments[try #require(c["c1"])] = [trigger.addingTimeInterval(-7_200)]  // after run 101's trigger; c1 is not run 102's
        for index in 0..<4 { builds[index].commitComments = comments }
        builds[4].commitComments = nil  // GitHub could not give them

        let extractor = FeatureExtractor(selection: try FeatureDAG.standard.select(["gh_num_commit_comments"]), repository: try GitRepository.open(fixture.repository.path))
        let planned = extractor.plannedBuiltCommits(builds)
        #expect(planned == [101: [c["c1"]!], 102: [c["c3"]!, c["c2"]!], 103: [c["f2"]!, c["f1"]!], 104: [c["m1"]!], 105: [c["c6"]!, c["c5"]!]])
        #expect(extractor.state == ExtractorState(), "planning changed the extractor")
        let vectors = try builds.map { try extractor.extract($0) }
        for (vector, build) in zip(vectors, builds) where build.commitComments != nil {
            #expect(vector.features["git_all_built_commits"]?.strings == planned[build.runId], "run \(build.runId)")
        }
        #expect(vectors.map { $0.features["gh_num_commit_comments"] } == [.integer(0), .integer(2), .integer(0), .integer(0), nil])
        #expect(vectors[1].status == .completed && vectors[1].missingResources.isEmpty)
        #expect(vectors[4].status == .partial && vectors[4].missingResources == [.githubAPI])
        #expect(vectors[4].skippedFeatures == ["gh_num_commit_comments"])
    }

    /// No clone: the history and log features are still there, the git ones skipped and reported.
    /// No logs: the git features are still there. Logs present: the tr_log_* family from them.
    @Test func missingResourcesDegradeGracefully() throws {
        let fixture = try FeatureHistory()
        let withGit = try Self.extractAll(fixture.builds, repository: GitRepository.open(fixture.repository.path))
        let withoutGit = try Self.extractAll(fixture.builds, repository: nil)
        for (full, degraded) in zip(withGit, withoutGit) {
            #expect(degraded.status == .partial)
            #expect(degraded.missingResources == [.buildLogs, .gitHistory])
            #expect(degraded.skippedFeatures.contains("git_diff_src_churn") && degraded.skippedFeatures.contains("gh_team_size"))
            #expect(degraded.skippedFeatures.contains("git_num_all_built_commits"))  // through its dependency
            for name in ["tr_prev_fail_ratio", "tr_prev_outcome", "tr_prev_time_since", "committer_fail_ratio", "gh_is_pr", "tr_duration"] {
                #expect(degraded.features[name] == full.features[name], "\(name) of run \(full.runId)")
            }
            #expect(degraded.features["git_diff_src_churn"] == nil)
            #expect(full.missingResources == [.buildLogs] && full.status == .partial)
            #expect(full.features["git_diff_src_churn"] != nil && full.features["tr_log_num_tests_run"] == nil)
        }

        let job = JobLogFacts(
            jobName: "test",
            steps: [StepFacts(number: 1, name: "Set up job", durationSeconds: 3), StepFacts(number: 2, name: "Run tests", durationSeconds: 40)],
            durationSeconds: 45, setupSeconds: 3, lineCount: 120, errorCount: 2, warningCount: 1,
            tests: [TestSummary(framework: .pytest, total: 10, passed: 8, failed: 1, skipped: 1, failedTests: ["tests/test_main.py::test_b"])]
        )
        var builds = fixture.builds
        builds[4].logs = RunLogFacts(jobs: [job], tests: job.tests, errorCount: 2, warningCount: 1)
        builds.append(ExtractionBuild(runId: 106, workflowName: "CI", event: "push", headSha: builds[4].headSha,
                                      createdAt: FeatureHistory.day(-1), finishedAt: FeatureHistory.day(-1, hours: 1), conclusion: "success"))
        let vectors = try Self.extractAll(builds, repository: GitRepository.open(fixture.repository.path))
        let logged = vectors[4]
        #expect(logged.status == .completed && logged.missingResources.isEmpty)
        #expect(logged.features["gh_num_jobs"] == .integer(1))
        #expect(logged.features["gh_num_steps"] == .integer(2))
        #expect(logged.features["gh_step_durations"] == .stringList(["test / Set up job: 3.0", "test / Run tests: 40.0"]))
        #expect(logged.features["gh_step_duration_max"] == .number(40))
        #expect(logged.features["tr_log_buildduration"] == .number(45))
        #expect(logged.features["tr_log_setup_time"] == .number(3))
        #expect(logged.features["tr_log_testduration"] == .number(40))
        #expect(logged.features["tr_log_frameworks"] == .stringList(["pytest"]))
        #expect(logged.features["tr_log_num_tests_run"] == .integer(10))
        #expect(logged.features["tr_log_num_tests_ok"] == .integer(8))
        #expect(logged.features["tr_log_num_tests_failed"] == .integer(1))
        #expect(logged.features["tr_log_num_tests_skipped"] == .integer(1))
        #expect(logged.features["tr_log_bool_tests_ran"] == .boolean(true))
        #expect(logged.features["tr_log_bool_tests_failed"] == .boolean(true))
        #expect(logged.features["tr_log_tests_failed"] == .stringList(["tests/test_main.py::test_b"]))
        #expect(logged.features["tr_log_num_errors"] == .integer(2))
        #expect(logged.features["tr_log_num_lines"] == .integer(120))
        // The next build knows what the previous build's logs said (it had finished).
        #expect(vectors[5].features["tr_prev_num_tests_failed"] == .integer(1))
        #expect(vectors[5].features["tr_prev_num_errors"] == .integer(2))
        #expect(vectors[4].features["tr_prev_num_tests_failed"] == .null)
    }

    @Test func selectionByNameAndWildcardPullsInDependenciesAndDerivesResources() throws {
        let dag = FeatureDAG.standard
        let names = dag.definitions.map(\.name)

        let git = try dag.select(["git_*"])
        #expect(git.requested == names.filter { $0.hasPrefix("git_") })
        #expect(git.resources == [.gitHistory])

        let previous = try dag.select(["tr_prev_*"])
        #expect(previous.requested == names.filter { $0.hasPrefix("tr_prev_") })
        #expect(previous.resources == [.gitHistory])  // tr_prev_build walks the linearised history

        let ratio = try dag.select(["tr_prev_fail_ratio"])
        #expect(ratio.names == ["tr_prev_fail_ratio"] && ratio.resources.isEmpty)

        let touched = try dag.select(["gh_num_commits_on_files_touched"])
        #expect(touched.names == ["git_all_built_commits", "gh_num_commits_on_files_touched"])
        #expect(touched.requested == ["gh_num_commits_on_files_touched"])
        #expect(touched.resources == [.gitHistory])

        #expect(try dag.select(["tr_log_*"]).resources == [.buildLogs])
        #expect(try dag.select(["tr_log_bool_tests_ran"]).names == ["tr_log_num_tests_run", "tr_log_bool_tests_ran"])
        #expect(try dag.select(["*"]).names == names)
        #expect(try dag.select(["*"]).resources == [.buildLogs, .gitHistory, .githubAPI])
        #expect(try dag.select(["gh_*_files", "tr_status"]).requested == names.filter { ($0.hasPrefix("gh_") && $0.hasSuffix("_files")) || $0 == "tr_status" })

        #expect(throws: FeatureSelectionError.unknownFeature("gh_nonsense")) { try dag.select(["gh_is_pr", "gh_nonsense"]) }
        #expect(throws: FeatureSelectionError.patternMatchesNothing("zz_*")) { try dag.select(["zz_*"]) }
        #expect(throws: FeatureSelectionError.empty) { try dag.select([]) }

        // A selection's vector holds exactly its features.
        let fixture = try FeatureHistory()
        let vectors = try Self.extractAll(fixture.builds, repository: GitRepository.open(fixture.repository.path), select: ["git_num_all_built_commits", "tr_prev_outcome"])
        #expect(Set(vectors[4].features.keys) == ["git_all_built_commits", "git_num_all_built_commits", "tr_prev_outcome"])
        #expect(vectors[4].missingResources.isEmpty && vectors[4].status == .completed)
    }

    @Test func declarationsAreCompleteAndTimedHonestly() throws {
        let definitions = FeatureDAG.standard.definitions
        #expect(Set(definitions.map(\.name)).count == definitions.count)
        for definition in definitions {
            #expect(!definition.definition.isEmpty, "\(definition.name) has no definition")
            // Whatever reads the run's own logs or its end is known only after it ran.
            if definition.inputs.contains(.runLogs) { #expect(definition.timing == .post, "\(definition.name)") }
            if definition.category == .buildHistory || definition.category == .gitDiff || definition.category == .team {
                #expect(definition.timing == .pre, "\(definition.name)")
            }
        }
        for name in ["tr_status", "tr_duration", "build_successful"] {
            #expect(FeatureDAG.standard.definition(name)?.timing == .post)
        }
        let catalogue = FeatureDAG.standard.catalogue()
        #expect(catalogue.dagVersion == FeatureDAG.standard.version && catalogue.dagVersion.count == 16)
        // No anchor field is both covered and listed as uncovered.
        let covered = Set(definitions.flatMap(\.sources).map { "\($0.anchor.rawValue):\($0.field)" })
        for field in catalogue.uncovered { #expect(!covered.contains("\(field.anchor.rawValue):\(field.field)")) }
    }

    /// contracts/features.json is the catalogue the code declares.
    @Test func catalogueFileMatchesTheCode() throws {
        let path = TestEnvironment.repositoryRoot.appendingPathComponent("contracts/features.json")
        let stored = try JSONDecoder().decode(FeatureCatalogueDocument.self, from: Data(contentsOf: path))
        #expect(stored == FeatureDAG.standard.catalogue(), "contracts/features.json is stale: run `buildrisk-admin features --out contracts/features.json`")
    }
}
