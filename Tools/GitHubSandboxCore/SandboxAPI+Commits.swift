import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat
import NIOPosix
import Synchronization

// Commits, comparisons and pull requests, read from the real repositories with the git CLI.
// GitHub serves any commit of a repository's fork network through the repository (a fork pull
// request's head included), so lookups by sha fall back to the forks.

extension SandboxAPI {
    func addGitRoutes(to api: RouterGroup<BasicRequestContext>, baseURL: String) {
        api.get("/repos/{owner}/{repo}/commits/{ref}") { request, context in
            guard let repository = self.repository(context) else { return Self.notFound() }
            let reference = context.parameters.get("ref") ?? ""
            let accept = request.headers[.accept] ?? ""
            let answer = try await NIOThreadPool.singleton.runIfActive { () -> CommitAnswer? in
                guard let (gitDir, sha) = self.locate(reference, in: repository),
                    let commit = try SandboxGit.commits(in: gitDir, ["-1", sha]).first
                else { return nil }
                if accept.contains("patch") { return .text(try SandboxGit.patch(in: gitDir, commit)) }
                let diff = try SandboxGit.diff(in: gitDir, from: commit.parents.first, to: commit.sha)
                if accept.contains("diff") { return .text(diff) }
                return .json(Self.encode(CommitJSON(commit, files: SandboxGit.files(ofDiff: diff), repository: repository.fullName, baseURL: baseURL)))
            }
            switch answer {
            case nil:
                // GitHub answers 422, not 404, for a sha or ref that names no commit of the repository.
                return Self.json(
                    ["message": "No commit found for SHA: \(reference)", "documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit", "status": "422"],
                    status: .unprocessableContent)
            case let .text(text):
                self.stats.withLock { $0.patches += 1 }
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
            case let .json(data):
                return self.conditional(request, data, headers: [.contentType: "application/json; charset=utf-8"])
            }
        }
        // Comments on a commit, oldest first, paged (GitHub's "List commit comments").
        api.get("/repos/{owner}/{repo}/commits/{ref}/comments") { request, context in
            guard let repository = self.repository(context) else { return Self.notFound() }
            let reference = context.parameters.get("ref") ?? ""
            let located = try await NIOThreadPool.singleton.runIfActive { self.locate(reference, in: repository) }
            guard let (_, sha) = located else {
                return Self.json(
                    ["message": "No commit found for SHA: \(reference)", "documentation_url": "https://docs.github.com/rest/commits/comments#list-commit-comments", "status": "422"],
                    status: .unprocessableContent)
            }
            let comments = self.world.commitComments(fullName: repository.fullName, sha: sha).map {
                CommitCommentJSON($0, repository: repository, baseURL: baseURL)
            }
            return self.page(comments, request: request, url: baseURL + "/repos/\(repository.fullName)/commits/\(reference)/comments")
        }
        api.get("/repos/{owner}/{repo}/compare/{basehead}") { request, context in
            guard let repository = self.repository(context), let basehead = context.parameters.get("basehead"),
                let range = basehead.range(of: "...")
            else { return Self.notFound() }
            let base = String(basehead[..<range.lowerBound])
            let head = String(basehead[range.upperBound...])
            let data = try await NIOThreadPool.singleton.runIfActive {
                try self.compare(base, head, in: repository, baseURL: baseURL).map { Self.encode($0) }
            }
            guard let data else { return Self.notFound() }
            return self.conditional(request, data, headers: [.contentType: "application/json; charset=utf-8"])
        }
        api.get("/repos/{owner}/{repo}/pulls") { request, context in
            guard let repository = self.repository(context) else { return Self.notFound() }
            let state = request.uri.queryParameters.get("state") ?? "open"
            // Newest first, GitHub's default order (sort=created, direction=desc).
            let pulls = repository.pulls.reversed().filter { state == "all" || (state == "closed") == ($0.closedAt != nil) }
            return self.page(pulls.map { PullJSON($0, in: repository, api: self, baseURL: baseURL) }, request: request,
                             url: baseURL + "/repos/\(repository.fullName)/pulls")
        }
        api.get("/repos/{owner}/{repo}/pulls/{number}") { request, context in
            guard let repository = self.repository(context), let number = context.parameters.get("number", as: Int.self),
                let pull = repository.pulls.first(where: { $0.number == number })
            else { return Self.notFound() }
            var json = PullJSON(pull, in: repository, api: self, baseURL: baseURL)
            let stats = try await NIOThreadPool.singleton.runIfActive { try self.stats(of: pull, in: repository) }
            json.merged = pull.mergedAt != nil
            json.comments = pull.comments
            json.review_comments = pull.reviewComments
            json.commits = pull.commits
            json.additions = stats.additions
            json.deletions = stats.deletions
            json.changed_files = stats.files
            return self.conditional(request, Self.encode(json), headers: [.contentType: "application/json; charset=utf-8"])
        }
        // A pull request's conversation (issue comments) and its review comments, oldest first as
        // GitHub lists them, paged.
        api.get("/repos/{owner}/{repo}/issues/{number}/comments") { request, context in
            guard let repository = self.repository(context), let number = context.parameters.get("number", as: Int.self),
                let pull = repository.pulls.first(where: { $0.number == number })
            else { return Self.notFound() }
            let comments = pull.commentTimes(pull.comments).enumerated().map { index, time in
                CommentJSON(pull: pull, in: repository, index: index, time: time, review: false, baseURL: baseURL)
            }
            return self.page(comments, request: request, url: baseURL + "/repos/\(repository.fullName)/issues/\(number)/comments")
        }
        api.get("/repos/{owner}/{repo}/pulls/{number}/comments") { request, context in
            guard let repository = self.repository(context), let number = context.parameters.get("number", as: Int.self),
                let pull = repository.pulls.first(where: { $0.number == number })
            else { return Self.notFound() }
            let comments = pull.commentTimes(pull.reviewComments).enumerated().map { index, time in
                CommentJSON(pull: pull, in: repository, index: index, time: time, review: true, baseURL: baseURL)
            }
            return self.page(comments, request: request, url: baseURL + "/repos/\(repository.fullName)/pulls/\(number)/comments")
        }
    }

