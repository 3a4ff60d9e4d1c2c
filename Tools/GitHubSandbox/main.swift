import Foundation
import GitHubSandboxCore
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

// github-sandbox: an offline GitHub for BuildRisk's demo and tests. Generates a world of real git
// repositories and workflow runs from a seed and serves it in GitHub's REST formats. Forks of the
// repositories (the heads of fork pull requests) are bare repositories beside them: DIR/<fork owner>/<name>.git.
//
//   github-sandbox --dir DIR [--port 9100] [--seed 7] [--repos "acme/api:400 acme/web:200:private"]
//                  [--git-port 9101 --git-tls CERT KEY] [--grant TOKEN]...
//
// With --git-tls, a git host serves the repositories' clones over https (smart HTTP, as github.com)
// on --git-port, and clone_url names it; a private repository (":private") clones only with a
// token given by --grant, as the password of HTTP basic authentication. Without it, clone_url is a
// file:// path. Prints "READY <base URL>" once serving.

var directory = ".buildrisk/sandbox"
var port = 9100
var seed: UInt64 = 7
var specs = "buildrisk-sandbox/payments:600 buildrisk-sandbox/webapp:300 buildrisk-sandbox/cli:150"
var gitPort = 9101
var gitTLS: (certificate: String, key: String)?
var grants: [String] = []
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--dir": directory = arguments.next() ?? directory
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--seed": seed = UInt64(arguments.next() ?? "") ?? seed
    case "--repos": specs = arguments.next() ?? specs
    case "--git-port": gitPort = Int(arguments.next() ?? "") ?? gitPort
    case "--git-tls": gitTLS = (arguments.next() ?? "", arguments.next() ?? "")
    case "--grant": grants.append(arguments.next() ?? "")
    default:
        FileHandle.standardError.write(Data("usage: github-sandbox --dir DIR [--port P] [--seed N] [--repos 'owner/name:commits[:private] ...'] [--git-port P --git-tls CERT KEY] [--grant TOKEN]...\n".utf8))
        exit(2)
    }
}
try? FileManager.default.removeItem(atPath: directory)
let world = SandboxWorld(directory: directory, seed: seed)
let languages = ["Swift", "Python", "Go"]
for (index, spec) in specs.split(separator: " ").enumerated() {
    let parts = spec.split(separator: ":")
    let names = parts[0].split(separator: "/")
    guard names.count == 2, let commits = parts.count > 1 ? Int(parts[1]) : 200, parts.count < 3 || parts[2] == "private" else {
        FileHandle.standardError.write(Data("github-sandbox: bad repository spec '\(spec)' (owner/name:commits[:private])\n".utf8))
        exit(2)
    }
    try world.addRepository(
        owner: String(names[0]), name: String(names[1]), commits: commits, language: languages[index % languages.count], isPrivate: parts.count == 3)
}
let api = SandboxAPI(world: world)
for token in grants where !token.isEmpty { api.grantCloneAccess(token) }
let baseURL = "http://127.0.0.1:\(port)"
var logger = Logger(label: "github-sandbox")
logger.logLevel = .warning
let app = Application(
    router: api.router(baseURL: baseURL),
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "github-sandbox"),
    onServerRunning: { _ in
        FileHandle.standardOutput.write(Data("READY \(baseURL)\n".utf8))
    },
    logger: logger)
if let gitTLS {
    let gitHost = try api.gitHost(port: gitPort, certificatePath: gitTLS.certificate, keyPath: gitTLS.key, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app, gitHost], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
} else {
    try await app.runService()
}
