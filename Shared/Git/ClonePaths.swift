import Foundation

/// Where the shared data directory keeps things git: one bare clone per repository, by its
/// provider id (the ingestor makes them; every service that reads history opens them there).
public enum ClonePaths {
    /// `<data>/repos`.
    public static func directory(dataDirectory: String) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("repos").standardizedFileURL.path
    }

    /// `<data>/repos/<github id>.git`.
    public static func bare(dataDirectory: String, githubId: Int64) -> String {
        bare(in: directory(dataDirectory: dataDirectory), githubId: githubId)
    }

    /// `<repos directory>/<github id>.git`.
    public static func bare(in reposDirectory: String, githubId: Int64) -> String {
        "\(reposDirectory)/\(githubId).git"
    }
}
