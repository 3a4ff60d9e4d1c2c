import BuildRiskContracts
import Crypto
import Foundation

/// Service-to-service credentials derived from the one shared secret (`BUILDRISK_SERVICE_SECRET`).
///
/// A service token is `svc.<service>.<hex HMAC-SHA256(secret, "service-token:<service>")>`: the
/// receiver can tell which service called without a table of per-service secrets, and a token
/// cannot be forged without the secret. Database passwords are derived the same way, so the
/// provisioning tool and the services agree on them without another secret to distribute.
public struct ServiceTokens: Sendable {
    private let key: SymmetricKey

    public init(secret: String) {
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// The bearer token `service` sends on its RPC calls.
    public func token(for service: ServiceName) -> String {
        "svc.\(service.rawValue).\(mac("service-token:\(service.rawValue)"))"
    }

    /// The calling service, when `token` is a valid service token.
    public func verify(_ token: String) -> ServiceName? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "svc", let service = ServiceName(rawValue: String(parts[1])) else {
            return nil
        }
        let expected = Array(mac("service-token:\(service.rawValue)").utf8)
        let given = Array(parts[2].utf8)
        return constantTimeEquals(expected, given) ? service : nil
    }

    /// The password of a schema's database role (hex, safe to place in DDL).
    public func databasePassword(for schema: String) -> String {
        String(mac("db-password:\(schema)").prefix(40))
    }

    private func mac(_ message: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key)
            .map { String(format: "%02x", $0) }.joined()
    }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}
