// Numbers the frame views and the parser switch on, and the one slicing helper every view shares.

/// EtherTypes the parser reads.
public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let ipv6: UInt16 = 0x86DD
    /// 802.1Q customer tag (also the inner tag of QinQ).
    public static let vlan: UInt16 = 0x8100
    /// 802.1ad service tag, the outer tag of QinQ.
    public static let serviceVLAN: UInt16 = 0x88A8

    /// A tag protocol identifier: another tag follows in place of the EtherType.
    @inlinable @inline(__always)
    public static func isVLANTag(_ type: UInt16) -> Bool { type == vlan || type == serviceVLAN }
}

extension IPProtocolNumber {
    /// IPv6 extension headers walked by `IPv6PacketView` (RFC 8200 §4).
    public static let ipv6HopByHop: UInt8 = 0
    public static let ipv6Routing: UInt8 = 43
    public static let ipv6Fragment: UInt8 = 44
    public static let ipv6DestinationOptions: UInt8 = 60
    /// "No next header": nothing follows.
    public static let ipv6NoNextHeader: UInt8 = 59
}

/// ICMPv4 and ICMPv6 message types the parser reads.
public enum ICMPType {
    public static let echoReply: UInt8 = 0
    public static let echoRequest: UInt8 = 8
    public static let v6EchoRequest: UInt8 = 128
    public static let v6EchoReply: UInt8 = 129
    public static let neighborSolicitation: UInt8 = 135
    public static let neighborAdvertisement: UInt8 = 136
}

extension UnsafeRawBufferPointer {
    /// `count` bytes from `offset` as a buffer of their own, so a view can never read past its layer.
    /// The caller has checked `offset + count <= self.count`.
    @inlinable @inline(__always)
    func frameSlice(from offset: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[offset..<offset &+ count])
    }

    /// Everything from `offset` on. The caller has checked `offset <= self.count`.
    @inlinable @inline(__always)
    func frameSlice(from offset: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[offset...])
    }
}
