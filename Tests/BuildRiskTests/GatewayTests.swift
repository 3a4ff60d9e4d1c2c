import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import GatewayCore
import Testing

/// The gateway's public API: tokens on every route but health, roles, and the system status
/// gathered from all eight services over RPC.
@Suite(.timeLimit(.minutes(13)), .dropsTestDatabases)
struct GatewayTests {
    @Test func systemStatusReportsEveryServiceReadyOverRPC() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let runtimes = try ServiceName.allCases.map { try makeRuntime($0, in: cluster) }
        try await withServices(runtimes) {
            let httpClient = TestEnvironment.httpClient
            #expect(try await http(httpClient, .GET, cluster.publicURL + "/health").status == 200)
            #expect(try await http(httpClient, .GET, cluster.publicURL + "/api/v1/system/status").status == 401)
            #expect(try await http(httpClient, .GET, cluster.publicURL + "/api/v1/system/status", token: "brk_unknown").status == 401)

            let answer = try await http(httpClient, .GET, cluster.publicURL + "/api/v1/system/status", token: TestEnvironment.adminToken)
            #expect(answer.status == 200)
            let status = try HTTPHelpers.decoder.decode(SystemStatus.self, from: answer.body)
            #expect(status.ready)
            #expect(status.services.map(\.service) == ServiceName.allCases)
            #expect(status.services.allSatisfy { $0.report?.databaseReachable == true && $0.report?.pendingMigrations == 0 })
        }
        // With one service down, the status says which and why.
        let partial = try ServiceName.allCases.filter { $0 != .predictor }.map { try makeRuntime($0, in: cluster) }
        try await withServices(partial) {
            let httpClient = TestEnvironment.httpClient
            let answer = try await http(httpClient, .GET, cluster.publicURL + "/api/v1/system/status", token: TestEnvironment.adminToken)
            let status = try HTTPHelpers.decoder.decode(SystemStatus.self, from: answer.body)
            #expect(!status.ready)
            let predictor = try #require(status.services.first { $0.service == .predictor })
            #expect(!predictor.ready)
            #expect(predictor.error?.isEmpty == false)
            #expect(status.services.filter(\.ready).count == 7)
        }
    }

    @Test func usersAndTokens() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withServices([try makeRuntime(.gateway, in: cluster)]) {
            let httpClient = TestEnvironment.httpClient
            let api = cluster.publicURL + "/api/v1"
            let admin = TestEnvironment.adminToken

            let me = try await http(httpClient, .GET, api + "/me", token: admin).json()
            #expect(me["username"] as? String == "admin")
            #expect(me["role"] as? String == "admin")

            let created = try await http(httpClient, .POST, api + "/users", token: admin, body: Data(#"{"username":"ada","role":"user"}"#.utf8))
            #expect(created.status == 201)
            let userToken = try #require(try created.json()["token"] as? String)
            #expect(userToken.hasPrefix("brk_"))
            #expect(try await http(httpClient, .POST, api + "/users", token: admin, body: Data(#"{"username":"ada"}"#.utf8)).status == 409)
            #expect(try await http(httpClient, .POST, api + "/users", token: admin, body: Data(#"{"username":"a b"}"#.utf8)).status == 400)
            #expect(try await http(httpClient, .POST, api + "/users", token: admin, body: Data(#"{"name":1}"#.utf8)).status == 400)

            // A user is not an admin.
            #expect(try await http(httpClient, .GET, api + "/me", token: userToken).json()["username"] as? String == "ada")
            #expect(try await http(httpClient, .POST, api + "/users", token: userToken, body: Data(#"{"username":"eve"}"#.utf8)).status == 403)
            #expect(try await http(httpClient, .GET, api + "/users", token: userToken).status == 403)
            #expect(try await http(httpClient, .GET, cluster.internalURL(.gateway) + "/admin/jobs", token: userToken).status == 403)
            #expect(try await http(httpClient, .GET, cluster.internalURL(.gateway) + "/admin/jobs", token: admin).status == 200)

            // Tokens are stored hashed; a revoked token stops working.
            let second = try await http(httpClient, .POST, api + "/tokens", token: userToken, body: Data(#"{"name":"ci"}"#.utf8)).json()
            let secondToken = try #require(second["token"] as? String)
            let secondID = try #require(second["id"] as? Int)
            #expect(try await http(httpClient, .GET, api + "/me", token: secondToken).status == 200)
            // A token says when it was last used; one never sent says nothing.
            let third = try await http(httpClient, .POST, api + "/tokens", token: userToken, body: Data(#"{"name":"unused"}"#.utf8)).json()
            let listed = try await http(httpClient, .GET, api + "/tokens", token: userToken).body
            let tokens = try #require(try JSONSerialization.jsonObject(with: listed) as? [[String: Any]], "\(String(decoding: listed, as: UTF8.self))")
            #expect(tokens.first { $0["id"] as? Int == secondID }?["lastUsedAt"] is String)
            #expect(tokens.first { $0["id"] as? Int == third["id"] as? Int }.map { $0["lastUsedAt"] == nil || $0["lastUsedAt"] is NSNull } == true)
            #expect(try await http(httpClient, .DELETE, api + "/tokens/\(secondID)", token: userToken).status == 204)
            #expect(try await http(httpClient, .GET, api + "/me", token: secondToken).status == 401)
            #expect(try await http(httpClient, .DELETE, api + "/tokens/\(secondID)", token: userToken).status == 404)

            try await withClient(database.url(forSchema: "gateway")) { client in
                let hashes = try await client.query("SELECT token_hash FROM gateway.api_tokens", logger: TestEnvironment.logger).collect()
                    .map { try $0.decode(String.self) }
                #expect(!hashes.contains(userToken))
                #expect(hashes.contains(APIToken.hash(userToken)))
            }
        }
    }

    @Test func withoutAConfiguredAdminTokenTheFirstStartWritesOneToTheDataDirectory() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let gateway = try makeRuntime(.gateway, in: cluster, overrides: ["BUILDRISK_ADMIN_TOKEN": ""])
        try await withServices([gateway]) {
            let path = cluster.dataDirectory + "/initial-admin-token"
            let token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let httpClient = TestEnvironment.httpClient
            #expect(try await http(httpClient, .GET, cluster.publicURL + "/api/v1/me", token: token).json()["role"] as? String == "admin")
        }
    }
}
