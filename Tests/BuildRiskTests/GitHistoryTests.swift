import BuildRiskGit
import Foundation
import Testing

/// The history reading of the shared git library against the git CLI on a repository it wrote.
@Suite(.timeLimit(.minutes(5)))
struct GitHistoryTests {
    @Test func commitsReadAsTheCLIPrintsThem() throws {
        let fixture = try FeatureHistory()
        let git = fixture.repository
        let repository = try GitRepository.open(git.path)
        for sha in try git.run(["rev-list", "--all"]).split(separator: "\n").map(String.init) {
            let commit = try repository.commit(sha)
            let fields = try git.run(["log", "-1", "--format=%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B", sha]).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
            #expect(commit.parents == fields[0].split(separator: " ").map(String.init))
            #expect(commit.author.name == fields[1])
            #expect(commit.author.email == fields[2])
            #expect(Int(commit.author.time.timeIntervalSince1970) == Int(fields[3]))
            #expect(commit.committer.name == fields[4])
            #expect(commit.committer.email == fields[5])
            #expect(Int(commit.committer.time.timeIntervalSince1970) == Int(fields[6]))
            #expect(commit.message.trimmingCharacters(in: .whitespacesAndNewlines) == fields[7].trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let merge = try repository.commit(try #require(fixture.commits["m1"]))
        #expect(merge.isMerge && merge.parents == [fixture.commits["c4"], fixture.commits["f2"]].compactMap { $0 })
    }

    @Test func revwalksMatchRevList() throws {
        let fixture = try FeatureHistory()
        let repository = try GitRepository.open(fixture.repository.path)
        let head = try #require(fixture.commits["c6"])
        let all = try fixture.repository.run(["rev-list", "--topo-order", head]).split(separator: "\n").map(String.init)
        #expect(Set(try repository.revwalk(from: head)) == Set(all))
        #expect(try repository.revwalk(from: head).count == 9)
        let firstParent = try fixture.repository.run(["rev-list", "--first-parent", head]).split(separator: "\n").map(String.init)
        #expect(try repository.revwalk(from: head, firstParentOnly: true) == firstParent)
        #expect(try repository.revwalk(from: head, limit: 3).count == 3)
    }

    /// Every commit's diff against its first parent, file by file, as `git diff --numstat -M` and
    /// `--name-status -M` print it: the rename with an edit, the deletions, the binary, the merge.
    @Test func diffsMatchNumstatAndNameStatusWithRenames() throws {
        let fixture = try FeatureHistory()
        let git = fixture.repository
        let repository = try GitRepository.open(git.path)
        var statuses: Set<String> = []
        for sha in try git.run(["rev-list", "--all"]).split(separator: "\n").map(String.init) {
            let parent = try repository.commit(sha).parents.first
            let ours = try repository.diff(from: parent, to: sha).map {
                CLIChange(status: $0.status.rawValue, path: $0.path, oldPath: $0.oldPath,
                          added: $0.isBinary ? nil : $0.addedLines, deleted: $0.isBinary ? nil : $0.deletedLines)
            }
            let theirs = try git.cliChanges(of: sha)
            #expect(ours.sorted { $0.path < $1.path } == theirs.sorted { $0.path < $1.path }, "commit \(sha)")
            statuses.formUnion(theirs.map(\.status))
        }
        // The fixture exercises every status the features count.
        #expect(statuses.isSuperset(of: ["A", "D", "M", "R"]))
        let rename = try repository.diff(from: fixture.commits["c2"], to: try #require(fixture.commits["c3"])).first { $0.status == .renamed }
        #expect(rename?.oldPath == "src/app.py" && rename?.path == "src/main.py")
    }

    @Test func diffKeepsTheLinesOfTheFilesAskedFor() throws {
        let fixture = try FeatureHistory()
        let repository = try GitRepository.open(fixture.repository.path)
        let c4 = try #require(fixture.commits["c4"])
        let changes = try repository.diff(from: fixture.commits["c3"], to: c4, keepText: { $0.hasPrefix("tests/") })
        let tests = try #require(changes.first { $0.path == "tests/test_app.py" })
        #expect(tests.deletedText.contains("def test_three():\n"))
        #expect(changes.first { $0.path == "image.png" }?.isBinary == true)
        #expect(changes.first { $0.path == "image.png" }?.addedText == [])
        #expect(throws: GitError.self) { try repository.diff(from: nil, to: String(repeating: "1", count: 40)) }
    }
}
