import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The request context of the public API: who is calling, once authenticated.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var user: User?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        user = nil
    }
}

/// One service's line in `GET /api/v1/system/status`.
public struct ServiceStatus: Codable, Sendable {
    public var service: ServiceName
    public var url: String
    public var ready: Bool
    public var report: ReadinessReport?
    /// Why the service could not be asked, when it could not.
    public var error: String?
}

/// The answer of `GET /api/v1/system/status`.
public struct SystemStatus: Codable, Sendable {
    public var ready: Bool
    public var services: [ServiceStatus]
}

/// The gateway's public REST API (plain HTTP/1.1 on `GATEWAY_PUBLIC_PORT`).
struct PublicRoutes: Sendable {
    let environment: ServiceEnvironment
    let users: UserPostgresStore
    let reports: StepReportPostgresStore
    let repositories: RepositoryConfigPostgresStore

    func router() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.get("/health") { _, _ in
            HTTPHelpers.json(["status": "ok", "service": "gateway"])
        }
        let api = router.group("/api/v1").add(middleware: TokenAuthMiddleware(users: users))
        api.get("/me") { _, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            return HTTPHelpers.json(user)
        }
        api.get("/system/status") { _, _ in
            HTTPHelpers.json(await systemStatus())
        }
        addUserRoutes(api)
        RepositoryRoutes(environment: environment, repositories: repositories).add(to: api)
        BuildSourceRoutes(environment: environment).add(to: api)
        addTokenRoutes(api)
        api.get("/pipeline/reports") { request, context in
            guard context.user?.role == .admin else { return forbidden() }
            let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 100, 1), 1000)
            let list = try await reports.list(
                pipeline: request.uri.queryParameters.get("pipeline"),
                recordId: request.uri.queryParameters.get("recordId"), limit: limit)
            return HTTPHelpers.json(list)
        }
        return router
    }

    /// Asks every service for its readiness over RPC, all at once, each with a short deadline.
    func systemStatus() async -> SystemStatus {
        let directory = environment.directory
        let urls = environment.configuration.serviceURLs
        let statuses = await withTaskGroup(of: ServiceStatus.self) { group in
            for service in ServiceName.allCases {
                group.addTask {
                    let url = urls[service] ?? ""
                    do {
                        let report = try await directory.client(for: service).call(SystemMethods.readiness, Empty(), timeout: .seconds(3))
                        return ServiceStatus(service: service, url: url, ready: report.ready, report: report, error: nil)
                    } catch {
                        return ServiceStatus(service: service, url: url, ready: false, report: nil, error: String(describing: error))
                    }
                }
            }
            var statuses: [ServiceStatus] = []
            for await status in group { statuses.append(status) }
            return statuses
        }
        let ordered = ServiceName.allCases.compactMap { name in statuses.first { $0.service == name } }
        return SystemStatus(ready: ordered.allSatisfy { $0.ready }, services: ordered)
    }

    private func addUserRoutes(_ api: RouterGroup<GatewayRequestContext>) {
        struct CreateUser: Decodable {
            var username: String
            var role: UserRole?
        }
        struct CreatedUser: Encodable {
            var user: User
            var token: String
        }
        api.get("/users") { _, context in
            guard context.user?.role == .admin else { return forbidden() }
            return HTTPHelpers.json(try await users.listUsers())
        }
        api.post("/users") { request, context in
            guard context.user?.role == .admin else { return forbidden() }
            let body: CreateUser
            do {
                body = try await request.decode(as: CreateUser.self, context: context)
            } catch {
                return HTTPHelpers.error(.badRequest, "invalid_body", "expected {\"username\": string, \"role\": \"admin\"|\"user\"}: \(error)")
            }
            do {
                let (user, token) = try await users.createUser(username: body.username, role: body.role ?? .user)
                return HTTPHelpers.json(CreatedUser(user: user, token: token), status: .created)
            } catch UserStoreError.invalidUsername(let reason) {
                return HTTPHelpers.error(.badRequest, "invalid_username", reason)
            } catch UserStoreError.duplicateUsername(let name) {
                return HTTPHelpers.error(.conflict, "duplicate_username", "a user named '\(name)' exists")
            }
        }
    }

    private func addTokenRoutes(_ api: RouterGroup<GatewayRequestContext>) {
        struct CreateToken: Decodable {
            var name: String
        }
        struct CreatedToken: Encodable {
            var id: Int64
            var name: String
            var token: String
        }
        api.get("/tokens") { _, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            return HTTPHelpers.json(try await users.listTokens(userID: user.id))
        }
        api.post("/tokens") { request, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            guard let body = try? await request.decode(as: CreateToken.self, context: context),
                (1...100).contains(body.name.count)
            else {
                return HTTPHelpers.error(.badRequest, "invalid_body", "expected {\"name\": string of 1–100 characters}")
            }
            let (id, token) = try await users.createToken(userID: user.id, name: body.name)
            return HTTPHelpers.json(CreatedToken(id: id, name: body.name, token: token), status: .created)
        }
        api.delete("/tokens/{id}") { _, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return HTTPHelpers.error(.badRequest, "invalid_id", "token id must be an integer")
            }
            guard try await users.revokeToken(id: id, userID: user.id) else {
                return HTTPHelpers.error(.notFound, "not_found", "you have no active token \(id)")
            }
            return Response(status: .noContent)
        }
    }

    private func forbidden() -> Response {
        HTTPHelpers.error(.forbidden, "forbidden", "this route needs an admin token")
    }
}

/// Every `/api/v1` route needs a valid API token.
struct TokenAuthMiddleware: RouterMiddleware {
    let users: UserPostgresStore

    func handle(_ request: Request, context: GatewayRequestContext, next: (Request, GatewayRequestContext) async throws -> Response) async throws -> Response {
        guard let token = HTTPHelpers.bearerToken(request) else {
            return HTTPHelpers.error(.unauthorized, "unauthenticated", "send an API token: Authorization: Bearer <token>")
        }
        guard let user = try await users.authenticate(token: token) else {
            return HTTPHelpers.error(.unauthorized, "unauthenticated", "the API token is unknown or revoked")
        }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}
