import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird

/// `/api/v1/repos`: import repositories (the model pipeline), follow their progress, list their
/// builds. A user sees only their own repositories; an admin sees all.
struct RepositoryController: Sendable {
    let pipeline: ModelPipelineService
    let repositories: RepositoryConfigPostgresStore
    let directory: ServiceDirectory
    let answers: ScoreAnswerCache

    struct ImportRequest: Decodable {
        struct Item: Decodable {
            var fullName: String
            var ciProvider: CIProvider?
            var maxBuilds: Int?
            var sinceDays: Int?
            var syncUntilExisting: Bool?
            var excludeBots: Bool?
            var onlyWithLogs: Bool?
            var autoProcess: Bool?
            var features: [String]?
        }
        var repositories: [Item]
    }

    /// A repository's place in the model pipeline: the fetch from GitHub, then the ingestion.
    struct PipelineProgress: ResponseEncodable {
        var id: Int64
        var status: RepositoryStatus
        var message: String?
        var fetch: ImportProgress
        var ingestion: IngestionProgress?
        var processing: ProcessingProgress?
        var prediction: PredictionProgress?
    }

    /// One build of `training-builds`: its run, its ingestion and its extraction.
    struct TrainingBuild: Encodable {
        var runId: Int64
        var extractionStatus: ExtractionStatus
        var featureCount: Int
        var missingResources: [String]
        var skippedFeatures: [String]
        var error: String?
        var trPrevBuild: Int64?
        var extractedAt: String
        /// The build's current prediction (nil before the predictor has seen it).
        var predictionStatus: PredictionStatus?
        var pendingReason: String?
        var predictionError: String?
        var riskLevel: PredictedRisk?
        var score: Double?
        var uncertainty: Double?
        var modelName: String?
        var modelVersion: Int?
        /// `gru` (the sequence model: 5 earlier builds on the branch) or the fallback classifier.
        var servedBy: String?
        var predictedAt: String?
    }

    struct TrainingBuildPage: ResponseEncodable {
        var counts: ExtractionCounts
        var predictionCounts: PredictionCounts?
        var builds: [TrainingBuild]
        /// With `?risk`, the `before` that continues the listing (nil at its end).
        var nextBefore: Int64?
    }

