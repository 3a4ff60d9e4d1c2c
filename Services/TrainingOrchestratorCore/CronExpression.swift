import Foundation

/// A standard five-field cron expression (minute, hour, day of month, month, day of week), read in
/// UTC: each field `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to the
/// field's end), or a comma-separated list of those; months and days of the week also by their
/// three-letter English names; day of week 0 or 7 is Sunday. As in Vixie cron (and POSIX), when
/// both day of month and day of week are restricted (neither starts with `*`), a day matches
/// when either does; otherwise it must match both.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    /// 0 (Sunday) … 6.
    let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    /// Why an expression was refused, naming the field and what it expects.
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
    }

    private static let fields = [
        Field(name: "minute", range: 0...59, names: []),
        Field(name: "hour", range: 0...23, names: []),
        Field(name: "day of month", range: 1...31, names: []),
        Field(name: "month", range: 1...12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
        Field(name: "day of week", range: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
    ]

    public init(_ text: String) throws(ParseError) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw ParseError(description: "a cron expression has 5 fields (minute hour day-of-month month day-of-week), '\(text)' has \(parts.count)")
        }
        var sets: [Set<Int>] = []
        for (part, field) in zip(parts, Self.fields) {
            sets.append(try Self.parse(part, field))
        }
        description = parts.joined(separator: " ")
        minutes = sets[0]
        hours = sets[1]
        days = sets[2]
        months = sets[3]
        weekdays = Set(sets[4].map { $0 % 7 })
        daysRestricted = !parts[2].hasPrefix("*")
        weekdaysRestricted = !parts[4].hasPrefix("*")
        // "0 0 30 2 *" parses but never fires; refused rather than left to wait for ever. Eight
        // years from a leap year's eve see every month-day pair there is (29 February included).
        let probe = Date(timeIntervalSince1970: 946_598_400)  // 1999-12-31T00:00:00Z
        if next(after: probe) == nil {
            throw ParseError(description: "'\(description)' never matches a date (no month has that day)")
        }
    }

    private static func parse(_ text: String, _ field: Field) throws(ParseError) -> Set<Int> {
        func refuse(_ reason: String) -> ParseError {
            ParseError(description: "\(field.name) field '\(text)': \(reason)")
        }
        func value(_ token: Substring) throws(ParseError) -> Int {
            if let number = Int(token) {
                guard field.range.contains(number) else {
                    throw refuse("\(number) is outside \(field.range.lowerBound)–\(field.range.upperBound)")
                }
                return number
            }
            if let index = field.names.firstIndex(of: token.lowercased()) {
                return index + (field.range.lowerBound == 0 ? 0 : 1)
            }
            throw refuse("'\(token)' is not a number\(field.names.isEmpty ? "" : " or a name (\(field.names.joined(separator: ", ")))")")
        }
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw refuse("an empty list item") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw refuse("more than one '/' in '\(item)'") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed >= 1 else { throw refuse("the step '\(pieces[1])' is not a whole number of at least 1") }
                step = parsed
            }
            let base = pieces[0]
            let low: Int, high: Int
            if base == "*" {
                (low, high) = (field.range.lowerBound, field.range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw refuse("the range \(base) runs backwards") }
            } else {
                low = try value(base)
                // "a/n" runs from a to the field's end, as in Vixie cron.
                high = pieces.count == 2 ? field.range.upperBound : low
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    /// The first minute strictly after `date` that the expression matches; nil when none comes
    /// within eight years (only an expression that never matches).
    public func next(after date: Date) -> Date? {
        let start = Int64((date.timeIntervalSince1970 / 60).rounded(.down)) + 1
        var day = Int64((Double(start) / 1440).rounded(.down))
        var minuteOfDay = Int(start - day * 1440)
        let lastDay = day + 8 * 366
        while day <= lastDay {
            let (year, month, dayOfMonth, weekday) = Self.civil(fromDays: day)
            guard months.contains(month) else {
                // Straight to the first of the next month.
                day += Int64(Self.daysIn(month: month, year: year) - dayOfMonth + 1)
                minuteOfDay = 0
                continue
            }
            guard matchesDay(dayOfMonth: dayOfMonth, weekday: weekday) else {
                day += 1
                minuteOfDay = 0
                continue
            }
            var hour = minuteOfDay / 60, minute = minuteOfDay % 60
            while hour < 24 {
                if hours.contains(hour), let found = minutes.filter({ $0 >= minute }).min() {
                    return Date(timeIntervalSince1970: TimeInterval((day * 1440 + Int64(hour * 60 + found)) * 60))
                }
                hour += 1
                minute = 0
            }
            day += 1
            minuteOfDay = 0
        }
        return nil
    }

    private func matchesDay(dayOfMonth: Int, weekday: Int) -> Bool {
        // Vixie cron's rule: either field starting with `*` ("*/10" too) makes it "both", else "either".
        daysRestricted && weekdaysRestricted
            ? days.contains(dayOfMonth) || weekdays.contains(weekday)
            : days.contains(dayOfMonth) && weekdays.contains(weekday)
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!  // a constant identifier
        return calendar
    }()

    /// Year, month, day and weekday (0 Sunday … 6) of a count of days since 1970-01-01.
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int, weekday: Int) {
        let parts = utc.dateComponents([.year, .month, .day, .weekday], from: Date(timeIntervalSince1970: TimeInterval(days * 86_400)))
        return (parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1, (parts.weekday ?? 1) - 1)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
