import TakeoverCore
import Testing

/// What the takeover suites share: documentation addresses only, locally administered MACs, and a way to run
/// a responder or schedule into an in-memory sink and read back what it wrote.
enum TakeoverLab {
    static let ourMAC = MACAddress("02:00:00:00:00:0b")!
    static let clientMAC = MACAddress("02:00:00:00:00:0c")!
    static let otherMAC = MACAddress("02:00:00:00:00:0d")!
    static let secondClientMAC = MACAddress("02:00:00:00:00:0e")!
    static let ownedIPv4 = IPv4Address(192, 0, 2, 99)
    static let ownedIPv6 = IPv6Address("2001:db8::99")!
    static let unownedIPv4 = IPv4Address(192, 0, 2, 77)
    static let clientIPv4 = IPv4Address(192, 0, 2, 10)
    static let clientIPv6 = IPv6Address("2001:db8::10")!

    /// A responder that owns 192.0.2.99 and 2001:db8::99.
    static func responder(vlan: VLANTag? = nil, clientCapacity: Int = 64) throws -> NeighborResponder {
        var responder = NeighborResponder(mac: ourMAC, vlan: vlan, clientCapacity: clientCapacity)
        try responder.owned.insert(.v4(ownedIPv4))
        try responder.owned.insert(.v6(ownedIPv6))
        return responder
    }

    /// Every frame waiting in `queue`, oldest first.
    static func drain(_ queue: InMemoryPacketQueue) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        _ = queue.receive(limit: queue.capacity) { frames.append(Array($0.bytes)) }
        return frames
    }
}
