import Foundation

/// L2-regularised logistic regression solved by Newton's method (IRLS) with a Cholesky solve.
///
/// Own code rather than liblinear: the inputs are a few dozen standardised columns, so the
/// (p+1)×(p+1) Hessian is tiny and Newton converges to the exact optimum in a handful of
/// iterations, with no extra system library, and the loop can report a loss and honour
/// cancellation after every iteration as the boosting loop does. The objective is scikit-learn's
/// with `C = 1 / l2`: Σ log-loss + l2/2 · ‖w‖², the intercept not penalised.
public struct LogisticRegression: Codable, Sendable, Equatable {
    public struct Parameters: Codable, Sendable, Equatable {
        public var l2: Double = 1
        public var maxIterations: Int = 100
        /// Stop when no coefficient moves by more than this in an iteration.
        public var tolerance: Double = 1e-8

        public init(l2: Double = 1, maxIterations: Int = 100, tolerance: Double = 1e-8) {
            self.l2 = l2
            self.maxIterations = maxIterations
            self.tolerance = tolerance
        }
    }

    public var weights: [Double]
    public var intercept: Double

    public init(weights: [Double], intercept: Double) {
        self.weights = weights
        self.intercept = intercept
    }

    /// Fits on `training`; reports the mean training log loss after each Newton iteration.
    public static func fit(
        _ training: LabeledMatrix,
        parameters: Parameters = Parameters(),
        isCancelled: CancellationCheck = { false },
        onIteration: (RoundMetrics) -> Void = { _ in }
    ) throws -> LogisticRegression {
        let x = training.features
        guard x.rowCount > 0 else { throw LearningError.invalidInput("no training rows") }
        guard !x.values.contains(where: \.isNaN) else {
            throw LearningError.invalidInput("logistic regression needs imputed inputs (use Preprocessor.Options.linear)")
        }
        let y = training.failed.map { $0 ? 1.0 : 0.0 }
        let p = x.columnCount + 1  // the last coefficient is the intercept
        var beta = [Double](repeating: 0, count: p)
        var (loss, _) = objective(beta, x, y, l2: parameters.l2, withGradient: false)
        for iteration in 0..<parameters.maxIterations {
            if isCancelled() { throw CancellationError() }
            let (gradient, hessian) = gradientAndHessian(beta, x, y, l2: parameters.l2)
            let step = try solveCholesky(hessian, gradient, size: p)
            // Newton's step with halving: the objective is convex, so a full step almost always
            // decreases it, but separable data can overshoot in the first iterations.
            var scale = 1.0
            var candidate = beta
            var candidateLoss = loss
            for _ in 0..<30 {
                candidate = zip(beta, step).map { $0 - scale * $1 }
                (candidateLoss, _) = objective(candidate, x, y, l2: parameters.l2, withGradient: false)
                if candidateLoss <= loss + 1e-12 { break }
                scale /= 2
            }
            let moved = zip(beta, candidate).map { abs($0 - $1) }.max() ?? 0
            beta = candidate
            loss = candidateLoss
            onIteration(RoundMetrics(round: iteration, trainLoss: meanLogLoss(beta, x, y), validationLoss: nil))
            if moved < parameters.tolerance { break }
        }
        return LogisticRegression(weights: Array(beta.dropLast()), intercept: beta[p - 1])
    }

    /// The log-odds of failure per row.
    public func margins(_ features: FeatureMatrix) throws(LearningError) -> [Double] {
        guard features.columnCount == weights.count else {
            throw .invalidInput("the model has \(weights.count) inputs, the matrix \(features.columnCount)")
        }
        return (0..<features.rowCount).map { row in
            var z = intercept
            for (w, v) in zip(weights, features.row(row)) { z += w * Double(v) }
            return z
        }
    }

    public func predict(_ features: FeatureMatrix) throws(LearningError) -> [Double] {
        try margins(features).map(sigmoid)
    }

    /// Per-feature contributions to the log-odds (weight × value), with the intercept last, the
    /// same shape as XGBoost's `pred_contribs`.
    public func contributions(_ features: FeatureMatrix) throws(LearningError) -> [[Float]] {
        _ = try margins(features)
        return (0..<features.rowCount).map { row in
            zip(weights, features.row(row)).map { Float($0 * Double($1)) } + [Float(intercept)]
        }
    }

