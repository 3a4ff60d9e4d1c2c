import BuildRiskContracts
import Crypto
import Foundation
import Synchronization

/// Service-to-service credentials derived from the one shared secret (`BUILDRISK_SERVICE_SECRET`).
///
/// A service token is `svc.<service>.<hex HMAC-SHA256(secret, "service-token:<service>")>`: the
/// receiver can tell which service called without a table of per-service secrets, and a token
/// cannot be forged without the secret. Database passwords are derived the same way, so the
/// provisioning tool and the services agree on them without another secret to distribute.
public struct ServiceTokens: Sendable {
    private let key: SymmetricKey
    /// Tokens already verified (there are at most eight valid ones), so a call costs a lookup, not an HMAC.
    private let verified = VerifiedTokens()

    public init(secret: String) {
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// The bearer token `service` sends on its RPC calls.
    public func token(for service: ServiceName) -> String {
        "svc.\(service.rawValue).\(mac("service-token:\(service.rawValue)"))"
    }

    /// The calling service, when `token` is a valid service token.
    public func verify(_ token: String) -> ServiceName? {
        if let known = verified.lookup(token) { return known }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "svc", let service = ServiceName(rawValue: String(parts[1])) else {
            return nil
        }
        let expected = Array(mac("service-token:\(service.rawValue)").utf8)
        let given = Array(parts[2].utf8)
        guard constantTimeEquals(expected, given) else { return nil }
        verified.remember(token, as: service)
        return service
    }

    /// The password of a schema's database role (hex, safe to place in DDL).
    public func databasePassword(for schema: String) -> String {
        String(mac("db-password:\(schema)").prefix(40))
    }

    private func mac(_ message: String) -> String {
        hexString(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key))
    }
}

/// Lower-case hex of bytes (String(format:) is slow on Linux).
public func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The valid service tokens seen so far.
final class VerifiedTokens: Sendable {
    private let tokens = Mutex<[String: ServiceName]>([:])

    func lookup(_ token: String) -> ServiceName? {
        tokens.withLock { $0[token] }
    }

    func remember(_ token: String, as service: ServiceName) {
        tokens.withLock { $0[token] = service }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}
