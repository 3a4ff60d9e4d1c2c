import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import PostgresNIO
import Synchronization
import Testing
import TrainingOrchestratorCore

/// Made-up training data (builds fail when `a` plus a little noise is high), so a test trains in
/// well under a second; it notes the order in which jobs load their data (by the first
/// repository's name), and holds the load of a repository named `hold/…` until released.
final class MadeUpTrainingData: TrainingDataSource {
    let loads = Mutex<[String]>([])
    let released = Mutex(false)
    /// Released with it: another replica's data, whose loads are logged apart.
    private let partner: MadeUpTrainingData?

    init(releasedWith partner: MadeUpTrainingData? = nil) { self.partner = partner }

    func release() { released.withLock { $0 = true } }

    var isReleased: Bool { released.withLock { $0 } || partner?.isReleased == true }

    func load(_ spec: TrainingDataSpec) async throws -> TrainingData {
        let name = spec.repositories.first?.fullName ?? ""
        loads.withLock { $0.append(name) }
        while name.hasPrefix("hold/"), !isReleased {
            try await Task.sleep(for: .milliseconds(50))
        }
        var random = SplitMix64(seed: 11)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) }
        func table(_ rows: Int) throws -> LabeledTable {
            var a: [Double] = [], b: [Double] = [], failed: [Bool] = [], branches: [String] = []
            for row in 0..<rows {
                let (x, y) = (uniform(), uniform())
                a.append(x)
                b.append(y)
                failed.append(x + 0.3 * uniform() > 0.7)
                branches.append(row % 3 == 0 ? "made/up#dev" : "made/up#main")
            }
            return try LabeledTable(
                table: FeatureTable(rowCount: rows, columns: [.numeric(name: "a", values: a), .numeric(name: "b", values: b)]), failed: failed,
                branches: branches, repositories: Array(repeating: "made/up", count: rows))
        }
        let summary = TrainingDataSummary(
            repositories: spec.repositories.map(\.fullName), from: nil, to: nil, buildCount: 200, trainingCount: 120, validationCount: 40,
            testCount: 40, excludedCount: 0, dagVersion: nil, features: ["a", "b"])
        return TrainingData(training: try table(120), validation: try table(40), test: try table(40), summary: summary)
    }
}

/// The training-orchestrator alone on made-up data: the queue's order under load, and schedules
/// that continue from a base version named by number or alias.
@Suite(.timeLimit(.minutes(10)), .dropsTestDatabases)
struct TrainingQueueTests {
    /// Runs the training-orchestrator on `data` until `body` returns.
    func withOrchestrator<T: Sendable>(
        _ cluster: TestCluster, _ data: MadeUpTrainingData, overrides: [String: String] = [:], _ body: @Sendable (RPCClient) async throws -> T
    ) async throws -> T {
        let runtime = try makeRuntime(
            .trainingOrchestrator, in: cluster, definition: TrainingOrchestratorService.definition(dataSource: { _ in data }), overrides: overrides)
        return try await withServices([runtime]) {
            try await withTestHTTPClient { httpClient in
                try await body(RPCClient(
                    httpClient: httpClient, baseURL: cluster.internalURL(.trainingOrchestrator), token: TestEnvironment.tokens.token(for: .gateway)))
            }
        }
    }

    func start(_ client: RPCClient, _ repository: String, _ parameters: TrainingParameters, priority: TrainingPriority = .normal, baseVersion: Int? = nil,
               modelName: String = "queued") async throws -> TrainingJobRecord {
        try await client.call(TrainingMethods.start, StartTrainingParams(
            modelName: modelName, parameters: parameters, data: TrainingDataSpec(repositories: [TrainingRepository(pipelineId: "1", fullName: repository)]),
            priority: priority, baseVersion: baseVersion, createdBy: 7))
    }

    func waitForEnd(_ client: RPCClient, _ id: Int64) async throws -> TrainingJobRecord {
        try await waitUntil("training job \(id) ends", timeout: .seconds(120)) {
            guard let job = try? await client.call(TrainingMethods.get, TrainingJobRef(jobId: id)) else { return false }
            return [.completed, .failed, .cancelled].contains(job.status)
        }
        return try await client.call(TrainingMethods.get, TrainingJobRef(jobId: id))
    }

