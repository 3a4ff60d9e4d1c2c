import BuildRiskRuntime
import Testing

/// The caches in front of the gateway's token check and repository check and the predictor's
/// scores by run id: a value is answered again while fresh, never after its lifetime, and never
/// when it was computed from a read made before a removal.
struct ExpiringCacheTests {
    private func kept(_ lookup: ExpiringCache<String, Int>.Lookup) -> Int? {
        if case .kept(let value) = lookup { return value }
        return nil
    }

    private func ticket(_ lookup: ExpiringCache<String, Int>.Lookup) throws -> ExpiringCache<String, Int>.Ticket {
        guard case .missing(let ticket) = lookup else { throw CacheTestError.unexpectedHit }
        return ticket
    }

    enum CacheTestError: Error { case unexpectedHit }

    @Test func aStoredValueIsAnsweredUntilRemoved() throws {
        let cache = ExpiringCache<String, Int>(lifetime: .seconds(600), capacity: 10)
        cache.store(1, for: "a", ticket: try ticket(cache.lookup("a")))
        cache.store(2, for: "b", ticket: try ticket(cache.lookup("b")))
        #expect(kept(cache.lookup("a")) == 1)
        #expect(kept(cache.lookup("b")) == 2)
        cache.removeAll { $0 == "a" }
        #expect(kept(cache.lookup("a")) == nil)
        #expect(kept(cache.lookup("b")) == 2)
        cache.removeAll()
        #expect(kept(cache.lookup("b")) == nil)
    }

    @Test func aValueReadBeforeARemovalIsNotKept() throws {
        let cache = ExpiringCache<String, Int>(lifetime: .seconds(600), capacity: 10)
        // A lookup misses, the value is read; meanwhile the source changes and says so.
        let before = try ticket(cache.lookup("a"))
        cache.removeAll { $0 == "a" }
        cache.store(1, for: "a", ticket: before)
        #expect(kept(cache.lookup("a")) == nil)
        // Read again after the removal, it is kept.
        cache.store(2, for: "a", ticket: try ticket(cache.lookup("a")))
        #expect(kept(cache.lookup("a")) == 2)
    }

    @Test func aValueIsNotAnsweredAfterItsLifetime() async throws {
        let cache = ExpiringCache<String, Int>(lifetime: .milliseconds(20), capacity: 10)
        cache.store(1, for: "a", ticket: try ticket(cache.lookup("a")))
        try await Task.sleep(for: .milliseconds(100))
        #expect(kept(cache.lookup("a")) == nil)
    }

    @Test func aZeroLifetimeOrCapacityKeepsNothing() throws {
        for cache in [ExpiringCache<String, Int>(lifetime: .zero, capacity: 10), ExpiringCache(lifetime: .seconds(600), capacity: 0)] {
            #expect(!cache.isEnabled)
            cache.store(1, for: "a", ticket: try ticket(cache.lookup("a")))
            #expect(kept(cache.lookup("a")) == nil)
        }
    }

    @Test func aFullCacheMakesRoomAndKeepsTheNewValue() throws {
        let cache = ExpiringCache<String, Int>(lifetime: .seconds(600), capacity: 3)
        for (index, key) in ["a", "b", "c", "d"].enumerated() {
            cache.store(index, for: key, ticket: try ticket(cache.lookup(key)))
        }
        #expect(kept(cache.lookup("d")) == 3)
        let left = ["a", "b", "c", "d"].filter { kept(cache.lookup($0)) != nil }
        #expect(left.count <= 3)
    }
}