    /// The repository itself, then (for a sha) the rest of its fork network.
    private func network(of repository: SandboxRepository, for reference: String) -> [SandboxRepository] {
        guard reference.count >= 7, reference.allSatisfy(\.isHexDigit) else { return [repository] }
        let root = repository.parent.flatMap(world.repository) ?? repository
        return [repository] + ([root] + world.forks(of: root.fullName)).filter { $0.fullName != repository.fullName }
    }

    /// The git directory that holds `reference` as a commit, and its full sha.
    func locate(_ reference: String, in repository: SandboxRepository) -> (gitDir: String, sha: String)? {
        for candidate in network(of: repository, for: reference) {
            if let sha = SandboxGit.resolve(reference, in: candidate.gitPath) { return (candidate.gitPath, sha) }
        }
        return nil
    }

    /// GitHub's comparison of `head` with the merge base of `base` and `head`; nil when either is unknown.
    func compare(_ base: String, _ head: String, in repository: SandboxRepository, baseURL: String) throws -> CompareJSON? {
        for candidate in network(of: repository, for: head) {
            let git = ["--git-dir", candidate.gitPath]
            guard let baseSha = SandboxGit.resolve(base, in: candidate.gitPath), let headSha = SandboxGit.resolve(head, in: candidate.gitPath) else { continue }
            guard let mergeBase = SandboxGit.text(git + ["merge-base", baseSha, headSha])?.trimmingCharacters(in: .whitespacesAndNewlines),
                let counts = SandboxGit.text(git + ["rev-list", "--left-right", "--count", "\(baseSha)...\(headSha)"])?
                    .split(whereSeparator: \.isWhitespace).compactMap({ Int($0) }), counts.count == 2
            else { return nil }
            let (behind, ahead) = (counts[0], counts[1])
            let commits = try SandboxGit.commits(in: candidate.gitPath, ["--reverse", "\(mergeBase)..\(headSha)"])
            let summary = { (sha: String) in try SandboxGit.commits(in: candidate.gitPath, ["-1", sha]).first }
            guard let baseCommit = try summary(baseSha), let mergeBaseCommit = try summary(mergeBase) else { return nil }
            let json = { (commit: SandboxGit.Commit) in CommitJSON(commit, files: nil, repository: repository.fullName, baseURL: baseURL) }
            return CompareJSON(
                url: "\(baseURL)/repos/\(repository.fullName)/compare/\(base)...\(head)",
                html_url: "https://github.com/\(repository.fullName)/compare/\(base)...\(head)",
                base_commit: json(baseCommit), merge_base_commit: json(mergeBaseCommit),
                status: ahead == 0 && behind == 0 ? "identical" : behind == 0 ? "ahead" : ahead == 0 ? "behind" : "diverged",
                ahead_by: ahead, behind_by: behind, total_commits: ahead,
                // GitHub lists at most 250 commits and 300 files in a comparison.
                commits: commits.prefix(250).map(json),
                files: Array(SandboxGit.files(ofDiff: try SandboxGit.diff(in: candidate.gitPath, from: mergeBase, to: headSha)).prefix(300)))
        }
        return nil
    }

