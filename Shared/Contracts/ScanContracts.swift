/// Methods the scanner-bridge serves.
public enum ScanMethods {
    public static let request = RPCMethod<ScanRequest, ScanRequestAccepted>(
        "scans.request",
        summary: "Scans a requester's commits with Trivy and/or SonarQube: one scan per unique (repository, commit, configuration), shared by every requester that asks for it, queued in paced batches; each finished scan's metrics are back-filled into the requester's feature vectors of that commit."
    )
    public static let status = RPCMethod<ScanStatusParams, ScanStatusSummary>(
        "scans.status",
        summary: "A requester's scans: counts by tool and status, and the failed commits with their reasons."
    )
    public static let retryFailed = RPCMethod<ScanStatusParams, ScanRetryResult>(
        "scans.retryFailed",
        summary: "Queues again a requester's failed scans (all tools, or the one named)."
    )
    public static let commits = RPCMethod<CommitScansParams, CommitScanPage>(
        "scans.commits",
        summary: "A requester's commit scans, one row per commit and tool, in commit order (paged after a commit), or one commit's: status, attempts, error, and the metrics the requester selected."
    )
    public static let retryCommit = RPCMethod<RetryCommitScanParams, ScanRetryResult>(
        "scans.retryCommit",
        summary: "Queues again one commit's failed scan for a requester (the tool named, or both); a commit the requester never asked for is not found."
    )
}

/// A page of a requester's commit scans.
public struct CommitScansParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// Only this commit (its scans by each tool).
    public var commitSha: String?
    public var tool: ScanToolName?
    public var status: CommitScanStatus?
    /// Commits after this one (the next page).
    public var afterCommit: String?
    /// At most 1,000 rows.
    public var limit: Int

    public init(pipelineId: String, commitSha: String? = nil, tool: ScanToolName? = nil, status: CommitScanStatus? = nil, afterCommit: String? = nil, limit: Int = 100) {
        self.pipelineId = pipelineId
        self.commitSha = commitSha
        self.tool = tool
        self.status = status
        self.afterCommit = afterCommit
        self.limit = limit
    }
}

/// One commit's scan by one tool, as a requester sees it (CommitScan).
public struct CommitScanRecord: Codable, Sendable, Equatable {
    public var tool: ScanToolName
    public var commitSha: String
    public var status: CommitScanStatus
    public var attempts: Int
    public var error: String?
    /// The metrics the requester selected, once completed.
    public var metrics: [String: Double]?
    public var requestedAt: String
    public var startedAt: String?
    public var finishedAt: String?

    public init(
        tool: ScanToolName, commitSha: String, status: CommitScanStatus, attempts: Int, error: String?, metrics: [String: Double]?,
        requestedAt: String, startedAt: String?, finishedAt: String?
    ) {
        self.tool = tool
        self.commitSha = commitSha
        self.status = status
        self.attempts = attempts
        self.error = error
        self.metrics = metrics
        self.requestedAt = requestedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

public struct CommitScanPage: Codable, Sendable, Equatable {
    public var scans: [CommitScanRecord]
    /// The commit the next page starts after; nil on the last page.
    public var nextAfterCommit: String?

    public init(scans: [CommitScanRecord], nextAfterCommit: String?) {
        self.scans = scans
        self.nextAfterCommit = nextAfterCommit
    }
}

public struct RetryCommitScanParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var commitSha: String
    public var tool: ScanToolName?

    public init(pipelineId: String, commitSha: String, tool: ScanToolName? = nil) {
        self.pipelineId = pipelineId
        self.commitSha = commitSha
        self.tool = tool
    }
}

/// A commit scan of a requester ended (sent to the gateway through the bridge's outbox, once per requester).
public struct ScanUpdate: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var tool: ScanToolName
    public var commitSha: String
    /// completed or failed.
    public var status: CommitScanStatus
    public var error: String?

    public init(pipelineId: String, tool: ScanToolName, commitSha: String, status: CommitScanStatus, error: String?) {
        self.pipelineId = pipelineId
        self.tool = tool
        self.commitSha = commitSha
        self.status = status
        self.error = error
    }
}

extension GatewayMethods {
    public static let scanProgress = RPCMethod<ScanUpdate, Empty>(
        "pipeline.scanProgress",
        summary: "A commit scan a pipeline asked for ended: the gateway pushes SCAN_UPDATE to the pipeline's owner."
    )
}

