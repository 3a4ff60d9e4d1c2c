import BuildRiskContracts
import BuildRiskGit
import Foundation

/// Every feature BuildRisk computes, each declared once with its computation. Field names follow
/// TravisTorrent (`gh_`, `git_`, `tr_`) where a field exists; `tr_prev_*` and `committer_*` are the
/// build-history families (BuildFast), `gh_*` workflow fields follow GHAminer.
public enum FeatureCatalogue {
    /// Bump when a computation changes what a feature means without its declaration changing; it
    /// enters the DAG version.
    public static let revision = 1

    static let tt = FeatureAnchor.travisTorrent
    static let gha = FeatureAnchor.ghaMiner
    static let bf = FeatureAnchor.buildFast

    static func declare(
        _ name: String, _ category: FeatureCategory, _ type: FeatureValueType, _ timing: FeatureTiming = .pre,
        inputs: [FeatureInput], dependsOn: [String] = [], sources: [FeatureSource] = [], _ definition: String,
        _ compute: @escaping @Sendable (BuildContext) throws -> FeatureValue
    ) -> Feature {
        Feature(
            definition: FeatureDefinition(name: name, category: category, type: type, timing: timing, dependsOn: dependsOn, inputs: inputs,
                                          resources: [], definition: definition, sources: sources),
            compute: compute
        )
    }

    static func number(_ value: Double?) -> FeatureValue { value.map(FeatureValue.number) ?? .null }
    static func seconds(_ from: Date?, _ to: Date?) -> FeatureValue {
        guard let from, let to else { return .null }
        return .number(to.timeIntervalSince(from))
    }

    public static let features: [Feature] = metadata + buildHistory + committer + gitHistory + gitDiff + repoSnapshot + pullRequest + team + buildLog

    // MARK: The run

    static let metadata: [Feature] = [
        declare("tr_build_id", .metadata, .integer, inputs: [.run], sources: [.init(tt, "tr_build_id"), .init(gha, "id_build")],
                "The workflow run's id.") { .integer(Int($0.build.runId)) },
        declare("tr_build_number", .metadata, .integer, inputs: [.run], sources: [.init(tt, "tr_build_number")],
                "The run's number within its workflow.") { .integer($0.build.runNumber) },
        declare("gh_workflow_name", .workflow, .string, inputs: [.run], sources: [.init(gha, "workflow_name")],
                "The workflow the run belongs to.") { .string($0.build.workflowName) },
        declare("git_trigger_commit", .metadata, .string, inputs: [.run], sources: [.init(tt, "git_trigger_commit"), .init(gha, "commit_sha")],
                "The commit the run built (the effective commit when it was replayed from a patch).") { .string($0.build.commitSha) },
        declare("git_branch", .metadata, .string, inputs: [.run], sources: [.init(tt, "git_branch"), .init(gha, "branch")],
                "The branch the run was triggered on; null when GitHub gives none.") { $0.build.headBranch.map(FeatureValue.string) ?? .null },
        declare("gh_event", .workflow, .string, inputs: [.run], sources: [.init(gha, "event")],
                "The event that triggered the run (push, pull_request, schedule, workflow_dispatch…).") { .string($0.build.event) },
        declare("gh_is_pr", .prInfo, .boolean, inputs: [.run], sources: [.init(tt, "gh_is_pr"), .init(gha, "gh_is_pr")],
                "Whether the run was triggered by a pull request (pull_request or pull_request_target).") {
            .boolean(["pull_request", "pull_request_target"].contains($0.build.event))
        },
        declare("gh_build_started_at", .metadata, .string, inputs: [.run], sources: [.init(tt, "gh_build_started_at"), .init(gha, "created_at")],
                "When the run was triggered (ISO 8601, UTC).") { .string($0.build.createdAt.formatted(.iso8601)) },
        declare("gh_actor", .committer, .string, inputs: [.run],
                "The GitHub login that triggered the run; null when unknown.") { $0.build.actor.map(FeatureValue.string) ?? .null },
        declare("tr_status", .metadata, .string, .post, inputs: [.run], sources: [.init(tt, "tr_status"), .init(gha, "conclusion")],
                "The run's conclusion (success, failure, cancelled, timed_out…): the label, known only after the build.") {
            $0.build.conclusion.map(FeatureValue.string) ?? .null
        },
        declare("build_successful", .metadata, .boolean, .post, inputs: [.run], sources: [.init(tt, "build_successful")],
                "Whether the run's conclusion is success.") { .boolean($0.build.conclusion == "success") },
        declare("tr_duration", .metadata, .number, .post, inputs: [.run], sources: [.init(tt, "tr_duration"), .init(gha, "build_duration")],
                "Seconds from the run's trigger to its end.") { seconds($0.build.createdAt, $0.build.finishedAt) },
    ]

