import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Hummingbird
import NIOCore

/// `GET /api/v1/features`: the feature catalogue, as the feature-extractor declares it.
struct FeatureController: Sendable {
    let directory: ServiceDirectory

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.get("/features", use: catalogue)
    }

    @Sendable func catalogue(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let text: FeatureCatalogueText
        do {
            text = try await directory.client(for: .featureExtractor).call(FeatureMethods.catalogue, Empty())
        } catch {
            throw APIError.unavailable("feature_extractor_unavailable", "the feature-extractor could not give its catalogue: \(error)")
        }
        // Already JSON: passed through as the feature-extractor wrote it (contracts/features.json).
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text.json)))
    }
}
