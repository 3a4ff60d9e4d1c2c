import Hummingbird

/// `/api/v1/users` (admins) and `/api/v1/tokens` (the caller's own API tokens).
struct UserController: Sendable {
    let users: UserPostgresStore

    struct CreateUser: Decodable {
        var username: String
        var role: UserRole?
    }

    struct CreatedUser: ResponseEncodable {
        var user: User
        var token: String
    }

    struct CreateToken: Decodable {
        var name: String
    }

    struct CreatedToken: ResponseEncodable {
        var id: Int64
        var name: String
        var token: String
    }

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.get("/users", use: listUsers)
        api.post("/users", use: createUser)
        api.get("/tokens", use: listTokens)
        api.post("/tokens", use: createToken)
        api.delete("/tokens/{id}", use: revokeToken)
    }

    @Sendable func listUsers(_ request: Request, context: AuthenticatedContext) async throws -> [User] {
        try context.requireAdmin()
        return try await users.listUsers()
    }

    /// Creates a user and answers its first token, once.
    @Sendable func createUser(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<CreatedUser> {
        try context.requireAdmin()
        let body = try await request.decodeBody(
            as: CreateUser.self, context: context,
            expected: "{\"username\": string, \"role\": \"admin\"|\"user\"}")
        do {
            let (user, token) = try await users.createUser(username: body.username, role: body.role ?? .user)
            return EditedResponse(status: .created, response: CreatedUser(user: user, token: token))
        } catch UserStoreError.invalidUsername(let reason) {
            throw APIError.badRequest("invalid_username", reason)
        } catch UserStoreError.duplicateUsername(let name) {
            throw APIError.conflict("duplicate_username", "a user named '\(name)' exists")
        }
    }

    @Sendable func listTokens(_ request: Request, context: AuthenticatedContext) async throws -> [APITokenInfo] {
        try await users.listTokens(userID: context.user.id)
    }

    @Sendable func createToken(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<CreatedToken> {
        guard let body = try? await request.decode(as: CreateToken.self, context: context), (1...100).contains(body.name.count) else {
            throw APIError.badRequest("invalid_body", "expected {\"name\": string of 1–100 characters}")
        }
        let (id, token) = try await users.createToken(userID: context.user.id, name: body.name)
        return EditedResponse(status: .created, response: CreatedToken(id: id, name: body.name, token: token))
    }

    @Sendable func revokeToken(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try context.id(of: "token")
        guard try await users.revokeToken(id: id, userID: context.user.id) else {
            throw APIError.notFound("you have no active token \(id)")
        }
        return Response(status: .noContent)
    }
}

extension APITokenInfo: ResponseEncodable {}
extension StoredStepReport: ResponseEncodable {}
