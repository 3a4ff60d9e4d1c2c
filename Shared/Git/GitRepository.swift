import CGitStream
import CLibGit2
import Foundation

/// How a clone or fetch reaches its remote: a token for private repositories over https (sent with
/// every request; see ``TransferContext``), a deadline.
public struct GitTransferOptions: Sendable {
    /// Sent as the password of `x-access-token` (GitHub's convention for token authentication over https).
    public var token: String?
    /// The transfer is aborted when it is still running at this instant.
    public var deadline: ContinuousClock.Instant

    public init(token: String? = nil, timeout: Duration = .seconds(600)) {
        self.token = token
        deadline = .now + timeout
    }
}

/// A libgit2 repository handle. Every method blocks; callers run them on a thread pool
/// (``BlockingWork``), never on an event loop. One handle is used by one thread at a time.
public final class GitRepository {
    let pointer: OpaquePointer
    public let path: String

    private init(pointer: OpaquePointer, path: String) {
        self.pointer = pointer
        self.path = path
    }

    deinit { git_repository_free(pointer) }

    /// libgit2 started once per process, with our socket stream (TCP_NODELAY: without it every
    /// POST of a fetch over smart HTTP waited out a delayed ACK; bench-ingest, fetch 1.8× → 1.2× git's).
    static let initialize: Void = {
        _ = git_libgit2_init()
        _ = buildrisk_git_register_socket_stream()
    }()

    /// Opens an existing repository (bare or not).
    public static func open(_ path: String) throws -> GitRepository {
        _ = initialize
        var pointer: OpaquePointer?
        try GitError.check(git_repository_open(&pointer, path), "open \(path)")
        guard let pointer else { throw GitError(code: -1, message: "no repository", operation: "open \(path)") }
        return GitRepository(pointer: pointer, path: path)
    }

    /// A bare clone whose branches mirror the remote's (`+refs/heads/*:refs/heads/*`, like `git clone --bare`),
    /// with the remote named `origin`.
    public static func cloneBare(from url: String, to path: String, options: GitTransferOptions) throws -> GitRepository {
        _ = initialize
        var cloneOptions = git_clone_options()
        try GitError.check(git_clone_options_init(&cloneOptions, UInt32(GIT_CLONE_OPTIONS_VERSION)), "clone options")
        cloneOptions.bare = 1
        cloneOptions.remote_cb = { remote, repository, name, url, _ in
            git_remote_create_with_fetchspec(remote, repository, name, url, "+refs/heads/*:refs/heads/*")
        }
        let context = TransferContext(options: options, url: url)
        return try withExtendedLifetime(context) {
            cloneOptions.fetch_opts.callbacks = context.callbacks()
            return try Self.withStrArray(context.headers) { headers in
                cloneOptions.fetch_opts.custom_headers = headers.pointee
                var pointer: OpaquePointer?
                let code = git_clone(&pointer, url, path, &cloneOptions)
                try context.check(code, "clone \(GitRepository.redact(url))")
                guard let pointer else { throw GitError(code: -1, message: "no repository", operation: "clone") }
                return GitRepository(pointer: pointer, path: path)
            }
        }
    }