    // MARK: Earlier builds of the workflow (BuildFast)

    static let buildHistory: [Feature] = [
        declare("tr_prev_num_builds", .buildHistory, .integer, inputs: [.buildHistory],
                "Earlier builds of the workflow that had finished when this one was triggered.") { .integer($0.history.tally.builds) },
        declare("tr_prev_outcome", .buildHistory, .string, inputs: [.buildHistory], sources: [.init(bf, "last_build_result")],
                "Conclusion of the latest earlier build of the workflow that had finished when this one was triggered; null when none.") {
            $0.history.lastFinished?.conclusion.map(FeatureValue.string) ?? .null
        },
        declare("tr_prev_failed", .buildHistory, .boolean, inputs: [.buildHistory],
                "Whether that build failed (failure, timed_out, startup_failure); null when none.") {
            $0.history.lastFinished.map { FeatureValue.boolean($0.failed) } ?? .null
        },
        declare("tr_prev_duration", .buildHistory, .number, inputs: [.buildHistory],
                "Seconds that build ran; null when none.") { seconds($0.history.lastFinished?.createdAt, $0.history.lastFinished?.finishedAt) },
        declare("tr_prev_num_tests_failed", .buildHistory, .integer, inputs: [.buildHistory], sources: [.init(bf, "last_build_failed_tests")],
                "Failed tests the latest finished earlier build's logs report; null when none or its logs are missing.") {
            $0.history.lastFinished?.testsFailed.map(FeatureValue.integer) ?? .null
        },
        declare("tr_prev_num_errors", .buildHistory, .integer, inputs: [.buildHistory], sources: [.init(bf, "last_build_errors")],
                "Error lines in the latest finished earlier build's logs; null when none or its logs are missing.") {
            $0.history.lastFinished?.logErrors.map(FeatureValue.integer) ?? .null
        },
        declare("tr_prev_fail_ratio", .buildHistory, .number, inputs: [.buildHistory], sources: [.init(bf, "fail_ratio_pr")],
                "Share of failed builds among the workflow's finished earlier builds; null when none.") { number($0.history.tally.failureRatio) },
        declare("tr_prev_fail_ratio_last5", .buildHistory, .number, inputs: [.buildHistory], sources: [.init(bf, "fail_ratio_pr_recent")],
                "Share of failed builds among the last five finished earlier builds; null when none.") { number($0.history.tally.recentFailureRatio) },
        declare("tr_prev_time_since", .buildHistory, .number, inputs: [.buildHistory], sources: [.init(bf, "time_elapse")],
                "Seconds since the workflow's previous build was triggered; null for its first build.") {
            seconds($0.history.lastTriggeredAt, $0.build.createdAt)
        },
        declare("tr_prev_time_since_fail", .buildHistory, .number, inputs: [.buildHistory], sources: [.init(bf, "time_last_failed_build")],
                "Seconds since the latest failed earlier build (finished by now) was triggered; null when none failed.") {
            seconds($0.history.lastFailureTriggeredAt, $0.build.createdAt)
        },
        declare("tr_prev_fail_streak", .buildHistory, .integer, inputs: [.buildHistory],
                "Consecutive failures ending with the latest finished earlier build (0 when it passed).") { .integer($0.history.currentFailureRun) },
        declare("tr_prev_fail_streak_max", .buildHistory, .integer, inputs: [.buildHistory], sources: [.init(bf, "consec_fail_max")],
                "The longest run of consecutive failed builds so far (0 when none failed).") { .integer($0.history.failureRuns.max() ?? 0) },
        declare("tr_prev_fail_streak_avg", .buildHistory, .number, inputs: [.buildHistory], sources: [.init(bf, "consec_fail_avg")],
                "The average length of the runs of consecutive failed builds so far; null when none failed.") {
            let runs = $0.history.failureRuns
            return runs.isEmpty ? .null : .number(Double(runs.reduce(0, +)) / Double(runs.count))
        },
    ]

