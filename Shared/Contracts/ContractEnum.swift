/// A string enum used in contracts; lets the OpenRPC generator list its values.
public protocol ContractEnum: CaseIterable, Codable, Sendable, RawRepresentable where RawValue == String {}

extension ContractEnum {
    /// Every raw value, in declaration order.
    public static var contractValues: [String] { allCases.map(\.rawValue) }
    /// Some value of the enum, to stand in where a value must be produced.
    public static var contractSample: Self? { allCases.first }
}

extension ServiceName: ContractEnum {}
extension StepOutcome: ContractEnum {}
