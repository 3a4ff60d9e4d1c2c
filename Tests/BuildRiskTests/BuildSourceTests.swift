import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import GatewayCore
import GitHubSandboxCore
import PostgresNIO
import SourceValidatorCore
import Testing

/// Uploading a CSV of builds (the dataset and training-scenario pipelines' first step).
@Suite(.timeLimit(.minutes(15)), .dropsTestDatabases)
struct BuildSourceTests {
    let imports = WarehouseImportTests()

    func upload(_ cluster: TestCluster, _ csv: String, query: String = "", token: String = TestEnvironment.adminToken) async throws -> HTTPResult {
        try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/build-sources?name=test\(query)", token: token, body: Data(csv.utf8))
    }

    func sourceCount(_ database: TestDatabase) async throws -> Int {
        try await withClient(database.url(forSchema: "source_validator")) { client in
            Int(try await client.query("SELECT count(*)::int8 FROM source_validator.build_sources", logger: TestEnvironment.logger).collect().first?.decode(Int64.self) ?? 0)
        }
    }

    @Test func aCSVWithFoundMissingAndFilteredRowsEndsWithTheRightStatusForEachRow() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/app", 80)]) { api, baseURL in
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                // Admins follow the validation over the events socket too.
                let listener = try await EventListener.open(cluster, token: TestEnvironment.adminToken)
                defer { listener.close() }
                let runs = try #require(api.world.repository("acme/app")).runs.filter { $0.status == "completed" }
                let push = Array(runs.filter { $0.event == "push" }.prefix(4))
                let pullRequest = try #require(runs.first { $0.event == "pull_request" })
                #expect(push.count == 4)
                // BOM, CRLF, a quoted field with a comma and a doubled quote, a blank line, a duplicate row,
                // a run that does not exist, a repository that does not exist, a pull-request run the filter drops.
                var csv = "\u{FEFF}repo_name,build_id,note\r\n"
                for run in push { csv += "acme/app,\(run.id),\"push, \"\"main\"\"\"\r\n" }
                csv += "\r\n"
                csv += "acme/app,\(push[0].id),duplicate\r\n"
                csv += "acme/app,999999999,missing run\r\n"
                csv += "acme/nope,\(push[1].id),missing repository\r\n"
                csv += "acme/app,\(pullRequest.id),pull request\r\n"
                let answer = try await upload(cluster, csv, query: "&events=push&branches=main,release/*")
                #expect(answer.status == 201, "\(answer.text)")
                let created = try JSONDecoder().decode(BuildSourceStatus.self, from: answer.body)
                #expect(created.counts.total == 7)
                #expect(created.duplicates == 1)
                try await waitUntil("validation finished") {
                    let status = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(created.sourceId)", token: TestEnvironment.adminToken)
                    return try JSONDecoder().decode(BuildSourceStatus.self, from: status.body).status == "validated"
                }
                let status = try JSONDecoder().decode(BuildSourceStatus.self, from: try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(created.sourceId)", token: TestEnvironment.adminToken).body)
                #expect(status.counts == BuildSourceCounts(total: 7, pending: 0, found: 4 - push.filter { !["success", "failure", "cancelled", "skipped", "action_required", "stale"].contains($0.conclusion ?? "") }.count, notFound: 2, filtered: 1))
                #expect(status.repositories["acme/nope"]?.notFound == 1)
                try await waitUntil("a validated SOURCE_UPDATE") { listener.received.value.contains { $0.sourceUpdate?.status == "validated" } }
                let pushed = try #require(listener.received.value.compactMap(\.sourceUpdate).first { $0.status == "validated" })
                #expect(pushed.sourceId == created.sourceId)
                #expect(pushed.counts == ["total": 7, "pending": 0, "found": status.counts.found, "not_found": 2, "filtered": 1])
                let rows = try JSONDecoder().decode([SourceBuildRow].self, from: try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(created.sourceId)/rows", token: TestEnvironment.adminToken).body)
                #expect(rows.map(\.line) == [2, 3, 4, 5, 8, 9, 10])
                let byID = Dictionary(rows.map { ($0.repoName + "#\($0.buildId)", $0) }, uniquingKeysWith: { a, _ in a })
                #expect(byID["acme/app#999999999"]?.status == "not_found")
                #expect(byID["acme/nope#\(push[1].id)"]?.reason?.contains("not found") == true)
                #expect(byID["acme/app#\(pullRequest.id)"]?.status == "filtered")
                #expect(byID["acme/app#\(pullRequest.id)"]?.reason?.contains("event pull_request") == true)
                for run in push { #expect(byID["acme/app#\(run.id)"]?.status == "found") }
            }
        }
    }

