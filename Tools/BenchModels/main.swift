import BuildRiskLearning
import Foundation

// scripts/bench-models: the product's learners on a time-ordered split of a build feature set
// (generated, or an exported CSV given with --csv; format in BuildCSV.swift):
//  1. the product's XGBoost (C API) against Python's xgboost with the same parameters on the same
//     float matrices: test ROC AUC and training time (median of --repeats); LightGBM beside them;
//     the product's own logistic regression against scikit-learn's (C = 1/l2) on the same matrices;
//  2. the full trainer (calibration, thresholds, bootstrap ensemble) for XGBoost and logistic
//     regression, and the GRU over each build's branch history (Platt-calibrated, thresholds on
//     validation), against Parrot on the test builds: F1 of failed builds, ROC AUC, PR AUC, Brier,
//     overall and per repository.
// Usage: bench-models --out DIR [--csv FILE | --builds N] [--rounds R] [--depth D] [--eta E]
//                     [--threads T] [--repeats K] [--bootstrap B] [--gru-epochs E] [--python PYTHON] [--oracle SCRIPT]

var builds = 30_000
var csvPath: String?
var outPath = "/tmp/bench-models"
var parameters = XGBoostParameters()
// One thread by default: on a shared machine OpenMP's spinning threads measure the load, not the library.
parameters.rounds = 100
parameters.threads = 1
var repeats = 3
var bootstrap = 5
var gruEpochs = 8
var python = "python3"
var oracle = "scripts/bench-models-oracle.py"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    let value = arguments.next() ?? ""
    switch argument {
    case "--builds": builds = Int(value) ?? builds
    case "--csv": csvPath = value
    case "--out": outPath = value
    case "--rounds": parameters.rounds = Int(value) ?? parameters.rounds
    case "--depth": parameters.maxDepth = Int(value) ?? parameters.maxDepth
    case "--eta": parameters.learningRate = Double(value) ?? parameters.learningRate
    case "--threads": parameters.threads = Int(value) ?? parameters.threads
    case "--repeats": repeats = max(1, Int(value) ?? repeats)
    case "--bootstrap": bootstrap = max(0, Int(value) ?? bootstrap)
    case "--gru-epochs": gruEpochs = max(1, Int(value) ?? gruEpochs)
    case "--python": python = value
    case "--oracle": oracle = value
    default:
        print("usage: bench-models --out DIR [--csv FILE | --builds N] [--rounds R] [--depth D] [--eta E] [--threads T] [--repeats K] [--bootstrap B] [--gru-epochs E] [--python PYTHON] [--oracle SCRIPT]")
        exit(argument == "-h" || argument == "--help" ? 0 : 2)
    }
}

