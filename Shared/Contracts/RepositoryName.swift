/// The rule for a repository's `owner/name`, one for every service that takes one.
public enum RepositoryName {
    /// Whether `text` is `owner/name`: one slash between two non-empty parts made of ASCII letters,
    /// digits, '-', '_' and '.', the only characters GitHub allows in owner and repository names.
    /// Reads bytes, as a million-row CSV checks every row with it.
    public static func isValid(_ text: some StringProtocol) -> Bool {
        var slashes = 0, partLength = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "/"):
                guard partLength > 0 else { return false }
                slashes += 1
                partLength = 0
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                partLength += 1
            default:
                return false
            }
        }
        return slashes == 1 && partLength > 0
    }
}

extension CIProvider {
    /// Why builds from this provider cannot be imported yet, or nil when they can (GitHub Actions;
    /// CircleCI and Travis CI arrive with their clients).
    public var importRefusal: String? {
        self == .githubActions ? nil : "\(rawValue) imports are not available yet; github_actions is"
    }
}

/// The rule for a commit id, one for every service that takes one: the full 40 hexadecimal digits
/// of a SHA-1 object id (an abbreviated id can be ambiguous, and GitHub's runs always carry the
/// full one).
public enum CommitID {
    public static func isValid(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains($0)
        }
    }
}
