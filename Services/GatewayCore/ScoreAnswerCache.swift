import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Synchronization

/// The predictor's answers to scores by run id (`POST /predictions` with `runId`), kept as the
/// JSON they came in, so that asking again costs the gateway no call. Only an answer of the
/// version the registry says is active is kept (the registry tells the gateway of every change,
/// and the gateway asks it at start; until it knows, nothing is kept), and all are forgotten when
/// it changes; a repository's answers are forgotten whenever its processing or prediction reports
/// (its vectors may have changed, and the predictor forgot its own before any prediction report),
/// on repredict, retry-predictions and deletion; none outlives `GATEWAY_SCORE_CACHE_SECONDS`.
final class ScoreAnswerCache: Sendable {
    struct Key: Hashable, Sendable {
        var repoId: Int64
        var runId: Int64
        var top: Int?
    }

    private struct Known {
        /// The sequence of the registry's last change applied; -1 before any.
        var sequence: Int64 = -1
        /// The active version of the standard model; nil while none is active or none is known.
        var version: Int?
    }

    /// The part of an answer read to check its version.
    private struct AnsweredBy: Decodable {
        struct Model: Decodable {
            var modelName: String
            var version: Int
        }

        var model: Model
    }

    private let answers: ExpiringCache<Key, Data>
    private let known = Mutex(Known())

    init(lifetime: Duration, capacity: Int) {
        answers = ExpiringCache(lifetime: lifetime, capacity: capacity)
    }

    static let lifetimeSetting: Setting<Duration> = .seconds(
        "GATEWAY_SCORE_CACHE_SECONDS", default: 60, in: 0...86_400,
        meaning: "how long the predictor's answer to a score by run id is given again without asking it (at most 20,000 kept; 0: never)")

    /// Applies the registry's change of the active model (an older one is ignored).
    func apply(_ change: ActiveModelChange) {
        guard change.modelName == ModelNames.standard else { return }
        let applied = known.withLock { known in
            guard change.sequence > known.sequence else { return false }
            known = Known(sequence: change.sequence, version: change.active?.version)
            return true
        }
        // After the version moved: an answer of the old one stored from now on is refused by its ticket or its version.
        if applied { answers.removeAll() }
    }

    func lookup(_ key: Key) -> ExpiringCache<Key, Data>.Lookup {
        answers.lookup(key)
    }

    /// Keeps `answer` when the active version made it.
    func store(_ answer: Data, for key: Key, ticket: ExpiringCache<Key, Data>.Ticket) {
        guard answers.isEnabled, let version = known.withLock({ $0.version }),
            let answered = try? JSONDecoder().decode(AnsweredBy.self, from: answer),
            answered.model.modelName == ModelNames.standard, answered.model.version == version
        else { return }
        answers.store(answer, for: key, ticket: ticket)
    }

    /// Forgets a repository's answers: its vectors or predictions may have changed.
    func forget(repoId: Int64) {
        answers.removeAll { $0.repoId == repoId }
    }
}
