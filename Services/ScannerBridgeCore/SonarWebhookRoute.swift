import BuildRiskRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOFoundationCompat

/// The public receiver of SonarQube's webhook: a delivery is verified over its raw bytes before
/// anything is read or written, and then only queues the completion, so SonarQube's 10-second
/// delivery limit never waits on the measures.
struct SonarWebhookRoute: Sendable {
    let store: CommitScanPostgresStore
    let queue: JobQueue
    /// Nil when no secret is configured: every delivery is refused.
    let webhook: SonarWebhook?
    let logger: Logger

    static let path = "/webhooks/sonarqube"
    static let maxBody = 1 << 20

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in HTTPHelpers.json(["status": "ok", "service": "scanner-bridge"]) }
        router.post("/webhooks/sonarqube") { request, _ in try await receive(request) }
        return router
    }

    func receive(_ request: Request) async throws -> Response {
        let body = Data(buffer: try await request.body.collect(upTo: Self.maxBody))
        let signature = request.headers[HTTPField.Name(SonarWebhook.signatureHeader)!]
        let payload: SonarWebhookPayload
        do throws(SonarWebhookRefusal) {
            guard let webhook else { throw .badSignature }
            payload = try webhook.receive(body: body, signature: signature)
        } catch {
            logger.warning("SonarQube webhook refused", metadata: [
                "reason": "\(error)", "project": "\(request.headers[HTTPField.Name(SonarWebhook.projectHeader)!] ?? "-")",
            ])
            switch error {
            case .malformedPayload: return HTTPHelpers.json(["error": "bad_request", "reason": error.description], status: .badRequest)
            case .missingSignature, .badSignature: return HTTPHelpers.json(["error": "unauthorized", "reason": error.description], status: .unauthorized)
            }
        }
        guard let scan = try await store.sonarScan(ceTaskID: payload.taskId, projectKey: payload.project.key) else {
            logger.info("SonarQube webhook for a project the bridge did not submit", metadata: ["project": "\(payload.project.key)"])
            return HTTPHelpers.json(["status": "ignored", "reason": "no scan of project \(payload.project.key)"])
        }
        guard scan.status == .running else {
            return HTTPHelpers.json(["status": "ignored", "reason": "the scan already ended \(scan.status.rawValue)"])
        }
        // Keyed by the analysis: a repeated delivery queues nothing.
        try await queue.enqueue(
            ScanRunner.sonarResultJob, ScanRunner.WebhookJob(scanId: scan.id, ceTaskId: payload.taskId, status: payload.status),
            options: JobOptions(priority: 3, maxAttempts: ScanRunner.maxAttempts, idempotencyKey: "sonar-webhook:\(payload.taskId)"))
        return HTTPHelpers.json(["status": "accepted"])
    }
}