    /// Fetches `refspecs` from `origin` (its configured refspecs when empty), pruning refs the remote deleted.
    public func fetch(refspecs: [String] = [], prune: Bool = true, options: GitTransferOptions) throws {
        var remote: OpaquePointer?
        try GitError.check(git_remote_lookup(&remote, pointer, "origin"), "look up origin")
        defer { git_remote_free(remote) }
        var fetchOptions = git_fetch_options()
        try GitError.check(git_fetch_options_init(&fetchOptions, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
        fetchOptions.prune = prune ? GIT_FETCH_PRUNE : GIT_FETCH_NO_PRUNE
        // Tags are not needed (builds name commits), and following them costs libgit2 a second
        // negotiation; FETCH_HEAD is not read by anyone.
        fetchOptions.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        fetchOptions.update_fetchhead = 0
        let context = TransferContext(options: options, url: git_remote_url(remote).map { String(cString: $0) } ?? "")
        try withExtendedLifetime(context) {
            fetchOptions.callbacks = context.callbacks()
            try Self.withStrArray(context.headers) { headers in
                fetchOptions.custom_headers = headers.pointee
                try Self.withStrArray(refspecs) { array in
                    let code = git_remote_fetch(remote, refspecs.isEmpty ? nil : array, &fetchOptions, nil)
                    try context.check(code, "fetch \(refspecs.joined(separator: " "))")
                }
            }
        }
    }

    /// Whether the object database holds this commit.
    public func containsCommit(_ sha: String) -> Bool {
        guard var oid = try? Self.oid(sha) else { return false }
        var commit: OpaquePointer?
        guard git_commit_lookup(&commit, pointer, &oid) == 0 else { return false }
        git_commit_free(commit)
        return true
    }

    /// Whether a local branch reaches the commit (a fork's pull-request head is reachable only
    /// through `refs/pull/N/head`).
    public func isOnBranch(_ sha: String) throws -> Bool {
        var oid = try Self.oid(sha)
        var iterator: OpaquePointer?
        try GitError.check(git_branch_iterator_new(&iterator, pointer, GIT_BRANCH_LOCAL), "list branches")
        defer { git_branch_iterator_free(iterator) }
        var reference: OpaquePointer?
        var type = GIT_BRANCH_LOCAL
        while git_branch_next(&reference, &type, iterator) == 0 {
            defer { git_reference_free(reference) }
            guard let target = git_reference_target(reference) else { continue }
            if git_oid_cmp(target, &oid) == 0 || git_graph_descendant_of(pointer, target, &oid) == 1 { return true }
        }
        return false
    }

    /// Points `name` (a full ref name) at `sha`, so the commit survives garbage collection.
    public func setReference(_ name: String, to sha: String) throws {
        var oid = try Self.oid(sha)
        var reference: OpaquePointer?
        try GitError.check(git_reference_create(&reference, pointer, name, &oid, 1, "buildrisk"), "create \(name)")
        git_reference_free(reference)
    }

    /// The author or committer of a synthetic commit.
    public typealias Signature = GitPerson

    /// Applies a patch (a unified diff, or `git format-patch` output) to `parent`'s tree and writes a
    /// commit with that parent; returns the new commit's id. The commit is not on any branch.
    public func replayPatch(_ patch: String, onto parent: String, message: String, author: Signature, committer: Signature) throws -> String {
        var parentOid = try Self.oid(parent)
        var parentCommit: OpaquePointer?
        try GitError.check(git_commit_lookup(&parentCommit, pointer, &parentOid), "look up parent \(parent)")
        defer { git_commit_free(parentCommit) }
        var parentTree: OpaquePointer?
        try GitError.check(git_commit_tree(&parentTree, parentCommit), "parent tree")
        defer { git_tree_free(parentTree) }

        var diff: OpaquePointer?
        let bytes = Array(patch.utf8)
        try GitError.check(bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return -1 }
            return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { git_diff_from_buffer(&diff, $0, buffer.count) }
        }, "parse patch")
        defer { git_diff_free(diff) }
        guard git_diff_num_deltas(diff) > 0 else { throw GitError(code: -1, message: "the patch changes no file", operation: "parse patch") }

        var index: OpaquePointer?
        try GitError.check(git_apply_to_tree(&index, pointer, parentTree, diff, nil), "apply patch onto \(parent)")
        defer { git_index_free(index) }
        var treeOid = git_oid()
        try GitError.check(git_index_write_tree_to(&treeOid, index, pointer), "write tree")
        var tree: OpaquePointer?
        try GitError.check(git_tree_lookup(&tree, pointer, &treeOid), "look up tree")
        defer { git_tree_free(tree) }

        let authorSignature = try Self.signature(author)
        defer { git_signature_free(authorSignature) }
        let committerSignature = try Self.signature(committer)
        defer { git_signature_free(committerSignature) }
        var commitOid = git_oid()
        var parents: [OpaquePointer?] = [parentCommit]
        try GitError.check(parents.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(&commitOid, pointer, nil, authorSignature, committerSignature, "UTF-8", message, tree, 1, buffer.baseAddress)
        }, "create commit")
        return Self.string(commitOid)
    }

    /// Adds a worktree at `path` with a detached HEAD at `sha`.
    ///
    /// libgit2 1.5 cannot add a detached worktree directly: add it on a temporary branch, detach
    /// its HEAD, then delete the branch (DESIGN.md, "facts measured on this machine").
    public func addDetachedWorktree(name: String, path: String, at sha: String) throws {
        var oid = try Self.oid(sha)
        var commit: OpaquePointer?
        try GitError.check(git_commit_lookup(&commit, pointer, &oid), "look up \(sha)")
        defer { git_commit_free(commit) }
        var branch: OpaquePointer?
        let branchName = "buildrisk-worktree-\(name)"
        try GitError.check(git_branch_create(&branch, pointer, branchName, commit, 1), "create branch \(branchName)")
        defer { git_reference_free(branch) }
        var options = git_worktree_add_options()
        try GitError.check(git_worktree_add_options_init(&options, UInt32(GIT_WORKTREE_ADD_OPTIONS_VERSION)), "worktree options")
        options.ref = branch
        do {
            var worktree: OpaquePointer?
            try GitError.check(git_worktree_add(&worktree, pointer, name, path, &options), "add worktree \(name)")
            git_worktree_free(worktree)
            var worktreeRepository: OpaquePointer?
            try GitError.check(git_repository_open(&worktreeRepository, path), "open worktree \(name)")
            defer { git_repository_free(worktreeRepository) }
            try GitError.check(git_repository_set_head_detached(worktreeRepository, &oid), "detach worktree \(name)")
        } catch {
            // Leave nothing behind: no half worktree, no temporary branch.
            try? removeWorktree(name: name)
            git_branch_delete(branch)
            throw error
        }
        try GitError.check(git_branch_delete(branch), "delete branch \(branchName)")
    }

    /// Removes a worktree: its working directory and its administrative files.
    public func removeWorktree(name: String) throws {
        var worktree: OpaquePointer?
        guard git_worktree_lookup(&worktree, pointer, name) == 0 else { return }
        defer { git_worktree_free(worktree) }
        var options = git_worktree_prune_options()
        try GitError.check(git_worktree_prune_options_init(&options, UInt32(GIT_WORKTREE_PRUNE_OPTIONS_VERSION)), "prune options")
        options.flags = GIT_WORKTREE_PRUNE_VALID.rawValue | GIT_WORKTREE_PRUNE_WORKING_TREE.rawValue | GIT_WORKTREE_PRUNE_LOCKED.rawValue
        try GitError.check(git_worktree_prune(worktree, &options), "prune worktree \(name)")
    }

    /// Names of the repository's worktrees.
    public func worktreeNames() throws -> [String] {
        var names = git_strarray()
        try GitError.check(git_worktree_list(&names, pointer), "list worktrees")
        defer { git_strarray_dispose(&names) }
        return (0..<names.count).compactMap { names.strings[$0].map { String(cString: $0) } }
    }

    // MARK: Helpers

    static func oid(_ sha: String) throws -> git_oid {
        var oid = git_oid()
        guard sha.utf8.count == 40, git_oid_fromstr(&oid, sha) == 0 else {
            throw GitError(code: -1, message: "'\(sha)' is not a 40-digit commit id", operation: "parse id")
        }
        return oid
    }

    static func string(_ oid: git_oid) -> String {
        var oid = oid
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, &oid)
        return String(decoding: buffer.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func signature(_ value: Signature) throws -> UnsafeMutablePointer<git_signature>? {
        var signature: UnsafeMutablePointer<git_signature>?
        try GitError.check(git_signature_new(&signature, value.name, value.email, git_time_t(value.time.timeIntervalSince1970), 0), "signature")
        return signature
    }

    static func withStrArray<R>(_ strings: [String], _ body: (UnsafePointer<git_strarray>) throws -> R) rethrows -> R {
        var pointers = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        return try pointers.withUnsafeMutableBufferPointer { buffer in
            var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return try body(&array)
        }
    }

    /// A URL fit for a log line (no user information).
    static func redact(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? "<url>"
    }
}

