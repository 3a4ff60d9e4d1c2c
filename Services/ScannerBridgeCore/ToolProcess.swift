import Foundation
import Synchronization

/// How a tool run ended.
enum ToolExit: Sendable, Equatable {
    case exited(Int32)
    case timedOut
}

/// Runs an external tool with a time limit, its standard output and error going to files so a large
/// report can never fill a pipe and stall the child. Waiting is a continuation resumed by the
/// termination handler, so no thread of the concurrency pool blocks on the child.
struct ToolProcess: Sendable {
    var executable: String
    var arguments: [String]
    var environment: [String: String] = [:]
    var workingDirectory: String?
    var timeout: Duration

    /// Grace between SIGTERM and SIGKILL for a child that outlived its limit.
    static let killGrace: Duration = .seconds(2)

    func run(standardOutput: String, standardError: String) async throws(ScanFailure) -> ToolExit {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        guard FileManager.default.createFile(atPath: standardOutput, contents: nil),
            FileManager.default.createFile(atPath: standardError, contents: nil),
            let out = FileHandle(forWritingAtPath: standardOutput), let err = FileHandle(forWritingAtPath: standardError)
        else { throw ScanFailure(kind: .launchFailed, reason: "cannot create output files beside \(standardOutput)") }
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exit = ExitSignal()
        process.terminationHandler = { exit.finish($0.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw ScanFailure(kind: .launchFailed, reason: "cannot start \(executable): \(error.localizedDescription)")
        }
        let timeout = self.timeout
        let pid = process.processIdentifier
        return await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await exit.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            if let status = await group.next() ?? nil {
                group.cancelAll()
                return .exited(status)
            }
            process.terminate()
            group.addTask {
                try? await Task.sleep(for: ToolProcess.killGrace)
                if !Task.isCancelled { kill(pid, SIGKILL) }
                return nil
            }
            while let next = await group.next() {
                if next != nil { break }
            }
            group.cancelAll()
            return .timedOut
        }
    }
}

/// The child's exit status, awaited by any number of tasks.
private final class ExitSignal: Sendable {
    private let state = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    func finish(_ status: Int32) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int32, Never>] in
            state.status = status
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A private temporary directory, removed with `remove()`.
struct ScratchDirectory: Sendable {
    let path: String

    init(prefix: String) throws(ScanFailure) {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ScanFailure(kind: .launchFailed, reason: "cannot create a scratch directory: \(error.localizedDescription)")
        }
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// The last `limit` characters of a file, for a failure's reason.
    func tail(_ name: String, limit: Int = 600) -> String {
        let text = (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
        return String(text.trimmingCharacters(in: .whitespacesAndNewlines).suffix(limit))
    }
}