/// The scan tools the bridge runs.
public enum ScanToolName: String, ContractEnum {
    case trivy
    case sonar
}

/// Where a commit scan stands.
public enum CommitScanStatus: String, ContractEnum {
    case pending
    /// The tool runs; for SonarQube also while the server analyses, until its webhook arrives.
    case running
    case completed
    case failed
}

/// What a requester asks of the tools; scans with equal configurations are shared.
public struct ScanConfiguration: Codable, Sendable, Equatable {
    /// Trivy's `--scanners` (`vuln`, `misconfig`, `secret`, `license`); empty takes the bridge's default.
    public var trivyScanners: [String]
    /// Further Trivy arguments, placed before the target.
    public var trivyExtraArgs: [String]
    /// The contents of a `trivy.yaml` handed to Trivy with `--config` (part of the configuration:
    /// scans with different files are not shared).
    public var trivyConfigYAML: String?
    /// SonarQube's project key: `{version}` (the requester), `{repository}`, `{owner}`, `{name}`, `{commit}`, `{short}`.
    public var sonarProjectKeyPattern: String?
    /// Further `sonar.*` properties for the scanner.
    public var sonarProperties: [String: String]

    public init(
        trivyScanners: [String] = [], trivyExtraArgs: [String] = [], trivyConfigYAML: String? = nil, sonarProjectKeyPattern: String? = nil,
        sonarProperties: [String: String] = [:]
    ) {
        self.trivyScanners = trivyScanners
        self.trivyExtraArgs = trivyExtraArgs
        self.trivyConfigYAML = trivyConfigYAML
        self.sonarProjectKeyPattern = sonarProjectKeyPattern
        self.sonarProperties = sonarProperties
    }

    /// Why the scanner-bridge would refuse this configuration, or nil when it takes it (checked by
    /// the bridge on every request, and by the gateway before it stores a dataset version).
    public var refusal: String? {
        let known = ["license", "misconfig", "secret", "vuln"]
        if let bad = trivyScanners.first(where: { !known.contains($0) }) {
            return "Trivy scanner '\(bad)' is not one of \(known.joined(separator: ", "))"
        }
        if let pattern = sonarProjectKeyPattern, !pattern.contains("{commit}"), !pattern.contains("{short}") {
            return "the SonarQube project-key pattern must contain {commit} or {short}, so each commit has its own component"
        }
        return nil
    }

    /// Every field may be left out and takes its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        trivyScanners = try container.decodeIfPresent([String].self, forKey: .trivyScanners) ?? []
        trivyExtraArgs = try container.decodeIfPresent([String].self, forKey: .trivyExtraArgs) ?? []
        trivyConfigYAML = try container.decodeIfPresent(String.self, forKey: .trivyConfigYAML)
        sonarProjectKeyPattern = try container.decodeIfPresent(String.self, forKey: .sonarProjectKeyPattern)
        sonarProperties = try container.decodeIfPresent([String: String].self, forKey: .sonarProperties) ?? [:]
    }
}

/// Asks the scanner-bridge to scan commits for a requester (a repository config, a dataset version).
public struct ScanRequest: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var githubId: Int64
    /// `owner/name`.
    public var fullName: String
    /// 40-digit commit ids; duplicates are scanned once.
    public var commits: [String]
    public var tools: [ScanToolName]
    public var configuration: ScanConfiguration
    /// Prefixed metric names or wildcards (`trivy_vuln_*`, `sonar_ncloc`); empty keeps every metric.
    public var selectedMetrics: [String]

    public init(
        pipelineId: String, githubId: Int64, fullName: String, commits: [String], tools: [ScanToolName],
        configuration: ScanConfiguration = ScanConfiguration(), selectedMetrics: [String] = []
    ) {
        self.pipelineId = pipelineId
        self.githubId = githubId
        self.fullName = fullName
        self.commits = commits
        self.tools = tools
        self.configuration = configuration
        self.selectedMetrics = selectedMetrics
    }
}

public struct ScanRequestAccepted: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// Scans this request created (the others already existed and are shared).
    public var created: Int
    /// Scans the requester now waits for or has, this request's included.
    public var requested: Int

    public init(pipelineId: String, created: Int, requested: Int) {
        self.pipelineId = pipelineId
        self.created = created
        self.requested = requested
    }
}

