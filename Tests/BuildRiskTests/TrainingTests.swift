import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import GatewayCore
import NIOHTTP1
import PostgresNIO
import Testing

/// Training through the gateway's REST API on builds that went through the whole chain (a sandbox
/// repository imported with autoProcess): the first version becomes active and its artifact
/// predicts; a cancelled running job stops and leaves no version and no files; concurrent
/// activations leave exactly one active version; bad requests write nothing.
@Suite(.timeLimit(.minutes(20)), .dropsTestDatabases)
struct TrainingTests {
    let imports = WarehouseImportTests()
    let processing = ProcessingTests()

    struct CatalogueFeature: Decodable {
        var name: String
        var timing: String
        var type: String
    }

    struct Catalogue: Decodable {
        var features: [CatalogueFeature]
    }

    func call(
        _ cluster: TestCluster, _ method: HTTPMethod, _ path: String, token: String = TestEnvironment.adminToken, body: String? = nil
    ) async throws -> HTTPResult {
        try await http(TestEnvironment.httpClient, method, cluster.publicURL + "/api/v1" + path, token: token, body: body.map { Data($0.utf8) })
    }

    func job(_ cluster: TestCluster, _ id: Int64) async throws -> TrainingJobRecord {
        try HTTPHelpers.decoder.decode(TrainingJobRecord.self, from: try await call(cluster, .GET, "/training/jobs/\(id)").body)
    }

    func start(_ cluster: TestCluster, _ body: String) async throws -> TrainingJobRecord {
        let answer = try await call(cluster, .POST, "/training/jobs", body: body)
        #expect(answer.status == 201, "\(answer.text)")
        return try HTTPHelpers.decoder.decode(TrainingJobRecord.self, from: answer.body)
    }

    func waitForEnd(_ cluster: TestCluster, _ id: Int64) async throws -> TrainingJobRecord {
        try await waitUntil("training job \(id) ends", timeout: .seconds(180)) {
            [.completed, .failed, .cancelled].contains(try await job(cluster, id).status)
        }
        return try await job(cluster, id)
    }

    func versions(_ cluster: TestCluster) async throws -> [ModelVersionRecord] {
        try HTTPHelpers.decoder.decode([ModelVersionRecord].self, from: try await call(cluster, .GET, "/models?name=build-risk").body)
    }

