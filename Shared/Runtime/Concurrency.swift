/// Runs `work` for each of `inputs` with at most `limit` running at once, and hands each result
/// to `handle` on the calling task as it comes (in completion order). New work starts as results
/// come in, while `handle` answers true; work already running is still awaited and handled.
/// The first error thrown by `work` or `handle` cancels what is running and is rethrown.
public func forEachConcurrently<Input: Sendable, Output: Sendable>(
    _ inputs: some Sequence<Input>, limit: Int,
    _ work: @escaping @Sendable (Input) async throws -> Output,
    handle: (Output) async throws -> Bool = { _ in true }
) async throws {
    var pending = inputs.makeIterator()
    try await withThrowingTaskGroup(of: Output.self) { group in
        func start() -> Bool {
            guard let input = pending.next() else { return false }
            group.addTask { try await work(input) }
            return true
        }
        for _ in 0..<max(1, limit) where !start() { break }
        var adding = true
        while let output = try await group.next() {
            if try await !handle(output) { adding = false }
            if adding { _ = start() }
        }
    }
}

extension Array {
    /// The array in consecutive pieces of at most `size` elements (jobs of 25 runs, chunks of 200 builds).
    public func chunks(of size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