/// State the C callbacks of one transfer read through their payload pointer.
///
/// A token goes with every request as `Authorization: Basic` (user `x-access-token`), the way
/// `git` does with a credential helper after its first 401, rather than through libgit2's
/// credential callback: libgit2 1.5 answers a 401 that has a body (GitHub's has one) by replaying
/// the request on the same connection without reading that body, and then fails to parse the
/// next response ("http parser error: invalid constant string"). Sending it up front also saves
/// the challenge round trip. A 401 despite it, or without a token, ends the transfer with the reason.
final class TransferContext {
    let options: GitTransferOptions
    var timedOut = false
    /// Set when the remote answered 401 (the credential callback was asked).
    var authenticationRefused = false

    let url: String

    init(options: GitTransferOptions, url: String) {
        self.options = options
        self.url = url
    }

    /// Extra HTTP request headers for this transfer: the token, over https (or plain http to this
    /// machine, for local test servers) and never in clear text across a network.
    var headers: [String] {
        guard let token = options.token, let components = URLComponents(string: url) else { return [] }
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(components.host ?? "")
        guard components.scheme == "https" || (components.scheme == "http" && loopback) else { return [] }
        return ["Authorization: Basic " + Data("x-access-token:\(token)".utf8).base64EncodedString()]
    }