    // MARK: The committer (BuildFast)

    static let committer: [Feature] = [
        declare("committer_num_builds", .committer, .integer, inputs: [.run, .buildHistory],
                "Finished earlier builds of the workflow triggered by the same actor.") { context in
            .integer(context.build.actor.flatMap { context.history.committers[$0]?.builds } ?? 0)
        },
        declare("committer_fail_ratio", .committer, .number, inputs: [.run, .buildHistory], sources: [.init(bf, "fail_ratio_com")],
                "Share of failed builds among the actor's finished earlier builds; null when none.") { context in
            number(context.build.actor.flatMap { context.history.committers[$0]?.failureRatio })
        },
        declare("committer_fail_ratio_last5", .committer, .number, inputs: [.run, .buildHistory], sources: [.init(bf, "fail_ratio_com_recent")],
                "Share of failed builds among the actor's last five finished earlier builds; null when none.") { context in
            number(context.build.actor.flatMap { context.history.committers[$0]?.recentFailureRatio })
        },
    ]

    // MARK: Linearised history (TravisTorrent)

    static let gitHistory: [Feature] = [
        declare("git_prev_built_commit", .gitHistory, .string, inputs: [.buildHistory, .commitGraph], sources: [.init(tt, "git_prev_built_commit")],
                "The nearest first-parent ancestor an earlier build of the workflow built; null on a merge or the root.") {
            try $0.linear().previousBuiltCommit.map(FeatureValue.string) ?? .null
        },
        declare("git_prev_commit_resolution_status", .gitHistory, .string, inputs: [.buildHistory, .commitGraph],
                sources: [.init(tt, "git_prev_commit_resolution_status")],
                "How the walk back ended: build_found, merge_found (a merge commit ends the build's commits) or no_previous_build.") {
            .string(try $0.linear().resolution.rawValue)
        },
        declare("tr_prev_build", .buildHistory, .integer, inputs: [.buildHistory, .commitGraph], sources: [.init(tt, "tr_prev_build")],
                "The run id of the build of git_prev_built_commit (the latest earlier one); null when none.") {
            try $0.linear().previousBuild.map { FeatureValue.integer(Int($0)) } ?? .null
        },
        declare("git_all_built_commits", .gitHistory, .stringList, inputs: [.buildHistory, .commitGraph],
                sources: [.init(tt, "git_all_built_commits"), .init(gha, "git_commits")],
                "The build's commits, newest first: its own commit and its first-parent ancestors back to (excluding) git_prev_built_commit, or to the merge or root that ended the walk.") {
            .stringList(try $0.linear().commits)
        },
        declare("git_num_all_built_commits", .gitHistory, .integer, inputs: [], dependsOn: ["git_all_built_commits"],
                sources: [.init(tt, "git_num_all_built_commits")], "How many commits git_all_built_commits holds.") {
            .integer($0.values["git_all_built_commits"]?.strings?.count ?? 0)
        },
        declare("gh_first_commit_created_at", .gitHistory, .string, inputs: [.commitGraph], dependsOn: ["git_all_built_commits"],
                sources: [.init(tt, "gh_first_commit_created_at")],
                "When the oldest of the build's commits was authored (ISO 8601, UTC).") { context in
            let git = try context.git
            let times = try context.linear().commits.map { try git.commit($0).author.time }
            return times.min().map { FeatureValue.string($0.formatted(.iso8601)) } ?? .null
        },
        declare("git_num_committers", .cooperation, .integer, inputs: [.commitGraph], dependsOn: ["git_all_built_commits"],
                sources: [.init(gha, "git_num_committers")], "Distinct committer e-mail addresses of the build's commits.") { context in
            let git = try context.git
            return .integer(Set(try context.linear().commits.map { try git.commit($0).committer.email.lowercased() }).count)
        },
        declare("git_num_authors", .cooperation, .integer, inputs: [.commitGraph], dependsOn: ["git_all_built_commits"],
                "Distinct author e-mail addresses of the build's commits.") { context in
            let git = try context.git
            return .integer(Set(try context.linear().commits.map { try git.commit($0).author.email.lowercased() }).count)
        },
    ]