    /// Lines added and deleted and files changed between a pull request's base and head (cached: they never change).
    func stats(of pull: SandboxPullRequest, in repository: SandboxRepository) throws -> (additions: Int, deletions: Int, files: Int) {
        let key = "\(repository.fullName)#\(pull.baseSha)..\(pull.headSha)"
        if let cached = pullStats.withLock({ $0[key] }) { return cached }
        for candidate in network(of: repository, for: pull.headSha) {
            guard SandboxGit.resolve(pull.headSha, in: candidate.gitPath) != nil, SandboxGit.resolve(pull.baseSha, in: candidate.gitPath) != nil else { continue }
            let numstat = String(decoding: try SandboxGit.run(["--git-dir", candidate.gitPath, "diff", "--numstat", "-M", pull.baseSha, pull.headSha]), as: UTF8.self)
            var result = (additions: 0, deletions: 0, files: 0)
            for line in numstat.split(separator: "\n") {
                let fields = line.split(separator: "\t")
                result.additions += fields.first.flatMap { Int($0) } ?? 0
                result.deletions += fields.dropFirst().first.flatMap { Int($0) } ?? 0
                result.files += 1
            }
            pullStats.withLock { $0[key] = result }
            return result
        }
        return (0, 0, 0)
    }
}

enum CommitAnswer: Sendable {
    case json(Data)
    case text(String)
}

/// A commit in GitHub's format (`GET /repos/{owner}/{repo}/commits/{ref}`; without stats and files in lists).
struct CommitJSON: Encodable {
    struct Person: Encodable {
        var name: String
        var email: String
        var date: String
    }
    struct Tree: Encodable {
        var sha: String
    }
    struct Detail: Encodable {
        var author: Person
        var committer: Person
        var message: String
        var tree: Tree
        var comment_count = 0
    }
    struct Parent: Encodable {
        var sha: String
        var url: String
        var html_url: String
    }
    struct Stats: Encodable {
        var additions: Int
        var deletions: Int
        var total: Int
    }
    var sha: String
    var url: String
    var html_url: String
    var commit: Detail
    var parents: [Parent]
    var stats: Stats?
    var files: [SandboxGit.FileChange]?

    init(_ commit: SandboxGit.Commit, files: [SandboxGit.FileChange]?, repository: String, baseURL: String) {
        sha = commit.sha
        url = "\(baseURL)/repos/\(repository)/commits/\(commit.sha)"
        html_url = "https://github.com/\(repository)/commit/\(commit.sha)"
        self.commit = Detail(
            author: Person(name: commit.authorName, email: commit.authorEmail, date: SandboxWorld.iso(commit.authorDate)),
            committer: Person(name: commit.committerName, email: commit.committerEmail, date: SandboxWorld.iso(commit.committerDate)),
            message: commit.message, tree: Tree(sha: commit.tree))
        parents = commit.parents.map {
            Parent(sha: $0, url: "\(baseURL)/repos/\(repository)/commits/\($0)", html_url: "https://github.com/\(repository)/commit/\($0)")
        }
        self.files = files
        stats = files.map { files in
            let additions = files.reduce(0) { $0 + $1.additions }
            let deletions = files.reduce(0) { $0 + $1.deletions }
            return Stats(additions: additions, deletions: deletions, total: additions + deletions)
        }
    }
}

/// A comparison in GitHub's format (`GET /repos/{owner}/{repo}/compare/{base}...{head}`).
struct CompareJSON: Encodable {
    var url: String
    var html_url: String
    var base_commit: CommitJSON
    var merge_base_commit: CommitJSON
    var status: String
    var ahead_by: Int
    var behind_by: Int
    var total_commits: Int
    var commits: [CommitJSON]
    var files: [SandboxGit.FileChange]
}

extension SandboxPullRequest {
    /// When its `count` comments were written: evenly over its life (to its closing, or three days
    /// when it is open), so the builds of its later commits see some and not all of them.
    public func commentTimes(_ count: Int) -> [Date] {
        let end = closedAt ?? createdAt.addingTimeInterval(3 * 86_400)
        let span = max(end.timeIntervalSince(createdAt), 60)
        return (0..<count).map { createdAt.addingTimeInterval(span * Double($0 + 1) / Double(count + 1)) }
    }

    /// Its description: words that depend only on the pull request, so answers are stable.
    public var body: String {
        "This pull request \(title.lowercased()) from \(headRef). It was opened by \(author) with \(commits) commit\(commits == 1 ? "" : "s")."
    }
}