    func callbacks() -> git_remote_callbacks {
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        // Asked only when the remote answered 401: the token (if any) was already sent.
        callbacks.credentials = { _, _, _, _, payload in
            if let payload {
                Unmanaged<TransferContext>.fromOpaque(payload).takeUnretainedValue().authenticationRefused = true
            }
            return GIT_EAUTH.rawValue
        }
        callbacks.transfer_progress = { _, payload in
            guard let payload else { return 0 }
            let context = Unmanaged<TransferContext>.fromOpaque(payload).takeUnretainedValue()
            if ContinuousClock.now > context.options.deadline {
                context.timedOut = true
                return -1
            }
            return 0
        }
        callbacks.sideband_progress = { _, _, payload in
            guard let payload else { return 0 }
            let context = Unmanaged<TransferContext>.fromOpaque(payload).takeUnretainedValue()
            if ContinuousClock.now > context.options.deadline {
                context.timedOut = true
                return -1
            }
            return 0
        }
        return callbacks
    }

    func check(_ code: Int32, _ operation: String) throws {
        guard code < 0 else { return }
        if timedOut { throw GitError(code: code, message: "timed out", operation: operation) }
        if authenticationRefused {
            // libgit2's own last error is stale here (it names whatever failed before the 401).
            let message = options.token == nil
                ? "authentication required (HTTP 401): the repository is private or gone, and no token was given"
                : "authentication failed (HTTP 401): the remote refused the token"
            throw GitError(code: code, message: message, operation: operation)
        }
        if code == GIT_ECERTIFICATE.rawValue {
            // libgit2 names mbedTLS's verdict ("not correctly signed by the trusted CA", "CN mismatch").
            let reason = git_error_last().map { String(cString: $0.pointee.message) } ?? "certificate refused"
            let message = "the server's TLS certificate is not trusted (\(reason)); a private CA's bundle is set with GIT_SSL_CA_FILE"
            throw GitError(code: code, message: message, operation: operation)
        }
        try GitError.check(code, operation)
    }
}
