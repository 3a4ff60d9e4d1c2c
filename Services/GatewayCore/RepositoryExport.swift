import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// The model pipeline's export (`/repos/{id}/export`, `/export/preview`, `/export/async`): a
/// repository's builds as the dataset-splitter exports a dataset version, one pipeline (the
/// repository's), its feature selection as the DAG resolves it, every scan metric, and each
/// build's current prediction. Same column order, streaming and export jobs as a version's.
struct RepositoryExport: Sendable {
    let repositories: RepositoryConfigPostgresStore
    let directory: ServiceDirectory

    /// The dataset-splitter's name for a repository's exports (a dataset version's is its id).
    static func versionId(_ repositoryId: Int64) -> String { "repository:\(repositoryId)" }

    var subject: AnalysisSubject {
        AnalysisSubject(path: "/repos/{id}", fileStem: { "repository-\(try $0.id(of: "repository"))" }, spec: spec)
    }

    /// The caller's repository as a spec: 404 when it is not theirs, 409 before its first processing.
    @Sendable func spec(_ context: AuthenticatedContext) async throws -> DatasetVersionSpec {
        let id = try context.id(of: "repository")
        guard let config = try await repositories.get(id: id, ownerId: context.visibility) else {
            throw APIError.notFound("you have no repository \(id)")
        }
        guard let repository = config.repository, config.processing != nil else {
            throw APIError.conflict(
                "not_processed", "repository \(id) has no features to export yet: it is \(config.status.rawValue); POST /api/v1/repos/\(id)/start-processing once ingested")
        }
        let resolved: ResolvedFeatureSelection
        do {
            resolved = try await directory.client(for: .featureExtractor).call(
                FeatureMethods.resolve, FeatureSelectionParams(selection: config.options.features ?? ["*"]))
        } catch {
            throw APIError.unavailable("feature_extractor_unavailable", "the feature-extractor could not resolve the repository's features: \(error)")
        }
        return DatasetVersionSpec(
            versionId: Self.versionId(id), pipelines: [DatasetPipelineRef(pipelineId: String(id), githubId: repository.githubId, fullName: repository.fullName)],
            features: resolved.features, scanMetrics: [], withPredictions: true)
    }
}
