import Crypto
import Foundation

/// SonarQube's webhook body, as its documentation describes it: sent on every finished analysis,
/// whatever the background task's or the quality gate's status.
public struct SonarWebhookPayload: Codable, Sendable, Equatable {
    public var serverUrl: String?
    public var taskId: String
    /// The background task's status: `SUCCESS` or `FAILED` (`CANCELED` is possible too).
    public var status: String
    public var analysedAt: String?
    public var revision: String?
    public var changedAt: String?
    public var project: Project
    public var branch: Branch?
    public var qualityGate: QualityGate?
    /// `sonar.analysis.*` properties passed to the scanner.
    public var properties: [String: String]?

    public struct Project: Codable, Sendable, Equatable {
        public var key: String
        public var name: String?
        public var url: String?
    }

    public struct Branch: Codable, Sendable, Equatable {
        public var name: String?
        public var type: String?
        public var isMain: Bool?
        public var url: String?
    }

    public struct QualityGate: Codable, Sendable, Equatable {
        public var name: String?
        /// `OK` or `ERROR`.
        public var status: String
        public var conditions: [Condition]?
    }

    public struct Condition: Codable, Sendable, Equatable {
        public var metric: String
        public var `operator`: String?
        public var value: String?
        public var status: String
        public var errorThreshold: String?
        public var onLeakPeriod: Bool?
    }

    public var succeeded: Bool { status == "SUCCESS" }
}

/// Why a webhook delivery was refused; the route answers 401 for a signature refusal and 400 for a
/// body that is not SonarQube's payload, and changes nothing either way.
public enum SonarWebhookRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case missingSignature
    case badSignature
    case malformedPayload(String)

    public var description: String {
        switch self {
        case .missingSignature: "no X-Sonar-Webhook-HMAC-SHA256 header"
        case .badSignature: "X-Sonar-Webhook-HMAC-SHA256 does not match the body"
        case .malformedPayload(let reason): "not a SonarQube webhook payload: \(reason)"
        }
    }
}

/// The webhook receiver's core: SonarQube signs each body with the webhook's secret and sends the
/// signature as the lowercase hex HMAC-SHA256 in `X-Sonar-Webhook-HMAC-SHA256`.
public struct SonarWebhook: Sendable {
    public static let signatureHeader = "X-Sonar-Webhook-HMAC-SHA256"
    public static let projectHeader = "X-SonarQube-Project"

    let key: SymmetricKey

    public init(secret: String) { key = SymmetricKey(data: Data(secret.utf8)) }

    /// The signature SonarQube sends for `body`.
    public func signature(for body: some DataProtocol) -> String {
        HMAC<SHA256>.authenticationCode(for: body, using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// Checks the signature in constant time (swift-crypto's comparison), over the raw bytes received.
    public func verify(body: some DataProtocol, signature: String?) throws(SonarWebhookRefusal) {
        guard let signature = signature?.trimmingCharacters(in: .whitespaces), !signature.isEmpty else { throw .missingSignature }
        guard let code = SonarWebhook.bytes(hex: signature),
            HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: body, using: key)
        else { throw .badSignature }
    }

    /// Verifies, then reads the payload: the only way the bridge turns a delivery into an analysis.
    public func receive(body: some DataProtocol, signature: String?) throws(SonarWebhookRefusal) -> SonarWebhookPayload {
        try verify(body: body, signature: signature)
        do {
            return try JSONDecoder().decode(SonarWebhookPayload.self, from: Data(body))
        } catch {
            throw .malformedPayload(TrivyReport.describe(error))
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
