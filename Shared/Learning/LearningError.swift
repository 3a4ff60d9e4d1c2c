/// What can go wrong while training, evaluating, saving or loading a model.
public enum LearningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// XGBoost returned an error; `message` is XGBGetLastError() right after `call`.
    case xgboost(call: String, message: String)
    /// The data given cannot be used (shape mismatch, unknown column, no rows, one class only...).
    case invalidInput(String)
    /// A saved model could not be read back.
    case unreadableArtifact(String)

    public var description: String {
        switch self {
        case .xgboost(let call, let message): "XGBoost \(call) failed: \(message)"
        case .invalidInput(let message): "invalid training input: \(message)"
        case .unreadableArtifact(let message): "unreadable model artifact: \(message)"
        }
    }
}