    @Test func aCSVOfMostOfARepositorysRunsIsValidatedFromItsListingInFewRequests() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/big", 400)]) { api, baseURL in
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                let runs = try #require(api.world.repository("acme/big")).runs
                #expect(runs.count > 300)
                var csv = "repo_name,build_id\n"
                for run in runs { csv += "acme/big,\(run.id)\n" }
                csv += "acme/big,999999991\nacme/big,999999992\n"
                let before = api.currentStats.requests
                let answer = try await upload(cluster, csv, query: "&events=push")
                #expect(answer.status == 201, "\(answer.text)")
                let created = try JSONDecoder().decode(BuildSourceStatus.self, from: answer.body)
                try await waitUntil("validation finished") {
                    let status = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(created.sourceId)", token: TestEnvironment.adminToken)
                    return try JSONDecoder().decode(BuildSourceStatus.self, from: status.body).status == "validated"
                }
                // The listing's pages (100 runs each), the repository, and one request per id it did not hold.
                let requests = api.currentStats.requests - before
                #expect(requests <= (runs.count + 99) / 100 + 1 + 2, "\(requests) requests for \(runs.count + 2) rows")
                let rows = try JSONDecoder().decode([SourceBuildRow].self, from: try await http(
                    TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(created.sourceId)/rows?limit=10000", token: TestEnvironment.adminToken).body)
                let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.buildId, $0) })
                #expect(rows.count == runs.count + 2)
                for run in runs {
                    let row = try #require(byID[run.id])
                    if run.status != "completed" {
                        #expect(row.status == "filtered" && row.reason == "not completed (\(run.status))")
                    } else if run.event != "push" {
                        #expect(row.status == "filtered" && row.reason == "event \(run.event) not in push")
                    } else {
                        #expect(row.status == "found", "\(row)")
                    }
                }
                #expect(byID[999999991]?.status == "not_found")
                #expect(byID[999999992]?.reason == "no run 999999992 in acme/big")
            }
        }
    }

    /// A run of `branch` as GitHub lists it.
    static func run(on branch: String?) throws -> GitHubRun {
        let branchJSON = branch.map { "\"\($0)\"" } ?? "null"
        return try JSONDecoder().decode(GitHubRun.self, from: Data("""
            {"id": 1, "head_branch": \(branchJSON), "head_sha": "abc", "event": "push", "status": "completed",
             "conclusion": "success", "run_number": 1, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:05:00Z"}
            """.utf8))
    }

    /// Branch filters as the README states them: globs match the whole name (`*` within a path
    /// segment, `**` across, `?` one character), `/regex/` matches anywhere unless anchored.
    @Test func branchGlobsAndRegularExpressionsDecideWhichRunsAreKept() throws {
        let cases: [(pattern: String, kept: [String], dropped: [String])] = [
            ("main", ["main"], ["main2", "xmain", "Main", "feature/main"]),
            ("release/*", ["release/1.0", "release/"], ["release", "release/1.0/hotfix", "prerelease/1.0"]),
            ("release/**", ["release/1.0", "release/1.0/hotfix"], ["release", "releases/1.0"]),
            ("v?.x", ["v1.x", "v9.x"], ["v10.x", "v.x", "v1/x"]),
            ("feat.+", ["feat.+"], ["feature", "feat.x"]),
            ("/^hotfix-[0-9]+$/", ["hotfix-12"], ["hotfix-", "hotfix-12a", "my-hotfix-12"]),
            ("/dependabot/", ["dependabot/npm/lodash", "x-dependabot"], ["renovate/lodash"]),
        ]
        for (pattern, kept, dropped) in cases {
            let filters = BuildFilters(branches: [pattern])
            for branch in kept { #expect(filters.exclusion(try Self.run(on: branch)) == nil, "\(pattern) keeps \(branch)") }
            for branch in dropped {
                #expect(filters.exclusion(try Self.run(on: branch)) == "branch \(branch) matches none of \(pattern)", "\(pattern) drops \(branch)")
            }
        }
        // Several patterns keep a run any of them matches; a run with no branch (a tag push) matches none.
        let either = BuildFilters(branches: ["main", "/^release-/"])
        #expect(either.exclusion(try Self.run(on: "release-2")) == nil)
        #expect(either.exclusion(try Self.run(on: "main")) == nil)
        #expect(either.exclusion(try Self.run(on: "develop")) != nil)
        #expect(either.exclusion(try Self.run(on: nil)) == "branch  matches none of main, /^release-/")
        #expect(BuildFilters().exclusion(try Self.run(on: "anything/at/all")) == nil)
    }

    @Test func badCSVsAreRefusedWithTheirLineAndWriteNothing() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let gateway = try makeRuntime(.gateway, in: cluster)
        let validator = try makeRuntime(.sourceValidator, in: cluster)
        try await withServices([gateway, validator]) {
            let cases: [(csv: String, query: String, expected: String)] = [
                ("repo,build\nacme/app,1\n", "", "no column 'repo_name'"),
                ("repo,build\nacme/app,1\n", "&repoColumn=repo&buildColumn=run", "no column 'run'"),
                ("repo_name,build_id\nacme/app,1\nacme/app,2,3\n", "", "line 3"),
                ("repo_name,build_id\nacme/app,12x\n", "", "line 2"),
                ("repo_name,build_id\nacme app,1\n", "", "line 2"),
                ("repo_name,build_id\nacme/app,1\n\"acme/app,2\n", "", "line 3: the file ends inside a quoted field"),
                ("repo_name,build_id\n", "", "no rows"),
                ("", "", "no header"),
                ("repo_name,build_id\nacme/app,1\n", "&branches=/[/", "not a valid /regular expression/"),
            ]
            for (csv, query, expected) in cases {
                let answer = try await upload(cluster, csv, query: query)
                #expect(answer.status == 400, "\(csv.debugDescription) → \(answer.status) \(answer.text)")
                #expect(answer.text.contains(expected), "\(csv.debugDescription) → \(answer.text)")
            }
            #expect(try await sourceCount(database) == 0)
            // A mapping that names the columns is accepted.
            let mapped = try await upload(cluster, "repo,run\nacme/app,1\n", query: "&repoColumn=repo&buildColumn=run")
            #expect(mapped.status == 201, "\(mapped.text)")
            #expect(try await sourceCount(database) == 1)

            // Only admins upload.
            let created = try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/users", token: TestEnvironment.adminToken, body: Data(#"{"username":"carol"}"#.utf8))
            let carol = try #require(try created.json()["token"] as? String)
            #expect(try await upload(cluster, "repo_name,build_id\nacme/app,1\n", token: carol).status == 403)
            #expect(try await sourceCount(database) == 1)
        }
    }
}
