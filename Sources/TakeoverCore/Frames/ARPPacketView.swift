/// An ARP packet for Ethernet and IPv4 (RFC 826), the only kind this engine answers.
///
///     0      2      4    5    6       8      14     18     24     28
///     | htype| ptype|hlen|plen| oper  | sha  | spa  | tha  | tpa  |
public struct ARPPacketView {
    /// Exactly the 28 bytes of the packet (Ethernet padding excluded).
    public let bytes: UnsafeRawBufferPointer

    public static let length = 28
    public static let request: UInt16 = 1
    public static let reply: UInt16 = 2

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.length else { throw .truncated(.arp) }
        guard bytes.loadBigEndian(at: 0, as: UInt16.self) == 1,  // Ethernet
            bytes.loadBigEndian(at: 2, as: UInt16.self) == EtherType.ipv4,
            bytes[4] == 6, bytes[5] == 4
        else { throw .unsupportedARPFormat }
        self.bytes = bytes.frameSlice(from: 0, count: Self.length)
    }

    /// 1 request, 2 reply.
    @inlinable public var operation: UInt16 { bytes.loadBigEndian(at: 6) }
    @inlinable public var senderHardwareAddress: MACAddress { MACAddress(reading: bytes, at: 8) }
    @inlinable public var senderProtocolAddress: IPv4Address { IPv4Address(reading: bytes, at: 14) }
    @inlinable public var targetHardwareAddress: MACAddress { MACAddress(reading: bytes, at: 18) }
    @inlinable public var targetProtocolAddress: IPv4Address { IPv4Address(reading: bytes, at: 24) }
}