    /// `GET /repos/{id}/builds/{buildId}`: the run, its ingestion record and its features.
    struct BuildDetail: ResponseEncodable {
        var run: BuildRun?
        var ingestion: IngestionBuildRecord?
        var features: FeatureVectorRecord?
        /// The current prediction with its contributions, and every earlier one with its model version.
        var prediction: PredictionHistory?
    }

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/repos/import/bulk", use: importBulk)
        api.get("/repos", use: list)
        api.get("/repos/search", use: search)
        api.get("/repos/{id}", use: get)
        api.get("/repos/{id}/import-progress", use: importProgress)
        api.get("/repos/{id}/import-builds", use: importBuilds)
        api.post("/repos/{id}/reingest-failed", use: reingestFailed)
        api.post("/repos/{id}/sync-run", use: syncRun)
        api.delete("/repos/{id}", use: delete)
        api.get("/repos/{id}/builds", use: builds)
        api.post("/repos/{id}/start-processing", use: startProcessing)
        api.post("/repos/{id}/reprocess-failed", use: reprocessFailed)
        api.get("/repos/{id}/training-builds", use: trainingBuilds)
        api.get("/repos/{id}/builds/{buildId}", use: build)
        api.post("/repos/{id}/repredict", use: repredict)
        api.post("/repos/{id}/retry-predictions", use: retryPredictions)
    }

    /// Starts feature extraction of the ingested builds (oldest to newest, from the checkpoint on).
    @Sendable func startProcessing(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Accepted> {
        let id = try context.id(of: "repository")
        switch try await pipeline.requestProcessing(configId: id, ownerId: context.visibility) {
        case .notFound:
            throw APIError.notFound("you have no repository \(id)")
        case .refused(let refusal):
            throw APIError.conflict("not_processable", "repository \(id) cannot be processed now (\(refusal)); it must have finished its ingestion and not be processing")
        case .accepted:
            return EditedResponse(status: .accepted, response: Accepted(id: id))
        }
    }

    @Sendable func reprocessFailed(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<ProcessFeaturesAccepted> {
        let config = try await config(context)
        do {
            let accepted = try await directory.client(for: .featureExtractor).call(
                FeatureMethods.reprocessFailed, FeaturePipelineParams(pipelineId: String(config.id)))
            return EditedResponse(status: .accepted, response: accepted)
        } catch let error where remoteError(error)?.kind == .notFound {
            throw APIError.conflict("not_processed", "repository \(config.id) has not been processed yet")
        } catch {
            throw APIError.unavailable("feature_extractor_unavailable", "the feature-extractor could not queue the retry: \(error)")
        }
    }

    /// Every processed build with its extraction status, feature count, missing resources and error,
    /// and its current prediction; `?risk=LOW|MEDIUM|HIGH` keeps the builds predicted at that level.
    @Sendable func trainingBuilds(_ request: Request, context: AuthenticatedContext) async throws -> TrainingBuildPage {
        let query = request.uri.queryParameters
        let status = query.get("status")
        if let status, ExtractionStatus(rawValue: status) == nil {
            throw APIError.badRequest("invalid_status", "status must be one of \(ExtractionStatus.contractValues.joined(separator: ", "))")
        }
        let risk = query.get("risk")
        if let risk, PredictedRisk(rawValue: risk.uppercased()) == nil {
            throw APIError.badRequest("invalid_risk", "risk must be one of \(PredictedRisk.contractValues.joined(separator: ", "))")
        }
        let level = risk.flatMap { PredictedRisk(rawValue: $0.uppercased()) }
        let limit = min(max(query.get("limit", as: Int.self) ?? 100, 1), 1000)
        let config = try await config(context)
        var before = query.get("before", as: Int64.self)
        var builds: [TrainingBuild] = []
        var counts = ExtractionCounts()
        var predictionCounts: PredictionCounts?
        // With a risk filter the vectors are read page by page until `limit` builds match.
        repeat {
            let params = FeatureVectorsParams(
                pipelineId: String(config.id), limit: limit, beforeRunId: before, status: status.flatMap(ExtractionStatus.init(rawValue:)), withFeatures: false)
            var page: FeatureVectorPage?
            do {
                page = try await directory.client(for: .featureExtractor).call(FeatureMethods.vectors, params)
            } catch {
                guard remoteError(error)?.kind == .notFound else {
                    throw APIError.unavailable("feature_extractor_unavailable", "the feature-extractor could not list the builds: \(error)")
                }
            }
            guard let page else { break }
            counts = page.counts
            let predictions = try? await directory.client(for: .predictor).call(
                PredictionMethods.list, PredictionListParams(pipelineId: String(config.id), limit: 1000, runIds: page.vectors.map(\.runId)))
            predictionCounts = predictions?.counts
            let byRun = Dictionary((predictions?.predictions ?? []).map { ($0.runId, $0) }, uniquingKeysWith: { first, _ in first })
            for vector in page.vectors {
                let prediction = byRun[vector.runId]
                if let level, prediction?.status != .completed || prediction?.riskLevel != level { continue }
                builds.append(TrainingBuild(
                    runId: vector.runId, extractionStatus: vector.status, featureCount: vector.featureCount, missingResources: vector.missingResources,
                    skippedFeatures: vector.skippedFeatures, error: vector.error, trPrevBuild: vector.trPrevBuild, extractedAt: vector.extractedAt,
                    predictionStatus: prediction?.status, pendingReason: prediction?.pendingReason, predictionError: prediction?.error,
                    riskLevel: prediction?.riskLevel, score: prediction?.score, uncertainty: prediction?.uncertainty, modelName: prediction?.modelName,
                    modelVersion: prediction?.modelVersion, servedBy: prediction?.servedBy, predictedAt: prediction?.predictedAt))
                if builds.count == limit { break }
            }
            guard level != nil, builds.count < limit, page.vectors.count == limit, let last = page.vectors.last else {
                before = level != nil && builds.count == limit ? builds.last?.runId : nil
                break
            }
            before = last.runId
        } while true
        return TrainingBuildPage(counts: counts, predictionCounts: predictionCounts, builds: builds, nextBefore: level == nil ? nil : before)
    }

    /// Predicts every extracted build again with the active model (the earlier predictions stay in
    /// each build's history with their version).
    @Sendable func repredict(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<PredictAccepted> {
        try await askPredictor(context, PredictionMethods.repredict)
    }

    /// Predicts again the builds whose prediction failed.
    @Sendable func retryPredictions(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<PredictAccepted> {
        try await askPredictor(context, PredictionMethods.retryFailed)
    }

    private func askPredictor(
        _ context: AuthenticatedContext, _ method: RPCMethod<PredictionPipelineParams, PredictAccepted>
    ) async throws -> EditedResponse<PredictAccepted> {
        let config = try await config(context)
        var accepted: PredictAccepted?
        do {
            accepted = try await directory.client(for: .predictor).call(method, PredictionPipelineParams(pipelineId: String(config.id)))
        } catch {
            if remoteError(error)?.kind == .notFound {
                throw APIError.conflict("not_predicted", "repository \(config.id) has not reached the prediction phase yet")
            }
            throw APIError.unavailable("predictor_unavailable", "the predictor could not queue it: \(error)")
        }
        answers.forget(repoId: config.id)
        return EditedResponse(status: .accepted, response: accepted!)
    }

    /// One build: its run from the warehouse, its ingestion record and its feature vector.
    @Sendable func build(_ request: Request, context: AuthenticatedContext) async throws -> BuildDetail {
        let config = try await config(context)
        guard let runId = context.parameters.get("buildId", as: Int64.self) else { throw APIError.invalidId("build") }
        let pipelineId = String(config.id)
        async let vector = try? directory.client(for: .featureExtractor).call(
            FeatureMethods.vectors, FeatureVectorsParams(pipelineId: pipelineId, limit: 1, runId: runId))
        async let prediction = try? directory.client(for: .predictor).call(
            PredictionMethods.get, PredictionBuildParams(pipelineId: pipelineId, runId: runId))
        async let record = try? directory.client(for: .ingestor).call(
            IngestionMethods.builds, IngestionBuildsParams(pipelineId: pipelineId, limit: 1, beforeRunId: runId + 1))
        var run: BuildRun?
        if let repository = config.repository {
            run = try? await directory.client(for: .sourceValidator).call(
                WarehouseMethods.listBuilds, ListBuildsParams(githubId: repository.githubId, limit: 1, beforeRunId: runId + 1)
            ).builds.first { $0.runId == runId }
        }
        let detail = BuildDetail(
            run: run, ingestion: await record?.builds.first { $0.runId == runId }, features: await vector?.vectors.first,
            prediction: await prediction)
        guard detail.run != nil || detail.ingestion != nil || detail.features != nil else {
            throw APIError.notFound("repository \(config.id) has no build \(runId)")
        }
        return detail
    }

    @Sendable func importBulk(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<[RepositoryConfig]> {
        let body = try await request.decodeBody(
            as: ImportRequest.self, context: context,
            expected: "{\"repositories\": [{\"fullName\": \"owner/name\", \"ciProvider\"?, \"maxBuilds\"?, \"sinceDays\"?, \"syncUntilExisting\"?, \"excludeBots\"?, \"onlyWithLogs\"?, \"autoProcess\"?, \"features\"?}]}")
        guard !body.repositories.isEmpty, body.repositories.count <= 500 else {
            throw APIError.badRequest("invalid_body", "send 1 to 500 repositories")
        }
        let requests = body.repositories.map { item in
            (item.fullName.trimmingCharacters(in: .whitespaces), ImportOptions(
                ciProvider: item.ciProvider ?? .githubActions, maxBuilds: item.maxBuilds, sinceDays: item.sinceDays,
                syncUntilExisting: item.syncUntilExisting ?? false, excludeBots: item.excludeBots ?? false,
                onlyWithLogs: item.onlyWithLogs ?? false, autoProcess: item.autoProcess ?? false, features: item.features))
        }
        do {
            return EditedResponse(status: .accepted, response: try await pipeline.create(ownerId: context.user.id, requests: requests))
        } catch RepositoryConfigError.invalid(let index, let reason) {
            throw APIError.badRequest("invalid_repository", "repositories[\(index)]: \(reason)")
        } catch RepositoryConfigError.duplicate(let names) {
            throw APIError.conflict("duplicate_repository", "already imported (use sync-run): \(names.sorted().joined(separator: ", "))")
        }
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [RepositoryConfig] {
        try await repositories.list(ownerId: context.visibility)
    }

    @Sendable func search(_ request: Request, context: AuthenticatedContext) async throws -> [RepositoryConfig] {
        guard let query = request.uri.queryParameters.get("q"), !query.isEmpty else {
            throw APIError.badRequest("invalid_query", "search needs ?q=<part of owner/name>")
        }
        return try await repositories.list(ownerId: context.visibility, search: query)
    }

    @Sendable func get(_ request: Request, context: AuthenticatedContext) async throws -> RepositoryConfig {
        try await config(context)
    }

    @Sendable func importProgress(_ request: Request, context: AuthenticatedContext) async throws -> PipelineProgress {
        let config = try await config(context)
        return PipelineProgress(
            id: config.id, status: config.status, message: config.message,
            fetch: config.progress ?? ImportProgress(importId: String(config.id), sequence: 0, status: .queued),
            ingestion: config.ingestion, processing: config.processing, prediction: config.prediction)
    }

    /// The ingestion record of every build, from the ingestor.
    @Sendable func importBuilds(_ request: Request, context: AuthenticatedContext) async throws -> IngestionBuildPage {
        let query = request.uri.queryParameters
        let status = query.get("status")
        if let status, IngestionBuildStatus(rawValue: status) == nil {
            throw APIError.badRequest("invalid_status", "status must be one of \(IngestionBuildStatus.contractValues.joined(separator: ", "))")
        }
        let config = try await config(context)
        let params = IngestionBuildsParams(
            pipelineId: String(config.id), limit: min(max(query.get("limit", as: Int.self) ?? 100, 1), 1000),
            beforeRunId: query.get("before", as: Int64.self), status: status.flatMap(IngestionBuildStatus.init(rawValue:)))
        do {
            return try await directory.client(for: .ingestor).call(IngestionMethods.builds, params)
        } catch {
            throw APIError.unavailable("ingestor_unavailable", "the ingestor could not list the builds: \(error)")
        }
    }

    @Sendable func reingestFailed(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<IngestionAccepted> {
        let config = try await config(context)
        do {
            let accepted = try await directory.client(for: .ingestor).call(
                IngestionMethods.retryFailed, IngestionPipelineParams(pipelineId: String(config.id)))
            return EditedResponse(status: .accepted, response: accepted)
        } catch let error where remoteError(error)?.kind == .notFound {
            throw APIError.conflict("not_ingested", "repository \(config.id) has not been handed to the ingestor yet")
        } catch {
            throw APIError.unavailable("ingestor_unavailable", "the ingestor could not queue the retry: \(error)")
        }
    }

    @Sendable func syncRun(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Accepted> {
        let id = try context.id(of: "repository")
        guard try await pipeline.requestSync(configId: id, ownerId: context.visibility) else {
            throw APIError.notFound("you have no repository \(id)")
        }
        return EditedResponse(status: .accepted, response: Accepted(id: id))
    }

    /// Deletes the config at once; the source-validator and the ingestor forget it through the outbox.
    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Accepted> {
        let id = try context.id(of: "repository")
        guard try await pipeline.delete(configId: id, ownerId: context.visibility) else {
            throw APIError.notFound("you have no repository \(id)")
        }
        answers.forget(repoId: id)
        return EditedResponse(status: .accepted, response: Accepted(id: id))
    }

    /// The stored workflow runs, newest first, from the warehouse.
    @Sendable func builds(_ request: Request, context: AuthenticatedContext) async throws -> BuildPage {
        let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
        let before = request.uri.queryParameters.get("before", as: Int64.self)
        let config = try await config(context)
        guard let repository = config.repository else {
            throw APIError.conflict("not_fetched", "repository \(config.id) is \(config.status.rawValue); its builds are not fetched yet")
        }
        do {
            return try await directory.client(for: .sourceValidator).call(
                WarehouseMethods.listBuilds, ListBuildsParams(githubId: repository.githubId, limit: min(max(limit, 1), 1000), beforeRunId: before))
        } catch {
            throw APIError.unavailable("warehouse_unavailable", "the source-validator could not list the builds: \(error)")
        }
    }

    /// The config named by the path, if the caller may see it.
    private func config(_ context: AuthenticatedContext) async throws -> RepositoryConfig {
        let id = try context.id(of: "repository")
        guard let config = try await repositories.get(id: id, ownerId: context.visibility) else {
            throw APIError.notFound("you have no repository \(id)")
        }
        return config
    }
}
