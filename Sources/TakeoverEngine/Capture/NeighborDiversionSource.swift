public import TakeoverCore

/// A capture source that hands ARP and IPv6 neighbour solicitations/advertisements to the responder's inbox
/// instead of the tracker: over AF_XDP, the XDP program sends them to the one socket of the RX queue in takeover
/// mode, and the tracker's receive thread owns that socket. Everything else goes on to the handler untouched.
///
/// Cost per frame: the EtherType read behind up to two VLAN tags, and for IPv6 two more bytes; a diverted frame
/// is copied once into the inbox. No allocation.
public struct NeighborDiversionSource<Base: PacketSource>: PacketSource {
    public typealias ReceiveError = Base.ReceiveError

    private var base: Base
    private let writer: FrameInboxWriter

    /// Nil when `inbox` already has a writer (one receive thread per inbox).
    public init?(_ base: Base, inbox: FrameInbox) {
        guard let writer = FrameInboxWriter(inbox) else { return nil }
        self.base = base
        self.writer = writer
    }

    public mutating func waitForFrames(timeout: Duration) throws(ReceiveError) -> Bool {
        try base.waitForFrames(timeout: timeout)
    }

    public mutating func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(ReceiveError) -> Int {
        let writer = writer
        let received = try base.receive(limit: limit) { frame in
            if Self.isNeighborDiscovery(frame.bytes) {
                writer.push(frame)
            } else {
                handler(frame)
            }
        }
        writer.endBatch()
        return received
    }

    public mutating func statistics() throws(ReceiveError) -> PacketSourceStatistics {
        try base.statistics()
    }

    /// ARP, or ICMPv6 neighbour solicitation/advertisement right behind the IPv6 header (where the XDP program
    /// and every sender put it: ND carries no extension headers).
    @inlinable
    static func isNeighborDiscovery(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 12
        var etherType: UInt16 = 0
        // At most two tags (802.1Q, QinQ), as the XDP program walks them.
        for _ in 0..<3 {
            guard bytes.count >= offset + 2 else { return false }
            etherType = bytes.loadBigEndian(at: offset)
            guard EtherType.isVLANTag(etherType) else { break }
            offset += 4
        }
        offset += 2
        switch etherType {
        case EtherType.arp:
            return true
        case EtherType.ipv6:
            guard bytes.count >= offset + 41, bytes[offset + 6] == IPProtocolNumber.icmpv6 else { return false }
            let type = bytes[offset + 40]
            return type == ICMPType.neighborSolicitation || type == ICMPType.neighborAdvertisement
        default:
            return false
        }
    }
}
