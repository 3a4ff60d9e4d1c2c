import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle

/// The sandbox's git host, as github.com serves clones: smart HTTP (`git http-backend`) at
/// `/{owner}/{name}.git/info/refs?service=git-upload-pack` and `/{owner}/{name}.git/git-upload-pack`.
/// A public repository clones without credentials; a private one only with HTTP basic
/// authentication whose password is a token granted access (`x-access-token:<token>`, as GitHub
/// takes an installation or personal token; the user name is not checked). Without credentials,
/// or with a token not granted, GitHub answers 401 with `WWW-Authenticate: Basic realm="GitHub"`.
/// Read-only: a push is refused. Serve ``gitRouter()`` over TLS (github.com speaks only https) and
/// tell the API where with ``serveClones(at:)``; until then `clone_url` is a `file://` path.
extension SandboxAPI {
    /// Repositories' `clone_url` become `<baseURL>/<owner>/<name>.git` (nil: `file://` paths again).
    public func serveClones(at baseURL: String?) {
        cloneBaseURL.withLock { $0 = baseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } }
    }

    /// Lets `token` clone private repositories (GitHub: the token has `contents: read` on them).
    public func grantCloneAccess(_ token: String) { cloneTokens.withLock { _ = $0.insert(token) } }

    /// Takes a token's access to private repositories away (a revoked or re-scoped token).
    public func revokeCloneAccess(_ token: String) { cloneTokens.withLock { _ = $0.remove(token) } }

    /// A repository's `clone_url`, as GitHub gives it: `https://host/owner/name.git`.
    func cloneURL(_ repository: SandboxRepository) -> String {
        cloneBaseURL.withLock { $0 }.map { "\($0)/\(repository.fullName).git" } ?? "file://\(repository.gitPath)"
    }

    /// The git host over https on 127.0.0.1:`port` with this certificate and key (PEM), as a
    /// service to run; clones are then handed out at `https://127.0.0.1:<port>/owner/name.git`.
    public func gitHost(port: Int, certificatePath: String, keyPath: String, logger: Logger) throws -> some Service {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        serveClones(at: "https://127.0.0.1:\(port)")
        return Application(
            router: gitRouter(), server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "github-sandbox-git"), logger: logger)
    }

    /// The git host's routes (no rate limits or API faults: those are the REST API's).
    public func gitRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/{owner}/{repo}/info/refs") { request, context in
            guard request.uri.queryParameters.get("service") == "git-upload-pack" else {
                // The dumb protocol and pushes are not served.
                return Self.gitRefusal(.forbidden, "Only git-upload-pack over smart HTTP is served here.")
            }
            return try await self.serveGit(request, context: context, suffix: "/info/refs")
        }
        router.post("/{owner}/{repo}/git-upload-pack") { request, context in
            try await self.serveGit(request, context: context, suffix: "/git-upload-pack")
        }
        router.post("/{owner}/{repo}/git-receive-pack") { _, _ in
            Self.gitRefusal(.forbidden, "Write access to repository not granted.")
        }
        return router
    }

    private func serveGit(_ request: Request, context: BasicRequestContext, suffix: String) async throws -> Response {
        let owner = context.parameters.get("owner") ?? ""
        var name = context.parameters.get("repo") ?? ""
        if name.hasSuffix(".git") { name.removeLast(4) }
        guard let repository = world.repository("\(owner)/\(name)") else {
            stats.withLock { $0.gitRefused += 1 }
            return Self.gitRefusal(.notFound, "Repository not found.")
        }
        if repository.isPrivate {
            let granted = cloneTokens.withLock { $0 }
            guard let token = Self.basicPassword(request.headers[.authorization]), granted.contains(token) else {
                stats.withLock { $0.gitRefused += 1 }
                var response = Self.gitRefusal(.unauthorized, "Invalid username or token. Password authentication is not supported for Git operations.")
                response.headers[.wwwAuthenticate] = #"Basic realm="GitHub""#
                return response
            }
        }
        stats.withLock { $0.gitRequests += 1 }
        let body = try await request.body.collect(upTo: 64 << 20)
        let environment = [
            "GIT_PROJECT_ROOT": world.directory, "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": "/\(repository.owner)/\(repository.name).git\(suffix)",
            "QUERY_STRING": request.uri.query ?? "", "REQUEST_METHOD": request.method.rawValue, "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": request.headers[.contentType] ?? "", "CONTENT_LENGTH": String(body.readableBytes),
            "HTTP_CONTENT_ENCODING": request.headers[.contentEncoding] ?? "",
            "GIT_PROTOCOL": request.headers[HTTPField.Name("Git-Protocol")!] ?? "",
        ]
        let output = try await Self.httpBackend(environment: environment, input: Data(buffer: body))
        return Self.cgiResponse(output)
    }

    /// The password of an HTTP basic `Authorization` header.
    static func basicPassword(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return String(text[text.index(after: colon)...])
    }

    static func gitRefusal(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    /// Runs `git http-backend` (a CGI program) off the concurrency pool: the request body on its
    /// stdin, written while its output is read, so neither side waits on a full pipe.
    static func httpBackend(environment: [String: String], input: Data) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["git", "http-backend"]
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
                let stdin = Pipe(), stdout = Pipe()
                process.standardInput = stdin
                process.standardOutput = stdout
                process.standardError = FileHandle.nullDevice
                _ = SandboxGit.ignoreBrokenPipes
                do {
                    try process.run()
                } catch {
                    return continuation.resume(throwing: SandboxError(description: "git http-backend did not start: \(error)"))
                }
                DispatchQueue.global().async {
                    try? stdin.fileHandleForWriting.write(contentsOf: input)
                    try? stdin.fileHandleForWriting.close()
                }
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: output)
            }
        }
    }

    /// A CGI answer (`Status:` and headers, a blank line, the body) as an HTTP response.
    static func cgiResponse(_ output: Data) -> Response {
        let separator = Data("\r\n\r\n".utf8)
        guard let end = output.range(of: separator) else {
            return gitRefusal(.internalServerError, "git http-backend gave no answer")
        }
        var status = HTTPResponse.Status.ok
        var headers = HTTPFields()
        for line in String(decoding: output[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon]), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status" {
                status = HTTPResponse.Status(code: Int(value.split(separator: " ").first ?? "") ?? 500)
            } else if let field = HTTPField.Name(name) {
                headers[field] = value
            }
        }
        let body = output[end.upperBound...]
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: Data(body))))
    }
}