/// Unbuffered, so progress shows when the output is a file or a pipe.
func print(_ line: String = "") {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let out = URL(filePath: outPath)
try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func write(_ values: [Float], _ name: String) throws {
    try values.withUnsafeBytes { Data($0) }.write(to: out.appending(path: name))
}

func format(_ value: Double?, _ digits: Int = 4) -> String {
    guard let value, !value.isNaN else { return "—" }
    return String(format: "%.\(digits)f", value)
}

// ---- data ---------------------------------------------------------------------------------
let text: String
if let csvPath {
    text = try String(contentsOfFile: csvPath, encoding: .utf8)
    print("feature set: \(csvPath)")
} else {
    var generator = SyntheticBuilds(random: SeededRandom(seed: 7))
    text = generator.csv(builds: builds)
    try text.write(to: out.appending(path: "builds.csv"), atomically: true, encoding: .utf8)
    print("feature set: \(builds) generated builds, exported to \(out.path)/builds.csv")
}
let data = try BuildCSV(text: text)
let count = data.failed.count
let trainEnd = count * 70 / 100, validationEnd = count * 85 / 100
let training = try data.slice(0..<trainEnd)
let validation = try data.slice(trainEnd..<validationEnd)
let test = try data.slice(validationEnd..<count)
print("time-ordered split: train \(trainEnd), validation \(validationEnd - trainEnd), test \(count - validationEnd) builds; failure rate \(format(Double(data.failed.filter { $0 }.count) / Double(count), 3))")

// ---- 1. same matrices, product against Python -----------------------------------------------
let trees = try Preprocessor.fit(training.table, options: .trees)
let linear = try Preprocessor.fit(training.table, options: .linear)
func matrices(_ preprocessor: Preprocessor) throws -> [LabeledMatrix] {
    try [training, validation, test].map { try LabeledMatrix(features: preprocessor.transform($0.table), failed: $0.failed) }
}
let treeSplits = try matrices(trees), linearSplits = try matrices(linear)
for (name, split) in zip(["train", "validation", "test"], treeSplits) {
    try write(split.features.values, "\(name).f32")
    try write(split.floatLabels, "\(name)-labels.f32")
}
for (name, split) in zip(["train", "validation", "test"], linearSplits) { try write(split.features.values, "\(name)-linear.f32") }

/// CPU seconds of the whole process (every OpenMP thread): on a shared machine the wall clock
/// measures the load as much as the library, the CPU time much less.
func cpuSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

var xgboostTimes: [Double] = [], xgboostCPUTimes: [Double] = []
var booster: XGBoostBooster?
for _ in 0..<repeats {
    let started = ContinuousClock.now, cpuStarted = cpuSeconds()
    booster = try XGBoostBooster.train(treeSplits[0], validation: treeSplits[1], parameters: parameters)
    xgboostTimes.append(seconds(ContinuousClock.now - started))
    xgboostCPUTimes.append(cpuSeconds() - cpuStarted)
}
let productTest = try booster!.predict(treeSplits[2].features)
let productAUC = try ClassificationMetrics(probabilities: productTest, failed: test.failed).rocAUC ?? .nan
try booster!.modelJSON().write(to: out.appending(path: "product-xgboost.json"))
try write(productTest.map(Float.init), "product-test-pred.f32")

let logisticParameters = LogisticRegression.Parameters(l2: 1)
let logisticStarted = ContinuousClock.now
let logistic = try LogisticRegression.fit(linearSplits[0], parameters: logisticParameters)
let logisticSeconds = seconds(ContinuousClock.now - logisticStarted)
let logisticTest = try logistic.predict(linearSplits[2].features)
let logisticAUC = try ClassificationMetrics(probabilities: logisticTest, failed: test.failed).rocAUC ?? .nan
try write(logisticTest.map(Float.init), "product-logistic-test-pred.f32")

let meta: [String: Any] = [
    "columns": trees.outputNames.count, "linear_columns": linear.outputNames.count,
    "rows": ["train": trainEnd, "validation": validationEnd - trainEnd, "test": count - validationEnd],
    "rounds": parameters.rounds, "repeats": repeats, "logistic_l2": logisticParameters.l2,
    "params": Dictionary(uniqueKeysWithValues: parameters.xgboostParameters),
]
try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys]).write(to: out.appending(path: "meta.json"))

let process = Process()
process.executableURL = URL(filePath: "/usr/bin/env")
process.arguments = [python, oracle, out.path]
let pipe = Pipe()
process.standardOutput = pipe
try process.run()
let oracleOutput = pipe.fileHandleForReading.readDataToEndOfFile()
process.waitUntilExit()
guard process.terminationStatus == 0,
      let oracleJSON = try JSONSerialization.jsonObject(with: oracleOutput) as? [String: Any]
else {
    print("the Python oracle failed (exit \(process.terminationStatus))")
    exit(1)
}
let oracleResult = oracleJSON.compactMapValues { $0 as? [String: Double] }
let versions = oracleJSON["versions"] as? [String: String] ?? [:]
let py = oracleResult["xgboost"] ?? [:], lgb = oracleResult["lightgbm"] ?? [:], sk = oracleResult["sklearn_logistic"] ?? [:]
let productSeconds = median(xgboostTimes)
print("""

1. Same matrices (\(trees.outputNames.count) columns for trees, \(linear.outputNames.count) for linear), \(parameters.rounds) rounds, depth \(parameters.maxDepth), eta \(parameters.learningRate), \(parameters.treeMethod), \(parameters.threads) threads; time = median of \(repeats) trainings incl. DMatrix and per-round train/validation eval
   learner                         test ROC AUC   train s
   product XGBoost (C API 1.7.4)   \(format(productAUC))         \(format(productSeconds, 3))
   Python xgboost \((versions["xgboost"] ?? "").padding(toLength: 17, withPad: " ", startingAt: 0))\(format(py["auc"]))         \(format(py["seconds"], 3))
   LightGBM \((versions["lightgbm"] ?? "").padding(toLength: 13, withPad: " ", startingAt: 0))         \(format(lgb["auc"]))         \(format(lgb["seconds"], 3))
   product logistic (Newton)       \(format(logisticAUC))         \(format(logisticSeconds, 3))
   scikit-learn logistic (lbfgs)   \(format(sk["auc"]))         \(format(sk["seconds"], 3))
   |AUC product − Python xgboost| = \(format(abs(productAUC - (py["auc"] ?? .nan)), 5))   time ratio product / Python = \(format(productSeconds / (py["seconds"] ?? .nan), 2))× (medians), \(format(xgboostTimes.min()! / (py["min_seconds"] ?? .nan), 2))× (fastest runs: \(format(xgboostTimes.min()!, 3)) s / \(format(py["min_seconds"], 3)) s)
   CPU seconds (every thread, median of \(repeats)): product \(format(median(xgboostCPUTimes), 3)), Python \(format(py["cpu_seconds"], 3)) → \(format(median(xgboostCPUTimes) / (py["cpu_seconds"] ?? .nan), 2))×; fastest \(format(xgboostCPUTimes.min()!, 3)) / \(format(py["min_cpu_seconds"], 3)) → \(format(xgboostCPUTimes.min()! / (py["min_cpu_seconds"] ?? .nan), 2))×
   Python loading the product's xgboost.json: max |Δ probability| on test = \(format(py["max_diff_loaded_product_model"], 8))
   max |Δ probability| product logistic vs scikit-learn = \(format(sk["max_prob_diff"], 6))
""")