    /// Twelve jobs of all four priorities queued while the replica's one training slot is taken:
    /// they start one at a time, urgent before high before normal before low, and within a
    /// priority in the order they were queued.
    @Test func queuedJobsStartByPriorityThenOldestFirstOneAtATime() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let data = MadeUpTrainingData()
        let fixture: [TrainingPriority] = [.normal, .low, .urgent, .high, .low, .normal, .urgent, .high, .normal, .low, .high, .urgent]
        let rank: [TrainingPriority: Int] = [.urgent: 0, .high: 1, .normal: 2, .low: 3]
        let expected = fixture.indices.sorted { (rank[fixture[$0]]!, $0) < (rank[fixture[$1]]!, $1) }.map { "queue/job-\($0)" }
        let cheap = TrainingParameters(kind: "logistic_regression", maxIterations: 20, bootstrapModels: 0)

        try await withOrchestrator(cluster, data, overrides: ["TRAINING_WORKERS": "1"]) { client in
            // The one slot is held by a job whose data load waits, so every other job is queued before any starts.
            let holder = try await start(client, "hold/slot", cheap, priority: .low)
            try await waitUntil("the holding job runs", timeout: .seconds(60)) { data.loads.withLock { $0 } == ["hold/slot"] }
            var ids: [Int64] = []
            for (index, priority) in fixture.enumerated() {
                ids.append(try await start(client, "queue/job-\(index)", cheap, priority: priority).id)
            }
            let stats = try await client.call(TrainingMethods.stats, Empty())
            #expect(stats.running == 1 && stats.queued == fixture.count && stats.capacity == 1, "\(stats)")
            data.release()

            var jobs = [try await waitForEnd(client, holder.id)]
            for id in ids { jobs.append(try await waitForEnd(client, id)) }
            #expect(jobs.allSatisfy { $0.status == .completed }, "\(jobs.map { "\($0.id): \($0.status) \($0.error ?? "")" })")
            #expect(data.loads.withLock { $0 } == ["hold/slot"] + expected)
            // The database says the same: started in that order, each after the one before it finished.
            let byStart = jobs.sorted { ($0.startedAt ?? "", $0.id) < ($1.startedAt ?? "", $1.id) }
            #expect(byStart.map { $0.data.repositories[0].fullName } == ["hold/slot"] + expected)
            for (earlier, later) in zip(byStart, byStart.dropFirst()) {
                #expect((later.startedAt ?? "") >= (earlier.finishedAt ?? "~"), "job \(later.id) started before job \(earlier.id) ended")
            }
        }
    }

    /// Two replicas, one training slot each, sharing the queue: two jobs hold both slots while
    /// twelve of all priorities are queued; released, both replicas train, and the jobs start in
    /// priority order, oldest first within one (two replicas claiming at once may swap
    /// neighbours, never more), never more than two at a time.
    @Test func twoReplicasShareTheQueueInPriorityOrder() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let first = MadeUpTrainingData()
        let second = MadeUpTrainingData(releasedWith: first)
        let fixture: [TrainingPriority] = [.low, .normal, .urgent, .high, .low, .urgent, .normal, .high, .low, .normal, .urgent, .high]
        let rank: [TrainingPriority: Int] = [.urgent: 0, .high: 1, .normal: 2, .low: 3]
        let expected = fixture.indices.sorted { (rank[fixture[$0]]!, $0) < (rank[fixture[$1]]!, $1) }.map { "queue/job-\($0)" }
        let cheap = TrainingParameters(kind: "logistic_regression", maxIterations: 20, bootstrapModels: 0, sequenceEpochs: 0)
        let other = try makeRuntime(
            .trainingOrchestrator, in: cluster, definition: TrainingOrchestratorService.definition(dataSource: { _ in second }),
            overrides: ["TRAINING_WORKERS": "1", "TRAINING_ORCHESTRATOR_PORT": String(freePort())])
        try await withServices([other]) {
            try await withOrchestrator(cluster, first, overrides: ["TRAINING_WORKERS": "1"]) { client in
                let holders = [try await start(client, "hold/one", cheap, priority: .low), try await start(client, "hold/two", cheap, priority: .low)]
                try await waitUntil("both replicas hold a slot", timeout: .seconds(60)) {
                    first.loads.withLock { $0.count } == 1 && second.loads.withLock { $0.count } == 1
                }
                var ids: [Int64] = []
                for (index, priority) in fixture.enumerated() {
                    ids.append(try await start(client, "queue/job-\(index)", cheap, priority: priority).id)
                }
                first.release()
                var jobs: [TrainingJobRecord] = []
                for id in holders.map(\.id) + ids { jobs.append(try await waitForEnd(client, id)) }
                #expect(jobs.allSatisfy { $0.status == .completed }, "\(jobs.map { "\($0.id): \($0.status) \($0.error ?? "")" })")
                let trainedBy = (first.loads.withLock { $0 }.count - 1, second.loads.withLock { $0 }.count - 1)
                #expect(trainedBy.0 > 0 && trainedBy.1 > 0 && trainedBy.0 + trainedBy.1 == fixture.count, "\(trainedBy)")
                let byStart = jobs.dropFirst(2).sorted { ($0.startedAt ?? "", $0.id) < ($1.startedAt ?? "", $1.id) }.map { $0.data.repositories[0].fullName }
                for (position, name) in byStart.enumerated() {
                    let wanted = try #require(expected.firstIndex(of: name))
                    #expect(abs(wanted - position) <= 1, "\(name) started \(position + 1)th, its place is \(wanted + 1): \(byStart)")
                }
                // Never more than one training per replica: at each start, at most one other job runs.
                for job in jobs {
                    let start = job.startedAt ?? ""
                    let running = jobs.filter { $0.id != job.id && ($0.startedAt ?? "~") <= start && start < ($0.finishedAt ?? "") }
                    #expect(running.count <= 1, "job \(job.id) started while \(running.map(\.id)) ran")
                }
            }
        }
    }

    /// A schedule whose base is the alias `champion` follows the alias: created while it names
    /// version 1, fired after it moved to version 3, its job continues version 3's trees. Once the
    /// alias is gone, a schedule's tick (due every minute) fires, queues no job and the schedule
    /// says why. A base that does not resolve at creation is refused and writes nothing.
    @Test func aScheduleContinuesFromItsBaseAsResolvedWhenItFires() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let data = MadeUpTrainingData()
        let logger = TestEnvironment.logger
        @Sendable func trees(_ rounds: Int) -> TrainingParameters { TrainingParameters(kind: "xgboost", rounds: rounds, bootstrapModels: 0) }
        let schedule = try await withOrchestrator(cluster, data) { client in
            // Version 1: XGBoost, 5 rounds; 2: logistic regression; 3: XGBoost, 4 rounds.
            for (number, parameters) in [trees(5), TrainingParameters(kind: "logistic_regression", bootstrapModels: 0), trees(4)].enumerated() {
                let job = try await waitForEnd(client, try await start(client, "made/up", parameters, modelName: "nightly").id)
                #expect(job.status == .completed && job.modelVersion == number + 1, "\(job.error ?? "")")
            }
            _ = try await client.call(ModelRegistryMethods.setAlias, ModelAliasParams(modelName: "nightly", alias: "champion", version: 1))
            _ = try await client.call(ModelRegistryMethods.setAlias, ModelAliasParams(modelName: "nightly", alias: "linear", version: 2))
            func create(_ base: String?, kind: String = "xgboost") -> CreateTrainingScheduleParams {
                CreateTrainingScheduleParams(
                    cron: "0 0 1 1 *", modelName: "nightly", parameters: TrainingParameters(kind: kind, rounds: 3, bootstrapModels: 0),
                    data: TrainingDataSpec(repositories: [TrainingRepository(pipelineId: "1", fullName: "made/up")]), base: base, createdBy: 7)
            }
            // Refused, each with its reason, and nothing written.
            let refusals: [(CreateTrainingScheduleParams, String)] = [
                (create("challenger"), "no alias challenger"), (create("9"), "no version 9"), (create("linear"), "not XGBoost"),
                (create("2"), "not XGBoost"), (create("champion", kind: "logistic_regression"), "only an XGBoost"), (create("0"), "at least 1"),
                (create("no way"), "neither a version number nor an alias"),
            ]
            for (params, reason) in refusals {
                let refused = await #expect(throws: RPCClientError.self) { try await client.call(TrainingScheduleMethods.create, params) }
                if case .remote(let error)? = refused {
                    #expect(error.kind == .invalidInput && error.data?.reason?.contains(reason) == true, "\(params.base ?? "nil"): \(error)")
                } else {
                    Issue.record("\(params.base ?? "nil"): not a refusal: \(String(describing: refused))")
                }
            }
            #expect(try await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()).isEmpty)
            // A version number is accepted as well as an alias (written with or without '@').
            let byNumber = try await client.call(TrainingScheduleMethods.create, create("1"))
            #expect(byNumber.base == "1")
            _ = try await client.call(TrainingScheduleMethods.delete, TrainingScheduleRef(scheduleId: byNumber.id))
            let created = try await client.call(TrainingScheduleMethods.create, create("@champion"))
            #expect(created.base == "champion" && created.lastJobId == nil)
            // The alias moves after the schedule was created.
            _ = try await client.call(ModelRegistryMethods.setAlias, ModelAliasParams(modelName: "nightly", alias: "champion", version: 3))
            return created
        }

        try await withClient(database.url(forSchema: "training_orchestrator")) { sql in
            // Its due time passed while no replica ran: the next start serves it at once.
            try await sql.query(
                """
                UPDATE training_orchestrator.training_schedules SET next_due_at = date_trunc('hour', now()) - interval '1 hour'
                WHERE id = \(schedule.id)
                """, logger: logger)
            try await withOrchestrator(cluster, data) { client in
                try await waitUntil("the schedule queued its job", timeout: .seconds(60)) {
                    (try? await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()))?.first?.lastJobId != nil
                }
                let served = try #require(try await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()).first { $0.id == schedule.id })
                let job = try await waitForEnd(client, try #require(served.lastJobId))
                #expect(job.status == .completed && job.baseVersion == 3 && job.modelVersion == 4, "\(job.error ?? "")")
                let firstLine = try await client.call(TrainingMethods.logs, TrainingLogsParams(jobId: job.id)).first?.message ?? ""
                #expect(firstLine.contains("continuing from version 3 (@champion)"), "\(firstLine)")
                let version = try #require(try await client.call(ModelRegistryMethods.versions, ModelVersionsParams(modelName: "nightly")).first { $0.version == 4 })
                #expect(version.baseVersion == 3)
                // Version 3's 4 rounds and the schedule's 3 more.
                let artifact = try ModelArtifact.load(from: URL(fileURLWithPath: cluster.dataDirectory).appending(path: version.artifactPath))
                #expect(artifact.baseRounds == 4)
                #expect(try XGBoostBooster(modelJSON: #require(artifact.xgboostModel)).boostedRounds() == 7)
                // A schedule due every minute, created while its base resolves and paused while the
                // alias goes (so no tick fires in between); resumed, its next tick finds no base,
                // queues no job and says why.
                let minutely = try await client.call(TrainingScheduleMethods.create, CreateTrainingScheduleParams(
                    cron: "* * * * *", modelName: "nightly", parameters: trees(3),
                    data: TrainingDataSpec(repositories: [TrainingRepository(pipelineId: "1", fullName: "made/up")]), base: "champion", createdBy: 7)).id
                _ = try await client.call(TrainingScheduleMethods.setPaused, PauseTrainingScheduleParams(scheduleId: minutely, paused: true))
                _ = try await client.call(ModelRegistryMethods.removeAlias, ModelAliasParams(modelName: "nightly", alias: "champion"))
                _ = try await client.call(TrainingScheduleMethods.setPaused, PauseTrainingScheduleParams(scheduleId: minutely, paused: false))
                try await waitUntil("the minutely schedule's tick fired", timeout: .seconds(150)) {
                    (try? await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()))?.first { $0.id == minutely }?.lastSkipReason != nil
                }
                let skipped = try #require(try await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()).first { $0.id == minutely })
                #expect(skipped.lastSkipReason?.contains("@champion") == true && skipped.lastSkipReason?.contains("no alias champion") == true, "\(skipped)")
                #expect(skipped.lastSkippedAt?.hasSuffix(":00.000Z") == true && skipped.lastJobId == nil && skipped.lastDueAt == nil, "\(skipped)")
                let queued = try await sql.query(
                    "SELECT count(*)::int8 FROM training_orchestrator.training_jobs WHERE schedule_id = \(minutely)", logger: logger).collect().first?.decode(Int64.self)
                #expect(queued == 0, "no job was queued for the skipped due time")
                // The first schedule is untouched by it: its last job is the one it queued.
                #expect(try await client.call(TrainingScheduleMethods.list, ListTrainingSchedulesParams()).first { $0.id == schedule.id }?.lastJobId == job.id)
            }
        }
    }
}
