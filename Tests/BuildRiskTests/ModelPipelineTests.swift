import BuildRiskContracts
import GatewayCore
import Testing

/// Walks the model pipeline's whole transition table without a database: every event from every
/// status, including the refused ones. The expectations are this file's own table.
struct ModelPipelineTests {
    typealias Pipeline = ModelPipeline

    static func importReport(_ sequence: Int, _ status: ImportStatus) -> Pipeline.Event {
        .importReport(ImportProgress(importId: "7", sequence: sequence, status: status, message: "import \(status.rawValue)"))
    }

    static func ingestionReport(_ sequence: Int, _ status: IngestionStatus) -> Pipeline.Event {
        .ingestionReport(IngestionProgress(
            pipelineId: "7", sequence: sequence, status: status,
            counts: IngestionCounts(total: 1, pending: 0, ingested: 1, missingResource: 0, failed: 0), message: "ingestion \(status.rawValue)"))
    }

    static func processingReport(_ sequence: Int, _ status: ProcessingStatus) -> Pipeline.Event {
        .processingReport(ProcessingProgress(
            pipelineId: "7", sequence: sequence, status: status, counts: ExtractionCounts(total: 2, completed: 2), message: "processing \(status.rawValue)"))
    }

    static func predictionReport(_ sequence: Int, _ phase: PredictionPhase) -> Pipeline.Event {
        .predictionReport(PredictionProgress(
            pipelineId: "7", sequence: sequence, phase: phase, counts: PredictionCounts(total: 2, completed: 2, low: 2), message: "prediction \(phase.rawValue)"))
    }

    @Test func aNewConfigIsQueuedAndAsksForItsImport() {
        let (state, commands) = Pipeline.created()
        #expect(state.status == .queued)
        #expect(state.autoProcess == false)
        #expect(commands == [.requestImport(sync: false)])
        #expect(Pipeline.created(autoProcess: true).0.autoProcess)
    }

