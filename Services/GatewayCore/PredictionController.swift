import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird

/// `POST /api/v1/predictions` and `/predictions/batch`: the risk of a build scored by the active
/// model (nothing stored), from a repository's build by run id (an answer kept by
/// `ScoreAnswerCache` is given again) or from posted feature vectors. The answer is the predictor's `ScoreAnswer` as the predictor wrote it: the gateway
/// neither decodes nor encodes it again.
struct PredictionController: Sendable {
    let repositories: RepositoryConfigPostgresStore
    let directory: ServiceDirectory
    /// The predictor's answers by run id, given again without asking it.
    let answers: ScoreAnswerCache

    /// A batch of 1,000 vectors of the whole catalogue is a few MB: more than the default upload cap.
    static let maxBody = 32 * 1024 * 1024

    struct ScoreBody: Decodable {
        var repoId: Int64?
        var runId: Int64?
        /// A commit not built yet (with `repoId`): its features are computed on the spot.
        var commitSha: String?
        var branch: String?
        var workflow: String?
        var event: String?
        var actor: String?
        var features: [String: FeatureValue]?
        /// With `features`: the build's earlier builds on its branch, oldest first.
        var history: [[String: FeatureValue]]?
        var topContributions: Int?
    }

    /// A batch body as far as the gateway reads it: the vectors are counted, not decoded; the
    /// body goes to the predictor as it came (decoding and re-encoding 1,000 vectors here cost more
    /// than scoring them), and the predictor refuses a vector that is not name → value.
    struct BatchBody: Decodable {
        var vectors: Counted
        var topContributions: Int?
        var pipelineId: JSONValue?
        var runId: JSONValue?
    }

    /// A JSON array's length; its elements stay unread.
    struct Counted: Decodable {
        var count: Int

        init(from decoder: any Decoder) throws {
            count = try decoder.unkeyedContainer().count ?? 0
        }
    }

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/predictions", use: score)
        api.post("/predictions/batch", use: batch)
    }

    /// One build: a repository's build by run id, a repository's commit not built yet (features
    /// computed now from the clone and the history so far), or a posted vector.
    @Sendable func score(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let shapes = "{\"repoId\", \"runId\"}, {\"repoId\", \"commitSha\", \"branch\"?, \"workflow\"?, \"event\"?, \"actor\"?} or {\"features\": {name: value}}"
        let body: ScoreBody = try await decode(request, shapes + ", with \"topContributions\"?")
        let planned = [body.commitSha, body.branch, body.workflow, body.event, body.actor].contains { $0 != nil }
        if let features = body.features {
            guard body.repoId == nil, body.runId == nil, !planned else {
                throw APIError.badRequest("invalid_body", "send features, or a repoId with a runId or a commitSha, not both")
            }
            return try await call(ScoreRequest(vectors: [features], histories: body.history.map { [$0] }, topContributions: body.topContributions))
        }
        guard body.history == nil else {
            throw APIError.badRequest("invalid_body", "a history goes with posted features; a repository's build is scored with its own")
        }
        guard let repoId = body.repoId, (body.runId == nil) != (body.commitSha == nil), body.runId == nil || !planned else {
            throw APIError.badRequest("invalid_body", "send one of \(shapes)")
        }
        if let sha = body.commitSha, !CommitID.isValid(sha) {
            throw APIError.badRequest("invalid_commit", "a commit is 40 hexadecimal digits")
        }
        guard try await repositories.exists(id: repoId, ownerId: context.visibility) else {
            throw APIError.notFound("you have no repository \(repoId)")
        }
        let build = body.commitSha.map {
            PlannedBuild(commitSha: $0, branch: body.branch, workflowName: body.workflow, event: body.event, actor: body.actor)
        }
        let request = ScoreRequest(pipelineId: String(repoId), runId: body.runId, build: build, topContributions: body.topContributions)
        guard let runId = body.runId else { return try await call(request) }
        let key = ScoreAnswerCache.Key(repoId: repoId, runId: runId, top: body.topContributions)
        switch answers.lookup(key) {
        case .kept(let answer):
            return Self.response(answer)
        case .missing(let ticket):
            return try await call { client in
                let answer = try await client.callForJSON(PredictionMethods.score, request)
                answers.store(answer, for: key, ticket: ticket)
                return answer
            }
        }
    }

    /// Up to 1,000 vectors in one call; more is refused before anything is scored.
    @Sendable func batch(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let expected = "{\"vectors\": [{name: value}, ...]} (1 to 1,000), with \"topContributions\"?"
        let bytes = try await collect(request, expected)
        let body: BatchBody = try decode(bytes, expected)
        guard (1...1000).contains(body.vectors.count) else {
            throw APIError.badRequest("invalid_batch", "send 1 to 1,000 vectors, not \(body.vectors.count)")
        }
        guard body.pipelineId == nil, body.runId == nil else {
            throw APIError.badRequest("invalid_body", "a batch has vectors only; score a build by run id with POST /predictions")
        }
        return try await call { try await $0.call(method: PredictionMethods.score.name, paramsJSON: bytes) }
    }

    private func decode<Body: Decodable>(_ request: Request, _ expected: String) async throws -> Body {
        try decode(try await collect(request, expected), expected)
    }

    private func collect(_ request: Request, _ expected: String) async throws -> Data {
        do {
            return Data(try await request.body.collect(upTo: Self.maxBody).readableBytesView)
        } catch {
            throw APIError.badRequest("invalid_body", "expected \(expected): \(error)")
        }
    }

    private func decode<Body: Decodable>(_ bytes: Data, _ expected: String) throws -> Body {
        do {
            return try JSONDecoder().decode(Body.self, from: bytes)
        } catch {
            throw APIError.badRequest("invalid_body", "expected \(expected): \(error)")
        }
    }

    private static func response(_ answer: Data) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(data: answer)))
    }

    private func call(_ score: ScoreRequest) async throws -> Response {
        try await call { try await $0.callForJSON(PredictionMethods.score, score) }
    }

    /// The predictor's answer (its JSON) as the response, or its refusal as the REST error.
    private func call(_ send: (RPCClient) async throws -> Data) async throws -> Response {
        var answer: Data?
        var refusal: RPCError?
        do {
            answer = try await send(directory.client(for: .predictor))
        } catch {
            refusal = remoteError(error)
            if refusal == nil { throw APIError.unavailable("predictor_unavailable", "the predictor could not score: \(error)") }
        }
        if let answer { return Self.response(answer) }
        let reason = refusal?.data?.reason ?? refusal?.message ?? "refused"
        switch refusal?.kind {
        // The predictor's "no active model", or the feature-extractor's "nothing extracted yet" for a commit.
        case .conflict?: throw APIError.conflict(refusal?.message == "No active model" ? "no_active_model" : "not_ready", reason)
        case .notFound?: throw APIError.notFound(reason)
        // invalidParams: a posted batch whose vectors are not name → value (the gateway did not decode them).
        case .invalidInput?, .invalidParams?: throw APIError.badRequest("invalid_body", reason)
        default: throw APIError.unavailable("predictor_unavailable", "the predictor could not score: \(reason)")
        }
    }
}
