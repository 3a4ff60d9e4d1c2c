import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import FeatureExtractorCore
import Foundation
import Logging

/// Operator tool: the internal CA and certificates, database roles and schemas, derived
/// connection URLs, and the OpenRPC documents in contracts/.
let usage = """
    usage: buildrisk-admin <command> [options]

      tls-init --dir DIR [--hostname NAME ...]
          create the internal CA and a certificate per service in DIR (idempotent)
      db-provision [--service NAME]
          create each service's role and schema (reads DATABASE_URL, BUILDRISK_SERVICE_SECRET)
      env
          print `export <PREFIX>_DATABASE_URL=...` for every service (same variables as db-provision)
      openrpc --out DIR
          write contracts/<service>.openrpc.json for every service
      features --out FILE
          write the feature catalogue (contracts/features.json)
      service-token NAME
          print the service token NAME sends (reads BUILDRISK_SERVICE_SECRET)
    """

struct UsageError: Error, CustomStringConvertible {
    var description: String
}

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("buildrisk-admin: \(message)\n".utf8))
    exit(code)
}

func options(_ arguments: ArraySlice<String>) throws -> [String: [String]] {
    var result: [String: [String]] = [:]
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        guard argument.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(argument)'") }
        guard let value = iterator.next() else { throw UsageError(description: "\(argument) needs a value") }
        result[String(argument.dropFirst(2)), default: []].append(value)
    }
    return result
}

func required(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw UsageError(description: "\(name) must be set")
    }
    return value
}

var logger = Logger(label: "buildrisk-admin")
logger.logLevel = .error
let arguments = CommandLine.arguments.dropFirst()
guard let command = arguments.first else { fail(usage) }

do {
    let flags = try options(arguments.dropFirst(command == "service-token" ? 2 : 1))
    switch command {
    case "tls-init":
        guard let directory = flags["dir"]?.first else { throw UsageError(description: "tls-init needs --dir DIR") }
        try TLSMaterial(directory: directory).ensure(
            names: ServiceName.allCases.map(\.rawValue), hostnames: ["localhost"] + (flags["hostname"] ?? []))
        print("TLS material in \(directory): ca.pem and a certificate per service")

    case "db-provision":
        let admin = try DatabaseURL(parsing: try required("DATABASE_URL"))
        let tokens = ServiceTokens(secret: try required("BUILDRISK_SERVICE_SECRET"))
        let provisioner = DatabaseProvisioner(adminURL: admin, logger: logger)
        let services = try (flags["service"] ?? []).map { name in
            guard let service = ServiceName(rawValue: name) else { throw UsageError(description: "unknown service '\(name)'") }
            return service
        }
        for service in services.isEmpty ? ServiceName.allCases : services {
            try await provisioner.provision(
                schema: service.schema, role: service.databaseRole, password: tokens.databasePassword(for: service.schema))
        }
        print("provisioned \((services.isEmpty ? ServiceName.allCases : services).map(\.schema).joined(separator: ", ")) in \(admin.database)")

    case "env":
        let admin = try DatabaseURL(parsing: try required("DATABASE_URL"))
        let tokens = ServiceTokens(secret: try required("BUILDRISK_SERVICE_SECRET"))
        for service in ServiceName.allCases {
            let url = admin.forRole(service.databaseRole, password: tokens.databasePassword(for: service.schema))
            print("export \(service.environmentPrefix)_DATABASE_URL='\(url.urlString)'")
        }

    case "openrpc":
        guard let directory = flags["out"]?.first else { throw UsageError(description: "openrpc needs --out DIR") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for service in ServiceName.allCases {
            let text = try OpenRPCDocument.text(service: service, methods: ServiceContracts.methods(of: service))
            try text.write(toFile: "\(directory)/\(service.rawValue).openrpc.json", atomically: true, encoding: .utf8)
        }
        print("wrote \(ServiceName.allCases.count) OpenRPC documents to \(directory)")

    case "features":
        guard let path = flags["out"]?.first else { throw UsageError(description: "features needs --out FILE") }
        let catalogue = FeatureDAG.standard.catalogue()
        try catalogue.jsonText().write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(catalogue.features.count) features (DAG version \(catalogue.dagVersion)) to \(path)")

    case "service-token":
        guard arguments.count >= 2, let service = ServiceName(rawValue: arguments[arguments.startIndex + 1]) else {
            throw UsageError(description: "service-token needs a service name: \(ServiceName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        print(ServiceTokens(secret: try required("BUILDRISK_SERVICE_SECRET")).token(for: service))

    case "help", "--help", "-h":
        print(usage)

    default:
        throw UsageError(description: "unknown command '\(command)'\n\(usage)")
    }
} catch let error as UsageError {
    fail(error.description)
} catch {
    fail("\(command) failed: \(String(reflecting: error))", code: 1)
}
