import CXGBoost
import Foundation

/// Parameters of an XGBoost binary classifier; the names follow XGBoost's own so a run can be
/// repeated in Python with the same dictionary (`xgboostParameters`).
public struct XGBoostParameters: Codable, Sendable, Equatable {
    public var rounds: Int = 200
    public var maxDepth: Int = 6
    public var learningRate: Double = 0.1
    public var subsample: Double = 1
    public var columnSampleByTree: Double = 1
    public var minChildWeight: Double = 1
    public var lambda: Double = 1
    public var alpha: Double = 0
    public var maxBin: Int = 256
    /// `hist` is what BuildFast used and what Python's xgboost defaults to from 2.0 on.
    public var treeMethod: String = "hist"
    public var seed: Int = 0
    /// 0 lets XGBoost use every core.
    public var threads: Int = 0

    public init() {}

    public var xgboostParameters: [(String, String)] {
        [
            ("objective", "binary:logistic"),
            ("eval_metric", "logloss"),
            ("booster", "gbtree"),
            ("tree_method", treeMethod),
            ("max_depth", "\(maxDepth)"),
            ("eta", "\(learningRate)"),
            ("subsample", "\(subsample)"),
            ("colsample_bytree", "\(columnSampleByTree)"),
            ("min_child_weight", "\(minChildWeight)"),
            ("lambda", "\(lambda)"),
            ("alpha", "\(alpha)"),
            ("max_bin", "\(maxBin)"),
            ("seed", "\(seed)"),
            ("nthread", "\(threads)"),
            ("verbosity", "0"),
        ]
    }
}

/// The losses after one boosting round (or one solver iteration / epoch for the other models).
public struct RoundMetrics: Codable, Sendable, Equatable {
    /// 0-based.
    public var round: Int
    public var trainLoss: Double
    public var validationLoss: Double?

    public init(round: Int, trainLoss: Double, validationLoss: Double?) {
        self.round = round
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
    }
}

/// Throws `LearningError.xgboost` with XGBoost's own message when a C call returns non-zero.
func xgboostCall(_ name: String, _ code: Int32) throws(LearningError) {
    guard code != 0 else { return }
    throw .xgboost(call: name, message: XGBGetLastError().map { String(cString: $0) } ?? "no message")
}

/// An owned XGBoost DMatrix; NaN is the missing value, as in `FeatureMatrix`.
final class XGBoostData {
    let handle: DMatrixHandle

    init(_ matrix: FeatureMatrix, labels: [Float]? = nil, threads: Int = 0) throws(LearningError) {
        var out: DMatrixHandle?
        let code = matrix.values.withUnsafeBufferPointer {
            XGDMatrixCreateFromMat_omp($0.baseAddress, bst_ulong(matrix.rowCount), bst_ulong(matrix.columnCount), .nan, &out, Int32(threads))
        }
        try xgboostCall("XGDMatrixCreateFromMat", code)
        guard let out else { throw .xgboost(call: "XGDMatrixCreateFromMat", message: "no handle returned") }
        handle = out
        if let labels {
            let code = labels.withUnsafeBufferPointer { XGDMatrixSetFloatInfo(out, "label", $0.baseAddress, bst_ulong(labels.count)) }
            try xgboostCall("XGDMatrixSetFloatInfo(label)", code)
        }
    }

    deinit { XGDMatrixFree(handle) }
}

/// A trained XGBoost model. Every call into XGBoost is blocking C work: run it off the
/// concurrency pool. One lock serialises the calls because XGBoost documents prediction as
/// thread-safe but not training, saving or parameter changes on the same booster.
public final class XGBoostBooster: @unchecked Sendable {
    private let handle: BoosterHandle
    private let lock = NSLock()

    private init(handle: BoosterHandle) {
        self.handle = handle
    }

    deinit { XGBoosterFree(handle) }

    /// Loads a model saved by `modelJSON()` (or by Python's `Booster.save_model("x.json")`).
    public convenience init(modelJSON: Data) throws(LearningError) {
        var out: BoosterHandle?
        try xgboostCall("XGBoosterCreate", XGBoosterCreate(nil, 0, &out))
        guard let out else { throw .xgboost(call: "XGBoosterCreate", message: "no handle returned") }
        self.init(handle: out)
        let code = modelJSON.withUnsafeBytes { XGBoosterLoadModelFromBuffer(out, $0.baseAddress, bst_ulong($0.count)) }
        try xgboostCall("XGBoosterLoadModelFromBuffer", code)
    }

