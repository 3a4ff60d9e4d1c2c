import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import Foundation
import GatewayCore
import GitHubSandboxCore
import Testing

/// The model pipeline's last phase, end to end through the gateway: builds wait for a model with
/// the reason, are predicted as soon as the registry activates one (no manual step), keep the
/// version that predicted them when another is activated, and are predicted anew on repredict.
/// The registry is another service: the test hands models over the way its outbox does (the
/// artifact under the data directory, then `predictions.activeModelChanged`).
@Suite(.timeLimit(.minutes(18)), .dropsTestDatabases)
struct PredictionTests {
    let imports = WarehouseImportTests()

    struct TrainingBuild: Decodable {
        var runId: Int64
        var predictionStatus: PredictionStatus?
        var pendingReason: String?
        var riskLevel: PredictedRisk?
        var score: Double?
        var modelVersion: Int?
        var servedBy: String?
    }

    struct TrainingBuildPage: Decodable {
        var builds: [TrainingBuild]
        var nextBefore: Int64?
    }

    struct BuildDetail: Decodable {
        var prediction: PredictionHistory?
    }

    func trainingBuilds(_ cluster: TestCluster, _ id: Int, query: String = "") async throws -> [TrainingBuild] {
        let answer = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/training-builds?limit=1000" + query, token: TestEnvironment.adminToken)
        #expect(answer.status == 200)
        return try JSONDecoder().decode(TrainingBuildPage.self, from: answer.body).builds
    }

    func post(_ cluster: TestCluster, _ path: String, _ body: Data? = nil) async throws -> HTTPResult {
        try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1" + path, token: TestEnvironment.adminToken, body: body)
    }