// ---- 2. full trainer against Parrot ------------------------------------------------------------
print("\n2. Full trainer (calibrated, thresholds on validation, \(bootstrap) bootstrap models), test builds; threshold metrics at the model's HIGH cut-off, Parrot at 0.5")
print("   model                 F1      ROC AUC  PR AUC   Brier    train s   beats Parrot")
var perRepository: [(String, [Double])] = []
var parrotRow: ClassificationMetrics?
var xgboostArtifact: ModelArtifact?
for kind in ModelKind.allCases {
    let configuration = TrainingConfiguration(kind: kind, xgboost: parameters, logistic: logisticParameters, bootstrapModels: bootstrap)
    let artifact = try RiskModelTrainer.train(configuration: configuration, training: training, validation: validation, test: test)
    let directory = out.appending(path: "model-\(kind.rawValue)")
    try artifact.save(to: directory)
    let model = try RiskModel(artifact: ModelArtifact.load(from: directory))
    let predictions = try model.predict(test.table)
    let metrics = artifact.evaluation.test!
    parrotRow = artifact.evaluation.parrot
    let reloaded = try ClassificationMetrics(probabilities: predictions.map(\.failureProbability), failed: test.failed, threshold: artifact.thresholds.high)
    precondition(reloaded == metrics, "the reloaded model predicts differently")
    print("   \(kind.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0))  \(format(metrics.f1))  \(format(metrics.rocAUC))   \(format(metrics.prAUC))   \(format(metrics.brier))   \(format(artifact.trainingSeconds, 2))      \(artifact.evaluation.beatsParrot.map { $0 ? "yes" : "NO" } ?? "—")")
    perRepository.append((kind.rawValue, predictions.map(\.failureProbability)))
    if kind == .xgboost {
        xgboostArtifact = artifact
        let spread = predictions.compactMap(\.uncertainty)
        let levels = Dictionary(grouping: predictions, by: \.level).mapValues(\.count)
        print("   (xgboost: thresholds MEDIUM ≥ \(format(artifact.thresholds.medium, 3)), HIGH ≥ \(format(artifact.thresholds.high, 3)); test levels LOW \(levels[.low] ?? 0) / MEDIUM \(levels[.medium] ?? 0) / HIGH \(levels[.high] ?? 0); mean uncertainty \(format(spread.reduce(0, +) / Double(max(spread.count, 1)), 4)))")
    }
}
// The sequence model: the linear preprocessing, each build with its branch's five previous builds.
var gruParameters = GRUClassifier.Parameters()
gruParameters.epochs = gruEpochs
let earlier = try FeatureMatrix(
    rowCount: trainEnd + (validationEnd - trainEnd), columnNames: linear.outputNames,
    values: linearSplits[0].features.values + linearSplits[1].features.values
)
let trainSequences = try BranchSequences(linearSplits[0].features, branches: training.branches!)
let validationSequences = try BranchSequences(linearSplits[1].features, branches: validation.branches!, history: (linearSplits[0].features, training.branches!))
let testSequences = try BranchSequences(linearSplits[2].features, branches: test.branches!, history: (earlier, training.branches! + validation.branches!))
let gruStarted = ContinuousClock.now
let gru = try GRUClassifier.fit(trainSequences, failed: training.failed, validation: (validationSequences, validation.failed), parameters: gruParameters)
let gruSeconds = seconds(ContinuousClock.now - gruStarted)
let gruValidation = try gru.predict(validationSequences)
let gruCalibration = try PlattCalibration.fit(probabilities: gruValidation, failed: validation.failed)
let gruThresholds = try RiskThresholds.choose(probabilities: gruValidation.map(gruCalibration.apply), failed: validation.failed)
let gruTest = try gru.predict(testSequences).map(gruCalibration.apply)
let gruMetrics = try ClassificationMetrics(probabilities: gruTest, failed: test.failed, threshold: gruThresholds.high)
let gruBeats = parrotRow.map { (gruMetrics.rocAUC ?? 0) > ($0.rocAUC ?? 0) && gruMetrics.f1 > $0.f1 }
print("   gru (6-build history)  \(format(gruMetrics.f1))  \(format(gruMetrics.rocAUC))   \(format(gruMetrics.prAUC))   \(format(gruMetrics.brier))   \(format(gruSeconds, 2))      \(gruBeats.map { $0 ? "yes" : "NO" } ?? "—")")
perRepository.append(("gru", gruTest))
if let parrotRow {
    print("   parrot                \(format(parrotRow.f1))  \(format(parrotRow.rocAUC))   \(format(parrotRow.prAUC))   \(format(parrotRow.brier))")
}