/// An issue comment or a pull request review comment, in GitHub's format (the fields a client reads).
struct CommentJSON: Encodable {
    struct User: Encodable {
        var login: String
    }
    var id: Int64
    var body: String
    var user: User
    var created_at: String
    var updated_at: String
    var html_url: String
    var path: String?

    init(pull: SandboxPullRequest, in repository: SandboxRepository, index: Int, time: Date, review: Bool, baseURL: String) {
        id = (repository.id * 100_000 + Int64(pull.number)) * 1_000 + Int64(index) * 2 + (review ? 1 : 0)
        body = review ? "Consider renaming this (\(index + 1))." : "Thanks, looking at it (\(index + 1))."
        user = User(login: index % 2 == 0 ? "reviewer" : pull.author)
        created_at = SandboxWorld.iso(time)
        updated_at = created_at
        html_url = "https://github.com/\(repository.fullName)/pull/\(pull.number)#\(review ? "discussion_r" : "issuecomment-")\(id)"
        path = review ? "README.md" : nil
    }
}

/// A commit comment in GitHub's format (`GET /repos/{owner}/{repo}/commits/{sha}/comments`); a
/// comment on the commit as a whole has no path, position or line.
struct CommitCommentJSON: Encodable {
    struct User: Encodable {
        var login: String
        var type = "User"
    }
    var id: Int64
    var node_id: String
    var url: String
    var html_url: String
    var body: String
    var path: String?
    var position: Int?
    var line: Int?
    var commit_id: String
    var user: User
    var author_association = "CONTRIBUTOR"
    var created_at: String
    var updated_at: String

    init(_ comment: SandboxCommitComment, repository: SandboxRepository, baseURL: String) {
        id = comment.id
        node_id = "CC_\(comment.id)"
        url = "\(baseURL)/repos/\(repository.fullName)/comments/\(comment.id)"
        html_url = "https://github.com/\(repository.fullName)/commit/\(comment.sha)#commitcomment-\(comment.id)"
        body = comment.body
        commit_id = comment.sha
        user = User(login: comment.author)
        created_at = SandboxWorld.iso(comment.createdAt)
        updated_at = created_at
    }
}

/// A pull request in GitHub's format; the counts (`comments` … `changed_files`) only in the single
/// pull request's answer, as GitHub leaves them out of listings.
struct PullJSON: Encodable {
    struct User: Encodable {
        var login: String
    }
    struct Repo: Encodable {
        var id: Int64
        var name: String
        var full_name: String
        var fork: Bool
        var clone_url: String
    }
    struct Branch: Encodable {
        var label: String
        var ref: String
        var sha: String
        var user: User
        var repo: Repo?
    }
    var id: Int64
    var number: Int
    var state: String
    var title: String
    var body: String?
    var user: User
    var created_at: String
    var updated_at: String
    var closed_at: String?
    var merged_at: String?
    var head: Branch
    var base: Branch
    var draft = false
    var url: String
    var html_url: String
    var merged: Bool?
    var comments: Int?
    var review_comments: Int?
    var commits: Int?
    var additions: Int?
    var deletions: Int?
    var changed_files: Int?

    init(_ pull: SandboxPullRequest, in repository: SandboxRepository, api: SandboxAPI, baseURL: String) {
        let world = api.world
        func repo(_ repository: SandboxRepository) -> Repo {
            Repo(id: repository.id, name: repository.name, full_name: repository.fullName, fork: repository.parent != nil, clone_url: api.cloneURL(repository))
        }
        let headRepository = world.repository(pull.headRepository)
        let headOwner = headRepository?.owner ?? repository.owner
        id = repository.id * 100_000 + Int64(pull.number)
        number = pull.number
        state = pull.closedAt == nil ? "open" : "closed"
        title = pull.title
        body = pull.body
        user = User(login: pull.author)
        created_at = SandboxWorld.iso(pull.createdAt)
        updated_at = SandboxWorld.iso(pull.closedAt ?? pull.createdAt)
        closed_at = pull.closedAt.map(SandboxWorld.iso)
        merged_at = pull.mergedAt.map(SandboxWorld.iso)
        head = Branch(label: "\(headOwner):\(pull.headRef)", ref: pull.headRef, sha: pull.headSha, user: User(login: headOwner), repo: headRepository.map(repo))
        base = Branch(label: "\(repository.owner):\(repository.defaultBranch)", ref: repository.defaultBranch, sha: pull.baseSha, user: User(login: repository.owner), repo: repo(repository))
        url = "\(baseURL)/repos/\(repository.fullName)/pulls/\(pull.number)"
        html_url = "https://github.com/\(repository.fullName)/pull/\(pull.number)"
    }
}