    /// Trains a binary classifier round by round, reporting the train (and validation) log loss of
    /// each round to `onRound` and checking `isCancelled` before every round; a cancelled training
    /// throws `CancellationError` and leaves nothing behind. With `base`, boosting continues from the
    /// base model's trees (warm start): `parameters.rounds` more rounds on the new data.
    public static func train(
        _ training: LabeledMatrix,
        validation: LabeledMatrix? = nil,
        parameters: XGBoostParameters,
        base: Data? = nil,
        isCancelled: CancellationCheck = { false },
        onRound: (RoundMetrics) -> Void = { _ in }
    ) throws -> XGBoostBooster {
        guard training.features.rowCount > 0 else { throw LearningError.invalidInput("no training rows") }
        if let validation, validation.features.columnNames != training.features.columnNames {
            throw LearningError.invalidInput("validation columns differ from training columns")
        }
        let trainData = try XGBoostData(training.features, labels: training.floatLabels, threads: parameters.threads)
        let validationData = try validation.map { v throws(LearningError) in
            try XGBoostData(v.features, labels: v.floatLabels, threads: parameters.threads)
        }
        var cache: [DMatrixHandle?] = [trainData.handle] + (validationData.map { [$0.handle] } ?? [])
        var out: BoosterHandle?
        try xgboostCall("XGBoosterCreate", XGBoosterCreate(&cache, bst_ulong(cache.count), &out))
        guard let out else { throw LearningError.xgboost(call: "XGBoosterCreate", message: "no handle returned") }
        let booster = XGBoosterCreateResult(handle: out)
        if let base {
            let code = base.withUnsafeBytes { XGBoosterLoadModelFromBuffer(out, $0.baseAddress, bst_ulong($0.count)) }
            try xgboostCall("XGBoosterLoadModelFromBuffer(base)", code)
        }
        // Parameters after loading a base model: loading restores the base's own configuration.
        for (key, value) in parameters.xgboostParameters {
            try xgboostCall("XGBoosterSetParam(\(key))", XGBoosterSetParam(out, key, value))
        }
        var done: Int32 = 0
        try xgboostCall("XGBoosterBoostedRounds", XGBoosterBoostedRounds(out, &done))
        var names: [String] = ["train"] + (validationData == nil ? [] : ["validation"])
        for step in 0..<parameters.rounds {
            if isCancelled() { throw CancellationError() }
            let iteration = Int32(done) + Int32(step)
            try xgboostCall("XGBoosterUpdateOneIter", XGBoosterUpdateOneIter(out, iteration, trainData.handle))
            let line = try evaluate(out, iteration: iteration, data: &cache, names: &names)
            onRound(RoundMetrics(round: step, trainLoss: line["train"] ?? .nan, validationLoss: line["validation"]))
        }
        return booster.take()
    }

    /// Parses XGBoost's "[3]\ttrain-logloss:0.41\tvalidation-logloss:0.47" into name → value.
    private static func evaluate(_ handle: BoosterHandle, iteration: Int32, data: inout [DMatrixHandle?], names: inout [String]) throws(LearningError) -> [String: Double] {
        var result: UnsafePointer<CChar>?
        let cNames = names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = cNames.map { UnsafePointer($0) }
        let code = XGBoosterEvalOneIter(handle, iteration, &data, &pointers, bst_ulong(data.count), &result)
        try xgboostCall("XGBoosterEvalOneIter", code)
        var losses: [String: Double] = [:]
        for field in String(cString: result!).split(separator: "\t").dropFirst() {
            guard let colon = field.lastIndex(of: ":"), let dash = field.firstIndex(of: "-") else { continue }
            losses[String(field[..<dash])] = Double(field[field.index(after: colon)...])
        }
        return losses
    }

    /// Boosting rounds in the model, base model's included.
    public func boostedRounds() throws(LearningError) -> Int {
        lock.lock()
        defer { lock.unlock() }
        var rounds: Int32 = 0
        try xgboostCall("XGBoosterBoostedRounds", XGBoosterBoostedRounds(handle, &rounds))
        return Int(rounds)
    }

    /// Failure probabilities, one per row.
    public func predict(_ features: FeatureMatrix) throws(LearningError) -> [Double] {
        try predict(XGBoostData(features))
    }

    /// SHAP contributions (XGBoost's `pred_contribs`, option mask 4) on the log-odds scale: one row of
    /// `columnCount + 1` values per input row, the last being the bias; a row sums to the margin.
    public func contributions(_ features: FeatureMatrix) throws(LearningError) -> [[Float]] {
        try contributions(XGBoostData(features), rowCount: features.rowCount, columnCount: features.columnCount)
    }

    /// As `predict(_:)` on a DMatrix built once for several boosters (a model and its ensemble): for
    /// a row or a few, building the DMatrix costs more than walking the trees.
    func predict(_ data: XGBoostData) throws(LearningError) -> [Double] {
        try predict(data, optionMask: 0).map(Double.init)
    }

    func contributions(_ data: XGBoostData, rowCount: Int, columnCount: Int) throws(LearningError) -> [[Float]] {
        let flat = try predict(data, optionMask: 4)
        let width = columnCount + 1
        return (0..<rowCount).map { Array(flat[$0 * width..<($0 + 1) * width]) }
    }

    private func predict(_ data: XGBoostData, optionMask: Int32) throws(LearningError) -> [Float] {
        lock.lock()
        defer { lock.unlock() }
        var length: bst_ulong = 0
        var result: UnsafePointer<Float>?
        try xgboostCall("XGBoosterPredict", XGBoosterPredict(handle, data.handle, optionMask, 0, 0, &length, &result))
        guard let result else { return [] }
        // The buffer belongs to the booster and is reused by the next call: copy it out under the lock.
        return Array(UnsafeBufferPointer(start: result, count: Int(length)))
    }

    /// The model in XGBoost's JSON format, which Python's `xgboost.Booster(model_file=...)` loads.
    public func modelJSON() throws(LearningError) -> Data {
        lock.lock()
        defer { lock.unlock() }
        var length: bst_ulong = 0
        var bytes: UnsafePointer<CChar>?
        try xgboostCall("XGBoosterSaveModelToBuffer", XGBoosterSaveModelToBuffer(handle, #"{"format": "json"}"#, &length, &bytes))
        guard let bytes else { return Data() }
        return Data(bytes: bytes, count: Int(length))
    }

    /// Frees the handle if training throws before the booster is handed out.
    private final class XGBoosterCreateResult {
        private var handle: BoosterHandle?
        init(handle: BoosterHandle) { self.handle = handle }
        func take() -> XGBoostBooster {
            defer { handle = nil }
            return XGBoostBooster(handle: handle!)
        }
        deinit { if let handle { XGBoosterFree(handle) } }
    }
}
