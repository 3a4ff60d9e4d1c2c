import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Testing

/// The machine-readable documents (contracts/, docker-compose.yml) cannot drift from the code.
@Suite(.dropsTestDatabases)
struct ContractDocumentTests {
    @Test(arguments: ServiceName.allCases)
    func openRPCDocumentMatchesTheDescriptors(service: ServiceName) throws {
        let path = TestEnvironment.repositoryRoot.appendingPathComponent("contracts/\(service.rawValue).openrpc.json")
        let stored = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: path))
        let generated = OpenRPCDocument.make(service: service, methods: ServiceContracts.methods(of: service))
        #expect(stored == generated, "contracts/\(service.rawValue).openrpc.json is stale: run `buildrisk-admin openrpc --out contracts`")
    }

    @Test func openRPCDescribesParamsFromTheSwiftTypes() throws {
        let document = OpenRPCDocument.make(service: .gateway, methods: ServiceContracts.methods(of: .gateway))
        guard case .object(let root) = document, case .array(let methods)? = root["methods"] else {
            Issue.record("no methods")
            return
        }
        let report = try #require(methods.first { if case .object(let m) = $0 { m["name"] == .string("pipeline.reportStep") } else { false } })
        guard case .object(let method) = report, case .array(let params)? = method["params"] else {
            Issue.record("no params")
            return
        }
        let names = params.compactMap { param -> String? in
            if case .object(let p) = param, case .string(let name)? = p["name"] { name } else { nil }
        }
        #expect(names == ["messageId", "service", "pipeline", "recordId", "step", "outcome", "detail"])
        let outcome = params.first { if case .object(let p) = $0 { p["name"] == .string("outcome") } else { false } }
        if case .object(let p)? = outcome, case .object(let schema)? = p["schema"] {
            #expect(schema["enum"] == .array(StepOutcome.allCases.map { .string($0.rawValue) }))
        } else {
            Issue.record("outcome has no schema")
        }
    }

    @Test(arguments: ServiceName.allCases)
    func eachServiceRegistersExactlyItsContractMethods(service: ServiceName) async throws {
        let database = try await TestDatabase.create()
        let runtime = try makeRuntime(service, in: TestCluster(database: database))
        #expect(runtime.methodNames == ServiceContracts.methods(of: service).map(\.name).sorted())
        try await runtime.environment.directory.httpClient.shutdown()
    }

    @Test func composeFileMatchesTheConfiguration() throws {
        let text = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        let compose = try MiniYAML.parse(text)
        let services = try #require(compose["services"]?.mapping, "docker-compose.yml has no services")
        #expect(services["postgres"] != nil)
        for service in ServiceName.allCases {
            let entry = try #require(services[service.rawValue]?.mapping, "docker-compose.yml lacks \(service.rawValue)")
            #expect(entry["command"]?.sequence?.compactMap(\.scalar) == [service.rawValue])
            var environment: [String: String] = [:]
            for item in entry["environment"]?.sequence?.compactMap(\.scalar) ?? [] {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                environment[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            let known = Set((ServiceConfiguration.settings(for: service) + definition(of: service).settings).map(\.name))
            for key in environment.keys {
                #expect(known.contains(key), "\(service.rawValue) sets \(key), which the service never reads")
            }
            #expect(environment["\(service.environmentPrefix)_PORT"] == String(service.defaultPort))
            for other in ServiceName.allCases {
                #expect(environment["\(other.environmentPrefix)_URL"] == "https://\(other.rawValue):\(other.defaultPort)")
            }
            for required in ["BUILDRISK_SERVICE_SECRET", "BUILDRISK_TLS_DIR", "DATABASE_URL", "BUILDRISK_HOST"] {
                #expect(environment[required] != nil, "\(service.rawValue) lacks \(required)")
            }
            let ports = entry["ports"]?.sequence?.compactMap(\.scalar) ?? []
            #expect(ports.contains("\(service.defaultPort):\(service.defaultPort)"))
            if service == .gateway {
                #expect(ports.contains("8080:8080"))
                #expect(environment["GATEWAY_PUBLIC_PORT"] == "8080")
            }
            let health = entry["healthcheck"]?.mapping?["test"]?.sequence?.compactMap(\.scalar).joined(separator: " ") ?? ""
            #expect(health.contains("https://localhost:\(service.defaultPort)/ready"))
        }
    }
}

/// The subset of YAML docker-compose.yml is written in: block mappings and sequences, one-line
/// flow sequences, scalars, comments. Enough to check the file, not a general parser.
indirect enum MiniYAML: Equatable {
    case scalar(String)
    case sequence([MiniYAML])
    case mapping([String: MiniYAML])

    var scalar: String? { if case .scalar(let value) = self { value } else { nil } }
    var sequence: [MiniYAML]? { if case .sequence(let value) = self { value } else { nil } }
    var mapping: [String: MiniYAML]? { if case .mapping(let value) = self { value } else { nil } }

    struct ParseError: Error, CustomStringConvertible { var description: String }

    static func parse(_ text: String) throws -> [String: MiniYAML] {
        let lines: [(indent: Int, text: String)] = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { raw in
            let line = String(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
            return (line.prefix { $0 == " " }.count, trimmed)
        }
        var index = 0
        guard case .mapping(let root) = try block(lines, &index, indent: 0) else { throw ParseError(description: "top level is not a mapping") }
        return root
    }

    private static func block(_ lines: [(indent: Int, text: String)], _ index: inout Int, indent: Int) throws -> MiniYAML {
        if index < lines.count, lines[index].text.hasPrefix("- ") {
            var items: [MiniYAML] = []
            while index < lines.count, lines[index].indent == indent, lines[index].text.hasPrefix("- ") {
                items.append(.scalar(unquote(String(lines[index].text.dropFirst(2)))))
                index += 1
            }
            return .sequence(items)
        }
        var mapping: [String: MiniYAML] = [:]
        while index < lines.count, lines[index].indent == indent {
            let line = lines[index].text
            guard let colon = line.firstIndex(of: ":") else { throw ParseError(description: "expected 'key:' in '\(line)'") }
            let key = String(line[..<colon])
            let rest = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            index += 1
            if rest.isEmpty {
                if index < lines.count, lines[index].indent > indent {
                    mapping[key] = try block(lines, &index, indent: lines[index].indent)
                } else if index < lines.count, lines[index].indent == indent, lines[index].text.hasPrefix("- ") {
                    mapping[key] = try block(lines, &index, indent: indent)
                } else {
                    mapping[key] = .scalar("")
                }
            } else if rest.hasPrefix("[") {
                let inner = rest.dropFirst().dropLast()
                mapping[key] = .sequence(inner.split(separator: ",").map { .scalar(unquote($0.trimmingCharacters(in: .whitespaces))) })
            } else {
                mapping[key] = .scalar(unquote(rest))
            }
        }
        return .mapping(mapping)
    }

    private static func unquote(_ text: String) -> String {
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            return String(text.dropFirst().dropLast())
        }
        return text
    }
}
