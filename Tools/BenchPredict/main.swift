import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import NIOCore
import NIOHTTP1

// scripts/bench-predict: the latency of `POST /api/v1/predictions` by run id at N requests in
// flight, and of `POST /api/v1/predictions/batch` with 1,000 vectors, through the running system
// (scripts/up). Before measuring it makes sure a model is active: it trains one on the
// repository through `POST /api/v1/training/jobs` and activates the version through the registry
// (`POST /api/v1/models/build-risk/versions/{v}/activate`), as a user would.
//
// Usage: bench-predict --gateway URL --token T --repo ID [--requests 2000] [--in-flight 50] [--batches 5]

struct Options: Sendable {
    var gateway = ""
    var token = ""
    var repo = 0
    var requests = 2000
    var inFlight = 50
    var batches = 5
}

var parsed = Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    let value = arguments.next() ?? ""
    switch argument {
    case "--gateway": parsed.gateway = value
    case "--token": parsed.token = value
    case "--repo": parsed.repo = Int(value) ?? 0
    case "--requests": parsed.requests = max(1, Int(value) ?? parsed.requests)
    case "--in-flight": parsed.inFlight = max(1, Int(value) ?? parsed.inFlight)
    case "--batches": parsed.batches = max(1, Int(value) ?? parsed.batches)
    default:
        FileHandle.standardError.write(Data("bench-predict: unknown argument \(argument)\n".utf8))
        exit(2)
    }
}

let options = parsed

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

var pool = HTTPClient.Configuration.ConnectionPool()
pool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(options.inFlight, 8)
let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(connectionPool: pool))

/// One REST call; answers the status, the body and the seconds it took.
func call(_ method: HTTPMethod, _ path: String, _ body: Data? = nil) async throws -> (Int, Data, Double) {
    var request = HTTPClientRequest(url: options.gateway + "/api/v1" + path)
    request.method = method
    request.headers.add(name: "Authorization", value: "Bearer \(options.token)")
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: body))
    }
    return try await timed(request)
}