public struct ScanStatusParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// Only this tool (retry); nil for both.
    public var tool: ScanToolName?

    public init(pipelineId: String, tool: ScanToolName? = nil) {
        self.pipelineId = pipelineId
        self.tool = tool
    }
}

/// One tool's scans of a requester by status.
public struct ScanCounts: Codable, Sendable, Equatable {
    public var tool: ScanToolName
    public var pending: Int
    public var running: Int
    public var completed: Int
    public var failed: Int

    public init(tool: ScanToolName, pending: Int = 0, running: Int = 0, completed: Int = 0, failed: Int = 0) {
        self.tool = tool
        self.pending = pending
        self.running = running
        self.completed = completed
        self.failed = failed
    }
}

/// A commit whose scan failed, and why.
public struct FailedCommitScan: Codable, Sendable, Equatable {
    public var tool: ScanToolName
    public var commitSha: String
    public var error: String
    public var attempts: Int

    public init(tool: ScanToolName, commitSha: String, error: String, attempts: Int) {
        self.tool = tool
        self.commitSha = commitSha
        self.error = error
        self.attempts = attempts
    }
}

public struct ScanStatusSummary: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var counts: [ScanCounts]
    /// At most 200, newest first.
    public var failures: [FailedCommitScan]

    public init(pipelineId: String, counts: [ScanCounts], failures: [FailedCommitScan]) {
        self.pipelineId = pipelineId
        self.counts = counts
        self.failures = failures
    }
}

public struct ScanRetryResult: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var queued: Int

    public init(pipelineId: String, queued: Int) {
        self.pipelineId = pipelineId
        self.queued = queued
    }
}

/// A finished scan's metrics for one requester, already prefixed and filtered to its selection.
public struct ScanMetricsBackfill: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var githubId: Int64
    /// The build's head commit, as the requester named it.
    public var commitSha: String
    public var tool: ScanToolName
    public var metrics: [String: Double]

    public init(pipelineId: String, githubId: Int64, commitSha: String, tool: ScanToolName, metrics: [String: Double]) {
        self.pipelineId = pipelineId
        self.githubId = githubId
        self.commitSha = commitSha
        self.tool = tool
        self.metrics = metrics
    }
}

public struct ScanMetricsBackfillResult: Codable, Sendable, Equatable {
    /// Vectors that took the metrics now; later vectors of the commit take them when extracted.
    public var vectorsUpdated: Int

    public init(vectorsUpdated: Int) {
        self.vectorsUpdated = vectorsUpdated
    }
}

/// Asks the ingestor for one commit checked out on disk, held until released.
public struct CommitCheckoutParams: Codable, Sendable, Equatable {
    public var githubId: Int64
    public var commitSha: String
    /// Who holds the worktree (`scan:trivy:42`); the worktree stays while any holder remains.
    public var holder: String

    public init(githubId: Int64, commitSha: String, holder: String) {
        self.githubId = githubId
        self.commitSha = commitSha
        self.holder = holder
    }
}

public struct CommitCheckout: Codable, Sendable, Equatable {
    /// The worktree's directory (under the shared data directory).
    public var path: String
    /// The commit checked out: the one asked for, or the commit replayed from its patch.
    public var effectiveSha: String

    public init(path: String, effectiveSha: String) {
        self.path = path
        self.effectiveSha = effectiveSha
    }
}

extension IngestionMethods {
    public static let checkoutCommit = RPCMethod<CommitCheckoutParams, CommitCheckout>(
        "ingestion.checkoutCommit",
        summary: "Checks out one commit of an ingested repository (reusing its worktree when one exists) and holds it for the caller until released."
    )
    public static let releaseCommit = RPCMethod<CommitCheckoutParams, Empty>(
        "ingestion.releaseCommit",
        summary: "Drops a caller's hold on a commit's worktree; a worktree nobody needs any more stays as a cache until its room is needed."
    )
}

extension FeatureMethods {
    public static let backfillScanMetrics = RPCMethod<ScanMetricsBackfill, ScanMetricsBackfillResult>(
        "features.backfillScanMetrics",
        summary: "Merges a finished scan's metrics into scan_metrics of a pipeline's feature vectors of that commit, and keeps them for the commit's vectors extracted later. Idempotent."
    )
}
