import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import IngestorCore
import Logging
import Synchronization
import Testing

/// JSON-RPC 2.0 between real services over real HTTP/2 (TLS with the internal CA).
@Suite(.timeLimit(.minutes(13)), .dropsTestDatabases)
struct RPCTransportTests {
    @Test func callsRoundTripBetweenServicesOverHTTP2() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let gateway = try makeRuntime(.gateway, in: cluster)
        let ingestor = try makeRuntime(.ingestor, in: cluster)
        try await withServices([gateway, ingestor]) {
            // The gateway's own client, as the gateway uses it, calls the ingestor.
            let report = try await gateway.environment.directory.client(for: .ingestor).call(SystemMethods.readiness, Empty())
            #expect(report.service == .ingestor)
            #expect(report.ready)
            #expect(report.migrationVersion == IngestionPostgresStore.migrations.last?.version)

            // The ingestor reports a step to the gateway; the protocol on the wire is HTTP/2.
            let client = ingestor.environment.directory.client(for: .gateway)
            let step = StepReport(messageId: "m-1", service: .ingestor, pipeline: "model", recordId: "7", step: "ingest", outcome: .completed)
            let ack = try await client.call(GatewayMethods.reportStep, step)
            #expect(ack == StepReportAck(messageId: "m-1", duplicate: false))
            let again = try await client.call(GatewayMethods.reportStep, step)
            #expect(again.duplicate)

            let exchange = try await client.send(body: Data(#"{"jsonrpc":"2.0","id":1,"method":"system.readiness"}"#.utf8))
            #expect(exchange.status == 200)
            #expect(exchange.httpVersion == "HTTP/2.0")

            // The internal port also answers HTTP/1.1 (ALPN http/1.1), the same way.
            let http1 = ServiceDirectory.makeHTTPClient(tls: try TestEnvironment.tls.clientConfiguration(), httpVersion: .http1Only)
            let overHTTP1 = RPCClient(httpClient: http1, baseURL: cluster.internalURL(.gateway), token: TestEnvironment.tokens.token(for: .ingestor))
            let answer = try await overHTTP1.send(body: Data(#"{"jsonrpc":"2.0","id":1,"method":"system.readiness"}"#.utf8))
            try await http1.shutdown()
            #expect(answer.httpVersion == "HTTP/1.1")
            #expect(answer.status == 200)
            #expect((try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["result"] != nil)
        }
    }

    @Test func eachMalformedInputGetsItsOwnErrorAndBatchesAnswerTheGoodMembers() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let gateway = try makeRuntime(.gateway, in: cluster)
        try await withServices([gateway]) {
            let client = gateway.environment.directory.client(for: .gateway)
            func error(_ body: String) async throws -> (code: Int, kind: String?, retryable: Bool?, id: Any?) {
                let exchange = try await client.send(body: Data(body.utf8))
                let object = try #require(try JSONSerialization.jsonObject(with: exchange.body) as? [String: Any], "\(body) → \(String(decoding: exchange.body, as: UTF8.self))")
                let error = try #require(object["error"] as? [String: Any], "no error for \(body)")
                let data = error["data"] as? [String: Any]
                return (error["code"] as? Int ?? 0, data?["kind"] as? String, data?["retryable"] as? Bool, object["id"])
            }
            #expect(try await error(#"{"jsonrpc":"2.0","method":"#).code == -32700)
            #expect(try await error("42").code == -32600)
            #expect(try await error(#"{"jsonrpc":"1.0","method":"system.readiness","id":1}"#).code == -32600)
            #expect(try await error(#"{"jsonrpc":"2.0","method":7,"id":1}"#).code == -32600)
            #expect(try await error(#"{"jsonrpc":"2.0","method":"system.readiness","id":{"a":1}}"#).code == -32600)
            #expect(try await error("[]").code == -32600)
            let missing = try await error(#"{"jsonrpc":"2.0","method":"no.such.method","id":"abc"}"#)
            #expect(missing.code == -32601)
            #expect(missing.id as? String == "abc")
            // What a JSON parser must refuse, and escapes it must read.
            #expect(try await error("{\"jsonrpc\":\"2.0\",\"method\":\"a\u{01}b\",\"id\":1}").code == -32700)  // raw control character
            #expect(try await error(#"{"jsonrpc":"2.0","method":"x","id":01}"#).code == -32700)  // leading zero
            #expect(try await error(#"{"jsonrpc":"2.0","method":"x","id":1}  {}"#).code == -32700)  // trailing data
            #expect(try await error(String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).code == -32700)  // nesting too deep
            #expect(try await error(#"{"jsonrpc":"2.0","method":"\u006eo.such","id":"\ud83d\ude80"}"#).id as? String == "\u{1F680}")
            let escaped = try await client.send(body: Data(#"{"jsonrpc":"2.0","method":"system.\u0072eadiness","id":7}"#.utf8))
            #expect((try JSONSerialization.jsonObject(with: escaped.body) as? [String: Any])?["result"] != nil)
            let badParams = try await error(#"{"jsonrpc":"2.0","method":"pipeline.reportStep","params":{"messageId":5},"id":2}"#)
            #expect(badParams.code == -32602)
            #expect(badParams.kind == "invalid_params")
            #expect(try await error(#"{"jsonrpc":"2.0","method":"pipeline.reportStep","params":[1,2],"id":3}"#).code == -32602)
            // An application error carries its kind and whether a retry can help.
            let invalid = try await error(#"{"jsonrpc":"2.0","method":"pipeline.reportStep","params":{"messageId":" ","service":"ingestor","pipeline":"model","recordId":"1","step":"s","outcome":"completed"},"id":4}"#)
            #expect(invalid.code == 1422)
            #expect(invalid.kind == "invalid_input")
            #expect(invalid.retryable == false)

            // A batch with a bad member answers the good ones; notifications get no answer.
            let batch = """
                [{"jsonrpc":"2.0","method":"system.readiness","id":1},
                 {"jsonrpc":"2.0","method":"nope","id":2},
                 {"jsonrpc":"2.0","method":"system.readiness"},
                 {"foo":"bar"}]
                """
            let exchange = try await client.send(body: Data(batch.utf8))
            let answers = try #require(try JSONSerialization.jsonObject(with: exchange.body) as? [[String: Any]])
            #expect(answers.count == 3)
            let good = try #require(answers.first { $0["id"] as? Int == 1 })
            #expect((good["result"] as? [String: Any])?["service"] as? String == "gateway")
            let bad = try #require(answers.first { $0["id"] as? Int == 2 })
            #expect((bad["error"] as? [String: Any])?["code"] as? Int == -32601)
            #expect(answers.contains { ($0["error"] as? [String: Any])?["code"] as? Int == -32600 && $0["id"] is NSNull })

            // Notifications only: nothing to answer.
            let notifications = try await client.send(body: Data(#"[{"jsonrpc":"2.0","method":"system.readiness"}]"#.utf8))
            #expect(notifications.status == 204)
            #expect(notifications.body.isEmpty)
            try await client.notify(SystemMethods.readiness, Empty())
        }
    }

    @Test func unauthenticatedAndOversizedCallsAreRefused() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let ingestor = try makeRuntime(.ingestor, in: cluster, overrides: ["BUILDRISK_RPC_MAX_BODY_BYTES": "2048"])
        try await withServices([ingestor]) {
            let httpClient = ingestor.environment.directory.httpClient
            let url = cluster.internalURL(.ingestor)
            let call = Data(#"{"jsonrpc":"2.0","method":"system.readiness","id":1}"#.utf8)

            let anonymous = try await http(httpClient, .POST, url + "/rpc", body: call)
            #expect(anonymous.status == 401)
            #expect(try anonymous.json()["error"].flatMap { ($0 as? [String: Any])?["code"] as? Int } == 1401)

            let forged = ServiceTokens(secret: "another-secret-entirely").token(for: .gateway)
            #expect(try await http(httpClient, .POST, url + "/rpc", token: forged, body: call).status == 401)
            #expect(try await http(httpClient, .POST, url + "/rpc", token: "svc.gateway.00", body: call).status == 401)

            let valid = TestEnvironment.tokens.token(for: .gateway)
            #expect(try await http(httpClient, .POST, url + "/rpc", token: valid, body: call).status == 200)

            let padding = String(repeating: "x", count: 4096)
            let oversized = Data(#"{"jsonrpc":"2.0","method":"system.readiness","id":1,"params":{"pad":"\#(padding)"}}"#.utf8)
            let refused = try await http(httpClient, .POST, url + "/rpc", token: valid, body: oversized)
            #expect(refused.status == 413)
            let error = try #require(try refused.json()["error"] as? [String: Any])
            #expect(error["code"] as? Int == -32600)
            #expect(((error["data"] as? [String: Any])?["reason"] as? String)?.contains("2048") == true)
        }
    }

    /// The dispatcher stops a handler when the caller's deadline passes, and a handler that
    /// throws something unexpected answers -32603 without leaking the error.
    @Test func deadlinesAndInternalErrors() async throws {
        struct Slow: Codable, Sendable { var milliseconds: Int }
        let slow = RPCMethod<Slow, Empty>("test.slow", summary: "sleeps")
        let broken = RPCMethod<Empty, Empty>("test.broken", summary: "throws")
        struct Boom: Error {}
        var dispatcher = RPCDispatcher()
        dispatcher.register(slow) { params, _ in
            try await Task.sleep(for: .milliseconds(params.milliseconds))
            return Empty()
        }
        dispatcher.register(broken) { _, _ in throw Boom() }
        let context = RPCCallContext(caller: "test", logger: TestEnvironment.logger, deadline: .now + .milliseconds(100))
        let started = ContinuousClock.now
        // The handler would sleep 60 s; the bound is loose because a loaded machine delays timers.
        let late = try #require(await dispatcher.respond(to: Data(#"{"jsonrpc":"2.0","method":"test.slow","params":{"milliseconds":60000},"id":1}"#.utf8), context: context))
        #expect(ContinuousClock.now - started < .seconds(30))
        let lateError = try #require((try JSONSerialization.jsonObject(with: late) as? [String: Any])?["error"] as? [String: Any])
        #expect(lateError["code"] as? Int == 1408)
        #expect((lateError["data"] as? [String: Any])?["retryable"] as? Bool == true)

        let fresh = RPCCallContext(caller: "test", logger: TestEnvironment.logger, deadline: .now + .seconds(5))
        let fine = try #require(await dispatcher.respond(to: Data(#"{"jsonrpc":"2.0","method":"test.slow","params":{"milliseconds":1},"id":2}"#.utf8), context: fresh))
        #expect((try JSONSerialization.jsonObject(with: fine) as? [String: Any])?["result"] != nil)

        let failed = try #require(await dispatcher.respond(to: Data(#"{"jsonrpc":"2.0","method":"test.broken","id":3}"#.utf8), context: fresh))
        let failedError = try #require((try JSONSerialization.jsonObject(with: failed) as? [String: Any])?["error"] as? [String: Any])
        #expect(failedError["code"] as? Int == -32603)
    }

    /// Over the wire the server stops a handler when the caller's deadline passes, and when the
    /// caller goes away before the answer.
    @Test func theServerCancelsWorkItsCallerNoLongerWaitsFor() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let slow = RPCMethod<Empty, Empty>("test.slow", summary: "sleeps until cancelled")
        let cancelled = Mutex(0)
        let definition = ServiceDefinition(service: .ingestor) { _ in
            var methods = RPCDispatcher()
            methods.register(slow) { _, _ in
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.withLock { $0 += 1 }
                    throw error
                }
                return Empty()
            }
            return ServiceAssembly(methods: methods)
        }
        let ingestor = try makeRuntime(.ingestor, in: cluster, definition: definition)
        try await withServices([ingestor]) {
            let client = ingestor.environment.directory.client(for: .ingestor)
            // The caller's deadline (sent as x-rpc-timeout-ms) passes.
            let late = await #expect(throws: RPCClientError.self) { _ = try await client.call(slow, Empty(), timeout: .milliseconds(300)) }
            // Whichever side notices first: the server's deadline answer or the client's own timeout.
            switch late {
            case .remote(let error)?: #expect(error.kind == .deadlineExceeded, "\(error)")
            case .transport(let detail)?: #expect(detail.contains("no answer within"), "\(detail)")
            default: Issue.record("not a deadline: \(String(describing: late))")
            }
            try await waitUntil("the server cancelled the handler at the deadline", timeout: .seconds(10)) { cancelled.withLock { $0 } == 1 }
            // The caller gives up (its task is cancelled) long before the deadline: the stream is reset.
            let call = Task { try await client.call(slow, Empty(), timeout: .seconds(60)) }
            try await Task.sleep(for: .milliseconds(300))
            call.cancel()
            _ = await call.result
            try await waitUntil("the server cancelled the handler of the call that went away", timeout: .seconds(10)) { cancelled.withLock { $0 } == 2 }
        }
    }

    /// A client holding an HTTP/2 connection to a service that begins to stop is told so at once
    /// (GOAWAY): its next call goes to a new connection, which the stopped service refuses, and the
    /// error says the service is stopping. Before, the internal server stopped after the service's
    /// other parts and left its connections open: a call on one was still answered after the
    /// service had stopped, from a database pool that had shut down.
    @Test func aStoppingServiceSaysGoAwayAndAnswersNothingOnceStopped() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let ingestor = try makeRuntime(.ingestor, in: cluster)
        // A client of its own (the service's clients are shut down with it), as another service holds one.
        let http2 = try HTTP2Client(tls: try TestEnvironment.tls.clientConfiguration())
        let client = RPCClient(transport: .http2(http2), baseURL: cluster.internalURL(.ingestor), token: TestEnvironment.tokens.token(for: .gateway))
        let running = Task { try await ingestor.run() }
        do {
            try await waitUntil("the ingestor is ready", timeout: startupTimeout) { await ingestor.readinessReport().ready }
            // The call opens the connection the client then holds.
            #expect(try await client.call(SystemMethods.readiness, Empty()).ready)
            await ingestor.shutdown()
            try await running.value
            let after = await #expect(throws: RPCClientError.self, "a stopped service answered on the connection it left open") {
                _ = try await client.call(SystemMethods.readiness, Empty())
            }
            switch after {
            case .transport(let detail)?:
                #expect(detail.contains("is stopping (it sent GOAWAY) and takes no new connection"), "\(detail)")
            case let other?:
                Issue.record("the stopped service still answered on the old connection: \(other)")
            case nil:
                break
            }
        } catch {
            await ingestor.shutdown()
            _ = await running.result
            await http2.shutdown()
            throw error
        }
        await http2.shutdown()
    }

    /// A client deadline shorter than the answer fails the call as a retryable transport error.
    @Test func clientDeadlineCancelsTheCall() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let ingestor = try makeRuntime(.ingestor, in: cluster)
        try await withServices([ingestor]) {
            let client = ingestor.environment.directory.client(for: .ingestor)
            do {
                _ = try await client.call(SystemMethods.readiness, Empty(), timeout: .nanoseconds(1))
                Issue.record("a call with a 1 ns deadline succeeded")
            } catch let error as RPCClientError {
                #expect(error.isRetryable)
            }
        }
    }
}
