import BuildRiskContracts
import GatewayCore
import Testing

/// Walks the dataset-enrichment pipeline's transition table without a database: every event from
/// every status, the refused ones included. The expectations are this file's own.
struct DatasetPipelineTests {
    typealias Pipeline = DatasetPipeline

    static let first: Int64 = 11
    static let second: Int64 = 22

    static func ingestion(_ sequence: Int, _ status: IngestionStatus, total: Int = 4, ingested: Int = 4, failed: Int = 0) -> IngestionProgress {
        IngestionProgress(
            pipelineId: "dataset:1:x", sequence: sequence, status: status,
            counts: IngestionCounts(total: total, pending: status == .ingesting ? total - ingested - failed : 0, ingested: ingested, missingResource: 0, failed: failed),
            message: "ingestion \(status.rawValue)")
    }

    static func processing(_ sequence: Int, _ status: ProcessingStatus, failed: Int = 0) -> ProcessingProgress {
        ProcessingProgress(
            pipelineId: "dataset:1:x", sequence: sequence, status: status, counts: ExtractionCounts(total: 4, completed: 4 - failed, failed: failed),
            message: "processing \(status.rawValue)")
    }

    /// Two repositories, both ingested (4 builds each), as a version stands once its ingestion ended.
    static func ingested(_ status: DatasetVersionStatus, scans: Bool = false) -> Pipeline {
        Pipeline(status: status, message: "before", repositories: [
            first: .init(builds: 4, ingestion: ingestion(3, .ingested)),
            second: .init(builds: 4, ingestion: ingestion(2, .ingested)),
        ], scans: scans)
    }

    @Test func aNewVersionIsQueuedAndStartsItsIngestion() {
        let (state, commands) = Pipeline.created(scans: true)
        #expect(state.status == .queued)
        #expect(state.scans)
        #expect(state.repositories.isEmpty)
        #expect(commands == [.startIngestion])
    }

    @Test func handingOverRecordsRepositoriesThenStartsIngesting() {
        var state = Pipeline.created(scans: false).0
        guard case .applied(let one, []) = state.transition(.repositoryHandedOver(githubId: Self.first, builds: 1000)) else {
            Issue.record("a queued version takes a repository")
            return
        }
        // A rerun of the job counts from zero again: the larger count stays.
        guard case .applied(let again, []) = one.transition(.repositoryHandedOver(githubId: Self.first, builds: 400)) else {
            Issue.record("a repeated repository is taken")
            return
        }
        #expect(again.repositories[Self.first]?.builds == 1000)
        state = again
        // A report that arrives while the builds are still being handed over is recorded, not settled.
        guard case .applied(let reported, []) = state.transition(.ingestionReport(githubId: Self.first, Self.ingestion(1, .ingested))) else {
            Issue.record("an early report is recorded")
            return
        }
        #expect(reported.status == .queued)
        // The end of the handover counts it: the only repository ingested everything.
        guard case .applied(let handed, []) = reported.transition(.ingestionHandedOver) else {
            Issue.record("the handover ends")
            return
        }
        #expect(handed.status == .ingested)
        #expect(handed.message == "4 builds ingested")

        // No found build at all fails the version with the reason.
        guard case .applied(let empty, []) = Pipeline.created(scans: false).0.transition(.ingestionHandedOver) else {
            Issue.record("an empty handover is applied")
            return
        }
        #expect(empty.status == .failed)
        #expect(empty.message == "the dataset has no found builds to ingest")

        // Only a queued version is handed builds.
        for status in DatasetVersionStatus.allCases where status != .queued {
            let other = Pipeline(status: status)
            #expect(other.transition(.repositoryHandedOver(githubId: Self.first, builds: 1)) == .refused(.notApplicable(status)))
            #expect(other.transition(.ingestionHandedOver) == .refused(.notApplicable(status)))
        }
    }

