import CGitStream
import CLibGit2

extension GitRepository {
    /// Makes every later https clone and fetch in this process trust the CA certificates in
    /// `file` (PEM), as git's `http.sslCAInfo` does: for a GitHub Enterprise Server or a proxy
    /// whose certificate a private CA signs. The bundle replaces the trust store libgit2 started
    /// with (libgit2 1.5 on mbedTLS, Debian 12's build), so it must also hold any public CA still
    /// needed. Call once at start, before any transfer.
    public static func trustCertificates(inFile file: String) throws {
        _ = initialize
        try GitError.check(buildrisk_git_set_ssl_ca_file(file), "load CA certificates from \(file)")
    }
}