    // MARK: What the build's commits changed (TravisTorrent, GHAminer)

    /// A count summed over the build's commits (each commit's counts are made once, when it is diffed).
    static func sum(_ context: BuildContext, _ body: (ChangeCounts) -> Int) throws -> FeatureValue {
        .integer(try context.builtChanges().reduce(0) { $0 + body($1.counts) })
    }

    static func churn(_ kind: FileKind) -> @Sendable (BuildContext) throws -> FeatureValue {
        { context in try sum(context) { $0.churn[kind] } }
    }

    static func files(_ status: GitChangeStatusName) -> @Sendable (BuildContext) throws -> FeatureValue {
        { context in try sum(context) { $0.statuses[status] } }
    }

    static func files(of kind: FileKind) -> @Sendable (BuildContext) throws -> FeatureValue {
        { context in try sum(context) { $0.files[kind] } }
    }

    static let diffInputs: [FeatureInput] = [.commitDiffs]
    static let builtCommits = ["git_all_built_commits"]
    static let perCommit = " Summed over the build's commits (git_all_built_commits), each against its first parent."

    static let gitDiff: [Feature] = [
        declare("git_diff_src_churn", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "git_diff_src_churn"), .init(gha, "gh_src_churn"), .init(bf, "src_churn")],
                "Lines added plus deleted in production source files." + perCommit, churn(.source)),
        declare("git_diff_test_churn", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "git_diff_test_churn"), .init(gha, "gh_test_churn"), .init(bf, "test_churn")],
                "Lines added plus deleted in test files." + perCommit, churn(.test)),
        declare("gh_lines_added", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits, sources: [.init(gha, "gh_lines_added")],
                "Lines added in all files (git diff --numstat)." + perCommit) { try sum($0) { $0.linesAdded } },
        declare("gh_lines_deleted", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits, sources: [.init(gha, "gh_lines_deleted")],
                "Lines deleted in all files (git diff --numstat)." + perCommit) { try sum($0) { $0.linesDeleted } },
        declare("gh_diff_files_added", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_files_added"), .init(gha, "gh_files_added"), .init(bf, "files_added")],
                "Files added (status A)." + perCommit, files(.added)),
        declare("gh_diff_files_deleted", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_files_deleted"), .init(gha, "gh_files_deleted"), .init(bf, "files_deleted")],
                "Files deleted (status D)." + perCommit, files(.deleted)),
        declare("gh_diff_files_modified", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_files_modified"), .init(gha, "gh_files_modified"), .init(bf, "files_modified")],
                "Files modified in place (status M or T)." + perCommit, files(.modified)),
        declare("git_diff_files_renamed", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                "Files renamed or copied (status R or C, detected as git diff -M does)." + perCommit, files(.renamed)),
        declare("gh_diff_src_files", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_src_files"), .init(gha, "src_files")],
                "Changed production source files (by extension, tests excluded)." + perCommit, files(of: .source)),
        declare("git_diff_test_files", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                "Changed test files (by each language's test path conventions)." + perCommit, files(of: .test)),
        declare("gh_diff_doc_files", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_doc_files"), .init(gha, "doc_files")],
                "Changed documentation files (Markdown, reStructuredText, text, docs/ folders, README/LICENSE…)." + perCommit, files(of: .documentation)),
        declare("gh_diff_other_files", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_other_files"), .init(gha, "other_files")],
                "Changed files that are neither source, test nor documentation." + perCommit, files(of: .other)),
        declare("gh_diff_tests_added", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_tests_added"), .init(gha, "tests_added")],
                "Test cases added: added lines of test files that declare a test (def test…, func test…, @Test, #[test], it(…)…)." + perCommit) {
            .integer(try $0.builtChanges().reduce(0) { $0 + $1.testsAdded })
        },
        declare("gh_diff_tests_deleted", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(tt, "gh_diff_tests_deleted"), .init(gha, "tests_removed")],
                "Test cases deleted: deleted lines of test files that declare a test." + perCommit) {
            .integer(try $0.builtChanges().reduce(0) { $0 + $1.testsDeleted })
        },
        declare("git_diff_num_files", .gitDiff, .integer, inputs: diffInputs, dependsOn: builtCommits,
                "Distinct paths the build's commits touched (both paths of a rename).") { .integer(try $0.touched().count) },
        declare("git_diff_file_types", .gitDiff, .stringList, inputs: diffInputs, dependsOn: builtCommits, sources: [.init(gha, "file_types")],
                "Distinct extensions (lower case, \"\" for none) of the paths the build's commits touched.") {
            .stringList(Array(Set(try $0.touched().map { path -> String in
                let name = path.split(separator: "/").last.map(String.init) ?? path
                return name.contains(".") ? String(name.split(separator: ".").last ?? "").lowercased() : ""
            })).sorted())
        },
        declare("gh_workflow_changed", .workflow, .boolean, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(gha, "workflow_file_changed")],
                "Whether the build's commits touched a workflow file (.github/workflows/*.yml).") {
            .boolean(try $0.touched().contains(where: FileKind.isWorkflowFile))
        },
        declare("gh_dockerfile_changed", .devops, .boolean, inputs: diffInputs, dependsOn: builtCommits,
                sources: [.init(gha, "dockerfile_changed")],
                "Whether the build's commits touched a Dockerfile or a compose file.") {
            .boolean(try $0.touched().contains(where: FileKind.isDockerFile))
        },
        declare("git_files_fail_likelihood_max", .buildHistory, .number, inputs: [.buildHistory, .commitDiffs], dependsOn: builtCommits,
                sources: [.init(bf, "file_fail_prob_max")],
                "Over the files the build touches that earlier finished builds touched: the highest share of those builds that failed; null when none.") {
            number(try fileLikelihoods($0).max())
        },
        declare("git_files_fail_likelihood_mean", .buildHistory, .number, inputs: [.buildHistory, .commitDiffs], dependsOn: builtCommits,
                sources: [.init(bf, "file_fail_prob_avg")],
                "The same shares, averaged over those files; null when none.") {
            let shares = try fileLikelihoods($0)
            return shares.isEmpty ? .null : .number(shares.reduce(0, +) / Double(shares.count))
        },
    ]

    static func fileLikelihoods(_ context: BuildContext) throws -> [Double] {
        try context.touched().compactMap { context.history.fileTallies[$0]?.failureRatio }
    }

    // MARK: The whole tree at the build's commit (TravisTorrent, GHAminer)

    static func perKLOC(_ context: BuildContext, _ count: (TreeSnapshot) -> Int) throws -> FeatureValue {
        let snapshot = try context.snapshot()
        return snapshot.sourceLines == 0 ? .null : .number(Double(count(snapshot)) * 1000 / Double(snapshot.sourceLines))
    }

    static let lineRule = " Lines are non-blank lines that are not line comments; files over 2 MiB or binary are not read."

    static let repoSnapshot: [Feature] = [
        declare("gh_sloc", .repoSnapshot, .integer, inputs: [.commitTree], sources: [.init(tt, "gh_sloc"), .init(gha, "gh_sloc")],
                "Lines of production source files (by extension, tests excluded) in the whole tree of the build's commit." + lineRule) {
            .integer(try $0.snapshot().sourceLines)
        },
        declare("gh_test_lines_per_kloc", .repoSnapshot, .number, inputs: [.commitTree],
                sources: [.init(tt, "gh_test_lines_per_kloc"), .init(gha, "gh_test_lines_per_kloc")],
                "Lines of test files per 1,000 lines of production source, in the whole tree; null when there is no source." + lineRule) {
            try perKLOC($0) { $0.testLines }
        },
        declare("gh_test_cases_per_kloc", .repoSnapshot, .number, inputs: [.commitTree],
                sources: [.init(tt, "gh_test_cases_per_kloc"), .init(gha, "gh_test_cases_per_kloc")],
                "Test-case declarations in test files (as gh_diff_tests_added recognises them) per 1,000 lines of production source; null when there is no source.") {
            try perKLOC($0) { $0.testCases }
        },
        declare("gh_asserts_cases_per_kloc", .repoSnapshot, .number, inputs: [.commitTree],
                sources: [.init(tt, "gh_asserts_cases_per_kloc"), .init(gha, "gh_asserts_case_per_kloc")],
                "Lines of test files that assert (assert…, XCTAssert…, #expect, #require, expect(, .should) per 1,000 lines of production source; null when there is no source.") {
            try perKLOC($0) { $0.asserts }
        },
        declare("git_num_files", .repoSnapshot, .integer, inputs: [.commitTree],
                "Files in the whole tree of the build's commit (submodules not counted).") { .integer(try $0.snapshot().files) },
    ]

    // MARK: The pull request and its discussion (TravisTorrent, GHAminer; GitHub's API)

    /// Null for a run no pull request triggered; the facts otherwise (the resource check has
    /// skipped the feature already when GitHub could not give them).
    static func pull(_ context: BuildContext, _ body: (PullRequestFacts) -> FeatureValue) throws -> FeatureValue {
        guard context.build.isPullRequest else { return .null }
        guard let facts = context.build.pullRequest else { throw ExtractionError.badInput("no pull request facts for run \(context.build.runId)") }
        return body(facts)
    }

    static let pullRequest: [Feature] = [
        declare("gh_pull_req_num", .prInfo, .integer, inputs: [.run], sources: [.init(tt, "gh_pull_req_num"), .init(gha, "gh_pull_req_number")],
                "The number of the pull request the run built, as the run names it; null for other events and for pull requests from forks (GitHub does not name those).") {
            $0.build.pullRequestNumber.map(FeatureValue.integer) ?? .null
        },
        declare("gh_pr_created_at", .prInfo, .string, inputs: [.run, .pullRequest], sources: [.init(tt, "gh_pr_created_at")],
                "When the pull request was opened (ISO 8601, UTC); null when no pull request triggered the run.") { context in
            try pull(context) { .string($0.createdAt.formatted(.iso8601)) }
        },
        declare("gh_pr_age", .prInfo, .number, inputs: [.run, .pullRequest],
                "Seconds from the pull request's opening to the run's trigger; null when no pull request triggered the run.") { context in
            try pull(context) { .number(context.build.createdAt.timeIntervalSince($0.createdAt)) }
        },
        declare("gh_num_issue_comments", .discussion, .integer, inputs: [.run, .pullRequest],
                sources: [.init(tt, "gh_num_issue_comments"), .init(gha, "gh_num_issue_comments")],
                "Comments in the pull request's conversation written before the run was triggered; null when no pull request triggered it.") { context in
            try pull(context) { facts in .integer(facts.issueCommentTimes.filter { $0 < context.build.createdAt }.count) }
        },
        declare("gh_num_pr_comments", .discussion, .integer, inputs: [.run, .pullRequest],
                sources: [.init(tt, "gh_num_pr_comments"), .init(gha, "gh_num_pr_comments")],
                "Review comments (on lines of the diff) written before the run was triggered; null when no pull request triggered it.") { context in
            try pull(context) { facts in .integer(facts.reviewCommentTimes.filter { $0 < context.build.createdAt }.count) }
        },
        declare("gh_num_commit_comments", .discussion, .integer, inputs: [.run, .commitComments], dependsOn: builtCommits,
                sources: [.init(tt, "gh_num_commit_comments"), .init(gha, "gh_num_commit_comments")],
                "Comments on the build's commits (git_all_built_commits; GitHub's commit comments) written before the run was triggered.") { context in
            guard let comments = context.build.commitComments else { throw ExtractionError.badInput("no commit comments for run \(context.build.runId)") }
            var count = 0
            for sha in context.values["git_all_built_commits"]?.strings ?? [] {
                guard let times = comments[sha] else { throw ExtractionError.badInput("no commit comments for \(sha)") }
                count += times.count { $0 < context.build.createdAt }
            }
            return .integer(count)
        },
        // Post-build by caution: GitHub gives the text as it is now, and an edit after the run is not dated.
        declare("gh_description_complexity", .discussion, .integer, .post, inputs: [.run, .pullRequest],
                sources: [.init(tt, "gh_description_complexity"), .init(gha, "gh_description_complexity")],
                "Words in the pull request's title and description as GitHub gives them when fetched (an edit after the run cannot be told apart, so it is never a model input); null when no pull request triggered the run.") { context in
            try pull(context) { .integer(($0.title + " " + $0.body).split(whereSeparator: \.isWhitespace).count) }
        },
    ]

    // MARK: The team (TravisTorrent, three months)

    static let team: [Feature] = [
        declare("gh_team_size", .team, .integer, inputs: [.commitGraph], sources: [.init(tt, "gh_team_size"), .init(gha, "gh_team_size")],
                "Distinct authors (e-mail) of the commits reachable from the build's commit committed in the 90 days before it was triggered.") {
            .integer(try $0.git.distinctAuthors($0.window()))
        },
        declare("gh_by_core_team_member", .team, .boolean, inputs: [.commitGraph], dependsOn: builtCommits,
                sources: [.init(tt, "gh_by_core_team_member")],
                "Whether the build commit's author also authored one of those 90 days' commits that are not the build's own.") { context in
            .boolean(try context.git.hasAuthor(of: context.build.commitSha, among: context.window(), excluding: context.linear().commits))
        },
        declare("gh_num_commits_on_files_touched", .team, .integer, inputs: [.commitGraph, .commitDiffs], dependsOn: builtCommits,
                sources: [.init(tt, "gh_num_commits_on_files_touched"), .init(gha, "gh_commits_on_files_touched")],
                "Commits of those 90 days (the build's own included) that touched a file the build's commits touched.") { context in
            .integer(try context.git.countTouching(context.touched(), among: context.window()))
        },
    ]

    // MARK: The run's logs (post-build)

    static let buildLog: [Feature] = [
        declare("gh_num_jobs", .workflow, .integer, .post, inputs: [.runLogs], sources: [.init(gha, "total_jobs")],
                "Jobs in the run's logs.") { .integer(try $0.logs.jobs.count) },
        declare("gh_num_steps", .workflow, .integer, .post, inputs: [.runLogs],
                "Steps over all jobs in the run's logs.") { .integer(try $0.logs.jobs.reduce(0) { $0 + $1.steps.count }) },
        declare("gh_step_durations", .workflow, .stringList, .post, inputs: [.runLogs], sources: [.init(gha, "job_details")],
                "Each step's duration as \"job / step: seconds\", in log order (steps without timestamps left out).") {
            .stringList(try $0.logs.jobs.flatMap { job in
                job.steps.compactMap { step in step.durationSeconds.map { "\(job.jobName) / \(step.name): \($0)" } }
            })
        },
        declare("gh_step_duration_max", .workflow, .number, .post, inputs: [.runLogs],
                "The longest step, in seconds; null when no step has timestamps.") {
            number(try $0.logs.jobs.flatMap(\.steps).compactMap(\.durationSeconds).max())
        },
        declare("tr_log_buildduration", .buildLog, .number, .post, inputs: [.runLogs], sources: [.init(tt, "tr_log_buildduration")],
                "Seconds of all jobs together (each from its first to its last timestamp); null when no job has timestamps.") {
            let durations = try $0.logs.jobs.compactMap(\.durationSeconds)
            return durations.isEmpty ? .null : .number(durations.reduce(0, +))
        },
        declare("tr_log_setup_time", .buildLog, .number, .post, inputs: [.runLogs], sources: [.init(tt, "tr_log_setup_time")],
                "Seconds spent setting jobs up (Set up job and the set-up steps before the first user step), over all jobs.") {
            let durations = try $0.logs.jobs.compactMap(\.setupSeconds)
            return durations.isEmpty ? .null : .number(durations.reduce(0, +))
        },
        declare("tr_log_testduration", .buildLog, .number, .post, inputs: [.runLogs], sources: [.init(tt, "tr_log_testduration")],
                "Seconds of the steps whose name mentions test, over all jobs; null when none has timestamps.") {
            let durations = try $0.logs.jobs.flatMap(\.steps).filter { $0.name.lowercased().contains("test") }.compactMap(\.durationSeconds)
            return durations.isEmpty ? .null : .number(durations.reduce(0, +))
        },
        declare("tr_log_frameworks", .buildLog, .stringList, .post, inputs: [.runLogs], sources: [.init(tt, "tr_log_frameworks")],
                "Test frameworks whose summaries the logs contain.") { .stringList(try $0.logs.tests.map(\.framework.rawValue).sorted()) },
        declare("tr_log_num_tests_run", .buildLog, .integer, .post, inputs: [.runLogs],
                sources: [.init(tt, "tr_log_num_tests_run"), .init(gha, "tests_total")],
                "Tests run, over all frameworks and jobs.") { .integer(try $0.logs.tests.reduce(0) { $0 + $1.total }) },
        declare("tr_log_num_tests_ok", .buildLog, .integer, .post, inputs: [.runLogs],
                sources: [.init(tt, "tr_log_num_tests_ok"), .init(gha, "tests_passed")],
                "Tests passed.") { .integer(try $0.logs.tests.reduce(0) { $0 + $1.passed }) },
        declare("tr_log_num_tests_failed", .buildLog, .integer, .post, inputs: [.runLogs],
                sources: [.init(tt, "tr_log_num_tests_failed"), .init(gha, "tests_failed")],
                "Tests failed.") { .integer(try $0.logs.tests.reduce(0) { $0 + $1.failed }) },
        declare("tr_log_num_tests_skipped", .buildLog, .integer, .post, inputs: [.runLogs],
                sources: [.init(tt, "tr_log_num_tests_skipped"), .init(gha, "tests_skipped")],
                "Tests skipped.") { .integer(try $0.logs.tests.reduce(0) { $0 + $1.skipped }) },
        declare("tr_log_bool_tests_ran", .buildLog, .boolean, .post, inputs: [.runLogs], dependsOn: ["tr_log_num_tests_run"],
                sources: [.init(tt, "tr_log_bool_tests_ran"), .init(gha, "tests_ran")],
                "Whether the logs report any test run.") { .boolean(($0.values["tr_log_num_tests_run"]?.int ?? 0) > 0) },
        declare("tr_log_bool_tests_failed", .buildLog, .boolean, .post, inputs: [.runLogs], dependsOn: ["tr_log_num_tests_failed"],
                sources: [.init(tt, "tr_log_bool_tests_failed")],
                "Whether the logs report any failed test.") { .boolean(($0.values["tr_log_num_tests_failed"]?.int ?? 0) > 0) },
        declare("tr_log_tests_failed", .buildLog, .stringList, .post, inputs: [.runLogs], sources: [.init(tt, "tr_log_tests_failed")],
                "Names of the failed tests as the frameworks print them.") { .stringList(try $0.logs.tests.flatMap(\.failedTests)) },
        declare("tr_log_num_errors", .buildLog, .integer, .post, inputs: [.runLogs],
                "Error lines (##[error] and the like) over all jobs.") { .integer(try $0.logs.errorCount) },
        declare("tr_log_num_warnings", .buildLog, .integer, .post, inputs: [.runLogs],
                "Warning lines over all jobs.") { .integer(try $0.logs.warningCount) },
        declare("tr_log_num_lines", .buildLog, .integer, .post, inputs: [.runLogs],
                "Log lines over all jobs.") { .integer(try $0.logs.jobs.reduce(0) { $0 + $1.lineCount }) },
    ]
}

/// Change statuses as the file-count features group them (a type change is a modification, a copy a rename).
enum GitChangeStatusName: Hashable {
    case added, deleted, modified, renamed

    init(_ status: GitChangeStatus) {
        switch status {
        case .added: self = .added
        case .deleted: self = .deleted
        case .modified, .typeChanged: self = .modified
        case .renamed, .copied: self = .renamed
        }
    }
}
