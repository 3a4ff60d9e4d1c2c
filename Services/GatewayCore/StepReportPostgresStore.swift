import BuildRiskContracts
import BuildRiskRPC
import Foundation
import Logging
import PostgresNIO

/// A stored step report, as the REST API lists it.
public struct StoredStepReport: Codable, Sendable {
    public var report: StepReport
    public var receivedAt: Date
}

/// Step reports the services send through their outboxes, recorded once per message id.
public struct StepReportPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    /// Records a report; a report whose message id is already recorded is acknowledged as a duplicate.
    public func record(_ report: StepReport) async throws -> StepReportAck {
        for (field, value) in [("messageId", report.messageId), ("pipeline", report.pipeline), ("recordId", report.recordId), ("step", report.step)]
        where value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw RPCError(.invalidInput, "Invalid step report", reason: "\(field) must not be empty")
        }
        let rows = try await client.query(
            """
            INSERT INTO \(unescaped: schema).step_reports (message_id, service, pipeline, record_id, step, outcome, detail)
            VALUES (\(report.messageId), \(report.service.rawValue), \(report.pipeline), \(report.recordId), \(report.step),
                    \(report.outcome.rawValue), \(report.detail))
            ON CONFLICT (message_id) DO NOTHING
            RETURNING message_id
            """, logger: logger
        ).collect()
        return StepReportAck(messageId: report.messageId, duplicate: rows.isEmpty)
    }

    /// Reports of one record (or the newest of all when `recordId` is nil), oldest first.
    public func list(pipeline: String?, recordId: String?, limit: Int) async throws -> [StoredStepReport] {
        let rows = try await client.query(
            """
            SELECT message_id, service, pipeline, record_id, step, outcome, detail, received_at
            FROM \(unescaped: schema).step_reports
            WHERE (\(pipeline)::text IS NULL OR pipeline = \(pipeline)) AND (\(recordId)::text IS NULL OR record_id = \(recordId))
            ORDER BY received_at DESC LIMIT \(limit)
            """, logger: logger)
        var reports: [StoredStepReport] = []
        for try await row in rows.decode((String, String, String, String, String, String, String?, Date).self) {
            guard let service = ServiceName(rawValue: row.1), let outcome = StepOutcome(rawValue: row.5) else { continue }
            reports.append(StoredStepReport(
                report: StepReport(messageId: row.0, service: service, pipeline: row.2, recordId: row.3, step: row.4, outcome: outcome, detail: row.6),
                receivedAt: row.7))
        }
        return reports.reversed()
    }
}
