/// Counts of a binary decision, "positive" being a failed build.
public struct ConfusionMatrix: Codable, Sendable, Equatable {
    public var truePositives = 0
    public var falsePositives = 0
    public var trueNegatives = 0
    public var falseNegatives = 0

    public init(truePositives: Int = 0, falsePositives: Int = 0, trueNegatives: Int = 0, falseNegatives: Int = 0) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.trueNegatives = trueNegatives
        self.falseNegatives = falseNegatives
    }
}

/// How well failure probabilities separate failed from passed builds.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    public var count: Int
    public var failures: Int
    /// The probability at or above which a build is called failed for the threshold metrics.
    public var threshold: Double
    public var confusion: ConfusionMatrix
    public var accuracy: Double
    /// Precision, recall and F1 of the failed class; 0 when undefined (no predicted/actual failure).
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// Area under the ROC curve (ties count one half); nil when only one class is present.
    public var rocAUC: Double?
    /// Average precision (scikit-learn's `average_precision_score`), the usual PR AUC; nil without failures.
    public var prAUC: Double?
    /// Mean squared error of the probability.
    public var brier: Double

    public init(probabilities: [Double], failed: [Bool], threshold: Double = 0.5) throws(LearningError) {
        try self.init(probabilities: probabilities, failed: failed, threshold: threshold, calledFailed: probabilities.map { $0 >= threshold })
    }

    /// With each build's call made elsewhere (builds served by different models, each at its own
    /// cut-off); `threshold` is then only reported.
    init(probabilities: [Double], failed: [Bool], threshold: Double, calledFailed: [Bool]) throws(LearningError) {
        guard probabilities.count == failed.count, calledFailed.count == failed.count else {
            throw .invalidInput("\(probabilities.count) probabilities for \(failed.count) outcomes")
        }
        guard !probabilities.isEmpty else { throw .invalidInput("no rows to evaluate") }
        var confusion = ConfusionMatrix()
        var squared = 0.0
        for ((p, y), called) in zip(zip(probabilities, failed), calledFailed) {
            switch (called, y) {
            case (true, true): confusion.truePositives += 1
            case (true, false): confusion.falsePositives += 1
            case (false, false): confusion.trueNegatives += 1
            case (false, true): confusion.falseNegatives += 1
            }
            squared += (p - (y ? 1 : 0)) * (p - (y ? 1 : 0))
        }
        let c = confusion
        count = probabilities.count
        failures = c.truePositives + c.falseNegatives
        self.threshold = threshold
        self.confusion = c
        accuracy = Double(c.truePositives + c.trueNegatives) / Double(count)
        precision = c.truePositives + c.falsePositives == 0 ? 0 : Double(c.truePositives) / Double(c.truePositives + c.falsePositives)
        recall = failures == 0 ? 0 : Double(c.truePositives) / Double(failures)
        f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        brier = squared / Double(count)
        rocAUC = Self.rocAUC(probabilities, failed)
        prAUC = Self.averagePrecision(probabilities, failed)
    }

    /// Mann–Whitney: the share of (failed, passed) pairs ranked the right way, ties one half.
    static func rocAUC(_ scores: [Double], _ failed: [Bool]) -> Double? {
        let positives = failed.filter { $0 }.count
        let negatives = failed.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let averageRank = Double(start + end) / 2 + 1
            for i in start...end where failed[order[i]] { rankSum += averageRank }
            start = end + 1
        }
        return (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }

    /// Σ (Rₙ − Rₙ₋₁)·Pₙ over the distinct thresholds, highest first.
    static func averagePrecision(_ scores: [Double], _ failed: [Bool]) -> Double? {
        let positives = failed.filter { $0 }.count
        guard positives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var truePositives = 0, seen = 0
        var previousRecall = 0.0, sum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            for i in start...end where failed[order[i]] { truePositives += 1 }
            seen = end + 1
            let recall = Double(truePositives) / Double(positives)
            sum += (recall - previousRecall) * Double(truePositives) / Double(seen)
            previousRecall = recall
            start = end + 1
        }
        return sum
    }
}
