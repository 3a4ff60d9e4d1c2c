// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// The eight services of BuildRisk; each is a thin executable over the shared runtime.
let services: [(product: String, target: String)] = [
    ("gateway", "Gateway"),
    ("source-validator", "SourceValidator"),
    ("ingestor", "Ingestor"),
    ("feature-extractor", "FeatureExtractor"),
    ("scanner-bridge", "ScannerBridge"),
    ("predictor", "Predictor"),
    ("dataset-splitter", "DatasetSplitter"),
    ("training-orchestrator", "TrainingOrchestrator"),
]

let runtimeDependencies: [Target.Dependency] = [
    "BuildRiskContracts",
    "BuildRiskRPC",
    "BuildRiskRuntime",
]

var targets: [Target] = [
    // Plain Codable/Sendable contract types and typed RPC descriptors; no framework import.
    .target(name: "BuildRiskContracts", path: "Shared/Contracts", swiftSettings: swiftSettings),
    // JSON-RPC 2.0 over HTTP/2: wire types, server dispatcher, typed client.
    .target(
        name: "BuildRiskRPC",
        dependencies: [
            "BuildRiskContracts",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Shared/RPC",
        swiftSettings: swiftSettings
    ),
    // Configuration, TLS material, database and migrations, durable jobs, outbox, health/metrics/admin.
    .target(
        name: "BuildRiskRuntime",
        dependencies: [
            "BuildRiskContracts",
            "BuildRiskRPC",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ],
        path: "Shared/Runtime",
        swiftSettings: swiftSettings
    ),
    // The GitHub REST client shared by the services that talk to GitHub (token pool, rate limits, ETags, retries).
    .target(
        name: "BuildRiskGitHub",
        dependencies: [
            "BuildRiskContracts",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Shared/GitHub",
        swiftSettings: swiftSettings
    ),
    // libgit2 (apt libgit2-dev), the git engine.
    .systemLibrary(name: "CLibGit2", path: "Shared/CLibGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
    // libgit2's socket stream with TCP_NODELAY (C, registered through git2/sys/stream.h).
    .target(name: "CGitStream", dependencies: ["CLibGit2"], path: "Shared/CGitStream"),
    // XGBoost's C API (apt libxgboost-dev, 1.7), the gradient-boosted-trees engine.
    .systemLibrary(name: "CXGBoost", path: "Shared/CXGBoost", pkgConfig: "xgboost", providers: [.apt(["libxgboost-dev"])]),
    // The learning engine: preprocessing, XGBoost, logistic regression, Parrot, metrics, calibration, artifacts.
    .target(name: "BuildRiskLearning", dependencies: ["CXGBoost", "BuildRiskContracts"], path: "Shared/Learning", swiftSettings: swiftSettings),
    // Build-log facts: steps, durations, errors, test-framework summaries. Plain Swift, no framework import.
    .target(name: "BuildRiskLogs", path: "Shared/BuildLogs", swiftSettings: swiftSettings),
    // libgit2 for every service that reads git: bare clones, fetches, history, diffs, worktrees, patch replay;
    // and BlockingWork, the one way blocking calls leave the concurrency pool.
    .target(
        name: "BuildRiskGit",
        dependencies: ["CLibGit2", "CGitStream", .product(name: "NIOPosix", package: "swift-nio")],
        path: "Shared/Git",
        swiftSettings: swiftSettings
    ),
    // The ingestor's domain: bare clones and worktrees (libgit2), fork commits, build logs, per-resource status.
    .target(
        name: "IngestorCore",
        dependencies: runtimeDependencies + [
            "BuildRiskGitHub",
            "BuildRiskGit",
            "BuildRiskLogs",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ],
        path: "Services/IngestorCore",
        swiftSettings: swiftSettings
    ),
    // The feature-extractor's domain: the feature DAG, its computations over runs, git history and logs, the extractor.
    .target(
        name: "FeatureExtractorCore",
        dependencies: runtimeDependencies + [
            "BuildRiskGit", "BuildRiskGitHub", "BuildRiskLogs",
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ],
        path: "Services/FeatureExtractorCore",
        swiftSettings: swiftSettings
    ),
    // The training-orchestrator's domain: training jobs on a bounded worker pool, experiments, the model registry.
    .target(
        name: "TrainingOrchestratorCore",
        dependencies: runtimeDependencies + [
            "BuildRiskLearning",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ],
        path: "Services/TrainingOrchestratorCore",
        swiftSettings: swiftSettings
    ),
    // The predictor's domain: the active model in memory, predictions per build with their history, scores on demand.
    .target(
        name: "PredictorCore",
        dependencies: runtimeDependencies + [
            "BuildRiskLearning", "BuildRiskGit",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        path: "Services/PredictorCore",
        swiftSettings: swiftSettings
    ),
    // The dataset-splitter's domain: a dataset version's quality report, data view, statistics and exports.
    .target(
        name: "DatasetSplitterCore",
        dependencies: runtimeDependencies + [
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ],
        path: "Services/DatasetSplitterCore",
        swiftSettings: swiftSettings
    ),
    // The gateway's domain: users, API tokens, step reports, system status.
    .target(
        name: "GatewayCore",
        dependencies: runtimeDependencies + [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
        ],
        path: "Services/GatewayCore",
        swiftSettings: swiftSettings
    ),
    // The source-validator's domain: the build warehouse, the GitHub client, repository imports.
    .target(
        name: "SourceValidatorCore",
        dependencies: runtimeDependencies + [
            "BuildRiskGitHub",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        path: "Services/SourceValidatorCore",
        swiftSettings: swiftSettings
    ),
    // The scanner-bridge's scan domain: Trivy runs and reports, sonar-scanner runs, the SonarQube webhook and Web API.
    .target(
        name: "ScannerBridgeCore",
        dependencies: runtimeDependencies + [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
        ],
        path: "Services/ScannerBridgeCore",
        swiftSettings: swiftSettings
    ),
    // Emulators of the scan tools for the demo and the tests; not services. `trivy-emulator` behaves as
    // `trivy fs --format json`; the SonarQube emulator serves the Web API and calls the webhook, and
    // `sonar-scanner-emulator` analyses a directory and submits to it.
    .executableTarget(name: "TrivyEmulator", path: "Tools/TrivyEmulator", swiftSettings: swiftSettings),
    .target(
        name: "SonarQubeEmulatorCore",
        dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Tools/SonarQubeEmulatorCore",
        swiftSettings: swiftSettings
    ),
    .executableTarget(
        name: "SonarQubeEmulator",
        dependencies: ["SonarQubeEmulatorCore", .product(name: "Hummingbird", package: "hummingbird")],
        path: "Tools/SonarQubeEmulator",
        swiftSettings: swiftSettings
    ),
    .executableTarget(
        name: "SonarScannerEmulator",
        dependencies: ["SonarQubeEmulatorCore", .product(name: "AsyncHTTPClient", package: "async-http-client")],
        path: "Tools/SonarScannerEmulator",
        swiftSettings: swiftSettings
    ),
    // An offline GitHub (world generator + REST emulator) for the demo and the tests; not a service.
    .target(
        name: "GitHubSandboxCore",
        dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ],
        path: "Tools/GitHubSandboxCore",
        swiftSettings: swiftSettings
    ),
    .executableTarget(
        name: "GitHubSandbox",
        dependencies: ["GitHubSandboxCore", .product(name: "Hummingbird", package: "hummingbird")],
        path: "Tools/GitHubSandbox",
        swiftSettings: swiftSettings
    ),
    // Operator tool: internal CA and certificates, database roles, OpenRPC documents.
    .executableTarget(
        name: "BuildRiskAdmin",
        dependencies: runtimeDependencies + ["GatewayCore", "FeatureExtractorCore"],
        path: "Tools/BuildRiskAdmin",
        swiftSettings: swiftSettings
    ),
    // scripts/bench-rpc: JSON-RPC throughput over HTTP/2 and HTTP/1.1.
    .executableTarget(
        name: "BenchRPC",
        dependencies: runtimeDependencies + [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ],
        path: "Tools/BenchRPC",
        swiftSettings: swiftSettings
    ),
    // scripts/bench-ingest: clone/fetch/worktree against the git CLI, log download + parse throughput.
    .executableTarget(
        name: "BenchIngest",
        dependencies: [
            "IngestorCore", "BuildRiskGit", "BuildRiskGitHub", "BuildRiskLogs", "GitHubSandboxCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        path: "Tools/BenchIngest",
        swiftSettings: swiftSettings
    ),
    // scripts/bench-scans: scans per minute through ScannerBridgeCore against the emulators.
    .executableTarget(
        name: "BenchScans",
        dependencies: [
            "ScannerBridgeCore", "SonarQubeEmulatorCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        path: "Tools/BenchScans",
        swiftSettings: swiftSettings
    ),
    // scripts/bench-features: the feature extractor's builds/s and peak memory on a sandbox repository (PyDriller beside it).
    .executableTarget(
        name: "BenchFeatures",
        dependencies: ["FeatureExtractorCore", "BuildRiskGit", "GitHubSandboxCore"],
        path: "Tools/BenchFeatures",
        swiftSettings: swiftSettings
    ),
    // bench-logs: BuildLogParser throughput (MB/s, lines/s) on generated or given log files.
    .executableTarget(name: "BenchLogs", dependencies: ["BuildRiskLogs"], path: "Tools/BenchLogs", swiftSettings: swiftSettings),
    // scripts/bench-models: the product's models against Python's xgboost/LightGBM and the Parrot baseline.
    .executableTarget(name: "BenchModels", dependencies: ["BuildRiskLearning"], path: "Tools/BenchModels", swiftSettings: swiftSettings),
    // scripts/bench-predict: POST /predictions latency at 50 in flight and a batch of 1,000, through the running system.
    .executableTarget(
        name: "BenchPredict",
        dependencies: runtimeDependencies + [.product(name: "AsyncHTTPClient", package: "async-http-client")],
        path: "Tools/BenchPredict",
        swiftSettings: swiftSettings
    ),
    // scripts/bench-export: export rows/s and the dataset-splitter's peak RSS, through the running services.
    .executableTarget(
        name: "BenchExport",
        dependencies: runtimeDependencies + [.product(name: "AsyncHTTPClient", package: "async-http-client")],
        path: "Tools/BenchExport",
        swiftSettings: swiftSettings
    ),
    // A worker process used by the job-queue tests (two processes, SIGKILL mid-job).
    .executableTarget(
        name: "JobProbe",
        dependencies: runtimeDependencies + [.product(name: "PostgresNIO", package: "postgres-nio")],
        path: "Tests/Fixtures/JobProbe",
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "BuildRiskTests",
        dependencies: runtimeDependencies + [
            "GatewayCore",
            "SourceValidatorCore",
            "IngestorCore",
            "FeatureExtractorCore",
            "TrainingOrchestratorCore",
            "PredictorCore",
            "DatasetSplitterCore",
            "BuildRiskGit",
            "BuildRiskLogs",
            "BuildRiskGitHub",
            "BuildRiskLearning",
            "GitHubSandboxCore",
            "ScannerBridgeCore",
            "SonarQubeEmulatorCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        ],
        path: "Tests/BuildRiskTests",
        swiftSettings: swiftSettings
    ),
]

for service in services {
    let extra: [Target.Dependency] = [
        "Gateway": ["GatewayCore"], "SourceValidator": ["SourceValidatorCore"], "Ingestor": ["IngestorCore"],
        "ScannerBridge": ["ScannerBridgeCore"], "FeatureExtractor": ["FeatureExtractorCore"],
        "TrainingOrchestrator": ["TrainingOrchestratorCore"],
        "Predictor": ["PredictorCore"], "DatasetSplitter": ["DatasetSplitterCore"],
    ][service.target] ?? []
    targets.append(
        .executableTarget(
            name: service.target,
            dependencies: runtimeDependencies + extra,
            path: "Services/\(service.target)",
            swiftSettings: swiftSettings
        )
    )
}

let package = Package(
    name: "buildrisk",
    platforms: [.macOS(.v15)],
    products: services.map { .executable(name: $0.product, targets: [$0.target]) } + [
        .executable(name: "buildrisk-admin", targets: ["BuildRiskAdmin"]),
        .executable(name: "bench-rpc", targets: ["BenchRPC"]),
        .executable(name: "bench-ingest", targets: ["BenchIngest"]),
        .executable(name: "bench-predict", targets: ["BenchPredict"]),
        .executable(name: "bench-export", targets: ["BenchExport"]),
        .executable(name: "bench-logs", targets: ["BenchLogs"]),
        .executable(name: "bench-features", targets: ["BenchFeatures"]),
        .executable(name: "bench-models", targets: ["BenchModels"]),
        .executable(name: "job-probe", targets: ["JobProbe"]),
        .executable(name: "github-sandbox", targets: ["GitHubSandbox"]),
        .executable(name: "trivy-emulator", targets: ["TrivyEmulator"]),
        .executable(name: "sonarqube-emulator", targets: ["SonarQubeEmulator"]),
        .executable(name: "sonar-scanner-emulator", targets: ["SonarScannerEmulator"]),
        .executable(name: "bench-scans", targets: ["BenchScans"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: targets
)
