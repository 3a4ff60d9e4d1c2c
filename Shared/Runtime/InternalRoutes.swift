import BuildRiskContracts
import BuildRiskRPC
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The routes of a service's internal port: `POST /rpc` straight to the dispatcher, and health,
/// readiness, metrics and admin through a Hummingbird router.
struct InternalRoutes: Sendable {
    let environment: ServiceEnvironment
    let dispatcher: RPCDispatcher
    let readiness: Readiness
    let adminAuthorizer: @Sendable (String) async -> Bool

    /// What ``InternalHTTPServer`` runs for each request.
    func responder() -> InternalResponder {
        let rpc = RPCRoute(
            dispatcher: dispatcher, tokens: ServiceTokens(secret: environment.configuration.serviceSecret),
            maxBodyBytes: environment.configuration.rpcMaxBodyBytes)
        let routes = router().buildResponder()
        let metrics = environment.metrics
        let logger = environment.logger
        return { request in
            if request.head.method == .post, request.head.path == "/rpc" {
                let start = ContinuousClock.now
                let response = await rpc.respond(to: request, logger: logger)
                metrics.recordRequest(method: "POST", route: "/rpc", status: response.head.status.code, duration: ContinuousClock.now - start)
                return response
            }
            return await Self.respond(to: request, with: routes, logger: logger)
        }
    }

    /// Runs a request through a Hummingbird responder and gathers its response.
    static func respond(to request: InternalRequest, with responder: some HTTPResponder<BasicRequestContext>, logger: Logger) async -> InternalResponse {
        guard let body = request.body else {
            return InternalResponse(
                head: HTTPResponse(status: .contentTooLarge, headerFields: [.contentType: "application/json; charset=utf-8"]),
                body: ByteBuffer(string: #"{"error":"too_large","reason":"the request body exceeds the limit"}"#))
        }
        let hummingbirdRequest = Request(head: request.head, body: RequestBody(buffer: body))
        let context = BasicRequestContext(source: ApplicationRequestContextSource(channel: request.channel, logger: logger))
        let response: Response
        do {
            response = try await responder.respond(to: hummingbirdRequest, context: context)
        } catch let error as any HTTPResponseError {
            response = (try? error.response(from: hummingbirdRequest, context: context)) ?? Response(status: error.status)
        } catch {
            logger.error("internal route failed", metadata: ["path": "\(request.head.path ?? "")", "error": "\(error)"])
            response = HTTPHelpers.error(.internalServerError, "internal_error", "\(error)")
        }
        let collector = BodyCollector()
        do {
            try await response.body.write(collector)
        } catch {
            return InternalResponse(head: HTTPResponse(status: .internalServerError), body: ByteBuffer())
        }
        return InternalResponse(head: response.head, body: collector.buffer)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RequestMetricsMiddleware(metrics: environment.metrics))
        let service = environment.configuration.service

        router.get("/health") { _, _ in
            HTTPHelpers.json(["status": "ok", "service": service.rawValue])
        }
        router.get("/ready") { _, _ in
            let report = await readiness.report()
            return HTTPHelpers.json(report, status: report.ready ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            if let counts = try? await environment.queue.counts() {
                environment.metrics.updateJobs(counts)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: environment.metrics.render())))
        }
        addAdminRoutes(to: router.group("/admin").add(middleware: AdminMiddleware(authorize: adminAuthorizer)))
        return router
    }

    private func addAdminRoutes(to admin: RouterGroup<BasicRequestContext>) {
        let queue = environment.queue
        let service = environment.configuration.service
        struct JobCounts: Encodable {
            var service: String
            var byState: [String: Int]
            var byKind: [String: [String: Int]]
        }
        admin.get("/jobs") { _, _ in
            let byKind = try await queue.counts()
            var byState = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, 0) })
            for states in byKind.values {
                for (state, count) in states { byState[state, default: 0] += count }
            }
            return HTTPHelpers.json(JobCounts(service: service.rawValue, byState: byState, byKind: byKind))
        }
        admin.get("/jobs/dead") { request, _ in
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
            return HTTPHelpers.json(try await queue.list(state: .dead, limit: min(max(limit, 1), 1000)))
        }
        admin.get("/jobs/state/{state}") { request, context in
            guard let state = context.parameters.get("state").flatMap(JobState.init(rawValue:)) else {
                return HTTPHelpers.error(.badRequest, "invalid_state", "state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
            return HTTPHelpers.json(try await queue.list(state: state, limit: min(max(limit, 1), 1000)))
        }
        admin.get("/jobs/{id}") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return HTTPHelpers.error(.badRequest, "invalid_id", "job id must be an integer")
            }
            guard let job = try await queue.job(id) else {
                return HTTPHelpers.error(.notFound, "not_found", "no job \(id)")
            }
            return HTTPHelpers.json(job)
        }
        admin.post("/jobs/{id}/retry") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return HTTPHelpers.error(.badRequest, "invalid_id", "job id must be an integer")
            }
            if try await queue.retry(job: id) {
                return HTTPHelpers.json(["id": id], status: .accepted)
            }
            guard let job = try await queue.job(id) else {
                return HTTPHelpers.error(.notFound, "not_found", "no job \(id)")
            }
            return HTTPHelpers.error(.conflict, "not_retryable", "job \(id) is \(job.state.rawValue); only dead or cancelled jobs can be retried")
        }
        admin.post("/jobs/{id}/cancel") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return HTTPHelpers.error(.badRequest, "invalid_id", "job id must be an integer")
            }
            if let previous = try await queue.cancel(job: id) {
                let outcome = previous == .queued ? "cancelled" : "cancel_requested"
                return HTTPHelpers.json(["id": String(id), "outcome": outcome], status: .accepted)
            }
            guard let job = try await queue.job(id) else {
                return HTTPHelpers.error(.notFound, "not_found", "no job \(id)")
            }
            return HTTPHelpers.error(.conflict, "not_cancellable", "job \(id) is \(job.state.rawValue); only queued or running jobs can be cancelled")
        }
    }
}

/// Lets a request through only with a bearer token the authorizer accepts.
struct AdminMiddleware<Context: RequestContext>: RouterMiddleware {
    let authorize: @Sendable (String) async -> Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = HTTPHelpers.bearerToken(request) else {
            return HTTPHelpers.error(.unauthorized, "unauthenticated", "admin endpoints need Authorization: Bearer <admin token>")
        }
        guard await authorize(token) else {
            return HTTPHelpers.error(.forbidden, "forbidden", "this token may not use admin endpoints")
        }
        return try await next(request, context)
    }
}

/// Gathers a Hummingbird response body into one buffer.
private final class BodyCollectorStorage: @unchecked Sendable {
    var buffer = ByteBuffer()
}

private struct BodyCollector: ResponseBodyWriter {
    let storage = BodyCollectorStorage()
    var buffer: ByteBuffer { storage.buffer }

    mutating func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        storage.buffer.writeBuffer(&buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
