import Foundation
import Testing
import TrainingOrchestratorCore

/// The schedules' cron expressions: the next due time of each expression worked out by hand from
/// the calendar (2026-12-01 is a Tuesday; 2027 is not a leap year, 2028 is).
struct CronExpressionTests {
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!  // the tests' own constants
    }

    /// The due times after `start`, one after the other.
    func dueTimes(_ expression: String, after start: String, count: Int) throws -> [Date?] {
        let cron = try CronExpression(expression)
        var times: [Date?] = []
        var cursor = Self.date(start)
        for _ in 0..<count {
            let next = cron.next(after: cursor)
            times.append(next)
            guard let next else { break }
            cursor = next
        }
        return times
    }

    @Test(arguments: [
        // Steps: every quarter hour, strictly after the given time.
        ("*/15 * * * *", "2026-12-01T05:16:30Z", ["2026-12-01T05:30:00Z", "2026-12-01T05:45:00Z", "2026-12-01T06:00:00Z"]),
        // A step over a range, and "a/n" running to the field's end (5, 25, 45).
        ("10-40/10 * * * *", "2026-12-01T05:16:00Z", ["2026-12-01T05:20:00Z", "2026-12-01T05:30:00Z", "2026-12-01T05:40:00Z", "2026-12-01T06:10:00Z"]),
        ("5/20 * * * *", "2026-12-01T05:46:00Z", ["2026-12-01T06:05:00Z", "2026-12-01T06:25:00Z"]),
        // Month ends: the 31st skips the 30-day months, the 30th skips February, 29 February waits for a leap year.
        ("0 0 31 * *", "2026-04-15T00:00:00Z", ["2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z"]),
        ("0 12 30 * *", "2027-01-30T12:00:00Z", ["2027-03-30T12:00:00Z"]),
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        // The last minute of the year rolls into the next.
        ("59 23 * * *", "2026-12-31T23:59:00Z", ["2027-01-01T23:59:00Z"]),
        // Lists and a day-of-week range: weekdays at 09:00 and 17:00; Friday 17:00 → Monday 09:00.
        ("0 9,17 * * 1-5", "2026-12-04T17:00:00Z", ["2026-12-07T09:00:00Z", "2026-12-07T17:00:00Z", "2026-12-08T09:00:00Z"]),
        // Sunday as 0, as 7 and by name.
        ("30 6 * * 0", "2026-12-01T00:00:00Z", ["2026-12-06T06:30:00Z", "2026-12-13T06:30:00Z"]),
        ("30 6 * * 7", "2026-12-01T00:00:00Z", ["2026-12-06T06:30:00Z", "2026-12-13T06:30:00Z"]),
        ("30 6 * * SUN", "2026-12-01T00:00:00Z", ["2026-12-06T06:30:00Z", "2026-12-13T06:30:00Z"]),
        // Day of month and day of week both restricted: either matches (the 13th, or any Friday).
        ("0 0 13 * 5", "2026-12-01T00:00:00Z", ["2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z", "2026-12-18T00:00:00Z"]),
        // A day of month starting with '*' (here a step) and a day of week: both must match (days 1, 11, 21, 31 that are Mondays).
        ("0 0 */10 * 1", "2026-12-01T00:00:00Z", ["2026-12-21T00:00:00Z", "2027-01-11T00:00:00Z", "2027-02-01T00:00:00Z"]),
        // Month names with a step (January, April, July, October), and a month-only restriction.
        ("0 0 1 jan-dec/3 *", "2026-12-01T00:00:00Z", ["2027-01-01T00:00:00Z", "2027-04-01T00:00:00Z"]),
        ("0 0 * 2 *", "2026-03-15T00:00:00Z", ["2027-02-01T00:00:00Z", "2027-02-02T00:00:00Z"]),
        // Nightly: the same minute the next day once today's has passed.
        ("15 3 * * *", "2026-12-01T03:15:00Z", ["2026-12-02T03:15:00Z"]),
    ])
    func nextDueTimes(_ expression: String, _ start: String, _ expected: [String]) throws {
        #expect(try dueTimes(expression, after: start, count: expected.count) == expected.map { Self.date($0) }, "\(expression) after \(start)")
    }

    @Test(arguments: [
        ("0 * * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("0 0 0 * *", "day of month"),
        ("0 0 32 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * foo *", "month"),
        ("* * * * 8", "day of week"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "backwards"),
        ("1,,2 * * * *", "empty"),
        ("0 0 30 2 *", "never"),
        ("0 0 31 4,6,9,11 *", "never"),
    ])
    func badExpressionsAreRefusedWithTheReason(_ expression: String, _ reason: String) {
        let error = #expect(throws: CronExpression.ParseError.self) { try CronExpression(expression) }
        #expect(error?.description.contains(reason) == true, "\(expression): \(error?.description ?? "accepted")")
    }
}
