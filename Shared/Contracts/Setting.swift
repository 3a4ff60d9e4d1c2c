/// Why a service could not read its configuration.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// Throws where a value is expected: the default of a setting that must be set.
    public static func missing<T>(_ description: String) throws -> T { throw ConfigurationError(description) }
}

/// One environment variable a service reads at start: its name, its default, what it means and
/// how its text becomes a value. The part that owns a setting declares it (the runtime its own,
/// the GitHub client `GITHUB_*`, the ingestor `INGESTOR_*`); a service's definition lists the
/// settings it reads, and docker-compose.yml and the README are checked against those lists.
public struct Setting<Value: Sendable>: Sendable {
    public let name: String
    /// The default as the README's table shows it; nil when there is none (required, derived, unset).
    public let defaultText: String?
    /// One line: what the setting changes.
    public let meaning: String
    /// The name the README's table uses when it stands for one per service (`<PREFIX>_PORT`).
    public let documentedName: String
    let defaultValue: @Sendable () throws -> Value
    let parse: @Sendable (String) -> Value?
    /// What a valid value looks like, for the error ("an integer in 1...64").
    let expected: String
    /// A secret's text never appears in an error.
    let isSecret: Bool

    public init(
        _ name: String, default defaultValue: @autoclosure @escaping @Sendable () throws -> Value, defaultText: String?,
        expected: String, documentedAs documentedName: String? = nil, secret: Bool = false, meaning: String,
        parse: @escaping @Sendable (String) -> Value?
    ) {
        self.name = name
        self.defaultText = defaultText
        self.meaning = meaning
        self.documentedName = documentedName ?? name
        self.defaultValue = defaultValue
        self.parse = parse
        self.expected = expected
        self.isSecret = secret
    }

    /// The value in `environment`: the default when unset or empty, else the parsed text; a text
    /// that does not parse throws with the setting's name and what it expects.
    public func read(_ environment: [String: String]) throws -> Value {
        guard let raw = environment[name] else { return try defaultValue() }
        let text = raw.trimmingSpaces
        guard !text.isEmpty else { return try defaultValue() }
        guard let value = parse(text) else {
            throw ConfigurationError("\(name) must be \(expected), got \(isSecret ? "\(raw.count) characters" : "'\(raw)'")")
        }
        return value
    }

    /// The setting without its value type, for lists and checks.
    public var declaration: SettingDeclaration {
        SettingDeclaration(name: name, documentedName: documentedName, defaultText: defaultText, meaning: meaning) { environment in
            _ = try read(environment)
        }
    }
}

/// A declared setting without its value type: what a service lists and the checks read.
public struct SettingDeclaration: Sendable {
    public let name: String
    public let documentedName: String
    public let defaultText: String?
    public let meaning: String
    /// Throws when the environment's value of this setting is not valid.
    public let validate: @Sendable ([String: String]) throws -> Void
}

extension Setting where Value == Int {
    /// A whole number in `range`; `default` when unset.
    public static func integer(
        _ name: String, default value: Int, in range: ClosedRange<Int>, documentedAs: String? = nil, meaning: String
    ) -> Setting<Int> {
        Setting(
            name, default: value, defaultText: String(value), expected: "an integer in \(range.lowerBound)...\(range.upperBound)",
            documentedAs: documentedAs, meaning: meaning
        ) { text in Int(text).flatMap { range.contains($0) ? $0 : nil } }
    }
}

extension Setting where Value == Duration {
    /// A whole number of seconds in `range`.
    public static func seconds(_ name: String, default value: Int, in range: ClosedRange<Int>, meaning: String) -> Setting<Duration> {
        Setting(
            name, default: .seconds(value), defaultText: String(value),
            expected: "a whole number of seconds in \(range.lowerBound)...\(range.upperBound)", meaning: meaning
        ) { text in Int(text).flatMap { range.contains($0) ? .seconds($0) : nil } }
    }
}

extension Setting where Value == String {
    /// Any text; `default` when unset.
    public static func text(_ name: String, default value: String, defaultText: String? = nil, documentedAs: String? = nil, meaning: String) -> Setting<String> {
        Setting(name, default: value, defaultText: defaultText ?? value, expected: "text", documentedAs: documentedAs, meaning: meaning) { $0 }
    }
}

extension Setting where Value == String? {
    /// Any text, or nil when unset.
    public static func optionalText(_ name: String, documentedAs: String? = nil, meaning: String) -> Setting<String?> {
        Setting<String?>(name, default: nil, defaultText: nil, expected: "text", documentedAs: documentedAs, meaning: meaning) { $0 }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (no Foundation here).
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
