import Testing
import TrainingOrchestratorCore

/// The training data's split is by time: builds handed over in any order (the feature-extractor
/// pages by run id, repositories one after another) end oldest 70 % training, next 15 %
/// validation, newest 15 % test, ties on the start time broken by the run id.
struct TimeOrderedSplitTests {
    struct Build: Equatable {
        var runId: Int64
        var startedAt: String
    }

    @Test func theNewestBuildsAreTestedAndTheOldestTrainedOn() {
        // Twenty builds, one an hour, whose run ids do not follow their start (two repositories
        // interleaved), handed over newest run id first; two share a start time.
        let hours = [5, 0, 19, 7, 12, 3, 16, 9, 1, 14, 18, 6, 10, 2, 17, 11, 4, 13, 8, 15]
        var builds = hours.enumerated().map { index, hour in
            Build(runId: Int64(1_000 - index * 7), startedAt: "2026-11-0\(hour < 10 ? 1 : 2)T\(hour < 10 ? "0\(hour)" : "\(hour)"):00:00Z")
        }
        builds.append(Build(runId: 2, startedAt: builds[0].startedAt))
        let (trainingEnd, validationEnd) = FeatureVectorDataSource.timeOrderedSplit(&builds, startedAt: \.startedAt, runId: \.runId)
        #expect(trainingEnd == 14 && validationEnd == 17 && builds.count == 21)
        let training = builds[..<trainingEnd], validation = builds[trainingEnd..<validationEnd], test = builds[validationEnd...]
        // The hand-made order: hours 0…9 of the first day, 10…19 of the second; 5 twice (run 2 first).
        let expectedHours = [0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
        #expect(builds.map { Int($0.startedAt.dropFirst(11).prefix(2))! } == expectedHours)
        #expect(builds[5].runId == 2 && builds[6].runId == 1_000)
        #expect(training.allSatisfy { build in validation.allSatisfy { build.startedAt <= $0.startedAt } })
        #expect(validation.allSatisfy { build in test.allSatisfy { build.startedAt < $0.startedAt } })
        #expect(test.map(\.startedAt).sorted() == test.map(\.startedAt))
    }
}
