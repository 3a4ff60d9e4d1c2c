import BuildRiskContracts
import BuildRiskRuntime
import Foundation

/// Answers of builds scored by run id (the `ScoreAnswer` as encoded), kept so that asking again
/// neither reads the build's vector from the feature-extractor nor scores and encodes it anew.
/// An answer serves only the loaded model that made it (its key holds the model's `sequence`: a
/// swap, even to the same version loaded again, misses), only for `PREDICTOR_SCORE_CACHE_SECONDS`,
/// and a pipeline's answers are dropped when the predictor is told that its vectors may have
/// changed (a processing run ended and asks for predictions, a repredict, a retry, a forget). The
/// lifetime bounds what nobody tells the predictor: scan metrics back-filled into vectors, an
/// earlier build extracted late into a branch history.
struct ScoreCacheKey: Hashable, Sendable {
    var pipelineId: String
    var runId: Int64
    var top: Int
    /// The `ServedModel.sequence` of the model that scored it.
    var model: Int64
}

typealias ScoreCache = ExpiringCache<ScoreCacheKey, Data>

enum ScoreCacheSettings {
    static let lifetime: Setting<Duration> = .seconds(
        "PREDICTOR_SCORE_CACHE_SECONDS", default: 60, in: 0...86_400,
        meaning: "how long a build's score by run id is answered again without reading its vector anew (0: never)")
    static let capacity: Setting<Int> = .integer(
        "PREDICTOR_SCORE_CACHE_ENTRIES", default: 20_000, in: 0...10_000_000,
        meaning: "answers by run id kept at most (each a few kB: the answer's JSON)")
    static let all = [lifetime.declaration, capacity.declaration]

    /// The cache as `environment` sets it; a bad value throws with the variable's name.
    static func cache(_ environment: [String: String]) throws -> ScoreCache {
        ScoreCache(lifetime: try lifetime.read(environment), capacity: try capacity.read(environment))
    }
}

extension ExpiringCache where Key == ScoreCacheKey {
    /// Drops a pipeline's scores: its vectors may have changed.
    func forget(pipelineId: String) {
        removeAll { $0.pipelineId == pipelineId }
    }
}