    @Test func ingestionReportsAddUpOverTheRepositories() {
        let ingesting = Pipeline(status: .ingesting, repositories: [Self.first: .init(builds: 4), Self.second: .init(builds: 4)])
        // One repository ended, the other has not reported: still ingesting.
        guard case .applied(let half, []) = ingesting.transition(.ingestionReport(githubId: Self.first, Self.ingestion(2, .ingested))) else {
            Issue.record("a report is applied")
            return
        }
        #expect(half.status == .ingesting)
        #expect(half.message == "1 of 2 repositories ingested")
        // A stale report (sequence not above the applied one) and an unknown repository are refused.
        #expect(half.transition(.ingestionReport(githubId: Self.first, Self.ingestion(2, .failed))) == .refused(.staleReport(sequence: 2, applied: 2)))
        #expect(half.transition(.ingestionReport(githubId: 99, Self.ingestion(5, .ingested))) == .refused(.unknownRepository(99)))

        let outcomes: [(IngestionProgress, DatasetVersionStatus, String)] = [
            (Self.ingestion(1, .ingested), .ingested, "8 builds ingested"),
            (Self.ingestion(1, .partial, ingested: 1, failed: 3), .partial, "5 of 8 builds ingested; the others miss a resource or failed"),
            (Self.ingestion(1, .failed, ingested: 0, failed: 4), .partial, "4 of 8 builds ingested; the others miss a resource or failed"),
            (Self.ingestion(1, .ingesting, ingested: 1), .ingesting, "1 of 2 repositories ingested"),
        ]
        for (report, status, message) in outcomes {
            guard case .applied(let next, let commands) = half.transition(.ingestionReport(githubId: Self.second, report)) else {
                Issue.record("the second repository's report is applied")
                continue
            }
            #expect(next.status == status)
            #expect(next.message == message)
            #expect(commands.isEmpty)
        }
        // Nothing ingested anywhere fails the version.
        let none = Pipeline(status: .ingesting, repositories: [Self.first: .init(builds: 4, ingestion: Self.ingestion(1, .failed, ingested: 0, failed: 4))])
        guard case .applied(let failed, []) = none.transition(.ingestionReport(githubId: Self.first, Self.ingestion(2, .failed, ingested: 0, failed: 4))) else {
            Issue.record("the report is applied")
            return
        }
        #expect(failed.status == .failed)
        #expect(failed.message == "no build could be ingested")
        // Once processing started, a late ingestion report records the counts and leaves the status.
        guard case .applied(let late, []) = Self.ingested(.processing).transition(.ingestionReport(githubId: Self.first, Self.ingestion(9, .partial, ingested: 3, failed: 1))) else {
            Issue.record("a late report is recorded")
            return
        }
        #expect(late.status == .processing)
        #expect(late.repositories[Self.first]?.ingestion?.counts.ingested == 3)
    }

    /// From every status: may processing start, and what does it issue.
    @Test(arguments: DatasetVersionStatus.allCases)
    func processingStartsOnlyAfterTheIngestion(_ status: DatasetVersionStatus) {
        let state = Self.ingested(status, scans: true)
        let outcome = state.transition(.processingRequested)
        switch status {
        case .ingested, .partial, .processed, .failed:
            guard case .applied(let next, let commands) = outcome else {
                Issue.record("processing is refused from \(status)")
                return
            }
            #expect(next.status == .processing)
            #expect(commands == [.startProcessing([Self.first, Self.second]), .requestScans])
        case .queued, .ingesting, .processing:
            #expect(outcome == .refused(.notApplicable(status)))
        }
        // Without scans, no scan is requested; a repository with nothing ingested is not processed.
        var partial = Self.ingested(.partial)
        partial.repositories[Self.second]?.ingestion = Self.ingestion(4, .failed, ingested: 0, failed: 4)
        if case .applied(_, let commands) = partial.transition(.processingRequested) {
            #expect(commands == [.startProcessing([Self.first])])
        } else {
            Issue.record("a partial version is processed")
        }
        // A version whose repositories never ended their ingestion is refused even when failed.
        #expect(Pipeline(status: .failed, repositories: [Self.first: .init(builds: 1)]).transition(.processingRequested) == .refused(.notApplicable(.failed)))
    }

