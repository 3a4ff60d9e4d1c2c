import BuildRiskContracts
import Foundation

/// The inputs of the sequence model: for each build, the feature vectors of the previous
/// `length − 1` builds of the same branch and its own, oldest first, each with a leading
/// "present" flag (a branch with fewer earlier builds is padded with zero vectors, flag 0).
public struct BranchSequences: Sendable {
    public let count: Int
    public let length: Int
    /// Values per step: the matrix's columns plus the flag.
    public let width: Int
    /// `count × length × width`, sample after sample.
    public let values: [Float]
    /// Per sample, how many earlier builds of its branch it holds (0 … length − 1).
    public let earlier: [Int]

    /// Builds the sequences of `matrix` (rows in time order, `branches` one per row); `history`
    /// (the rows before these, in time order, with their branches) seeds each branch's past.
    public init(_ matrix: FeatureMatrix, branches: [String], length: Int = 6, history: (FeatureMatrix, [String])? = nil) throws(LearningError) {
        guard branches.count == matrix.rowCount else { throw .invalidInput("\(matrix.rowCount) rows but \(branches.count) branch keys") }
        guard length >= 1 else { throw .invalidInput("a sequence needs at least one step") }
        if let history, history.0.columnNames != matrix.columnNames || history.1.count != history.0.rowCount {
            throw .invalidInput("the history's columns or branch keys do not match")
        }
        // The history's rows, then the matrix's, as one time line; each row's previous rows on its branch.
        var all = matrix
        if let history {
            all = try FeatureMatrix(rowCount: history.0.rowCount + matrix.rowCount, columnNames: matrix.columnNames, values: history.0.values + matrix.values)
        }
        let keys = (history?.1 ?? []) + branches
        let offset = keys.count - branches.count
        var recent: [String: [Int]] = [:]
        var previous: [[Int]] = []
        previous.reserveCapacity(branches.count)
        for (row, key) in keys.enumerated() {
            if row >= offset { previous.append(recent[key] ?? []) }
            recent[key, default: []].append(row)
            if recent[key]!.count > length - 1 { recent[key]!.removeFirst() }
        }
        try self.init(matrix, previous: previous, in: all, length: length)
    }

    /// Each row of `matrix` after its `previous` rows of `history` (oldest first; only the last
    /// `length − 1` are read): the sequences of builds whose branch history the caller looked up.
    public init(_ matrix: FeatureMatrix, previous: [[Int]], in history: FeatureMatrix, length: Int) throws(LearningError) {
        guard previous.count == matrix.rowCount else { throw .invalidInput("\(matrix.rowCount) rows but \(previous.count) histories") }
        guard history.columnNames == matrix.columnNames else { throw .invalidInput("the history's columns do not match") }
        guard length >= 1 else { throw .invalidInput("a sequence needs at least one step") }
        let width = matrix.columnCount + 1
        var values = [Float](repeating: 0, count: matrix.rowCount * length * width)
        var earlier = [Int](repeating: 0, count: matrix.rowCount)
        for index in 0..<matrix.rowCount {
            let past = previous[index].suffix(length - 1)
            guard past.allSatisfy({ (0..<history.rowCount).contains($0) }) else { throw .invalidInput("a history row is out of range") }
            earlier[index] = past.count
            let steps = past.map { history.row($0) } + [matrix.row(index)]
            let base = index * length * width + (length - steps.count) * width
            for (step, row) in steps.enumerated() {
                let start = base + step * width
                values[start] = 1
                for (column, value) in row.enumerated() { values[start + 1 + column] = value.isNaN ? 0 : value }
            }
        }
        self.init(count: matrix.rowCount, length: length, width: width, values: values, earlier: earlier)
    }

    init(count: Int, length: Int, width: Int, values: [Float], earlier: [Int]) {
        self.count = count
        self.length = length
        self.width = width
        self.values = values
        self.earlier = earlier
    }

    func sample(_ index: Int) -> ArraySlice<Float> {
        values[index * length * width..<(index + 1) * length * width]
    }

    public func samples(_ indices: some Collection<Int>) -> BranchSequences {
        var picked: [Float] = []
        picked.reserveCapacity(indices.count * length * width)
        for index in indices { picked.append(contentsOf: sample(index)) }
        return BranchSequences(count: indices.count, length: length, width: width, values: picked, earlier: indices.map { earlier[$0] })
    }
}

/// A small GRU (Cho et al. 2014) over a build's branch history, then a logistic output on the last
/// hidden state; trained with Adam on the mean log loss + l2/2·‖W‖². Written by hand because no
/// Swift or Debian library fits; at this size (hidden 16, six steps, a few dozen inputs) plain
/// loops are fast enough and BLAS would not pay for its calls. The backward pass is checked
/// against finite differences in LearningTests.
public struct GRUClassifier: Codable, Sendable, Equatable {
    public struct Parameters: Codable, Sendable, Equatable {
        public var hidden: Int = 16
        public var epochs: Int = 8
        public var batchSize: Int = 64
        public var learningRate: Double = 0.01
        public var l2: Double = 1e-4
        public var seed: UInt64 = 1

