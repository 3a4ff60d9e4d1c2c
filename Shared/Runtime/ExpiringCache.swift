import Synchronization

/// Values kept for at most `lifetime` after they were stored, at most `capacity` of them, shared
/// by concurrent tasks under a lock. Each value expires at a random point of the second half of
/// its lifetime, so values stored together (a repository's builds asked for in one sweep) are not
/// all read anew at the same moment. A lookup that misses hands out a ticket; a value stored with
/// it is dropped when anything was removed since, so a value computed from what was read before a
/// removal never outlives the removal.
public final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        let expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Moved on by every removal.
        var generation = 0
    }

    /// What a missed lookup saw, for `store`.
    public struct Ticket: Sendable {
        fileprivate let generation: Int
    }

    public enum Lookup {
        case kept(Value)
        case missing(Ticket)
    }

    public let lifetime: Duration
    public let capacity: Int
    private let state = Mutex(State())

    /// `lifetime` zero (or `capacity` zero) keeps nothing.
    public init(lifetime: Duration, capacity: Int) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    public var isEnabled: Bool { lifetime > .zero && capacity > 0 }

    /// The value kept for `key` while it is fresh; otherwise the ticket to store a new one with.
    public func lookup(_ key: Key) -> Lookup {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard isEnabled, let entry = state.entries[key], entry.expires > now else { return .missing(Ticket(generation: state.generation)) }
            return .kept(entry.value)
        }
    }

    /// Keeps `value` for `key`, unless something was removed since the lookup that gave `ticket`.
    public func store(_ value: Value, for key: Key, ticket: Ticket) {
        guard isEnabled else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            guard state.generation == ticket.generation else { return }
            if state.entries.count >= capacity, state.entries[key] == nil {
                state.entries = state.entries.filter { $0.value.expires > now }
                // Still full of fresh entries: start over rather than track an order of use.
                if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            }
            state.entries[key] = Entry(value: value, expires: now + lifetime * Double.random(in: 0.5...1))
        }
    }

    /// Drops the values whose keys `match`.
    public func removeAll(where match: (Key) -> Bool) {
        state.withLock { state in
            state.generation += 1
            state.entries = state.entries.filter { !match($0.key) }
        }
    }

    /// Drops every value.
    public func removeAll() {
        state.withLock { state in
            state.generation += 1
            state.entries.removeAll()
        }
    }
}