    @Test func processingReportsEndTheVersionAndAskForTheQualityReport() {
        let processing = Self.ingested(.processing)
        #expect(Self.ingested(.ingested).transition(.processingReport(githubId: Self.first, Self.processing(1, .processed))) == .refused(.notApplicable(.ingested)))
        guard case .applied(let half, []) = processing.transition(.processingReport(githubId: Self.first, Self.processing(1, .processed))) else {
            Issue.record("the first report is applied")
            return
        }
        #expect(half.status == .processing)
        #expect(half.transition(.processingReport(githubId: Self.first, Self.processing(1, .failed))) == .refused(.staleReport(sequence: 1, applied: 1)))
        #expect(half.transition(.processingReport(githubId: 99, Self.processing(1, .processed))) == .refused(.unknownRepository(99)))

        guard case .applied(let done, let commands) = half.transition(.processingReport(githubId: Self.second, Self.processing(1, .processed))) else {
            Issue.record("the last report is applied")
            return
        }
        #expect(done.status == .processed)
        #expect(done.message == "features extracted; quality report queued")
        #expect(commands == [.evaluate])

        guard case .applied(let mixed, let mixedCommands) = half.transition(.processingReport(githubId: Self.second, Self.processing(1, .failed))) else {
            Issue.record("a failed report is applied")
            return
        }
        #expect(mixed.status == .processed)
        #expect(mixed.message == "features extracted; 1 repositories failed; quality report queued")
        #expect(mixedCommands == [.evaluate])

        guard case .applied(let oneFailed, []) = processing.transition(.processingReport(githubId: Self.first, Self.processing(1, .failed))),
            case .applied(let allFailed, let none) = oneFailed.transition(.processingReport(githubId: Self.second, Self.processing(1, .failed)))
        else {
            Issue.record("failed reports are applied")
            return
        }
        #expect(allFailed.status == .failed)
        #expect(allFailed.message == "feature extraction failed: processing failed; processing failed")
        #expect(none.isEmpty)

        // A new extraction clears the last reports but keeps their sequence: a late report of the
        // previous extraction stays stale.
        guard case .applied(let again, _) = done.transition(.processingRequested) else {
            Issue.record("a processed version is processed again")
            return
        }
        #expect(again.repositories[Self.first]?.processing == nil)
        #expect(again.transition(.processingReport(githubId: Self.first, Self.processing(1, .processed))) == .refused(.staleReport(sequence: 1, applied: 1)))
    }

    @Test func retriesNeedFailedBuildsAndAnEndedPhase() {
        var failedBuilds = Self.ingested(.partial)
        failedBuilds.repositories[Self.second]?.ingestion = Self.ingestion(4, .partial, ingested: 2, failed: 2)
        #expect(failedBuilds.transition(.retryIngestionRequested) == .applied({
            var next = failedBuilds
            next.status = .ingesting
            next.message = "ingesting the failed builds of 1 repositories again"
            return next
        }(), [.retryIngestion([Self.second])]))
        #expect(Self.ingested(.ingested).transition(.retryIngestionRequested) == .refused(.nothingToDo("no build failed its ingestion")))
        for status: DatasetVersionStatus in [.queued, .ingesting, .processing] {
            var state = failedBuilds
            state.status = status
            #expect(state.transition(.retryIngestionRequested) == .refused(.notApplicable(status)))
        }

        var processed = Self.ingested(.processed)
        processed.repositories[Self.first]?.processing = Self.processing(5, .processed, failed: 1)
        processed.repositories[Self.second]?.processing = Self.processing(5, .processed)
        guard case .applied(let retrying, let commands) = processed.transition(.retryProcessingRequested) else {
            Issue.record("a processed version with a failed build retries it")
            return
        }
        #expect(retrying.status == .processing)
        #expect(commands == [.retryProcessing([Self.first])])
        processed.repositories[Self.first]?.processing = Self.processing(5, .processed)
        #expect(processed.transition(.retryProcessingRequested) == .refused(.nothingToDo("no build failed its extraction")))
        #expect(Self.ingested(.ingested).transition(.retryProcessingRequested) == .refused(.notApplicable(.ingested)))
    }

    @Test(arguments: DatasetVersionStatus.allCases)
    func deletingForgetsEveryRepositoryFromAnyStatus(_ status: DatasetVersionStatus) {
        #expect(Self.ingested(status).transition(.deleted) == .applied(Self.ingested(status), [.forget([Self.first, Self.second])]))
    }
}
