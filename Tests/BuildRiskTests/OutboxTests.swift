import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import PostgresNIO
import Testing

/// The outbox delivers a call until the receiver acknowledges it, once.
@Suite(.timeLimit(.minutes(13)), .dropsTestDatabases)
struct OutboxTests {
    @Test func aMessageSurvivesARestartOfTheReceiverAndIsDeliveredOnce() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let ingestor = try makeRuntime(.ingestor, in: cluster)
        @Sendable func reportCount(_ messageId: String) async throws -> Int {
            try await withClient(database.url(forSchema: "gateway")) { client in
                Int(try await client.query("SELECT count(*)::int8 FROM gateway.step_reports WHERE message_id = \(messageId)", logger: TestEnvironment.logger)
                    .collect().first?.decode(Int64.self) ?? 0)
            }
        }
        // The gateway runs once, so its tables exist, and stops.
        try await withServices([try makeRuntime(.gateway, in: cluster)]) {}

        try await withServices([ingestor]) {
            let queue = ingestor.environment.queue
            let report = StepReport(messageId: "ingestor:build-9", service: .ingestor, pipeline: "model", recordId: "9", step: "ingest", outcome: .partial, detail: "2 builds missing logs")
            let id = try await ingestor.environment.postgres.withTransaction(logger: TestEnvironment.logger) { connection in
                try await Outbox.enqueue(to: .gateway, GatewayMethods.reportStep, report, key: report.messageId, queue: queue, on: connection)
            }
            let jobID = try #require(id)
            // The gateway is down: delivery fails and is retried.
            try await waitUntil("delivery was tried twice") { (try await queue.job(jobID)?.attempts ?? 0) >= 2 }
            let pending = try #require(try await queue.job(jobID))
            #expect(pending.state == .queued || pending.state == .running)
            #expect(pending.lastError != nil)
            #expect(try await reportCount(report.messageId) == 0)

            // The gateway comes back on the same port; the next attempt is acknowledged.
            try await withServices([try makeRuntime(.gateway, in: cluster)]) {
                try await waitUntil("the message was delivered", timeout: .seconds(30)) { try await queue.job(jobID)?.state == .succeeded }
                #expect(try await reportCount(report.messageId) == 1)
                // Enqueuing the same message again enqueues nothing; a redelivery is not recorded twice.
                let again = try await ingestor.environment.postgres.withConnection { connection in
                    try await Outbox.enqueue(to: .gateway, GatewayMethods.reportStep, report, key: report.messageId, queue: queue, on: connection)
                }
                #expect(again == nil)
                let ack = try await ingestor.environment.directory.client(for: .gateway).call(GatewayMethods.reportStep, report)
                #expect(ack.duplicate)
                #expect(try await reportCount(report.messageId) == 1)
            }
        }
    }

    @Test func aMessageTheReceiverRefusesIsDeadAtOnce() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let ingestor = try makeRuntime(.ingestor, in: cluster)
        let gateway = try makeRuntime(.gateway, in: cluster)
        try await withServices([gateway, ingestor]) {
            let queue = ingestor.environment.queue
            let invalid = StepReport(messageId: "", service: .ingestor, pipeline: "model", recordId: "1", step: "ingest", outcome: .failed)
            let id = try await ingestor.environment.postgres.withConnection { connection in
                try await Outbox.enqueue(to: .gateway, GatewayMethods.reportStep, invalid, key: "refused-1", queue: queue, on: connection)
            }
            let jobID = try #require(id)
            try await waitUntil("the refused message is dead") { try await queue.job(jobID)?.state == .dead }
            let job = try #require(try await queue.job(jobID))
            #expect(job.attempts == 1)
            #expect(job.lastError?.contains("messageId must not be empty") == true)
        }
    }
}
