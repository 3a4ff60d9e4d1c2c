/// The previous-outcome baseline: a build fails if the previous build of the same branch failed.
/// Published work on build-outcome prediction finds it hard to beat, so every evaluation puts it
/// beside the models. A branch never seen gets the failure rate observed so far.
public struct ParrotBaseline: Sendable {
    private var lastOutcome: [String: Bool] = [:]
    private var observed = 0
    private var failures = 0

    public init() {}

    /// 1 or 0 from the branch's previous build, else the running failure rate.
    public func probability(branch: String) -> Double {
        if let last = lastOutcome[branch] { return last ? 1 : 0 }
        return observed == 0 ? 0 : Double(failures) / Double(observed)
    }

    /// Records a finished build; call in time order.
    public mutating func observe(branch: String, failed: Bool) {
        lastOutcome[branch] = failed
        observed += 1
        if failed { failures += 1 }
    }

    /// Walks `history` then `evaluated` (each in time order), predicting every evaluated build
    /// before observing it, as the baseline would have in production.
    public static func predictions(history: [(branch: String, failed: Bool)], evaluated: [(branch: String, failed: Bool)]) -> [Double] {
        var parrot = ParrotBaseline()
        for build in history { parrot.observe(branch: build.branch, failed: build.failed) }
        return evaluated.map { build in
            defer { parrot.observe(branch: build.branch, failed: build.failed) }
            return parrot.probability(branch: build.branch)
        }
    }
}
