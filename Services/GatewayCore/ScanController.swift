import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Hummingbird

/// `/api/v1/repos/{id}/scans`: Trivy and SonarQube scans of the commits of a repository's ingested
/// builds, before any dataset exists; the scanner-bridge runs them and back-fills the metrics into
/// the repository's feature vectors.
struct ScanController: Sendable {
    let repositories: RepositoryConfigPostgresStore
    let directory: ServiceDirectory

    struct StartScans: Decodable {
        var tools: [ScanToolName]
        var configuration: ScanConfiguration?
        var selectedMetrics: [String]?
    }

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/repos/{id}/scans", use: start)
        api.get("/repos/{id}/scans", use: status)
        api.post("/repos/{id}/scans/retry", use: retry)
    }

    /// Scans every commit of the repository's ingested builds (a commit once, however many builds ran on it).
    @Sendable func start(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<ScanRequestAccepted> {
        let body = try await request.decodeBody(
            as: StartScans.self, context: context,
            expected: "{\"tools\": [\"trivy\"|\"sonar\"], \"configuration\"?, \"selectedMetrics\"?}")
        guard !body.tools.isEmpty else { throw APIError.badRequest("invalid_body", "name at least one tool: trivy, sonar") }
        let config = try await config(context)
        guard let repository = config.repository else {
            throw APIError.conflict("not_fetched", "repository \(config.id) has not been fetched from GitHub yet")
        }
        let commits: [String]
        do {
            commits = try await IngestedCommits.list(pipelineId: String(config.id), directory: directory)
        } catch {
            throw APIError.unavailable("ingestor_unavailable", "the ingestor could not list the builds: \(error)")
        }
        guard !commits.isEmpty else { throw APIError.conflict("not_ingested", "repository \(config.id) has no ingested builds to scan") }
        let scanRequest = ScanRequest(
            pipelineId: String(config.id), githubId: repository.githubId, fullName: repository.fullName, commits: commits, tools: body.tools,
            configuration: body.configuration ?? ScanConfiguration(), selectedMetrics: body.selectedMetrics ?? [])
        let accepted: ScanRequestAccepted
        do {
            accepted = try await directory.client(for: .scannerBridge).call(ScanMethods.request, scanRequest)
        } catch let error where remoteError(error)?.kind == .invalidInput {
            throw APIError.badRequest("invalid_scan", remoteError(error)?.data?.reason ?? "\(error)")
        } catch {
            throw APIError.unavailable("scanner_bridge_unavailable", "the scanner-bridge could not queue the scans: \(error)")
        }
        return EditedResponse(status: .accepted, response: accepted)
    }

    /// Counts by tool and status, and the failed commits with their reasons.
    @Sendable func status(_ request: Request, context: AuthenticatedContext) async throws -> ScanStatusSummary {
        let config = try await config(context)
        let summary: ScanStatusSummary
        do {
            summary = try await directory.client(for: .scannerBridge).call(ScanMethods.status, ScanStatusParams(pipelineId: String(config.id)))
        } catch let error where remoteError(error)?.kind == .notFound {
            summary = ScanStatusSummary(pipelineId: String(config.id), counts: [], failures: [])
        } catch {
            throw APIError.unavailable("scanner_bridge_unavailable", "the scanner-bridge could not tell the scans' status: \(error)")
        }
        return summary
    }

    /// Queues the repository's failed scans again (`?tool=trivy|sonar` for one tool).
    @Sendable func retry(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<ScanRetryResult> {
        let tool = try request.uri.queryParameters.value("tool", as: ScanToolName.self)
        let config = try await config(context)
        let result: ScanRetryResult
        do {
            result = try await directory.client(for: .scannerBridge).call(
                ScanMethods.retryFailed, ScanStatusParams(pipelineId: String(config.id), tool: tool))
        } catch let error where remoteError(error)?.kind == .notFound {
            throw APIError.conflict("not_scanned", "repository \(config.id) has no scans to retry")
        } catch {
            throw APIError.unavailable("scanner_bridge_unavailable", "the scanner-bridge could not queue the retry: \(error)")
        }
        return EditedResponse(status: .accepted, response: result)
    }

    private func config(_ context: AuthenticatedContext) async throws -> RepositoryConfig {
        let id = try context.id(of: "repository")
        guard let config = try await repositories.get(id: id, ownerId: context.visibility) else {
            throw APIError.notFound("you have no repository \(id)")
        }
        return config
    }
}
