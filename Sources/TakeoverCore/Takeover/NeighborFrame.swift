// One frame the takeover sends to tell neighbours where an address lives: an ARP message or a neighbor
// advertisement. The responder and the announcement schedule both produce these, and both hand them to the
// same `PacketSink.transmit(_:)`, which builds the frame straight into the sink's transmit buffer.

/// An ARP message or an IPv6 neighbor advertisement, ready to be written into a transmit buffer.
public enum NeighborFrame: Hashable, Sendable, BitwiseCopyable {
    case arp(FrameBuilder.ARP)
    case neighborAdvertisement(FrameBuilder.NeighborAdvertisement)

    /// Bytes `write(into:)` needs and writes.
    @inlinable
    public var frameLength: Int {
        switch self {
        case .arp(let arp): FrameBuilder.ARP.frameLength(vlan: arp.vlan)
        case .neighborAdvertisement(let advertisement):
            FrameBuilder.NeighborAdvertisement.frameLength(vlan: advertisement.vlan)
        }
    }

    /// Writes the frame at the start of `buffer` and returns its length.
    @inlinable
    public func write(into buffer: UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int {
        switch self {
        case .arp(let arp): try arp.write(into: buffer)
        case .neighborAdvertisement(let advertisement): try advertisement.write(into: buffer)
        }
    }
}

extension PacketSink where Self: ~Copyable {
    /// Builds `frame` in a free transmit buffer and submits it. A buffer smaller than the frame (a sink
    /// configured below 64 bytes) abandons it: `.abandoned`, nothing sent.
    @inlinable
    public mutating func transmit(_ frame: NeighborFrame) throws(TransmitError) -> TransmitOutcome {
        try transmit { buffer in
            do { return try frame.write(into: buffer) } catch { return 0 }
        }
    }
}
