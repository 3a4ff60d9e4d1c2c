import BuildRiskContracts
import Hummingbird

// The values the public API answers with, encoded by the context's encoder (HTTPHelpers.encoder:
// sorted keys, ISO 8601 dates). Contract types carry no framework import, so their conformances live here.
extension User: ResponseEncodable {}
extension RepositoryConfig: ResponseEncodable {}
extension SystemStatus: ResponseEncodable {}
extension IngestionBuildPage: ResponseEncodable {}
extension IngestionAccepted: ResponseEncodable {}
extension BuildPage: ResponseEncodable {}
extension BuildSourceStatus: ResponseEncodable {}
extension ProcessFeaturesAccepted: ResponseEncodable {}
extension ScanRequestAccepted: ResponseEncodable {}
extension ScanStatusSummary: ResponseEncodable {}
extension ScanRetryResult: ResponseEncodable {}
extension PredictAccepted: ResponseEncodable {}
extension Dataset: ResponseEncodable {}
extension DatasetVersion: ResponseEncodable {}
extension FeatureVectorPage: ResponseEncodable {}
extension FeatureVectorRecord: ResponseEncodable {}
extension CommitScanPage: ResponseEncodable {}
extension CommitScanRecord: ResponseEncodable {}

/// `{"id": …}`: the answer of a request accepted for a record.
struct Accepted: ResponseEncodable {
    var id: Int64
}

extension TrainingJobRecord: ResponseEncodable {}
extension TrainingJobPage: ResponseEncodable {}
extension TrainingLogLine: ResponseEncodable {}
extension TrainingStats: ResponseEncodable {}
extension ModelVersionRecord: ResponseEncodable {}
extension ActiveModelAnswer: ResponseEncodable {}
extension ExperimentRecord: ResponseEncodable {}
extension TrainingScheduleRecord: ResponseEncodable {}
