/// The part every ICMPv4 and ICMPv6 message shares: type, code, checksum.
///
///     0      1      2       4
///     | type | code | csum  | body
public struct ICMPMessageView {
    public let bytes: UnsafeRawBufferPointer

    public static let headerLength = 4

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.headerLength else { throw .truncated(.icmp) }
        self.bytes = bytes
    }

    @inlinable public var type: UInt8 { bytes[0] }
    @inlinable public var code: UInt8 { bytes[1] }
    @inlinable public var checksum: UInt16 { bytes.loadBigEndian(at: 2) }
    @inlinable public var body: UnsafeRawBufferPointer { bytes.frameSlice(from: Self.headerLength) }
}

/// An echo request or reply; ICMPv4 (types 8/0) and ICMPv6 (128/129) share this layout.
///
///     0      1      2       4      6      8
///     | type | code | csum  | id   | seq  | data
public struct ICMPEchoView {
    public let bytes: UnsafeRawBufferPointer

    public static let headerLength = 8

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.headerLength else { throw .truncated(.icmp) }
        self.bytes = bytes
    }

    @inlinable public var type: UInt8 { bytes[0] }
    @inlinable public var code: UInt8 { bytes[1] }
    @inlinable public var checksum: UInt16 { bytes.loadBigEndian(at: 2) }
    @inlinable public var identifier: UInt16 { bytes.loadBigEndian(at: 4) }
    @inlinable public var sequence: UInt16 { bytes.loadBigEndian(at: 6) }
    @inlinable public var isReply: Bool {
        type == ICMPType.echoReply || type == ICMPType.v6EchoReply
    }
    @inlinable public var data: UnsafeRawBufferPointer { bytes.frameSlice(from: Self.headerLength) }
}

/// An ICMPv6 neighbor solicitation (135) or advertisement (136), RFC 4861 §4.3–4.4, with its options walked
/// at init for the link-layer address option that belongs to the message: source (type 1) in a
/// solicitation, target (type 2) in an advertisement.
///
///     0      1      2       4                 8          24
///     | type | code | csum  | R|S|O| reserved | target   | options: type | len (×8 octets) | …
public struct NeighborDiscoveryView {
    public let bytes: UnsafeRawBufferPointer
    /// Ethernet address from the link-layer address option; `.zero` when `hasLinkLayerAddress` is false.
    public let linkLayerAddress: MACAddress
    public let hasLinkLayerAddress: Bool

    public static let headerLength = 24
    public static let sourceLinkLayerAddressOption: UInt8 = 1
    public static let targetLinkLayerAddressOption: UInt8 = 2

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.headerLength else { throw .truncated(.neighborDiscovery) }
        let wanted =
            bytes[0] == ICMPType.neighborAdvertisement
            ? Self.targetLinkLayerAddressOption : Self.sourceLinkLayerAddressOption
        var address = MACAddress.zero
        var found = false
        var offset = Self.headerLength
        while offset < bytes.count {
            guard bytes.count - offset >= 2 else { throw .truncated(.neighborDiscovery) }
            let type = bytes[offset]
            // Length counts 8-octet units, so every option holds at least 8 bytes and a 6-byte MAC fits.
            let length = Int(bytes[offset + 1]) * 8
            guard length != 0, length <= bytes.count - offset else {
                throw .badNeighborDiscoveryOptionLength(type: type)
            }
            if type == wanted && !found {
                address = MACAddress(reading: bytes, at: offset + 2)
                found = true
            }
            offset += length
        }
        self.bytes = bytes
        self.linkLayerAddress = address
        self.hasLinkLayerAddress = found
    }

    @inlinable public var type: UInt8 { bytes[0] }
    @inlinable public var code: UInt8 { bytes[1] }
    @inlinable public var checksum: UInt16 { bytes.loadBigEndian(at: 2) }
    /// Advertisement flags (zero in a solicitation): router 0x80, solicited 0x40, override 0x20.
    @inlinable public var flags: UInt8 { bytes[4] }
    @inlinable public var target: IPv6Address { IPv6Address(reading: bytes, at: 8) }
    @inlinable public var options: UnsafeRawBufferPointer { bytes.frameSlice(from: Self.headerLength) }
}