    /// From every status: where each event leads, and what it issues.
    @Test(arguments: RepositoryStatus.allCases)
    func everyEventFromEveryStatus(_ status: RepositoryStatus) {
        let state = Pipeline(status: status, message: "before", importSequence: 3, ingestionSequence: 5, processingSequence: 2, predictionSequence: 4)
        func with(
            _ status: RepositoryStatus, _ message: String?, importSequence: Int = 3, ingestionSequence: Int = 5, processingSequence: Int = 2,
            predictionSequence: Int = 4, ingestionEnded: Bool = false
        ) -> Pipeline {
            Pipeline(
                status: status, message: message, importSequence: importSequence, ingestionSequence: ingestionSequence,
                processingSequence: processingSequence, predictionSequence: predictionSequence, ingestionEnded: ingestionEnded)
        }

        // A sync is accepted in any status and asks for a sync import.
        #expect(state.transition(.syncRequested) == .applied(with(.queued, "sync queued"), [.requestImport(sync: true)]))

        // Import reports newer than the last applied move the status to theirs; only `fetched` starts the ingestion.
        let expectedImport: [(ImportStatus, RepositoryStatus, [Pipeline.Command])] = [
            (.queued, .queued, []), (.fetching, .fetching, []), (.fetched, .fetched, [.startIngestion(sequence: 4)]), (.failed, .failed, []),
        ]
        for (reported, expected, commands) in expectedImport {
            #expect(state.transition(Self.importReport(4, reported)) == .applied(
                with(expected, "import \(reported.rawValue)", importSequence: 4), commands))
            // The same report again, or an older one, is stale and changes nothing.
            #expect(state.transition(Self.importReport(3, reported)) == .refused(.staleReport(sequence: 3, applied: 3)))
            #expect(state.transition(Self.importReport(1, reported)) == .refused(.staleReport(sequence: 1, applied: 3)))
        }

        // Ingestion reports likewise, by their own numbering; an ended ingestion (ingested or
        // partial) makes processing possible, and starts it when the import asked for autoProcess.
        let expectedIngestion: [(IngestionStatus, RepositoryStatus, Bool)] = [
            (.ingesting, .ingesting, false), (.ingested, .ingested, true), (.partial, .partial, true), (.failed, .failed, false),
        ]
        for (reported, expected, ended) in expectedIngestion {
            #expect(state.transition(Self.ingestionReport(6, reported)) == .applied(
                with(expected, "ingestion \(reported.rawValue)", ingestionSequence: 6, ingestionEnded: ended), []))
            #expect(state.transition(Self.ingestionReport(5, reported)) == .refused(.staleReport(sequence: 5, applied: 5)))
            var automatic = state
            automatic.autoProcess = true
            var expectedAutomatic = with(ended ? .processing : expected, ended ? "processing queued" : "ingestion \(reported.rawValue)", ingestionSequence: 6, ingestionEnded: ended)
            expectedAutomatic.autoProcess = true
            #expect(automatic.transition(Self.ingestionReport(6, reported)) == .applied(expectedAutomatic, ended ? [.startProcessing] : []))
        }

        // Once the ingestion has ended and the repository is past it, its end reported again (two
        // of its jobs finishing together both report it) moves only the numbering: nothing is
        // redone. A retry reports `ingesting` first, so its end is taken as above.
        var ended = state
        ended.ingestionEnded = true
        ended.autoProcess = true
        for reported in [IngestionStatus.ingested, .partial, .failed] where status != .ingesting {
            var numbered = ended
            numbered.ingestionSequence = 6
            #expect(ended.transition(Self.ingestionReport(6, reported)) == .applied(numbered, []))
        }
        var retried = ended
        retried.status = .ingesting
        retried.message = "ingestion ingesting"
        retried.ingestionSequence = 6
        #expect(ended.transition(Self.ingestionReport(6, .ingesting)) == .applied(retried, []))

        // Processing is refused until the ingestion has ended once, and while it already runs.
        #expect(state.transition(.processingRequested) == .refused(.notApplicable(status)))
        var ingested = state
        ingested.ingestionEnded = true
        let processable: Set<RepositoryStatus> = [.ingested, .partial, .predicting, .processed, .failed]
        if processable.contains(status) {
            #expect(ingested.transition(.processingRequested) == .applied(
                with(.processing, "processing queued", ingestionEnded: true), [.startProcessing]))
        } else {
            #expect(ingested.transition(.processingRequested) == .refused(.notApplicable(status)))
        }

        // Processing reports by their own numbering; the end of the extraction starts the prediction.
        let expectedProcessing: [(ProcessingStatus, RepositoryStatus, String, [Pipeline.Command])] = [
            (.processing, .processing, "processing processing", []), (.processed, .predicting, "prediction queued", [.startPrediction]),
            (.failed, .failed, "processing failed", []),
        ]
        for (reported, expected, message, commands) in expectedProcessing {
            #expect(state.transition(Self.processingReport(3, reported)) == .applied(with(expected, message, processingSequence: 3), commands))
            #expect(state.transition(Self.processingReport(2, reported)) == .refused(.staleReport(sequence: 2, applied: 2)))
        }

        // Prediction reports by their own numbering, applied only while predicting or once processed
        // (a repredict); builds waiting for a model end the phase as well, the message saying so.
        let expectedPrediction: [(PredictionPhase, RepositoryStatus)] = [
            (.predicting, .predicting), (.predicted, .processed), (.waiting, .processed), (.failed, .failed),
        ]
        for (reported, expected) in expectedPrediction {
            if status == .predicting || status == .processed {
                #expect(state.transition(Self.predictionReport(5, reported)) == .applied(
                    with(expected, "prediction \(reported.rawValue)", predictionSequence: 5), []))
            } else {
                #expect(state.transition(Self.predictionReport(5, reported)) == .refused(.notApplicable(status)))
            }
            #expect(state.transition(Self.predictionReport(4, reported)) == .refused(.staleReport(sequence: 4, applied: 4)))
        }

        // Handing the builds to the ingestor moves only a fetched config on.
        if status == .fetched {
            #expect(state.transition(.ingestionHandedOver(builds: 12)) == .applied(with(.ingesting, "12 builds sent to the ingestor"), []))
        } else {
            #expect(state.transition(.ingestionHandedOver(builds: 12)) == .refused(.notApplicable(status)))
        }

        // Deleting is always possible and makes the other services forget.
        #expect(state.transition(.deleted) == .applied(state, [.forget]))
    }

    /// A whole import, ingestion, processing and prediction, with late reports in between, as the services deliver them.
    @Test func aRepositoryGoesFromQueuedToProcessedAndIgnoresLateReports() {
        var state = Pipeline.created(autoProcess: true).0
        var issued: [Pipeline.Command] = []
        let events: [Pipeline.Event] = [
            Self.importReport(1, .fetching), Self.importReport(3, .fetched), Self.importReport(2, .fetching),
            .ingestionHandedOver(builds: 40), Self.ingestionReport(1, .ingesting), Self.ingestionReport(2, .ingested),
            .ingestionHandedOver(builds: 40), Self.processingReport(1, .processing), Self.ingestionReport(3, .ingested),
            Self.processingReport(3, .processed),
            Self.processingReport(2, .processing), Self.predictionReport(1, .predicting), Self.predictionReport(2, .waiting),
            Self.predictionReport(1, .predicted), .processingRequested,
        ]
        var refused = 0
        for event in events {
            switch state.transition(event) {
            case .applied(let next, let commands):
                state = next
                issued += commands
            case .refused:
                refused += 1
            }
        }
        #expect(state.status == .processing)  // asked again after it was processed
        // The ingestion's end reported twice (2 and 3) started the processing once.
        #expect(issued == [.startIngestion(sequence: 3), .startProcessing, .startPrediction, .startProcessing])
        #expect(refused == 4)  // the late `fetching` report, the second hand-over, the late `processing` and `predicted` reports
    }
}
