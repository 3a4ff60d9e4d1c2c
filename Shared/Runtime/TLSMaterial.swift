import BuildRiskContracts
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The internal certificate authority and the per-service certificates it signs.
///
/// Every internal port is TLS (async-http-client speaks HTTP/2 only over TLS, DESIGN.md); clients
/// trust only this CA's root, not the system bundle. Layout of the directory: `ca.pem`, `ca.key`,
/// and `<service>.pem` / `<service>.key` for each service.
public struct TLSMaterial: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public var caCertificatePath: String { directory + "/ca.pem" }
    var caKeyPath: String { directory + "/ca.key" }
    public func certificatePath(for name: String) -> String { directory + "/\(name).pem" }
    public func keyPath(for name: String) -> String { directory + "/\(name).key" }

    /// Creates the CA (once) and a certificate for each name that has none yet. Idempotent.
    /// `hostnames` go into every certificate's subject alternative names besides the name itself.
    public func ensure(names: [String], hostnames: [String] = ["localhost"]) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let caKey: P256.Signing.PrivateKey
        let caCertificate: Certificate
        if files.fileExists(atPath: caCertificatePath), files.fileExists(atPath: caKeyPath) {
            caKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: caKeyPath, encoding: .utf8))
            caCertificate = try Certificate(pemEncoded: String(contentsOfFile: caCertificatePath, encoding: .utf8))
        } else {
            caKey = P256.Signing.PrivateKey()
            let caName = try DistinguishedName {
                OrganizationName("BuildRisk")
                CommonName("BuildRisk internal CA")
            }
            let now = Date()
            caCertificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: .init(caKey.publicKey),
                notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
                issuer: caName,
                subject: caName,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    // BoringSSL accepts a CA only when keyCertSign is present (DESIGN.md).
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: caKey.publicKey)
                },
                issuerPrivateKey: .init(caKey)
            )
            try write(caKey.pemRepresentation, to: caKeyPath, mode: 0o600)
            try write(try caCertificate.serializeAsPEM().pemString, to: caCertificatePath, mode: 0o644)
        }
        for name in names where !(files.fileExists(atPath: certificatePath(for: name)) && files.fileExists(atPath: keyPath(for: name))) {
            let key = P256.Signing.PrivateKey()
            let now = Date()
            var alternativeNames: [GeneralName] = ([name] + hostnames).map { .dnsName($0) }
            alternativeNames.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(2 * 365 * 86_400),
                issuer: caCertificate.subject,
                subject: try DistinguishedName {
                    OrganizationName("BuildRisk")
                    CommonName(name)
                },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyAgreement: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectAlternativeNames(alternativeNames)
                    SubjectKeyIdentifier(hash: key.publicKey)
                    AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caKey.publicKey).keyIdentifier)
                },
                issuerPrivateKey: .init(caKey)
            )
            try write(key.pemRepresentation, to: keyPath(for: name), mode: 0o600)
            try write(try certificate.serializeAsPEM().pemString, to: certificatePath(for: name), mode: 0o644)
        }
    }

    /// Server side of a service's internal port. ALPN (h2, http/1.1) is added by the HTTP/2 server builder.
    public func serverConfiguration(for name: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath(for: name)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath(for: name), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// Client side: trusts only the internal CA.
    public func clientConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caCertificatePath)
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    private func write(_ text: String, to path: String, mode: Int) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }
}

extension SubjectKeyIdentifier {
    /// The RFC 5280 §4.2.1.2 method (1) identifier: SHA-1 of the public key bits.
    init(hash publicKey: P256.Signing.PublicKey) {
        let digest = Insecure.SHA1.hash(data: publicKey.x963Representation)
        self.init(keyIdentifier: ArraySlice(digest))
    }
}