        public init() {}
    }

    public let inputWidth: Int
    public let hidden: Int
    /// Wz Uz bz, Wr Ur br, Wn Un bn (each W hidden×input, U hidden×hidden), then v (hidden) and c.
    public var weights: [Double]

    public init(inputWidth: Int, hidden: Int, seed: UInt64) {
        self.inputWidth = inputWidth
        self.hidden = hidden
        var random = SplitMix64(seed: seed)
        let bound = 1 / Double(hidden).squareRoot()
        weights = (0..<Self.size(inputWidth, hidden)).map { _ in (Double(random.next() >> 11) / Double(1 << 53) * 2 - 1) * bound }
    }

    static func size(_ d: Int, _ h: Int) -> Int { 3 * (h * d + h * h + h) + h + 1 }

    private struct Layout {
        let d: Int, h: Int
        // Gate g (0 = update z, 1 = reset r, 2 = candidate n).
        func w(_ g: Int) -> Int { g * (h * d + h * h + h) }
        func u(_ g: Int) -> Int { w(g) + h * d }
        func b(_ g: Int) -> Int { u(g) + h * h }
        var v: Int { 3 * (h * d + h * h + h) }
        var c: Int { v + h }
    }

    /// The failure probability of every sample.
    public func predict(_ sequences: BranchSequences) throws(LearningError) -> [Double] {
        guard sequences.width == inputWidth else { throw .invalidInput("the model reads \(inputWidth) values per step, the sequences have \(sequences.width)") }
        var scratch = Scratch(length: sequences.length, h: hidden)
        return (0..<sequences.count).map { sigmoid(forward(sequences.sample($0), &scratch)) }
    }

    /// The penalised mean log loss over `indices` and its gradient; public for the gradient test.
    public func lossAndGradient(_ sequences: BranchSequences, failed: [Bool], indices: [Int], l2: Double) -> (Double, [Double]) {
        var gradient = [Double](repeating: 0, count: weights.count)
        var scratch = Scratch(length: sequences.length, h: hidden)
        var loss = 0.0
        let scale = 1 / Double(max(indices.count, 1))
        for index in indices {
            let sample = sequences.sample(index)
            let logit = forward(sample, &scratch)
            let y = failed[index] ? 1.0 : 0.0
            loss += (softplus(logit) - y * logit) * scale
            backward(sample, &scratch, dLogit: (sigmoid(logit) - y) * scale, into: &gradient)
        }
        let layout = Layout(d: inputWidth, h: hidden)
        for j in 0..<layout.v where !isBias(j, layout) {
            loss += l2 / 2 * weights[j] * weights[j]
            gradient[j] += l2 * weights[j]
        }
        return (loss, gradient)
    }

    private func isBias(_ j: Int, _ layout: Layout) -> Bool {
        (0..<3).contains { j >= layout.b($0) && j < layout.b($0) + hidden }
    }

    /// Trains with Adam; reports the mean train (and validation) log loss after every epoch and
    /// checks `isCancelled` before every mini-batch.
    public static func fit(
        _ sequences: BranchSequences,
        failed: [Bool],
        validation: (BranchSequences, [Bool])? = nil,
        parameters: Parameters = Parameters(),
        isCancelled: CancellationCheck = { false },
        onEpoch: (RoundMetrics) -> Void = { _ in }
    ) throws -> GRUClassifier {
        guard sequences.count == failed.count, sequences.count > 0 else { throw LearningError.invalidInput("\(sequences.count) sequences for \(failed.count) labels") }
        var model = GRUClassifier(inputWidth: sequences.width, hidden: parameters.hidden, seed: parameters.seed)
        var random = SplitMix64(seed: parameters.seed &+ 1)
        var m = [Double](repeating: 0, count: model.weights.count), v = m
        var step = 0.0
        let (beta1, beta2) = (0.9, 0.999)
        for epoch in 0..<parameters.epochs {
            var order = Array(0..<sequences.count)
            order.shuffle(using: &random)
            var total = 0.0
            for start in stride(from: 0, to: order.count, by: parameters.batchSize) {
                if isCancelled() { throw CancellationError() }
                let batch = Array(order[start..<min(start + parameters.batchSize, order.count)])
                let (loss, gradient) = model.lossAndGradient(sequences, failed: failed, indices: batch, l2: parameters.l2)
                total += loss * Double(batch.count)
                step += 1
                let correction1 = 1 - pow(beta1, step), correction2 = 1 - pow(beta2, step)
                for j in gradient.indices {
                    m[j] = beta1 * m[j] + (1 - beta1) * gradient[j]
                    v[j] = beta2 * v[j] + (1 - beta2) * gradient[j] * gradient[j]
                    model.weights[j] -= parameters.learningRate * (m[j] / correction1) / ((v[j] / correction2).squareRoot() + 1e-8)
                }
            }
            var validationLoss: Double?
            if let (validationSequences, validationFailed) = validation {
                validationLoss = model.lossAndGradient(validationSequences, failed: validationFailed, indices: Array(0..<validationSequences.count), l2: 0).0
            }
            onEpoch(RoundMetrics(round: epoch, trainLoss: total / Double(sequences.count), validationLoss: validationLoss))
        }
        return model
    }