    /// The numeric pre-build features of the catalogue (the test's own choice of model inputs).
    static func numericPreBuildFeatures(_ catalogue: FeatureCatalogueText) throws -> [String] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(catalogue.json.utf8)) as? [String: Any])
        let features = try #require(document["features"] as? [[String: Any]])
        return features.compactMap { feature in
            guard feature["timing"] as? String == "pre", ["integer", "number", "boolean"].contains(feature["type"] as? String ?? "") else { return nil }
            return feature["name"] as? String
        }
    }

    static func preBuildFeatures(_ catalogue: FeatureCatalogueText) throws -> Set<String> {
        struct Entry: Decodable { var name: String; var timing: String }
        struct Catalogue: Decodable { var features: [Entry] }
        return Set(try JSONDecoder().decode(Catalogue.self, from: Data(catalogue.json.utf8)).features.filter { $0.timing == "pre" }.map(\.name))
    }

    /// The test's own reading of a vector: numbers, booleans as 0/1, anything else missing.
    static func table(_ vectors: [[String: FeatureValue]], columns: [String]) throws -> FeatureTable {
        try FeatureTable(rowCount: vectors.count, columns: columns.map { name in
            .numeric(name: name, values: vectors.map { vector in
                switch vector[name] {
                case .integer(let value)?: Double(value)
                case .number(let value)?: value
                case .boolean(let value)?: value ? 1 : 0
                default: .nan
                }
            })
        })
    }

    /// Trains a model on the vectors (oldest 70 % train, the rest validation) and saves it where the
    /// registry would, returning it with the reference the registry would send.
    /// With `sequence`, a sequence model is trained beside it over the builds in start order.
    static func trainAndSave(
        _ vectors: [FeatureVectorRecord], columns: [String], kind: ModelKind, version: Int, dataDirectory: String, sequence: Bool = false
    ) throws -> (RiskModel, ModelVersionRef) {
        let ordered = sequence ? inStartOrder(vectors) : vectors.sorted { $0.runId < $1.runId }
        let rows = ordered.map { $0.features ?? [:] }
        let failed = rows.map { $0["build_successful"] == .boolean(false) }
        let branches = rows.map { $0["git_branch"]?.string ?? "" }
        let cut = ordered.count * 7 / 10
        var trees = XGBoostParameters()
        trees.rounds = 15
        trees.maxDepth = 3
        trees.threads = 1
        // Served whether or not it beats the fallback on this small fixture: the test is about serving.
        var gru = SequenceConfiguration(bootstrapModels: 2, onlyIfBetter: false)
        gru.gru.hidden = 4
        gru.gru.epochs = 3
        let artifact = try RiskModelTrainer.train(
            configuration: TrainingConfiguration(kind: kind, xgboost: trees, bootstrapModels: 2, seed: UInt64(version), sequence: sequence ? gru : nil),
            training: LabeledTable(table: table(Array(rows[..<cut]), columns: columns), failed: Array(failed[..<cut]), branches: Array(branches[..<cut])),
            validation: LabeledTable(table: table(Array(rows[cut...]), columns: columns), failed: Array(failed[cut...]), branches: Array(branches[cut...])))
        let path = ModelNames.artifactPath(modelName: ModelNames.standard, version: version)
        try artifact.save(to: URL(filePath: dataDirectory).appending(path: path))
        let ref = ModelVersionRef(modelName: ModelNames.standard, version: version, kind: kind.rawValue, artifactPath: path, dagVersion: vectors.first?.dagVersion)
        return (try RiskModel(artifact: artifact), ref)
    }

    /// The test's own time order of builds: start time, then run id.
    static func inStartOrder(_ vectors: [FeatureVectorRecord]) -> [FeatureVectorRecord] {
        vectors.sorted {
            ($0.features?["gh_build_started_at"]?.string ?? "", $0.runId) < ($1.features?["gh_build_started_at"]?.string ?? "", $1.runId)
        }
    }

    /// Each build's earlier builds on its branch (up to five, oldest first), by the test's own count.
    static func branchHistories(_ vectors: [FeatureVectorRecord]) -> [Int64: [FeatureVectorRecord]] {
        var seen: [String: [FeatureVectorRecord]] = [:]
        var histories: [Int64: [FeatureVectorRecord]] = [:]
        for vector in inStartOrder(vectors) {
            let branch = vector.features?["git_branch"]?.string ?? ""
            histories[vector.runId] = Array((seen[branch] ?? []).suffix(5))
            seen[branch, default: []].append(vector)
        }
        return histories
    }

    @Test func buildsWaitForAModelArePredictedOnActivationKeepTheirVersionAndScoreOnDemand() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/risky", 150)]) { sandbox, baseURL in
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .predictor, .datasetSplitter].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL))
            }
            try await withServices(runtimes) {
                let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/risky","autoProcess":true}]}"#)
                #expect(created.status == 202)
                let id = try #require(try JSONDecoder().decode([IngestionTests.IDOnly].self, from: created.body).first?.id)

                // No model yet: the repository ends processed, says it waits for one, and so does every build.
                try await waitUntil("the builds wait for a model", timeout: .seconds(300)) {
                    let config = try await imports.config(cluster, id)
                    return config.status == .processed && config.prediction?.phase == .waiting
                }
                let config = try await imports.config(cluster, id)
                #expect(config.message?.contains("no active model") == true)
                let waiting = try await trainingBuilds(cluster, id)
                #expect(!waiting.isEmpty)
                #expect(waiting.allSatisfy { $0.predictionStatus == .pending && $0.pendingReason == "no active model" && $0.score == nil })
                #expect(try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(waiting[0].runId)}"#.utf8)).status == 409)

                // The registry's hand-over: an artifact under the data directory, then the outbox's call.
                let extractor = RPCClient(
                    httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.featureExtractor), token: TestEnvironment.tokens.token(for: .gateway))
                let page = try await extractor.call(FeatureMethods.vectors, FeatureVectorsParams(pipelineId: String(id), limit: 1000))
                let vectors = page.vectors.filter { $0.status == .completed || $0.status == .partial }
                #expect(Set(vectors.map(\.runId)) == Set(waiting.map(\.runId)), "every extracted build, and only those, waits")
                let columns = try Self.numericPreBuildFeatures(try await extractor.call(FeatureMethods.catalogue, Empty()))
                let (first, firstRef) = try await offThePool {
                    try Self.trainAndSave(vectors, columns: columns, kind: .xgboost, version: 1, dataDirectory: cluster.dataDirectory)
                }
                // The registry's outbox tells the predictor (which serves the model) and the gateway
                // (which keeps the predictor's answers).
                let registry = RPCClient(
                    httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.predictor), token: TestEnvironment.tokens.token(for: .trainingOrchestrator))
                let registryToGateway = RPCClient(
                    httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.gateway), token: TestEnvironment.tokens.token(for: .trainingOrchestrator))
                @Sendable func handOver(_ active: ModelVersionRef, sequence: Int64) async throws {
                    let change = ActiveModelChange(modelName: ModelNames.standard, active: active, sequence: sequence)
                    _ = try await registry.call(PredictorMethods.activeModelChanged, change)
                    _ = try await registryToGateway.call(GatewayMethods.activeModelChanged, change)
                }
                try await handOver(firstRef, sequence: 1)

                // Every build predicted without a manual step, with the scores the test's own model gives.
                try await waitUntil("every build is predicted", timeout: .seconds(120)) {
                    try await trainingBuilds(cluster, id).allSatisfy { $0.predictionStatus == .completed }
                }
                let expected = try first.predict(Self.table(vectors.map { $0.features ?? [:] }, columns: columns))
                let expectedByRun = Dictionary(uniqueKeysWithValues: zip(vectors.map(\.runId), expected))
                let predicted = try await trainingBuilds(cluster, id)
                #expect(predicted.count == vectors.count)
                for build in predicted {
                    let score = try #require(build.score)
                    #expect((0...1).contains(score))
                    #expect(build.modelVersion == 1)
                    #expect(build.riskLevel?.rawValue == expectedByRun[build.runId]?.level.rawValue)
                    #expect(abs(score - (expectedByRun[build.runId]?.failureProbability ?? -1)) < 1e-6)
                }
                let highs = predicted.filter { $0.riskLevel == .high }.map(\.runId)
                #expect(try await trainingBuilds(cluster, id, query: "&risk=HIGH").map(\.runId) == highs)
                // The predictor's last report reaches the gateway through its outbox, after the builds are readable.
                try await waitUntil("the repository ends processed", timeout: .seconds(60)) {
                    try await imports.config(cluster, id).status == .processed
                }

                // A second model: earlier attributions stay; a late change of the first is ignored.
                let (second, secondRef) = try await offThePool {
                    try Self.trainAndSave(vectors, columns: columns, kind: .logisticRegression, version: 2, dataDirectory: cluster.dataDirectory)
                }
                try await handOver(secondRef, sequence: 2)
                try await handOver(firstRef, sequence: 1)
                let byRun = try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(vectors[0].runId)}"#.utf8))
                #expect(byRun.status == 200)
                #expect(try JSONDecoder().decode(ScoreAnswer.self, from: byRun.body).model.version == 2)
                #expect(try await trainingBuilds(cluster, id).allSatisfy { $0.modelVersion == 1 })

                // Repredict uses the new model; the first one's predictions stay in each build's history.
                #expect(try await post(cluster, "/repos/\(id)/repredict").status == 202)
                try await waitUntil("every build is predicted by version 2", timeout: .seconds(120)) {
                    try await trainingBuilds(cluster, id).allSatisfy { $0.modelVersion == 2 }
                }
                // Builds asked for by run id at the same time (the predictor scores them in one call)
                // each get their own build's score, the one the prediction job stored.
                let stored = Dictionary(uniqueKeysWithValues: try await trainingBuilds(cluster, id).compactMap { build in build.score.map { (build.runId, $0) } })
                let together = try await withThrowingTaskGroup(of: (Int64, HTTPResult).self) { group in
                    for runId in vectors.prefix(16).map(\.runId) {
                        group.addTask { (runId, try await self.post(cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(runId)}"#.utf8))) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(together.count == min(16, vectors.count))
                for (runId, answer) in together {
                    #expect(answer.status == 200)
                    let score = try #require(try JSONDecoder().decode(ScoreAnswer.self, from: answer.body).scores.first)
                    #expect(score.runId == runId)
                    #expect(abs(score.score - (stored[runId] ?? -1)) < 1e-9)
                }

                // A score by run id is kept by the predictor and the gateway: a vector changed behind
                // their backs is not read again until the predictor is told the pipeline's vectors may
                // have changed (the gateway's `predictions.predict` at the end of a processing run),
                // and the gateway forgets its answer when the predictor's prediction job reports.
                let changedRun = vectors[0].runId
                let cachedBefore = try #require(try JSONDecoder().decode(ScoreAnswer.self, from: try await post(
                    cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(changedRun)}"#.utf8)).body).scores.first)
                let feature = try #require(cachedBefore.contributions.first?.feature)
                var changed = vectors[0].features ?? [:]
                let candidates = [0.0, 1_000.0, -1_000.0].map { value -> (Double, Double) in
                    changed[feature] = .number(value)
                    return (value, (try? second.predict(Self.table([changed], columns: columns)).first?.failureProbability) ?? cachedBefore.score)
                }
                let (newValue, expectedScore) = try #require(candidates.first { abs($0.1 - cachedBefore.score) > 0.01 }, "no value of \(feature) moves the score")
                func setFeatures(_ text: String?) async throws -> String {
                    try await withClient(database.url(forSchema: "feature_extractor")) { client in
                        let rows = try await client.query(
                            """
                            UPDATE feature_extractor.feature_vectors AS v
                            SET features = coalesce(\(text)::jsonb, jsonb_set(v.features, ARRAY[\(feature)], to_jsonb(\(newValue)::float8)))
                            FROM feature_extractor.feature_vectors AS old
                            WHERE v.pipeline_id = \(String(id)) AND v.run_id = \(changedRun)
                                AND old.pipeline_id = v.pipeline_id AND old.run_id = v.run_id AND old.dag_version = v.dag_version
                            RETURNING old.features::text
                            """, logger: TestEnvironment.logger
                        ).collect()
                        return try #require(rows.first).decode(String.self)
                    }
                }
                let original = try await setFeatures(nil)
                let kept = try JSONDecoder().decode(ScoreAnswer.self, from: try await post(
                    cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(changedRun)}"#.utf8)).body).scores.first
                #expect(kept?.score == cachedBefore.score, "answered from what was kept")
                let gatewaySide = RPCClient(
                    httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.predictor), token: TestEnvironment.tokens.token(for: .gateway))
                let keptByPredictor = try await gatewaySide.callForJSON(
                    PredictionMethods.score, ScoreRequest(pipelineId: String(id), runId: changedRun, topContributions: nil))
                #expect(try JSONDecoder().decode(ScoreAnswer.self, from: keptByPredictor).scores.first?.score == cachedBefore.score, "the predictor kept it too")
                _ = try await gatewaySide.call(PredictionMethods.predict, PredictRequest(pipelineId: String(id), requestId: "processing-ended-again"))
                // The predictor forgets at once; the gateway, which kept the answer too, when the
                // predictor's prediction job reports.
                @Sendable func scoreNow() async throws -> Double? {
                    try JSONDecoder().decode(ScoreAnswer.self, from: try await post(
                        cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(changedRun)}"#.utf8)).body).scores.first?.score
                }
                let fromPredictor = try await gatewaySide.callForJSON(
                    PredictionMethods.score, ScoreRequest(pipelineId: String(id), runId: changedRun, topContributions: nil))
                #expect(abs((try JSONDecoder().decode(ScoreAnswer.self, from: fromPredictor).scores.first?.score ?? -1) - expectedScore) < 1e-6,
                        "the predictor read the vector anew once told the pipeline's processing ended")
                try await waitUntil("the gateway answers from the changed vector", timeout: .seconds(60)) {
                    abs((try await scoreNow() ?? -1) - expectedScore) < 1e-6
                }
                // The vector as it was, for what follows.
                _ = try await setFeatures(original)
                _ = try await gatewaySide.call(PredictionMethods.predict, PredictRequest(pipelineId: String(id), requestId: "processing-ended-once-more"))
                try await waitUntil("the gateway answers from the vector as it was", timeout: .seconds(60)) {
                    try await scoreNow() == cachedBefore.score
                }

                let someRun = vectors[vectors.count / 2].runId
                let detail = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/builds/\(someRun)", token: TestEnvironment.adminToken)
                let history = try #require(try JSONDecoder().decode(BuildDetail.self, from: detail.body).prediction)
                #expect(history.current?.modelVersion == 2)
                #expect(history.history.map(\.modelVersion).sorted { ($0 ?? 0) < ($1 ?? 0) } == [1, 2])
                let firstScore = try #require(history.history.first { $0.modelVersion == 1 }?.score)
                #expect(abs(firstScore - (expectedByRun[someRun]?.failureProbability ?? -1)) < 1e-6)

                // A posted vector: the contributions add up to the model's log-odds before calibration.
                let vector = try #require(vectors.last?.features)
                struct Posted: Encodable {
                    var features: [String: FeatureValue]
                    var topContributions: Int
                }
                let posted = try await post(cluster, "/predictions", try JSONEncoder().encode(Posted(features: vector, topContributions: 5)))
                #expect(posted.status == 200)
                let answer = try JSONDecoder().decode(ScoreAnswer.self, from: posted.body)
                #expect(answer.model.version == 2)
                #expect(Set(answer.featuresUsed) == Set(columns))
                let scored = try #require(answer.scores.first)
                #expect(scored.contributions.count == 5)
                let logOdds = scored.contributions.reduce(scored.otherContributions) { $0 + $1.value }
                #expect(abs(1 / (1 + exp(-logOdds)) - scored.rawProbability) < 1e-4)
                #expect((0...1).contains(scored.score))

                // Batches: 1,000 scored, 1,001 refused, and nothing stored either way.
                let before = try await trainingBuilds(cluster, id)

                // A commit pushed after the import, scored before any build runs it: the ingestor
                // fetches it, its pre-build features are computed after every extracted build, and
                // the score is what the test's own second model gives on them.
                let risky = try #require(sandbox.world.repository("acme/risky"))
                let planned = try await offThePool {
                    let work = FileManager.default.temporaryDirectory.appendingPathComponent("push-\(UUID().uuidString)").path
                    defer { try? FileManager.default.removeItem(atPath: work) }
                    try git(["clone", "--quiet", risky.gitPath, work])
                    try FileManager.default.createDirectory(atPath: work + "/docs", withIntermediateDirectories: true)
                    try "one\ntwo\nthree\n".write(toFile: work + "/docs/planned-change.md", atomically: true, encoding: .utf8)
                    try git(["-C", work, "add", "docs/planned-change.md"])
                    try git(["-C", work, "-c", "user.name=Planner", "-c", "user.email=planner@example.com", "commit", "--quiet", "-m", "A planned change"])
                    try git(["-C", work, "push", "--quiet", "origin", "HEAD:main"])
                    return try gitLine(["-C", work, "rev-parse", "HEAD"])
                }
                // GitHub's commit comments on it: one written before it is scored counts, one dated later does not.
                try sandbox.world.addCommitComment(fullName: "acme/risky", sha: planned, at: Date().addingTimeInterval(-600))
                try sandbox.world.addCommitComment(fullName: "acme/risky", sha: planned, at: Date().addingTimeInterval(3_600))
                let newestWorkflow = try #require(risky.runs.filter { $0.status == "completed" }.max { ($0.created_at, $0.id) < ($1.created_at, $1.id) }?.name)
                let byCommit = try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"commitSha":"\#(planned)","branch":"main"}"#.utf8))
                #expect(byCommit.status == 200, "\(String(decoding: byCommit.body, as: UTF8.self))")
                let plannedAnswer = try JSONDecoder().decode(ScoreAnswer.self, from: byCommit.body)
                let computed = try #require(plannedAnswer.computed)
                #expect(computed.fetched, "the clone did not have the commit pushed after the ingestion")
                #expect(computed.commitSha == planned && computed.event == "push" && computed.workflowName == newestWorkflow)
                #expect(computed.features["git_trigger_commit"] == .string(planned))
                #expect(computed.features["git_branch"] == .string("main"))
                #expect(computed.features["git_all_built_commits"]?.strings?.first == planned)
                #expect((computed.features["gh_diff_files_added"]?.int ?? 0) >= 1)
                #expect((computed.features["gh_lines_added"]?.int ?? 0) >= 3)
                #expect(computed.features["gh_num_commit_comments"]?.int == 1)
                let preBuild = try Self.preBuildFeatures(try await extractor.call(FeatureMethods.catalogue, Empty()))
                #expect(Set(computed.features.keys).isSubset(of: preBuild), "only pre-build features exist before a build runs")
                #expect(plannedAnswer.model.version == 2)
                let expectedPlanned = try #require(try second.predict(Self.table([computed.features], columns: columns)).first)
                #expect(abs((plannedAnswer.scores.first?.score ?? -1) - expectedPlanned.failureProbability) < 1e-6)
                let again = try JSONDecoder().decode(ScoreAnswer.self, from: try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"commitSha":"\#(planned)"}"#.utf8)).body)
                #expect(again.computed?.fetched == false, "a commit the clone has is not fetched again")
                // Refused with the reason: a commit nobody pushed, a short id, both a run and a commit, an unknown workflow.
                let unknownCommit = String(repeating: "ab", count: 20)
                let missing = try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"commitSha":"\#(unknownCommit)"}"#.utf8))
                #expect(missing.status == 404)
                #expect(String(decoding: missing.body, as: UTF8.self).contains(unknownCommit))
                #expect(try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"commitSha":"abc123"}"#.utf8)).status == 400)
                #expect(try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(someRun),"commitSha":"\#(planned)"}"#.utf8)).status == 400)
                let noWorkflow = try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"commitSha":"\#(planned)","workflow":"no such workflow"}"#.utf8))
                #expect(noWorkflow.status == 400)
                #expect(String(decoding: noWorkflow.body, as: UTF8.self).contains(newestWorkflow))
                func batch(_ count: Int) throws -> Data {
                    try JSONEncoder().encode(["vectors": Array(repeating: vector, count: count)])
                }
                let thousand = try await post(cluster, "/predictions/batch", try batch(1000))
                #expect(thousand.status == 200)
                #expect(try JSONDecoder().decode(ScoreAnswer.self, from: thousand.body).scores.count == 1000)
                let refused = try await post(cluster, "/predictions/batch", try batch(1001))
                #expect(refused.status == 400)
                #expect(String(decoding: refused.body, as: UTF8.self).contains("1,000"))
                // The gateway forwards a batch undecoded: a vector that is not name → value is still a 400.
                let malformed = try await post(cluster, "/predictions/batch", Data(#"{"vectors":[{"gh_team_size":1},[1,2]]}"#.utf8))
                #expect(malformed.status == 400)
                // Without contributions (topContributions 0) none are computed; the rest is the whole log-odds.
                struct Bare: Encodable {
                    var vectors: [[String: FeatureValue]]
                    var topContributions: Int
                }
                let bare = try await post(cluster, "/predictions/batch", try JSONEncoder().encode(Bare(vectors: [vector, vector], topContributions: 0)))
                #expect(bare.status == 200)
                let bareScores = try JSONDecoder().decode(ScoreAnswer.self, from: bare.body).scores
                #expect(bareScores.count == 2)
                for bareScore in bareScores {
                    #expect(bareScore.contributions.isEmpty)
                    #expect(abs(bareScore.score - scored.score) < 1e-9)
                    #expect(abs(1 / (1 + exp(-bareScore.otherContributions)) - bareScore.rawProbability) < 1e-6)
                }
                let after = try await trainingBuilds(cluster, id)
                #expect(after.map(\.runId) == before.map(\.runId))
                #expect(after.map(\.score) == before.map(\.score))

                // The model pipeline's export: every build, its features, and the prediction it carries now.
                @Sendable func get(_ path: String) async throws -> HTTPResult {
                    try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1" + path, token: TestEnvironment.adminToken)
                }
                let jsonl = try await get("/repos/\(id)/export?format=jsonl")
                #expect(jsonl.status == 200)
                let rows = try String(decoding: jsonl.body, as: UTF8.self).split(separator: "\n").map {
                    try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
                }
                #expect(Set(rows.compactMap { ($0["run_id"] as? NSNumber)?.int64Value }) == Set(after.map(\.runId)))
                for row in rows {
                    let runId = try #require((row["run_id"] as? NSNumber)?.int64Value)
                    let build = try #require(after.first { $0.runId == runId })
                    #expect(row["prediction_status"] as? String == build.predictionStatus?.rawValue)
                    #expect(row["risk_level"] as? String == build.riskLevel?.rawValue)
                    #expect((row["model_version"] as? NSNumber)?.intValue == build.modelVersion)
                    if let score = build.score { #expect(abs(((row["risk_score"] as? NSNumber)?.doubleValue ?? -1) - score) < 1e-9) }
                }
                let csv = try await get("/repos/\(id)/export")
                #expect(csv.status == 200)
                let csvLines = String(decoding: csv.body, as: UTF8.self).split(separator: "\r\n")
                #expect(csvLines.count == rows.count + 1)
                let header = String(csvLines.first ?? "")
                #expect(header.hasPrefix("repository,run_id,commit_sha,extraction_status,"))
                #expect(header.hasSuffix(",prediction_status,risk_level,risk_score,risk_uncertainty,model_name,model_version"))
                let preview = try await get("/repos/\(id)/export/preview")
                #expect(preview.status == 200)
                #expect(try JSONDecoder().decode(DatasetDataPage.self, from: preview.body).rows.count == min(20, rows.count))
                let started = try await post(cluster, "/repos/\(id)/export/async", Data(#"{"format":"csv"}"#.utf8))
                #expect(started.status == 202)
                let job = try JSONDecoder().decode(DatasetExportJob.self, from: started.body)
                try await waitUntil("the export job completes", timeout: .seconds(120)) {
                    try JSONDecoder().decode(DatasetExportJob.self, from: try await get("/repos/\(id)/export/jobs/\(job.jobId)").body).status == .completed
                }
                let file = try await get("/repos/\(id)/export/jobs/\(job.jobId)/download")
                #expect(file.status == 200)
                #expect(String(decoding: file.body, as: UTF8.self).split(separator: "\r\n").count == rows.count + 1)
                #expect(try await get("/repos/\(id + 1000)/export").status == 404)

                // A model with a sequence model: a build with 5 earlier builds on its branch (by the
                // test's own count over the extracted builds) is served by it, the others by the
                // fallback; each stored score is what the test's model gives with that history.
                let (third, thirdRef) = try await offThePool {
                    try Self.trainAndSave(vectors, columns: columns, kind: .xgboost, version: 3, dataDirectory: cluster.dataDirectory, sequence: true)
                }
                try await handOver(thirdRef, sequence: 3)
                #expect(try await post(cluster, "/repos/\(id)/repredict").status == 202)
                try await waitUntil("every build is predicted by version 3", timeout: .seconds(120)) {
                    try await trainingBuilds(cluster, id).allSatisfy { $0.modelVersion == 3 && $0.predictionStatus == .completed }
                }
                let histories = Self.branchHistories(vectors)
                let sequenced = try await trainingBuilds(cluster, id)
                let withHistory = Set(histories.filter { $0.value.count == 5 }.keys)
                #expect(!withHistory.isEmpty && withHistory.count < sequenced.count, "the fixture has builds on both sides")
                let everyRow = vectors.map { $0.features ?? [:] }
                let position = Dictionary(uniqueKeysWithValues: vectors.map(\.runId).enumerated().map { ($1, $0) })
                let expectedThird = try third.predict(
                    Self.table(everyRow, columns: columns),
                    history: BranchHistory(
                        table: try Self.table(everyRow, columns: columns),
                        previous: vectors.map { vector in (histories[vector.runId] ?? []).map { position[$0.runId]! } }))
                for build in sequenced {
                    #expect(build.servedBy == (withHistory.contains(build.runId) ? "gru" : "xgboost"), "run \(build.runId)")
                    let expected = try #require(position[build.runId].map { expectedThird[$0] })
                    #expect(abs((build.score ?? -1) - expected.failureProbability) < 1e-6, "run \(build.runId)")
                }
                // Scored by run id, a build is served as the prediction job served it; posted with its
                // history, a vector likewise.
                let served = try #require(sequenced.first { withHistory.contains($0.runId) })
                let servedByRun = try JSONDecoder().decode(
                    ScoreAnswer.self, from: try await post(cluster, "/predictions", Data(#"{"repoId":\#(id),"runId":\#(served.runId)}"#.utf8)).body)
                #expect(servedByRun.scores.first?.servedBy == "gru")
                #expect(abs((servedByRun.scores.first?.score ?? -1) - (served.score ?? -2)) < 1e-9)
                struct WithHistory: Encodable {
                    var features: [String: FeatureValue]
                    var history: [[String: FeatureValue]]
                }
                let servedVector = try #require(vectors.first { $0.runId == served.runId }?.features)
                let postedWithHistory = try JSONDecoder().decode(ScoreAnswer.self, from: try await post(
                    cluster, "/predictions",
                    try JSONEncoder().encode(WithHistory(features: servedVector, history: (histories[served.runId] ?? []).map { $0.features ?? [:] }))).body)
                #expect(postedWithHistory.scores.first?.servedBy == "gru")
                #expect(abs((postedWithHistory.scores.first?.score ?? -1) - (served.score ?? -2)) < 1e-9)
                let postedAlone = try JSONDecoder().decode(
                    ScoreAnswer.self, from: try await post(cluster, "/predictions", try JSONEncoder().encode(Posted(features: servedVector, topContributions: 3))).body)
                #expect(postedAlone.scores.first?.servedBy == "xgboost")
                // The commit not built yet, scored by commit on main: its history is main's newest
                // extracted builds, by the test's own order.
                let onMain = Self.inStartOrder(vectors).filter { $0.features?["git_branch"]?.string == "main" }
                let byCommitNow = try JSONDecoder().decode(ScoreAnswer.self, from: try await post(
                    cluster, "/predictions", Data(#"{"repoId":\#(id),"commitSha":"\#(planned)","branch":"main"}"#.utf8)).body)
                let plannedFeatures = try #require(byCommitNow.computed?.features)
                let expectedNow = try #require(try third.predict(
                    Self.table([plannedFeatures], columns: columns),
                    history: BranchHistory(table: try Self.table(onMain.suffix(5).map { $0.features ?? [:] }, columns: columns), previous: [Array(0..<min(5, onMain.count))])).first)
                #expect(byCommitNow.scores.first?.servedBy == (onMain.count >= 5 ? "gru" : "xgboost"))
                #expect(abs((byCommitNow.scores.first?.score ?? -1) - expectedNow.failureProbability) < 1e-6)
            }
        }
    }
}
