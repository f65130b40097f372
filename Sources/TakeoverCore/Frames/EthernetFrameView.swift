extension VLANTag {
    /// The tag from its tag control information word as on the wire: PCP(3) | DEI(1) | VID(12).
    @inlinable
    public init(tagControlInformation word: UInt16) {
        self.init(
            identifier: word & 0x0FFF, priority: UInt8(truncatingIfNeeded: word >> 13),
            dropEligible: word & 0x1000 != 0)
    }
}

/// An Ethernet II header with no tag, one 802.1Q tag, or a QinQ pair (802.1ad outer, 802.1Q inner).
///
///     0        6        12                    12+4n   14+4n
///     +--------+--------+---------------------+-------+---------
///     | dst    | src    | n tags: TPID | TCI  | type  | payload
///     +--------+--------+---------------------+-------+---------
///
/// Any EtherType is accepted here; the parser decides which it reads. No frame check sequence is expected.
public struct EthernetFrameView {
    /// The whole frame.
    public let bytes: UnsafeRawBufferPointer
    /// 0, 1 or 2.
    public let vlanTagCount: Int
    /// The EtherType after the tags.
    public let etherType: UInt16

    public static let maximumVLANTags = 2

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= 14 else { throw .truncated(.ethernet) }
        var typeOffset = 12
        var type = bytes.loadBigEndian(at: typeOffset, as: UInt16.self)
        var tags = 0
        while EtherType.isVLANTag(type) {
            guard tags < Self.maximumVLANTags else { throw .tooManyVLANTags }
            // The tag's TCI and the type after it.
            guard bytes.count >= typeOffset + 6 else { throw .truncated(.vlanTag) }
            tags += 1
            typeOffset += 4
            type = bytes.loadBigEndian(at: typeOffset, as: UInt16.self)
        }
        self.bytes = bytes
        self.vlanTagCount = tags
        self.etherType = type
    }

    @inlinable public var headerLength: Int { 14 + 4 * vlanTagCount }
    @inlinable public var destination: MACAddress { MACAddress(reading: bytes, at: 0) }
    @inlinable public var source: MACAddress { MACAddress(reading: bytes, at: 6) }

    /// Tag `index`, outermost first; `nil` past `vlanTagCount`, so no index reads outside the header.
    @inlinable public func vlanTag(_ index: Int) -> VLANTag? {
        guard index >= 0 && index < vlanTagCount else { return nil }
        return VLANTag(tagControlInformation: bytes.loadBigEndian(at: 14 + 4 * index))
    }

    /// The TPID in front of tag `index`: `EtherType.vlan` or `EtherType.serviceVLAN`; 0 past `vlanTagCount`.
    @inlinable public func vlanTagProtocol(_ index: Int) -> UInt16 {
        guard index >= 0 && index < vlanTagCount else { return 0 }
        return bytes.loadBigEndian(at: 12 + 4 * index)
    }

    /// Everything after the header, including any Ethernet padding.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.frameSlice(from: headerLength) }
}
