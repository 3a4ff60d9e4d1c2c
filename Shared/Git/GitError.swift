import CLibGit2

/// A libgit2 call that failed, with libgit2's own message (read on the failing thread, right after the call).
public struct GitError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String
    public var operation: String

    public var description: String { "\(operation) failed (\(code)): \(message)" }

    /// Throws a GitError when `code` is negative; `git_error_last()` is per thread, so this must run
    /// right after the call on the same thread.
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        guard code < 0 else { return }
        let message = git_error_last().map { String(cString: $0.pointee.message) } ?? "unknown error"
        throw GitError(code: code, message: message, operation: operation())
    }
}