    @Test func aTrainingRegistersTheFirstActiveVersionACancelLeavesNothingAndOneVersionStaysActive() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/risky", 120)]) { _, baseURL in
            let logs = LogCapture()
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .trainingOrchestrator, .predictor].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL), logger: logs.logger("buildrisk.\($0.rawValue)"))
            }
            try await withServices(runtimes) {
                let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/risky","autoProcess":true}]}"#)
                let repoId = try #require(try JSONDecoder().decode([IngestionTests.IDOnly].self, from: created.body).first?.id)
                _ = try await processing.waitForProcessing(cluster, repoId, after: 0)
                let catalogue = try JSONDecoder().decode(Catalogue.self, from: try await call(cluster, .GET, "/features").body)
                let postBuild = Set(catalogue.features.filter { $0.timing == "post" }.map(\.name))
                #expect(postBuild.contains("tr_status"))

                // Bad requests: each refused with its reason, and no job written.
                let refused: [(String, Int)] = [
                    (#"{"parameters":{"kind":"random_forest"},"repositoryIds":[\#(repoId)]}"#, 400),
                    (#"{"parameters":{"kind":"xgboost","rounds":0},"repositoryIds":[\#(repoId)]}"#, 400),
                    (#"{"modelName":"../etc","parameters":{"kind":"xgboost"},"repositoryIds":[\#(repoId)]}"#, 400),
                    (#"{"parameters":{"kind":"xgboost"},"repositoryIds":[]}"#, 400),
                    (#"{"parameters":{"kind":"xgboost"},"repositoryIds":[999999]}"#, 404),
                    (#"{"parameters":{"kind":"xgboost"},"repositoryIds":[\#(repoId)],"baseVersion":7}"#, 404),
                    (#"{"parameters":"#, 400),
                    (#"{"parameters":{"kind":"xgboost","search":{"trials":1,"dimensions":[{"name":"rounds","type":"int","min":5,"max":9}]}},"repositoryIds":[\#(repoId)]}"#, 400),
                    (#"{"parameters":{"kind":"xgboost","search":{"trials":3,"dimensions":[{"name":"learningRate","type":"log_float","min":0,"max":1}]}},"repositoryIds":[\#(repoId)]}"#, 400),
                ]
                for (body, status) in refused {
                    let answer = try await call(cluster, .POST, "/training/jobs", body: body)
                    #expect(answer.status == status, "\(body) → \(answer.status) \(answer.text)")
                    #expect((try? answer.json()["reason"] as? String)?.isEmpty == false)
                }
                #expect(try await call(cluster, .POST, "/training/jobs/424242/retry").status == 404)
                #expect(try await call(cluster, .POST, "/models/build-risk/versions/1/activate").status == 404)
                let empty = try HTTPHelpers.decoder.decode(TrainingJobPage.self, from: try await call(cluster, .GET, "/training/jobs").body)
                #expect(empty.total == 0 && empty.jobs.isEmpty)

                // Schedules: a bad cron expression is refused with its reason and writes nothing; one
                // that fires on 1 January is created (due next New Year), paused, resumed and deleted.
                for cron in ["0 0 1 1", "0 0 31 2 *", "*/0 * * * *", "0 25 * * *"] {
                    let answer = try await call(cluster, .POST, "/training/schedules", body: #"{"cron":"\#(cron)","parameters":{"kind":"xgboost"},"repositoryIds":[\#(repoId)]}"#)
                    #expect(answer.status == 400, "\(cron) → \(answer.status) \(answer.text)")
                    #expect((try? answer.json()["reason"] as? String)?.contains("cron") == true, "\(answer.text)")
                }
                #expect(try await call(cluster, .POST, "/training/schedules", body: #"{"cron":"0 0 1 1 *","parameters":{"kind":"xgboost"},"repositoryIds":[999999]}"#).status == 404)
                #expect(try await call(cluster, .POST, "/training/schedules", body: #"{"cron":"0 0 1 1 *","parameters":{"kind":"svm"},"repositoryIds":[\#(repoId)]}"#).status == 400)
                // A base (version or alias) that does not resolve is refused with its reason (no version exists yet).
                for base in [#""champion""#, "7", #""@7""#] {
                    let answer = try await call(cluster, .POST, "/training/schedules", body: #"{"cron":"0 0 1 1 *","parameters":{"kind":"xgboost"},"repositoryIds":[\#(repoId)],"base":\#(base)}"#)
                    #expect(answer.status == 400 && (try? answer.json()["reason"] as? String)?.hasPrefix("base:") == true, "\(base) → \(answer.status) \(answer.text)")
                }
                @Sendable func schedules() async throws -> [TrainingScheduleRecord] {
                    try HTTPHelpers.decoder.decode([TrainingScheduleRecord].self, from: try await call(cluster, .GET, "/training/schedules").body)
                }
                #expect(try await schedules().isEmpty)
                let yearly = try await call(cluster, .POST, "/training/schedules", body: #"{"cron":"0 0 1 1 *","parameters":{"kind":"xgboost","rounds":10},"repositoryIds":[\#(repoId)]}"#)
                #expect(yearly.status == 201, "\(yearly.text)")
                let schedule = try HTTPHelpers.decoder.decode(TrainingScheduleRecord.self, from: yearly.body)
                var utc = Calendar(identifier: .gregorian)
                utc.timeZone = TimeZone(identifier: "UTC")!
                #expect(schedule.nextDueAt == "\(utc.component(.year, from: Date()) + 1)-01-01T00:00:00.000Z")
                #expect(schedule.data.repositories.map(\.pipelineId) == [String(repoId)] && !schedule.paused && schedule.lastJobId == nil)
                let paused = try await call(cluster, .POST, "/training/schedules/\(schedule.id)/pause")
                #expect(try HTTPHelpers.decoder.decode(TrainingScheduleRecord.self, from: paused.body).paused)
                #expect(try await schedules().map(\.paused) == [true])
                let resumed = try await call(cluster, .POST, "/training/schedules/\(schedule.id)/resume")
                #expect(try HTTPHelpers.decoder.decode(TrainingScheduleRecord.self, from: resumed.body).paused == false)
                // Another user neither sees nor changes it.
                let sam = try await call(cluster, .POST, "/users", body: #"{"username":"sam"}"#)
                let samToken = try #require(try sam.json()["token"] as? String)
                #expect(try await call(cluster, .GET, "/training/schedules", token: samToken).text == "[]")
                #expect(try await call(cluster, .POST, "/training/schedules/\(schedule.id)/pause", token: samToken).status == 404)
                #expect(try await call(cluster, .DELETE, "/training/schedules/\(schedule.id)", token: samToken).status == 404)
                #expect(try await call(cluster, .DELETE, "/training/schedules/\(schedule.id)").status == 204)
                #expect(try await call(cluster, .DELETE, "/training/schedules/\(schedule.id)").status == 404)
                #expect(try await call(cluster, .POST, "/training/schedules/\(schedule.id)/pause").status == 404)
                #expect(try await schedules().isEmpty)

                // A training completes; its owner hears of it; the first version of the name is active.
                let listener = try await EventListener.open(cluster, token: TestEnvironment.adminToken)
                defer { listener.close() }
                let first = try await start(cluster, #"{"parameters":{"kind":"xgboost","rounds":25,"bootstrapModels":2},"repositoryIds":[\#(repoId)],"priority":"high"}"#)
                #expect(first.status == .queued)
                #expect(first.estimatedSeconds > 0)
                let completed = try await waitForEnd(cluster, first.id)
                #expect(completed.status == .completed, "\(completed.error ?? "")")
                #expect(completed.modelVersion == 1)
                #expect(completed.progress == 1)
                let received = listener.received
                try await waitUntil("a TRAINING_UPDATE says the job completed") {
                    received.value.contains { $0.trainingUpdate?.jobId == first.id && $0.trainingUpdate?.status == .completed }
                }
                let active = try HTTPHelpers.decoder.decode(ActiveModelAnswer.self, from: try await call(cluster, .GET, "/models/build-risk/active").body)
                #expect(active.model?.version == 1)
                #expect(active.sequence == 1)
                let artifactPath = try #require(active.model?.artifactPath)
                #expect(artifactPath == ModelNames.artifactPath(modelName: "build-risk", version: 1))
                // The registry told the predictor (through its outbox): the builds that waited for a
                // model are predicted by version 1 with no manual step.
                let predictions = PredictionTests()
                try await waitUntil("every build is predicted by the first trained version", timeout: .seconds(120)) {
                    let builds = try await predictions.trainingBuilds(cluster, repoId)
                    return !builds.isEmpty && builds.allSatisfy { $0.predictionStatus == .completed && $0.modelVersion == 1 }
                }

                // The artifact loads and predicts; none of its inputs is a post-build feature.
                let artifact = try ModelArtifact.load(from: URL(fileURLWithPath: cluster.dataDirectory).appending(path: artifactPath))
                #expect(!artifact.inputColumns.isEmpty)
                #expect(Set(artifact.inputColumns).isDisjoint(with: postBuild), "post-build inputs: \(Set(artifact.inputColumns).intersection(postBuild))")
                let types = Dictionary(uniqueKeysWithValues: catalogue.features.map { ($0.name, $0.type) })
                let page = try await processing.trainingBuilds(cluster, repoId)
                let someRun = try #require(page.builds.first { $0.extractionStatus != "failed" })
                let values = try await processing.features(cluster, repoId, someRun.runId)
                let row = try FeatureTable(rowCount: 1, columns: artifact.inputColumns.map { name in
                    types[name] == "string"
                        ? .categorical(name: name, values: [values[name]?.string])
                        : .numeric(name: name, values: [values[name]?.double ?? values[name]?.bool.map { $0 ? 1 : 0 } ?? .nan])
                })
                let prediction = try #require(try RiskModel(artifact: artifact).predict(row).first)
                #expect((0...1).contains(prediction.failureProbability))
                #expect(prediction.uncertainty != nil, "two bootstrap models give an uncertainty")

                // Its experiment: a loss per round, Parrot beside the model, what the data was.
                let experimentId = try #require(completed.experimentId)
                let experiment = try HTTPHelpers.decoder.decode(ExperimentRecord.self, from: try await call(cluster, .GET, "/experiments/\(experimentId)").body)
                #expect(experiment.history?.count == 25)
                #expect(experiment.metrics.parrot != nil)
                #expect(experiment.data.features == artifact.inputColumns)
                #expect(experiment.data.buildCount == experiment.data.trainingCount + experiment.data.validationCount + experiment.data.testCount)
                #expect(experiment.data.trainingCount == artifact.trainingRows)
                // The sequence model trained beside it by default, measured on the test builds it serves.
                let sequence = try #require(experiment.metrics.sequence)
                #expect((artifact.sequence != nil) == sequence.adopted)
                #expect(sequence.adopted == ((sequence.validationROCAUC ?? 0) > (sequence.validationFallbackROCAUC ?? 0)))
                #expect(sequence.evaluatedCount == experiment.data.testCount)
                #expect(sequence.servedCount <= sequence.evaluatedCount && (sequence.servedCount == 0) == (sequence.sequence == nil))
                #expect(sequence.served.count == experiment.data.testCount)
                let lastLog = try HTTPHelpers.decoder.decode([TrainingLogLine].self, from: try await call(cluster, .GET, "/training/jobs/\(first.id)/logs?tail=1").body)
                #expect(lastLog.count == 1 && lastLog.first?.message.hasPrefix("completed: version 1") == true)

                // Another user sees none of it.
                let stranger = try await call(cluster, .POST, "/users", body: #"{"username":"stan"}"#)
                let strangerToken = try #require(try stranger.json()["token"] as? String)
                #expect(try await call(cluster, .GET, "/training/jobs/\(first.id)", token: strangerToken).status == 404)
                #expect(try await call(cluster, .GET, "/experiments/\(experimentId)", token: strangerToken).status == 404)

                // A running job cancelled: it stops, and leaves no version and no files.
                let long = try await start(cluster, #"{"parameters":{"kind":"xgboost","rounds":10000,"maxDepth":12,"bootstrapModels":20},"repositoryIds":[\#(repoId)]}"#)
                try await waitUntil("the long job is training", timeout: .seconds(120)) {
                    let job = try await job(cluster, long.id)
                    return job.status == .running && job.phase == "train"
                }
                // While it trains its owner hears of its progress and latest round's losses.
                try await waitUntil("a TRAINING_UPDATE tells the long job's progress", timeout: .seconds(60)) {
                    received.value.contains {
                        guard let update = $0.trainingUpdate, update.jobId == long.id else { return false }
                        return update.status == .running && update.phase == "train" && update.latest != nil && update.progress > 0 && update.progress < 1
                    }
                }
                let cancel = try await call(cluster, .DELETE, "/training/jobs/\(long.id)")
                #expect(cancel.status == 200)
                #expect(try HTTPHelpers.decoder.decode(TrainingJobRecord.self, from: cancel.body).status == .cancelled)
                try await waitUntil("the training stopped", timeout: .seconds(5)) {
                    let lines = try HTTPHelpers.decoder.decode([TrainingLogLine].self, from: try await call(cluster, .GET, "/training/jobs/\(long.id)/logs").body)
                    return lines.contains { $0.message.hasPrefix("cancelled") }
                }
                #expect(try await call(cluster, .DELETE, "/training/jobs/\(long.id)").status == 409)
                #expect(try await versions(cluster).map(\.version) == [1])
                let modelDirectory = URL(fileURLWithPath: cluster.dataDirectory).appending(path: "models/build-risk")
                #expect(try FileManager.default.contentsOfDirectory(atPath: modelDirectory.path) == ["1"])
                let stats = try HTTPHelpers.decoder.decode(TrainingStats.self, from: try await call(cluster, .GET, "/training/stats").body)
                #expect(stats.running == 0 && stats.queued == 0 && stats.capacity >= 1)

                // A retry is a new job tagged with the original.
                let retried = try await call(cluster, .POST, "/training/jobs/\(long.id)/retry")
                #expect(retried.status == 201)
                let retry = try HTTPHelpers.decoder.decode(TrainingJobRecord.self, from: retried.body)
                #expect(retry.retryOf == long.id && retry.parameters == long.parameters)
                #expect(try await call(cluster, .DELETE, "/training/jobs/\(retry.id)").status == 200)

                // A second version stays inactive; concurrent activations leave exactly one active.
                let second = try await waitForEnd(cluster, try await start(cluster, #"{"parameters":{"kind":"logistic_regression","bootstrapModels":0},"repositoryIds":[\#(repoId)]}"#).id)
                #expect(second.status == .completed && second.modelVersion == 2, "\(second.error ?? "")")
                #expect(try await versions(cluster).filter(\.active).map(\.version) == [1])
                let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<12 {
                        group.addTask { try await call(cluster, .POST, "/models/build-risk/versions/\(index % 2 + 1)/activate").status }
                        group.addTask {
                            let listed = try await versions(cluster)
                            return listed.filter(\.active).count == 1 ? 200 : -1
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(answers.allSatisfy { $0 == 200 }, "every activation answered and every read saw one active version: \(answers)")
                let activeNow = try HTTPHelpers.decoder.decode(ActiveModelAnswer.self, from: try await call(cluster, .GET, "/models/build-risk/active").body)
                #expect(try await versions(cluster).filter(\.active).map(\.version) == [try #require(activeNow.model?.version)])
                #expect(activeNow.sequence > 1)
                // Every change of the active version was sent to the predictor and to the gateway, once
                // each, in order of sequence.
                func sent(_ method: String) async throws -> [ActiveModelChange] {
                    try await withClient(database.url(forSchema: "training_orchestrator")) { client in
                        var changes: [ActiveModelChange] = []
                        for try await text in try await client.query(
                            "SELECT (payload->'params')::text FROM training_orchestrator.jobs WHERE kind = 'outbox.deliver' AND payload->>'method' = \(method)",
                            logger: TestEnvironment.logger
                        ).decode(String.self) {
                            changes.append(try JSONDecoder().decode(ActiveModelChange.self, from: Data(text.utf8)))
                        }
                        return changes.sorted { $0.sequence < $1.sequence }
                    }
                }
                let changes = try await sent(PredictorMethods.activeModelChanged.name)
                #expect(try await sent(GatewayMethods.activeModelChanged.name) == changes)
                #expect(changes.map(\.sequence) == Array(1...activeNow.sequence))
                #expect(changes.last?.active == activeNow.model)
                #expect(changes.first?.active?.version == 1)

                // Aliases, comparison, and deleting a version removes its files.
                #expect(try await call(cluster, .PUT, "/models/build-risk/aliases/champion", body: #"{"version":2}"#).status == 200)
                let champion = try HTTPHelpers.decoder.decode(ModelVersionRecord.self, from: try await call(cluster, .GET, "/models/build-risk@champion").body)
                #expect(champion.version == 2 && champion.aliases == ["champion"])
                #expect(try await call(cluster, .PUT, "/models/build-risk/aliases/champion", body: #"{"version":9}"#).status == 404)
                let compared = try await call(cluster, .GET, "/experiments/compare?ids=\(experimentId),\(try #require(second.experimentId))")
                #expect(try HTTPHelpers.decoder.decode([ExperimentRecord].self, from: compared.body).map(\.kind) == ["xgboost", "logistic_regression"])
                #expect(try await call(cluster, .POST, "/models/build-risk/versions/1/activate").status == 200)
                #expect(try await call(cluster, .DELETE, "/models/build-risk/versions/2").status == 204)
                #expect(try FileManager.default.contentsOfDirectory(atPath: modelDirectory.path) == ["1"])
                #expect(try await call(cluster, .GET, "/models/build-risk/aliases/champion").status == 404)
                #expect(try await versions(cluster).map(\.version) == [1])

                // A random search: every trial an experiment, the one best on validation registered.
                let search = try await waitForEnd(cluster, try await start(cluster, #"{"parameters":{"kind":"xgboost","bootstrapModels":0,"search":{"trials":3,"dimensions":[{"name":"rounds","type":"int","min":5,"max":15},{"name":"learningRate","type":"log_float","min":0.05,"max":0.5},{"name":"maxDepth","type":"categorical","values":[2,4]}]}},"repositoryIds":[\#(repoId)]}"#).id)
                #expect(search.status == .completed && search.modelVersion == 3, "\(search.error ?? "")")
                let listed = try HTTPHelpers.decoder.decode([ExperimentRecord].self, from: try await call(cluster, .GET, "/experiments?modelName=build-risk").body)
                let trials = listed.filter { $0.jobId == search.id }
                #expect(trials.count == 3)
                for trial in trials {
                    let rounds = try #require(trial.parameters.rounds)
                    #expect((5...15).contains(rounds) && [2, 4].contains(trial.parameters.maxDepth ?? 0) && trial.parameters.search == nil)
                    #expect((0.05...0.5).contains(trial.parameters.learningRate ?? 0))
                }
                let registered = trials.filter { $0.modelVersion == 3 }
                #expect(registered.count == 1 && registered.first?.id == search.experimentId)
                let bestScore = trials.compactMap(\.metrics.validation.rocAUC).max()
                #expect(registered.first?.metrics.validation.rocAUC == bestScore)
                // The sequence model was trained once, for the kept trial: only its experiment has it.
                #expect(registered.first?.metrics.sequence != nil)
                #expect(trials.filter { $0.modelVersion != 3 }.allSatisfy { $0.metrics.sequence == nil })
                #expect(try await versions(cluster).first { $0.version == 3 }?.metrics == registered.first?.metrics)
                #expect(try await versions(cluster).first { $0.version == 3 }?.parameters == registered.first?.parameters)

                // Successive halving: 4 configurations on 2 rounds, the better 2 on 4, the best on the job's 8;
                // every training an experiment, the last one registered.
                for body in [
                    #"{"parameters":{"kind":"logistic_regression","search":{"trials":4,"strategy":"successive_halving","dimensions":[{"name":"l2","type":"float","min":0,"max":1}]}},"repositoryIds":[\#(repoId)]}"#,
                    #"{"parameters":{"kind":"xgboost","search":{"trials":4,"strategy":"successive_halving","dimensions":[{"name":"rounds","type":"int","min":2,"max":9}]}},"repositoryIds":[\#(repoId)]}"#,
                ] {
                    let answer = try await call(cluster, .POST, "/training/jobs", body: body)
                    #expect(answer.status == 400 && answer.text.contains("successive_halving"), "\(answer.status) \(answer.text)")
                }
                let halving = try await waitForEnd(cluster, try await start(cluster, #"{"parameters":{"kind":"xgboost","rounds":8,"bootstrapModels":0,"search":{"trials":4,"strategy":"successive_halving","dimensions":[{"name":"maxDepth","type":"categorical","values":[2,4]},{"name":"learningRate","type":"float","min":0.1,"max":0.5}]}},"repositoryIds":[\#(repoId)]}"#).id)
                #expect(halving.status == .completed && halving.modelVersion == 4, "\(halving.error ?? "")")
                let rungs = try HTTPHelpers.decoder.decode([ExperimentRecord].self, from: try await call(cluster, .GET, "/experiments?modelName=build-risk").body)
                    .filter { $0.jobId == halving.id }
                #expect(rungs.compactMap(\.parameters.rounds).sorted() == [2, 2, 2, 2, 4, 4, 8])
                let kept = try #require(rungs.first { $0.parameters.rounds == 8 })
                #expect(kept.modelVersion == 4 && kept.id == halving.experimentId)
                // The one kept was among the better half of the rung before it, on validation.
                let secondRung = rungs.filter { $0.parameters.rounds == 4 }
                var keptAt4 = kept.parameters
                keptAt4.rounds = 4
                let atFour = try #require(secondRung.first { $0.parameters == keptAt4 })
                #expect(secondRung.allSatisfy { ($0.metrics.validation.rocAUC ?? -1) <= (atFour.metrics.validation.rocAUC ?? -1) })
                // Survivors continued their previous rung's trees rather than starting again: the kept
                // model has the job's 8 rounds, 4 of them from its rung before, and its loss curve covers all 8.
                let keptHistory = try HTTPHelpers.decoder.decode(ExperimentRecord.self, from: try await call(cluster, .GET, "/experiments/\(kept.id)").body).history
                #expect(keptHistory?.map(\.round) == Array(0..<8))
                let halvingVersion = try #require(try await versions(cluster).first { $0.version == 4 })
                let halvingArtifact = try ModelArtifact.load(from: URL(fileURLWithPath: cluster.dataDirectory).appending(path: halvingVersion.artifactPath))
                #expect(halvingArtifact.baseRounds == 4)
                #expect(try XGBoostBooster(modelJSON: #require(halvingArtifact.xgboostModel)).boostedRounds() == 8)
                let halvingLog = try HTTPHelpers.decoder.decode([TrainingLogLine].self, from: try await call(cluster, .GET, "/training/jobs/\(halving.id)/logs").body)
                #expect(halvingLog.filter { $0.message.contains("continuing its") }.count == 3, "2 on the second rung, 1 on the last")

                // The job list, newest first: the six jobs this test started (the refused ones wrote
                // nothing), filtered by type and status, paged with the total.
                @Sendable func jobPage(_ query: String) async throws -> TrainingJobPage {
                    let answer = try await call(cluster, .GET, "/training/jobs\(query)")
                    #expect(answer.status == 200, "\(query) → \(answer.status) \(answer.text)")
                    return try HTTPHelpers.decoder.decode(TrainingJobPage.self, from: answer.body)
                }
                let started = [first.id, long.id, retry.id, second.id, search.id, halving.id]
                let everything = try await jobPage("")
                #expect(everything.total == 6 && everything.jobs.map(\.id) == started.reversed())
                let cancelled = try await jobPage("?status=cancelled")
                #expect(cancelled.total == 2 && cancelled.jobs.map(\.id) == [retry.id, long.id])
                let logistic = try await jobPage("?type=logistic_regression&status=completed&modelName=build-risk")
                #expect(logistic.total == 1 && logistic.jobs.map(\.id) == [second.id])
                let middle = try await jobPage("?limit=2&offset=1")
                #expect(middle.total == 6 && middle.jobs.map(\.id) == Array(started.reversed()[1...2]))
                #expect(try await jobPage("?modelName=elsewhere").total == 0)
                #expect(try await call(cluster, .GET, "/training/jobs?status=finished").status == 400)
            }
            // No secret reached any of these services' logs, at any level.
            logs.expectNoSecrets(from: [.gateway, .sourceValidator, .ingestor, .featureExtractor, .trainingOrchestrator, .predictor])
        }
    }

    /// A schedule whose due times passed while no replica ran (three hourly ones): two replicas
    /// start at once and exactly one job is queued for it, and the next due time is the next
    /// full hour; a bad expression is refused and writes nothing.
    @Test func aScheduleDueWhileNoReplicaRanQueuesExactlyOneJobWhenTwoReplicasStart() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let logger = TestEnvironment.logger
        // A client per start: a connection to a stopped replica's server could still be answered by it.
        @Sendable func withOrchestrator<T: Sendable>(_ body: @Sendable (RPCClient) async throws -> T) async throws -> T {
            try await withTestHTTPClient { httpClient in
                try await body(RPCClient(httpClient: httpClient, baseURL: cluster.internalURL(.trainingOrchestrator), token: TestEnvironment.tokens.token(for: .gateway)))
            }
        }
        let data = TrainingDataSpec(repositories: [TrainingRepository(pipelineId: "1", fullName: "acme/nowhere")])
        @Sendable func create(_ cron: String) -> CreateTrainingScheduleParams {
            CreateTrainingScheduleParams(cron: cron, modelName: "hourly", parameters: TrainingParameters(kind: "logistic_regression"), data: data, createdBy: 7)
        }
        let schedule = try await withServices([try makeRuntime(.trainingOrchestrator, in: cluster)]) { try await withOrchestrator { client in
            for bad in ["0 * * *", "61 * * * *", "0 0 30 2 *"] {
                let refused = await #expect(throws: RPCClientError.self) { try await client.call(TrainingScheduleMethods.create, create(bad)) }
                if case .remote(let error)? = refused {
                    #expect(error.kind == .invalidInput && error.data?.reason?.hasPrefix("cron:") == true, "\(error)")
                } else {
                    Issue.record("\(bad): not a refusal: \(String(describing: refused))")
                }
            }
            #expect(try await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()).isEmpty)
            return try await client.call(TrainingScheduleMethods.create, create("0 * * * *"))
        } }
        #expect(schedule.nextDueAt.hasSuffix(":00:00.000Z"), "an hourly schedule is due on the hour: \(schedule.nextDueAt)")

        try await withClient(database.url(forSchema: "training_orchestrator")) { sql in
            // No replica ran through the last three due times: the row's next due time is two hours
            // before this hour's (which has passed too).
            let missedFrom = try #require(try await sql.query(
                """
                UPDATE training_orchestrator.training_schedules SET next_due_at = date_trunc('hour', now()) - interval '2 hours'
                WHERE id = \(schedule.id) RETURNING extract(epoch FROM next_due_at)::double precision
                """, logger: logger).collect().first?.decode(Double.self))
            let second = try makeRuntime(.trainingOrchestrator, in: cluster, overrides: ["TRAINING_ORCHESTRATOR_PORT": String(freePort())])
            try await withServices([try makeRuntime(.trainingOrchestrator, in: cluster), second]) { try await withOrchestrator { client in
                try await waitUntil("the schedule served its missed due time", timeout: .seconds(60)) {
                    (try? await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()))?.first?.lastJobId != nil
                }
                // Every tick due by now has run (both replicas armed the schedule at start).
                try await waitUntil("no due tick is left", timeout: .seconds(60)) {
                    try await sql.query(
                        """
                        SELECT count(*)::int8 FROM training_orchestrator.jobs
                        WHERE kind = 'training.scheduleTick' AND state IN ('queued', 'running') AND run_at <= now()
                        """, logger: logger).collect().first?.decode(Int64.self) == 0
                }
                let jobs = try await sql.query(
                    "SELECT id, extract(epoch FROM scheduled_for)::double precision FROM training_orchestrator.training_jobs WHERE schedule_id = \(schedule.id)",
                    logger: logger).collect().map { try $0.decode((Int64, Double).self) }
                #expect(jobs.count == 1, "one job for the missed due times, not one per due time or per replica: \(jobs)")
                #expect(jobs.first?.1 == missedFrom)
                let served = try #require(try await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()).first)
                #expect(served.lastJobId == jobs.first?.0)
                let next = try #require(ISO8601DateFormatter().date(from: served.nextDueAt.replacingOccurrences(of: ".000Z", with: "Z")))
                #expect(next.timeIntervalSince1970 > missedFrom + 2 * 3600 && next.timeIntervalSince(Date()) <= 3600 && served.nextDueAt.hasSuffix(":00:00.000Z"),
                        "the next due time is the next full hour: \(served.nextDueAt)")
                // The due times between the one served and the next (two, unless an hour turned meanwhile) are in its log.
                let skipped = Int(((next.timeIntervalSince1970 - missedFrom) / 3600).rounded()) - 1
                let job = try #require(jobs.first?.0)
                let firstLine = try await client.call(TrainingMethods.logs, TrainingLogsParams(jobId: job)).first?.message ?? ""
                #expect(firstLine.contains("queued by schedule \(schedule.id)") && firstLine.contains("\(skipped) later due times passed"), "\(firstLine)")
            } }
        }
    }

    @Test func retentionDeletesOldFinishedJobsAndOldLogLinesAndNothingElse() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let orchestrator = try makeRuntime(.trainingOrchestrator, in: cluster, overrides: ["TRAINING_RETENTION_INTERVAL_SECONDS": "1"])
        try await withServices([orchestrator]) {
            try await withClient(database.url(forSchema: "training_orchestrator")) { client in
                let logger = TestEnvironment.logger
                // (status, days since it ended (nil: still queued), whether the policy deletes it)
                let fixture: [(String, Int?, Bool)] = [
                    ("completed", 100, true), ("completed", 80, false), ("failed", 40, true), ("cancelled", 31, true),
                    ("failed", 20, false), ("queued", nil, false),
                ]
                // One transaction: the retention job (every second) sees the whole fixture or none of it.
                let ids = try await client.withTransaction(logger: logger) { connection in
                    var ids: [(Int64, Bool)] = []
                    for (status, days, deleted) in fixture {
                        let id = try await connection.query(
                            """
                            INSERT INTO training_orchestrator.training_jobs
                                (model_name, kind, status, priority, parameters, data_spec, estimated_seconds, created_by, created_at, finished_at)
                            VALUES ('build-risk', 'xgboost', \(status), 'normal', '{"kind":"xgboost"}', '{"repositories":[]}', 1, 1,
                                    now() - interval '200 days', now() - make_interval(days => \(days)::int))
                            RETURNING id
                            """, logger: logger).collect().first?.decode(Int64.self)
                        ids.append((try #require(id), deleted))
                    }
                    let keptCompleted = ids[1].0
                    for (job, days) in [(ids[0].0, 1), (keptCompleted, 10), (keptCompleted, 1)] {
                        try await connection.query(
                            "INSERT INTO training_orchestrator.job_logs (job_id, level, message, at) VALUES (\(job), 'info', 'line', now() - make_interval(days => \(days)::int))",
                            logger: logger)
                    }
                    try await connection.query(
                        """
                        INSERT INTO training_orchestrator.experiments (job_id, model_name, kind, parameters, metrics, history, data, training_seconds, created_by)
                        VALUES (\(ids[0].0), 'build-risk', 'xgboost', '{}', '{}', '[]', '{}', 1, 1)
                        """, logger: logger)
                    return ids
                }
                let kept = ids.filter { !$0.1 }.map(\.0)
                let keptCompleted = ids[1].0

                @Sendable func count(_ sql: String) async throws -> Int {
                    Int(try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect().first?.decode(Int64.self) ?? -1)
                }
                try await waitUntil("retention ran", timeout: .seconds(20)) {
                    let jobs = try await count("SELECT count(*)::int8 FROM training_orchestrator.training_jobs")
                    let lines = try await count("SELECT count(*)::int8 FROM training_orchestrator.job_logs")
                    return jobs == kept.count && lines == 1
                }
                let remaining = try await client.query("SELECT id FROM training_orchestrator.training_jobs ORDER BY id", logger: logger)
                    .collect().map { try $0.decode(Int64.self) }
                #expect(remaining == kept)
                let line = try await client.query("SELECT job_id FROM training_orchestrator.job_logs", logger: logger).collect().map { try $0.decode(Int64.self) }
                #expect(line == [keptCompleted])
                #expect(try await count("SELECT count(*)::int8 FROM training_orchestrator.experiments") == 1, "metrics are kept for ever")
            }
        }
    }
}