    /// Per-step activations kept for the backward pass.
    private struct Scratch {
        var h: [[Double]], z: [[Double]], r: [[Double]], n: [[Double]]
        init(length: Int, h size: Int) {
            h = Array(repeating: Array(repeating: 0, count: size), count: length + 1)
            z = Array(repeating: Array(repeating: 0, count: size), count: length)
            r = z
            n = z
        }
    }

    private func forward(_ sample: ArraySlice<Float>, _ s: inout Scratch) -> Double {
        let d = inputWidth, h = hidden, layout = Layout(d: d, h: h)
        let length = sample.count / d
        let base = sample.startIndex
        for k in 0..<h { s.h[0][k] = 0 }
        for t in 0..<length {
            let x = base + t * d
            for k in 0..<h {
                var az = weights[layout.b(0) + k], ar = weights[layout.b(1) + k]
                for i in 0..<d {
                    let value = Double(sample[x + i])
                    az += weights[layout.w(0) + k * d + i] * value
                    ar += weights[layout.w(1) + k * d + i] * value
                }
                for j in 0..<h {
                    az += weights[layout.u(0) + k * h + j] * s.h[t][j]
                    ar += weights[layout.u(1) + k * h + j] * s.h[t][j]
                }
                s.z[t][k] = sigmoid(az)
                s.r[t][k] = sigmoid(ar)
            }
            for k in 0..<h {
                var an = weights[layout.b(2) + k]
                for i in 0..<d { an += weights[layout.w(2) + k * d + i] * Double(sample[x + i]) }
                for j in 0..<h { an += weights[layout.u(2) + k * h + j] * s.r[t][j] * s.h[t][j] }
                s.n[t][k] = tanh(an)
                s.h[t + 1][k] = (1 - s.z[t][k]) * s.n[t][k] + s.z[t][k] * s.h[t][k]
            }
        }
        var logit = weights[layout.c]
        for k in 0..<h { logit += weights[layout.v + k] * s.h[length][k] }
        return logit
    }

    private func backward(_ sample: ArraySlice<Float>, _ s: inout Scratch, dLogit: Double, into g: inout [Double]) {
        let d = inputWidth, h = hidden, layout = Layout(d: d, h: h)
        let length = sample.count / d
        let base = sample.startIndex
        var dh = (0..<h).map { dLogit * weights[layout.v + $0] }
        for k in 0..<h { g[layout.v + k] += dLogit * s.h[length][k] }
        g[layout.c] += dLogit
        var daz = [Double](repeating: 0, count: h), dar = daz, dan = daz, dg = daz
        for t in stride(from: length - 1, through: 0, by: -1) {
            let x = base + t * d
            let previous = s.h[t]
            var dPrevious = [Double](repeating: 0, count: h)
            for k in 0..<h {
                let z = s.z[t][k], n = s.n[t][k]
                dan[k] = dh[k] * (1 - z) * (1 - n * n)
                daz[k] = dh[k] * (previous[k] - n) * z * (1 - z)
                dPrevious[k] = dh[k] * z
            }
            for j in 0..<h {
                var sum = 0.0
                for k in 0..<h { sum += weights[layout.u(2) + k * h + j] * dan[k] }
                dg[j] = sum
            }
            for j in 0..<h {
                let r = s.r[t][j]
                dar[j] = dg[j] * previous[j] * r * (1 - r)
                dPrevious[j] += dg[j] * r
            }
            for k in 0..<h {
                for gate in 0..<3 {
                    let delta = gate == 0 ? daz[k] : gate == 1 ? dar[k] : dan[k]
                    g[layout.b(gate) + k] += delta
                    for i in 0..<d { g[layout.w(gate) + k * d + i] += delta * Double(sample[x + i]) }
                }
                for j in 0..<h {
                    g[layout.u(0) + k * h + j] += daz[k] * previous[j]
                    g[layout.u(1) + k * h + j] += dar[k] * previous[j]
                    g[layout.u(2) + k * h + j] += dan[k] * s.r[t][j] * previous[j]
                    dPrevious[j] += weights[layout.u(0) + k * h + j] * daz[k] + weights[layout.u(1) + k * h + j] * dar[k]
                }
            }
            dh = dPrevious
        }
    }
}
