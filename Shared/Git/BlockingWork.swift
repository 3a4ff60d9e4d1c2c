import NIOPosix

/// Runs blocking work (libgit2, unzipping and parsing logs) on NIO's blocking thread pool, never
/// on an event loop or the concurrency pool, whose few threads (two here) serve every request.
public enum BlockingWork {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
