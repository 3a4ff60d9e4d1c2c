import BuildRiskContracts
import BuildRiskRPC
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The routes of a service's internal port: health, readiness, metrics, admin and `/rpc`.
struct InternalRoutes: Sendable {
    let environment: ServiceEnvironment
    let dispatcher: RPCDispatcher
    let readiness: Readiness
    let adminAuthorizer: @Sendable (String) async -> Bool

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
        let rpc = RPCRoute(
            dispatcher: dispatcher, tokens: ServiceTokens(secret: environment.configuration.serviceSecret),
            maxBodyBytes: environment.configuration.rpcMaxBodyBytes)
        router.post("/rpc") { request, context in
            await rpc.respond(to: request, logger: context.logger)
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
