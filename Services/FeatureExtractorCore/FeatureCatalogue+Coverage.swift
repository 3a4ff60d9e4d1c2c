extension FeatureCatalogue {
    static let mergedWith = "how the pull request was merged is known only after the build (TravisTorrent's heuristics over later history)"

    /// The anchors' fields BuildRisk does not reproduce, and why: with the features' `sources`, the coverage table.
    public static let uncovered: [UncoveredField] = [
        .init(tt, "gh_project_name", "identifies the repository; vectors are keyed by it, it is not a property of a build"),
        .init(tt, "gh_lang", "the repository's language is the warehouse's (RepositorySummary.language); the run record the extractor reads does not carry it"),
        .init(tt, "tr_log_lan", "the same language, which Travis read from its log header; GitHub Actions logs have no such header"),
        .init(tt, "git_merged_with", mergedWith),
        .init(tt, "gh_num_commits_in_push", "the push event's payload; a GitHub Actions run does not list the pushed commits (git_num_all_built_commits is the git-derived equivalent)"),
        .init(tt, "gh_commits_in_push", "the push event's payload, as above (git_all_built_commits)"),
        .init(tt, "gh_pushed_at", "the push event's payload, as above (gh_build_started_at is when the run was triggered)"),
        .init(tt, "tr_virtual_merged_into", "Travis-specific: Travis built a virtual merge commit for pull requests; a GitHub Actions pull_request run names the head commit"),
        .init(tt, "tr_original_commit", "Travis-specific, as above"),
        .init(tt, "tr_jobs", "the run's job ids come from the jobs API (github_api); gh_num_jobs counts the jobs in its logs"),
        .init(tt, "tr_job_id", "one row per job in TravisTorrent; BuildRisk has one vector per run"),
        .init(tt, "tr_log_status", "Travis's verdict read from the log; GitHub gives the conclusion (tr_status)"),
        .init(tt, "tr_log_analyzer", "names the Travis log analyzer used; BuildRisk's parser reports the frameworks it recognised (tr_log_frameworks)"),

        .init(gha, "repo", "identifies the repository, as gh_project_name"),
        .init(gha, "languages", "the repository's languages (GitHub API), as gh_lang"),
        .init(gha, "workflow_id", "the run record the extractor reads carries the workflow's name, not its id"),
        .init(gha, "updated_at", "a time stamp, not a feature (tr_duration is computed from it)"),
        .init(gha, "total_builds", "the repository's total build count at mining time would reveal later builds; tr_prev_num_builds counts only earlier finished ones"),
        .init(gha, "unique_contributors", "the repository's contributor list (GitHub API); gh_team_size is the git-derived, time-bounded equivalent"),
        .init(gha, "git_merged_with", mergedWith),
        .init(gha, "fetch_duration", "how long the mining tool took, not a property of the build"),

        .init(bf, "fine-grained changes (classes, methods, fields, imports added/deleted/modified)", "BuildFast reads them with ClDiff's Java AST differencing; BuildRisk has no per-language AST differ"),
        .init(bf, "project and committer history restricted to closely related builds", "BuildFast's 'related builds' selection; BuildRisk's history is every earlier build of the same workflow"),
    ]
}
