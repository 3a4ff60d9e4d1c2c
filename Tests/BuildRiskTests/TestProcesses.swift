import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import FeatureExtractorCore
import Foundation
import GatewayCore
import GitHubSandboxCore
import HummingbirdWSClient
import IngestorCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SourceValidatorCore
import Synchronization
import Testing

/// A child process (a service executable or the job probe) that is killed when the test ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let output = Pipe()

    /// `logPath`: where the process's standard output and error go (a service's log); by default
    /// standard output is a pipe the test reads.
    init(executable: String, environment: [String: String], arguments: [String] = [], logPath: String? = nil) throws {
        process.executableURL = TestEnvironment.binDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        process.environment = environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { a, _ in a }
        if let logPath, FileManager.default.createFile(atPath: logPath, contents: nil), let handle = FileHandle(forWritingAtPath: logPath) {
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func kill(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to exit, killing it after `timeout`.
    func waitForExit(timeout: Duration = .seconds(20)) async {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            kill(SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
    }
}

/// Runs the git CLI (the sandbox's runner) and returns its standard output.
@discardableResult
func git(_ arguments: [String]) throws -> String {
    String(decoding: try SandboxGit.run(arguments), as: UTF8.self)
}

/// Runs blocking work (writing a sandbox world runs git thousands of times) on a thread of its
/// own: on the two threads of Swift's cooperative pool it would stall every timer and service of
/// the tests running beside it.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// The same, trimmed of surrounding white space (one line of output, say).
func gitLine(_ arguments: [String]) throws -> String {
    try git(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
}
