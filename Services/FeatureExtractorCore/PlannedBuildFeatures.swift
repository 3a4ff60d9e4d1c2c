import BuildRiskContracts
import BuildRiskGit
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// `features.compute`: the pre-build features of a build that has not run (a commit pushed, asked
/// about before its CI starts). It is the next build after the pipeline's checkpoint: the
/// extractor continues from the state saved with the newest extracted build, on a copy, so nothing
/// is stored and the pipeline's own extraction is untouched. The build counts as triggered now.
struct PlannedBuildFeatures: Sendable {
    let store: FeatureVectorPostgresStore
    let directory: ServiceDirectory
    let dataDirectory: String
    let dag: FeatureDAG
    /// Commit comments written before now count for the planned build, as for any build.
    let pullRequests: PullRequestFetcher

    func compute(_ params: ComputeFeaturesParams) async throws -> ComputedFeatures {
        let planned = params.build
        guard CommitID.isValid(planned.commitSha) else {
            throw RPCError(.invalidInput, "Invalid planned build", reason: "commitSha must be a 40-digit commit id, not '\(planned.commitSha)'")
        }
        let event = planned.event ?? "push"
        guard !event.isEmpty, planned.workflowName?.isEmpty != true, planned.branch?.isEmpty != true else {
            throw RPCError(.invalidInput, "Invalid planned build", reason: "event, workflowName and branch may be left out but not empty")
        }
        guard let pipeline = try await store.pipeline(params.pipelineId) else {
            throw RPCError(.notFound, "No such pipeline", reason: "the feature-extractor has no pipeline \(params.pipelineId)")
        }
        let selection: FeatureSelection
        do {
            selection = try dag.select(pipeline.selection.isEmpty ? ["*"] : pipeline.selection)
        } catch {
            throw RPCError(.conflict, "Invalid pipeline selection", reason: "the pipeline's feature selection no longer resolves: \(error)")
        }
        guard pipeline.dagVersion == selection.dagVersion else {
            throw RPCError(
                .conflict, "Extracted under another DAG",
                reason: "pipeline \(params.pipelineId) was extracted under DAG version \(pipeline.dagVersion), this feature-extractor computes \(selection.dagVersion): process it again first")
        }
        guard let checkpoint = pipeline.checkpoint, let state = try? JSONDecoder().decode(ExtractorState.self, from: Data(checkpoint.utf8)) else {
            throw RPCError(
                .conflict, "Nothing extracted yet",
                reason: "pipeline \(params.pipelineId) has no extracted build yet, so a new build has no history to follow: process it first")
        }
        let workflowName = try workflow(planned.workflowName, in: state)

        let clonePath = ClonePaths.bare(dataDirectory: dataDirectory, githubId: pipeline.githubId)
        let present = try await BlockingWork.run { (try? GitRepository.open(clonePath))?.containsCommit(planned.commitSha) ?? false }
        var fetched = false
        if !present {
            do {
                fetched = try await directory.client(for: .ingestor).call(
                    IngestionMethods.fetchCommit, CommitFetchParams(githubId: pipeline.githubId, fullName: pipeline.fullName, commitSha: planned.commitSha)
                ).fetched
            } catch {
                // The remote's refusal goes back as it said it (swiftc 6.3 crashes on a `catch <enum pattern>` here).
                if case RPCClientError.remote(let refusal) = error { throw refusal }
                throw error
            }
        }

        // Triggered now, and never before the newest build the history holds (a clock behind the runs' times).
        let triggeredAt = max(Date(), state.lastTriggeredAt ?? .distantPast)
        var builds = [ExtractionBuild(
            runId: 0, workflowName: workflowName, event: event, headBranch: planned.branch, headSha: planned.commitSha, actor: planned.actor,
            createdAt: triggeredAt)]
        // One extractor, opened after any fetch, plans the commits it would build and then extracts it.
        let handle = try await BlockingWork.run {
            ExtractorHandle(FeatureExtractor(selection: selection, repository: try GitRepository.open(clonePath), state: state), hadClone: true)
        }
        if selection.inputs.contains(.commitComments) {
            // Commit comments written before now count, as the processing job fetches them.
            let plannedCommits = try await BlockingWork.run { [builds] in handle.extractor.plannedBuiltCommits(builds) }
            var known: [String: [Date]?] = [:]
            try await pullRequests.attachCommitComments(to: &builds, planned: plannedCommits, fullName: pipeline.fullName, known: &known)
        }
        let vector = try await BlockingWork.run { [builds] in try handle.extractor.extract(builds[0]) }
        let preBuildFeatures = selection.features.map(\.definition).filter { $0.timing == .pre }
        let preBuild = Set(preBuildFeatures.map(\.name))
        // The build's own logs and worktree do not exist yet; only what the pre-build features need can be missing.
        let needed = Set(preBuildFeatures.flatMap(\.resources))
        return ComputedFeatures(
            dagVersion: selection.dagVersion, commitSha: planned.commitSha, workflowName: workflowName, event: event,
            triggeredAt: triggeredAt.formatted(.iso8601), afterRunId: pipeline.checkpointRunId, fetched: fetched,
            features: vector.features.filter { preBuild.contains($0.key) },
            missingResources: vector.missingResources.filter(needed.contains).map(\.rawValue),
            skippedFeatures: vector.skippedFeatures.filter(preBuild.contains))
    }

    /// The workflow asked for, which must have extracted builds; by default the one triggered last.
    private func workflow(_ name: String?, in state: ExtractorState) throws -> String {
        let known = state.workflows.keys.sorted()
        if let name {
            guard state.workflows[name] != nil else {
                throw RPCError(.invalidInput, "Unknown workflow", reason: "no build of workflow '\(name)' was extracted; the pipeline has \(known.joined(separator: ", "))")
            }
            return name
        }
        guard let newest = state.workflows.max(by: { ($0.value.newestTrigger ?? .distantPast, $0.key) < ($1.value.newestTrigger ?? .distantPast, $1.key) }) else {
            throw RPCError(.conflict, "Nothing extracted yet", reason: "the pipeline's history holds no workflow")
        }
        return newest.key
    }
}