    /// The penalised objective (Σ log-loss + l2/2·‖w‖²) and its gradient at `beta`, intercept last;
    /// public so a test can check the gradient against finite differences.
    public static func objective(_ beta: [Double], _ x: FeatureMatrix, _ y: [Double], l2: Double, withGradient: Bool = true) -> (Double, [Double]) {
        let p = beta.count
        var loss = 0.0
        var gradient = [Double](repeating: 0, count: withGradient ? p : 0)
        for row in 0..<x.rowCount {
            let values = x.row(row)
            var z = beta[p - 1]
            for (j, v) in values.enumerated() { z += beta[j] * Double(v) }
            loss += softplus(z) - y[row] * z
            if withGradient {
                let residual = sigmoid(z) - y[row]
                for (j, v) in values.enumerated() { gradient[j] += residual * Double(v) }
                gradient[p - 1] += residual
            }
        }
        for j in 0..<(p - 1) {
            loss += l2 / 2 * beta[j] * beta[j]
            if withGradient { gradient[j] += l2 * beta[j] }
        }
        return (loss, gradient)
    }

    static func gradientAndHessian(_ beta: [Double], _ x: FeatureMatrix, _ y: [Double], l2: Double) -> ([Double], [Double]) {
        let p = beta.count
        var gradient = [Double](repeating: 0, count: p)
        var hessian = [Double](repeating: 0, count: p * p)
        var augmented = [Double](repeating: 1, count: p)
        for row in 0..<x.rowCount {
            for (j, v) in x.row(row).enumerated() { augmented[j] = Double(v) }
            var z = 0.0
            for j in 0..<p { z += beta[j] * augmented[j] }
            let mu = sigmoid(z)
            let residual = mu - y[row]
            let weight = max(mu * (1 - mu), 1e-12)
            for j in 0..<p {
                gradient[j] += residual * augmented[j]
                let wj = weight * augmented[j]
                // Lower triangle only; mirrored below.
                for k in 0...j { hessian[j * p + k] += wj * augmented[k] }
            }
        }
        for j in 0..<(p - 1) {
            gradient[j] += l2 * beta[j]
            hessian[j * p + j] += l2
        }
        for j in 0..<p { for k in 0..<j { hessian[k * p + j] = hessian[j * p + k] } }
        return (gradient, hessian)
    }

    /// Solves A·x = b for a symmetric positive definite A (row-major); a tiny ridge is added when
    /// rounding leaves A semi-definite (an unpenalised constant column, say).
    static func solveCholesky(_ a: [Double], _ b: [Double], size n: Int) throws(LearningError) -> [Double] {
        for ridge in [0.0, 1e-10, 1e-6, 1e-3] {
            var l = [Double](repeating: 0, count: n * n)
            var ok = true
            outer: for i in 0..<n {
                for j in 0...i {
                    var sum = a[i * n + j] + (i == j ? ridge : 0)
                    for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                    if i == j {
                        guard sum > 0 else { ok = false; break outer }
                        l[i * n + i] = sum.squareRoot()
                    } else {
                        l[i * n + j] = sum / l[j * n + j]
                    }
                }
            }
            guard ok else { continue }
            var z = b
            for i in 0..<n {
                for k in 0..<i { z[i] -= l[i * n + k] * z[k] }
                z[i] /= l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                for k in (i + 1)..<n { z[i] -= l[k * n + i] * z[k] }
                z[i] /= l[i * n + i]
            }
            return z
        }
        throw .invalidInput("the logistic-regression Hessian is not positive definite")
    }

    private static func meanLogLoss(_ beta: [Double], _ x: FeatureMatrix, _ y: [Double]) -> Double {
        objective(beta, x, y, l2: 0, withGradient: false).0 / Double(max(x.rowCount, 1))
    }
}

@inline(__always) func sigmoid(_ z: Double) -> Double {
    z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
}

/// log(1 + e^z) without overflow.
@inline(__always) func softplus(_ z: Double) -> Double {
    z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
}
