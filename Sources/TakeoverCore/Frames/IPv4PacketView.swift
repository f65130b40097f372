/// An IPv4 packet (RFC 791): header, options, and a payload bounded by the total length, so Ethernet
/// padding after a short packet never counts as payload.
///
///     0      1      2          4       6               8     9      10      12    16    20       IHL*4
///     |ver|ihl| tos | total len | ident | flags|frag off| ttl | proto | csum | src | dst | options | payload
public struct IPv4PacketView {
    /// Exactly `totalLength` bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Header length in bytes, options included (20...60).
    public let headerLength: Int

    public static let minimumHeaderLength = 20

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.minimumHeaderLength else { throw .truncated(.ipv4) }
        let version = bytes[0] >> 4
        guard version == 4 else { throw .badIPVersion(version) }
        let words = bytes[0] & 0x0F
        guard words >= 5 else { throw .badIPv4HeaderLength(words) }
        let headerLength = Int(words) * 4
        let totalLength = bytes.loadBigEndian(at: 2, as: UInt16.self)
        guard Int(totalLength) >= headerLength, Int(totalLength) <= bytes.count else {
            throw .badIPv4TotalLength(totalLength)
        }
        self.bytes = bytes.frameSlice(from: 0, count: Int(totalLength))
        self.headerLength = headerLength
    }

    @inlinable public var totalLength: Int { bytes.count }
    /// DSCP and ECN.
    @inlinable public var typeOfService: UInt8 { bytes[1] }
    @inlinable public var identification: UInt16 { bytes.loadBigEndian(at: 4) }
    @inlinable var flagsAndFragmentOffset: UInt16 { bytes.loadBigEndian(at: 6) }
    @inlinable public var dontFragment: Bool { flagsAndFragmentOffset & 0x4000 != 0 }
    @inlinable public var moreFragments: Bool { flagsAndFragmentOffset & 0x2000 != 0 }
    /// Offset of this fragment's data in the original payload, in bytes.
    @inlinable public var fragmentOffset: UInt16 { (flagsAndFragmentOffset & 0x1FFF) &* 8 }
    /// Part of a fragmented datagram: more fragments follow, or this is not the first.
    @inlinable public var isFragment: Bool { flagsAndFragmentOffset & 0x3FFF != 0 }
    @inlinable public var timeToLive: UInt8 { bytes[8] }
    @inlinable public var protocolNumber: UInt8 { bytes[9] }
    @inlinable public var headerChecksum: UInt16 { bytes.loadBigEndian(at: 10) }
    @inlinable public var source: IPv4Address { IPv4Address(reading: bytes, at: 12) }
    @inlinable public var destination: IPv4Address { IPv4Address(reading: bytes, at: 16) }
    /// Option bytes, unparsed (empty when IHL is 5).
    @inlinable public var options: UnsafeRawBufferPointer {
        bytes.frameSlice(from: Self.minimumHeaderLength, count: headerLength - Self.minimumHeaderLength)
    }
    /// The bytes after the header up to the total length. For a fragment with a non-zero offset this is the
    /// middle of someone else's payload, not a transport header.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.frameSlice(from: headerLength) }
}
