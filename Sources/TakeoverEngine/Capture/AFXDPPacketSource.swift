public import TakeoverCore
public import TakeoverLinux

/// An AF_XDP socket as a `PacketSource`, so the pipeline takes it exactly as it takes libpcap.
///
/// AF_XDP descriptors carry no receive time, so each batch is stamped with `clock` once, when the batch is
/// taken from the RX ring (after the wait that announced it): frames of one batch share a timestamp, at most
/// a batch's worth of wire time late.
public struct AFXDPPacketSource: PacketSource {
    public typealias ReceiveError = AFXDPError

    public let socket: AFXDPSocket
    private let clock: @Sendable () -> MonotonicTime

    public init(_ socket: AFXDPSocket, clock: @escaping @Sendable () -> MonotonicTime) {
        self.socket = socket
        self.clock = clock
    }

    public mutating func waitForFrames(timeout: Duration) throws(AFXDPError) -> Bool {
        try socket.waitForFrames(timeout: timeout)
    }

    public mutating func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(AFXDPError) -> Int {
        let now = clock()
        return try socket.receive(limit: limit) { frame in
            handler(ReceivedFrame(bytes: frame.bytes, wireLength: frame.bytes.count, timestamp: now))
        }
    }

    /// `received` counts every frame the XDP program redirected here (handed over or dropped); `dropped`
    /// the socket's drops (RX ring full, no fill buffer, invalid descriptors).
    public mutating func statistics() throws(AFXDPError) -> PacketSourceStatistics {
        let counters = try socket.statistics()
        return PacketSourceStatistics(
            received: counters.receivedFrames &+ counters.receiveDrops, dropped: counters.receiveDrops,
            interfaceDropped: 0)
    }
}
