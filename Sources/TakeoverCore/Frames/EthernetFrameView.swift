/// One VLAN tag as it sits on the wire: tag protocol identifier and tag control information.
public struct VLANTag: Hashable, Sendable, BitwiseCopyable {
    /// TPID: `EtherType.vlan` (0x8100) or `EtherType.serviceVLAN` (0x88A8).
    public var tagProtocol: UInt16
    /// TCI: priority (3 bits), drop eligible (1 bit), VLAN id (12 bits).
    public var controlInformation: UInt16

    @inlinable public init(tagProtocol: UInt16, controlInformation: UInt16) {
        self.tagProtocol = tagProtocol
        self.controlInformation = controlInformation
    }

    /// The 12-bit VLAN id.
    @inlinable public var id: UInt16 { controlInformation & 0x0FFF }
    /// Priority code point (802.1p).
    @inlinable public var priority: UInt8 { UInt8(truncatingIfNeeded: controlInformation >> 13) }
    @inlinable public var dropEligible: Bool { controlInformation & 0x1000 != 0 }

    /// Placeholder for absent tags in fixed-size storage.
    public static let absent = VLANTag(tagProtocol: 0, controlInformation: 0)
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

    /// Tag `index`, outermost first; `.absent` past `vlanTagCount`, so no index reads outside the header.
    @inlinable public func vlanTag(_ index: Int) -> VLANTag {
        guard index >= 0 && index < vlanTagCount else { return .absent }
        return VLANTag(
            tagProtocol: bytes.loadBigEndian(at: 12 + 4 * index),
            controlInformation: bytes.loadBigEndian(at: 14 + 4 * index))
    }

    /// Everything after the header, including any Ethernet padding.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.frameSlice(from: headerLength) }
}
