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
    static func trainAndSave(
        _ vectors: [FeatureVectorRecord], columns: [String], kind: ModelKind, version: Int, dataDirectory: String
    ) throws -> (RiskModel, ModelVersionRef) {
        let ordered = vectors.sorted { $0.runId < $1.runId }
        let rows = ordered.map { $0.features ?? [:] }
        let failed = rows.map { $0["build_successful"] == .boolean(false) }
        let cut = ordered.count * 7 / 10
        var trees = XGBoostParameters()
        trees.rounds = 15
        trees.maxDepth = 3
        trees.threads = 1
        let artifact = try RiskModelTrainer.train(
            configuration: TrainingConfiguration(kind: kind, xgboost: trees, bootstrapModels: 2, seed: UInt64(version)),
            training: LabeledTable(table: table(Array(rows[..<cut]), columns: columns), failed: Array(failed[..<cut])),
            validation: LabeledTable(table: table(Array(rows[cut...]), columns: columns), failed: Array(failed[cut...])))
        let path = ModelNames.artifactPath(modelName: ModelNames.standard, version: version)
        try artifact.save(to: URL(filePath: dataDirectory).appending(path: path))
        let ref = ModelVersionRef(modelName: ModelNames.standard, version: version, kind: kind.rawValue, artifactPath: path, dagVersion: vectors.first?.dagVersion)
        return (try RiskModel(artifact: artifact), ref)
    }

    @Test func buildsWaitForAModelArePredictedOnActivationKeepTheirVersionAndScoreOnDemand() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/risky", 150)]) { _, baseURL in
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .predictor].map {
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
                let registry = RPCClient(
                    httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.predictor), token: TestEnvironment.tokens.token(for: .trainingOrchestrator))
                _ = try await registry.call(PredictorMethods.activeModelChanged, ActiveModelChange(modelName: ModelNames.standard, active: firstRef, sequence: 1))

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
                #expect(try await imports.config(cluster, id).status == .processed)

                // A second model: earlier attributions stay; a late change of the first is ignored.
                let (_, secondRef) = try await offThePool {
                    try Self.trainAndSave(vectors, columns: columns, kind: .logisticRegression, version: 2, dataDirectory: cluster.dataDirectory)
                }
                _ = try await registry.call(PredictorMethods.activeModelChanged, ActiveModelChange(modelName: ModelNames.standard, active: secondRef, sequence: 2))
                _ = try await registry.call(PredictorMethods.activeModelChanged, ActiveModelChange(modelName: ModelNames.standard, active: firstRef, sequence: 1))
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
            }
        }
    }
}
