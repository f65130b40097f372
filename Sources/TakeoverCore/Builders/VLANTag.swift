/// An IEEE 802.1Q tag: 12-bit VLAN identifier, 3-bit priority code point, drop-eligible bit.
/// Builders write it with TPID 0x8100 between the source MAC and the EtherType.
public struct VLANTag: Hashable, Sendable, BitwiseCopyable {
    /// VLAN identifier, 0...4095 (higher bits are ignored).
    public var identifier: UInt16
    /// Priority code point, 0...7 (higher bits are ignored).
    public var priority: UInt8
    public var dropEligible: Bool

    @inlinable
    public init(identifier: UInt16, priority: UInt8 = 0, dropEligible: Bool = false) {
        self.identifier = identifier
        self.priority = priority
        self.dropEligible = dropEligible
    }

    /// The tag control information word as on the wire: PCP(3) | DEI(1) | VID(12).
    @inlinable
    public var tagControlInformation: UInt16 {
        UInt16(priority & 0x7) << 13 | (dropEligible ? 0x1000 : 0) | identifier & 0x0FFF
    }
}
