import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Hummingbird

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

/// `/api/v1/me`, `/api/v1/system/status` and `/api/v1/pipeline/reports`.
struct SystemController: Sendable {
    let environment: ServiceEnvironment
    let reports: StepReportPostgresStore

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.get("/me", use: me)
        api.get("/system/status", use: status)
        api.get("/pipeline/reports", use: pipelineReports)
    }

    @Sendable func me(_ request: Request, context: AuthenticatedContext) async throws -> User {
        context.user
    }

    /// Asks every service for its readiness over RPC, all at once, each with a short deadline.
    @Sendable func status(_ request: Request, context: AuthenticatedContext) async throws -> SystemStatus {
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

    /// Step reports the services delivered (admins).
    @Sendable func pipelineReports(_ request: Request, context: AuthenticatedContext) async throws -> [StoredStepReport] {
        try context.requireAdmin()
        let query = request.uri.queryParameters
        let limit = min(max(query.get("limit", as: Int.self) ?? 100, 1), 1000)
        return try await reports.list(pipeline: query.get("pipeline"), recordId: query.get("recordId"), limit: limit)
    }
}
