import BuildRiskRuntime
import Foundation
import Hummingbird

/// The request context of the public API before authentication: who is calling, once known.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``TokenAuthMiddleware``.
    public var user: User?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        user = nil
    }

    public var responseEncoder: JSONEncoder { HTTPHelpers.encoder }
    public var requestDecoder: JSONDecoder { HTTPHelpers.decoder }
}

/// The context of every authenticated route: its user is not optional. Made from the parent
/// context after ``TokenAuthMiddleware``; a request that reached it without a user is refused.
public struct AuthenticatedContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let user: User

    public init(context: GatewayRequestContext) throws {
        guard let user = context.user else { throw APIError.unauthenticated("send an API token: Authorization: Bearer <token>") }
        coreContext = context.coreContext
        self.user = user
    }

    public var responseEncoder: JSONEncoder { HTTPHelpers.encoder }
    public var requestDecoder: JSONDecoder { HTTPHelpers.decoder }

    /// nil (everything) for an admin, the user's id otherwise: whose records the caller may see.
    var visibility: Int64? { user.role == .admin ? nil : user.id }

    /// Refuses a caller who is not an admin.
    func requireAdmin(_ reason: String = "this route needs an admin token") throws {
        guard user.role == .admin else { throw APIError.forbidden(reason) }
    }

    /// The integer path parameter `name` (e.g. a repository id).
    func id(_ name: String = "id", of what: String) throws -> Int64 {
        guard let id = parameters.get(name, as: Int64.self) else { throw APIError.invalidId(what) }
        return id
    }
}

/// Every `/api/v1` route needs a valid API token.
struct TokenAuthMiddleware: RouterMiddleware {
    let users: UserPostgresStore

    func handle(_ request: Request, context: GatewayRequestContext, next: (Request, GatewayRequestContext) async throws -> Response) async throws -> Response {
        guard let token = HTTPHelpers.bearerToken(request) else {
            throw APIError.unauthenticated("send an API token: Authorization: Bearer <token>")
        }
        guard let user = try await users.authenticate(token: token) else {
            throw APIError.unauthenticated("the API token is unknown or revoked")
        }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}