/// Sends a request; answers the status, the body and the seconds it took.
func timed(_ request: HTTPClientRequest) async throws -> (Int, Data, Double) {
    let start = ContinuousClock.now
    let response = try await client.execute(request, timeout: .seconds(60))
    let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
    let elapsed = start.duration(to: .now)
    return (Int(response.status.code), Data(bytes.readableBytesView), Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

struct TrainingBuild: Decodable {
    var runId: Int64
    var predictionStatus: String?
    var modelVersion: Int?
}

struct TrainingBuildPage: Decodable {
    var builds: [TrainingBuild]
}

struct BuildDetail: Decodable {
    var features: FeatureVectorRecord?
}

func trainingBuilds() async throws -> [TrainingBuild] {
    let (status, body, _) = try await call(.GET, "/repos/\(options.repo)/training-builds?limit=1000")
    guard status == 200 else { throw BenchError(description: "training-builds answered \(status): \(String(decoding: body, as: UTF8.self))") }
    return try JSONDecoder().decode(TrainingBuildPage.self, from: body).builds
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
}

func milliseconds(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }

// The repository's vectors, read through its builds' pages.
let builds = try await trainingBuilds()
guard !builds.isEmpty else { throw BenchError(description: "repository \(options.repo) has no processed builds") }
var vectors: [FeatureVectorRecord] = []
for build in builds {
    let (status, body, _) = try await call(.GET, "/repos/\(options.repo)/builds/\(build.runId)")
    guard status == 200, let vector = try JSONDecoder().decode(BuildDetail.self, from: body).features, vector.features != nil else { continue }
    if vector.status == .completed || vector.status == .partial { vectors.append(vector) }
}
print("bench-predict: repository \(options.repo), \(vectors.count) extracted builds")

// A model, unless every build is predicted already.
if !builds.allSatisfy({ $0.predictionStatus == "completed" }) {
    // Trained by the training-orchestrator and activated through the registry, as a user would.
    let body = #"{"parameters":{"kind":"xgboost","rounds":100,"maxDepth":6,"bootstrapModels":5},"repositoryIds":[\#(options.repo)]}"#
    let (startStatus, startBody, _) = try await call(.POST, "/training/jobs", Data(body.utf8))
    guard startStatus == 201, let job = try JSONSerialization.jsonObject(with: startBody) as? [String: Any], let jobId = job["id"] as? Int else {
        throw BenchError(description: "POST /training/jobs answered \(startStatus): \(String(decoding: startBody, as: UTF8.self))")
    }
    var version: Int?
    while version == nil {
        try await Task.sleep(for: .milliseconds(500))
        let (_, jobBody, _) = try await call(.GET, "/training/jobs/\(jobId)")
        let record = try JSONSerialization.jsonObject(with: jobBody) as? [String: Any] ?? [:]
        switch record["status"] as? String {
        case "completed": version = record["modelVersion"] as? Int
        case "failed", "cancelled": throw BenchError(description: "training job \(jobId) ended \(record["status"] ?? ""): \(record["error"] ?? "")")
        default: continue
        }
    }
    guard let trained = version else { throw BenchError(description: "training job \(jobId) named no model version") }
    let (activateStatus, activateBody, _) = try await call(.POST, "/models/\(ModelNames.standard)/versions/\(trained)/activate")
    guard activateStatus == 200 || activateStatus == 409 else {
        throw BenchError(description: "activating version \(trained) answered \(activateStatus): \(String(decoding: activateBody, as: UTF8.self))")
    }
    print("bench-predict: trained version \(trained) through the training-orchestrator (XGBoost, 100 rounds, depth 6, 5 bootstrap members) and activated it")
    let activated = ContinuousClock.now
    while !(try await trainingBuilds()).allSatisfy({ $0.predictionStatus == "completed" }) {
        guard activated.duration(to: .now) < .seconds(600) else { throw BenchError(description: "the builds were not predicted within 10 minutes") }
        try await Task.sleep(for: .milliseconds(200))
    }
    print("bench-predict: every build predicted \(milliseconds(Double(activated.duration(to: .now).components.seconds) + Double(activated.duration(to: .now).components.attoseconds) / 1e18)) after the activation")
}

/// `options.requests` calls, `inFlight` at a time; prints p50, p99, max and requests/s under `label`.
func underLoad(_ label: String, _ send: @escaping @Sendable (Int) async throws -> (Int, Data, Double)) async throws {
    let started = ContinuousClock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for worker in 0..<options.inFlight {
            group.addTask {
                var mine: [Double] = []
                var index = worker
                while index < options.requests {
                    let (status, body, seconds) = try await send(index)
                    guard status == 200 else { throw BenchError(description: "\(label) answered \(status): \(String(decoding: body, as: UTF8.self))") }
                    mine.append(seconds)
                    index += options.inFlight
                }
                return mine
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all.sorted()
    }
    let wall = started.duration(to: .now)
    let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    print("\(label): \(latencies.count) requests, \(options.inFlight) in flight: p50 \(milliseconds(percentile(latencies, 0.5))), p99 \(milliseconds(percentile(latencies, 0.99))), max \(milliseconds(latencies.last ?? 0)), \(String(format: "%.0f", Double(latencies.count) / wallSeconds)) requests/s")
}

// The floor: the gateway's `/health` (no token, no database, no other service) through the same
// client at the same concurrency; no route of the gateway can be faster than this.
let health = HTTPClientRequest(url: options.gateway + "/health")
try await underLoad("GET /health (the floor)") { _ in try await timed(health) }

// POST /predictions by run id, `inFlight` at a time.
let runIds = vectors.map(\.runId)
_ = try await call(.POST, "/predictions", Data(#"{"repoId":\#(options.repo),"runId":\#(runIds[0])}"#.utf8))  // warm-up
try await underLoad("POST /predictions by run id") { index in
    try await call(.POST, "/predictions", Data(#"{"repoId":\#(options.repo),"runId":\#(runIds[index % runIds.count])}"#.utf8))
}

// POST /predictions/batch with 1,000 vectors (the repository's, repeated to fill the batch).
let batchVectors = (0..<1000).map { vectors[$0 % vectors.count].features ?? [:] }
let batchBody = try JSONEncoder().encode(["vectors": batchVectors])
var batchTimes: [Double] = []
for _ in 0..<options.batches {
    let (status, body, seconds) = try await call(.POST, "/predictions/batch", batchBody)
    guard status == 200 else { throw BenchError(description: "POST /predictions/batch answered \(status): \(String(decoding: body, as: UTF8.self))") }
    batchTimes.append(seconds)
}
batchTimes.sort()
print("POST /predictions/batch of 1,000 vectors (\(batchBody.count / 1024) KiB): \(options.batches) runs, median \(milliseconds(percentile(batchTimes, 0.5))), min \(milliseconds(batchTimes.first ?? 0)), max \(milliseconds(batchTimes.last ?? 0))")
try await client.shutdown()
