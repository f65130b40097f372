/// An IPv6 packet (RFC 8200) with its extension-header chain walked once, at init.
///
///     0          4        6         7          8     24    40
///     |ver|tc|flow| payload len | next hdr | hop lim | src | dst | extension headers… | upper layer
///
/// The walk follows hop-by-hop options (only directly after the fixed header), routing, fragment and
/// destination options headers, at most `maximumExtensionHeaders` of them, and stops at the first other
/// next-header value (the upper-layer protocol) or at a fragment header with a non-zero offset, after which
/// the bytes are the middle of someone else's payload.
public struct IPv6PacketView {
    /// Exactly 40 + payload length bytes.
    public let bytes: UnsafeRawBufferPointer
    /// The next-header value that ended the walk: TCP, UDP, ICMPv6, 59 (no next header), or anything else.
    public let upperLayerProtocol: UInt8
    /// Offset of the upper-layer header from the start of the IPv6 header.
    public let upperLayerOffset: Int
    public let extensionHeaderCount: Int
    public let hasFragmentHeader: Bool
    /// From the fragment header, in bytes; 0 without one.
    public let fragmentOffset: UInt16
    public let moreFragments: Bool
    public let fragmentIdentification: UInt32

    public static let fixedHeaderLength = 40
    /// RFC 8200 §4.1 allows each header once (destination options twice), so a real chain stays well below.
    public static let maximumExtensionHeaders = 8

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.fixedHeaderLength else { throw .truncated(.ipv6) }
        let version = bytes[0] >> 4
        guard version == 6 else { throw .badIPVersion(version) }
        let payloadLength = bytes.loadBigEndian(at: 4, as: UInt16.self)
        guard Self.fixedHeaderLength + Int(payloadLength) <= bytes.count else {
            throw .badIPv6PayloadLength(payloadLength)
        }
        let packet = bytes.frameSlice(from: 0, count: Self.fixedHeaderLength + Int(payloadLength))

        var next = packet[6]
        var offset = Self.fixedHeaderLength
        var count = 0
        var hasFragmentHeader = false
        var fragmentOffset: UInt16 = 0
        var moreFragments = false
        var fragmentIdentification: UInt32 = 0
        walk: while true {
            switch next {
            case IPProtocolNumber.ipv6HopByHop, IPProtocolNumber.ipv6Routing,
                IPProtocolNumber.ipv6DestinationOptions, IPProtocolNumber.ipv6Fragment:
                if next == IPProtocolNumber.ipv6HopByHop && count != 0 { throw .misplacedHopByHopHeader }
                guard count < Self.maximumExtensionHeaders else { throw .tooManyExtensionHeaders }
                // Every extension header is at least 8 bytes: next header, length, and six more.
                guard packet.count - offset >= 8 else { throw .truncated(.ipv6ExtensionHeader) }
                count += 1
                let header = next
                next = packet[offset]
                if header == IPProtocolNumber.ipv6Fragment {
                    let offsetAndFlags = packet.loadBigEndian(at: offset + 2, as: UInt16.self)
                    hasFragmentHeader = true
                    fragmentOffset = offsetAndFlags & 0xFFF8
                    moreFragments = offsetAndFlags & 1 != 0
                    fragmentIdentification = packet.loadBigEndian(at: offset + 4)
                    offset += 8
                    if fragmentOffset != 0 { break walk }
                } else {
                    // Length in 8-octet units, not counting the first 8.
                    let length = (Int(packet[offset + 1]) + 1) * 8
                    guard packet.count - offset >= length else { throw .badIPv6ExtensionHeaderLength(header) }
                    offset += length
                }
            default:
                break walk
            }
        }
        self.bytes = packet
        self.upperLayerProtocol = next
        self.upperLayerOffset = offset
        self.extensionHeaderCount = count
        self.hasFragmentHeader = hasFragmentHeader
        self.fragmentOffset = fragmentOffset
        self.moreFragments = moreFragments
        self.fragmentIdentification = fragmentIdentification
    }

    @inlinable public var trafficClass: UInt8 {
        UInt8(truncatingIfNeeded: bytes.loadBigEndian(at: 0, as: UInt16.self) >> 4)
    }
    @inlinable public var flowLabel: UInt32 { bytes.loadBigEndian(at: 0, as: UInt32.self) & 0x000F_FFFF }
    @inlinable public var payloadLength: Int { bytes.count - Self.fixedHeaderLength }
    /// The next-header field of the fixed header (the first extension header, if any).
    @inlinable public var nextHeader: UInt8 { bytes[6] }
    @inlinable public var hopLimit: UInt8 { bytes[7] }
    @inlinable public var source: IPv6Address { IPv6Address(reading: bytes, at: 8) }
    @inlinable public var destination: IPv6Address { IPv6Address(reading: bytes, at: 24) }
    /// Part of a fragmented packet: more fragments follow, or this is not the first.
    @inlinable public var isFragment: Bool { moreFragments || fragmentOffset != 0 }
    /// The upper-layer header and its data (for a non-first fragment: fragment data, not a header).
    @inlinable public var upperLayer: UnsafeRawBufferPointer { bytes.frameSlice(from: upperLayerOffset) }
}