// The product's serving: XGBoost's artifact with its sequence model (RiskModelTrainer.addSequenceModel,
// as the orchestrator trains it), the GRU serving the test builds with 5 earlier builds on their branch.
if var served = xgboostArtifact {
    var sequenceConfiguration = SequenceConfiguration(bootstrapModels: min(bootstrap, 3))
    sequenceConfiguration.gru.epochs = gruEpochs
    let sequenceStarted = ContinuousClock.now
    try RiskModelTrainer.addSequenceModel(sequenceConfiguration, to: &served, training: training, validation: validation, test: test)
    let evaluation = served.evaluation.sequence!
    print("\n   as served: xgboost + sequence model (\(format(seconds(ContinuousClock.now - sequenceStarted), 2)) s): \(evaluation.adopted ? "adopted" : "NOT adopted"), validation ROC AUC GRU \(format(evaluation.validationROCAUC)) vs xgboost \(format(evaluation.validationFallbackROCAUC)) on the builds it would serve; it would serve \(evaluation.servedCount) of \(evaluation.evaluatedCount) test builds")
    for (name, metrics) in [("gru on its builds", evaluation.sequence), ("xgboost on them", evaluation.fallback), ("parrot on them", evaluation.parrot), ("served mix, all", evaluation.served), ("xgboost alone, all", served.evaluation.test)] {
        guard let metrics else { continue }
        print("   \(name.padding(toLength: 20, withPad: " ", startingAt: 0))  \(format(metrics.f1))  \(format(metrics.rocAUC))   \(format(metrics.prAUC))   \(format(metrics.brier))")
    }
    print("   the sequence model \(evaluation.beatsParrot.map { $0 ? "beats" : "does NOT beat" } ?? "was not compared with") Parrot on its builds")
}

let history = zip(training.branches!, training.failed).map { (branch: $0, failed: $1) } + zip(validation.branches!, validation.failed).map { (branch: $0, failed: $1) }
let parrot = ParrotBaseline.predictions(history: history, evaluated: zip(test.branches!, test.failed).map { (branch: $0, failed: $1) })
let repositories = test.branches!.map { String($0.split(separator: "#").first ?? "") }
print("\n   per repository (test)    builds  fail%  ROC AUC xgb / logistic / gru / parrot    F1 xgb / parrot    xgboost beats Parrot")
for repository in Set(repositories).sorted() {
    let rows = repositories.indices.filter { repositories[$0] == repository }
    let failed = rows.map { test.failed[$0] }
    guard Set(failed).count == 2 else { continue }
    let xgb = try ClassificationMetrics(probabilities: rows.map { perRepository[0].1[$0] }, failed: failed)
    let lr = try ClassificationMetrics(probabilities: rows.map { perRepository[1].1[$0] }, failed: failed)
    let sequence = try ClassificationMetrics(probabilities: rows.map { perRepository[2].1[$0] }, failed: failed)
    let pa = try ClassificationMetrics(probabilities: rows.map { parrot[$0] }, failed: failed)
    let beats = (xgb.rocAUC ?? 0) > (pa.rocAUC ?? 0) && xgb.f1 > pa.f1
    print("   \(repository.padding(toLength: 24, withPad: " ", startingAt: 0)) \(String(rows.count).padding(toLength: 7, withPad: " ", startingAt: 0)) \(format(100 * Double(xgb.failures) / Double(rows.count), 1))   \(format(xgb.rocAUC, 3)) / \(format(lr.rocAUC, 3)) / \(format(sequence.rocAUC, 3)) / \(format(pa.rocAUC, 3))    \(format(xgb.f1, 3)) / \(format(pa.f1, 3))      \(beats ? "yes" : "NO")")
}
