/// The one rule for a GitHub repository's `owner/name`.
public enum RepositoryName {
    /// Why `fullName` is not an `owner/name`, or nil when it is one: exactly two non-empty parts,
    /// each of letters, digits, `-`, `_` and `.` (the characters GitHub allows).
    public static func problem(_ fullName: String) -> String? {
        let parts = fullName.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ part in !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } }) else {
            return "'\(fullName)' is not owner/name"
        }
        return nil
    }

    /// True when `fullName` is an `owner/name`.
    public static func isValid(_ fullName: String) -> Bool { problem(fullName) == nil }
}
