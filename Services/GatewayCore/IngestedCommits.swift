import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime

/// The commits a pipeline's scans need: the head commits of its builds whose commit the ingestor
/// has (ingested, or missing only logs), each once, however many builds ran on it.
enum IngestedCommits {
    /// Pages the pipeline's ingestion records; no pipeline at the ingestor is no commit.
    static func list(pipelineId: String, directory: ServiceDirectory) async throws -> [String] {
        var commits: [String] = []
        var seen = Set<String>()
        var before: Int64?
        repeat {
            let page: IngestionBuildPage
            do {
                page = try await directory.client(for: .ingestor).call(
                    IngestionMethods.builds, IngestionBuildsParams(pipelineId: pipelineId, limit: 1000, beforeRunId: before))
            } catch let error where remoteError(error)?.kind == .notFound {
                return []
            } catch {
                // Written out: Swift 6.3's SILGen crashes ("Found ownership error") on a do/catch
                // whose only clause has a `where` and the error propagates.
                throw error
            }
            for build in page.builds where build.resources.contains(where: { $0.resource == .gitHistory && $0.status == .completed }) {
                if seen.insert(build.headSha).inserted { commits.append(build.headSha) }
            }
            guard page.builds.count == 1000 else { break }
            before = page.builds.last?.runId
        } while true
        return commits
    }
}
