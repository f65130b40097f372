import Synchronization
public import TakeoverCore

/// The payload store the capture pipeline's receive thread fills (`CapturePipeline(payloads:)`) and the `resume`
/// policy reads at takeover. The receive thread takes the lock once per batch; a reader holds the receive thread
/// up for as long as it reads (the capture ring absorbs it), never the tracker.
public final class SessionPayloadCapture: Sendable {
    private let store: Mutex<SessionPayloadStore>
    public let configuration: SessionPayloadStoreConfiguration

    /// Allocates every buffer now (`configuration.payloadBytes` in all); nothing is allocated later.
    public init(_ configuration: SessionPayloadStoreConfiguration = SessionPayloadStoreConfiguration()) {
        self.configuration = configuration
        store = Mutex(SessionPayloadStore(configuration))
    }

    /// Runs `body` with the store under its lock: keep it short.
    public func withStore<R, E: Error>(_ body: (inout SessionPayloadStore) throws(E) -> R) throws(E) -> R {
        try store.withLock { (store: inout SessionPayloadStore) throws(E) -> R in try body(&store) }
    }

    public var statistics: SessionPayloadStoreStatistics { store.withLock { $0.statistics } }
}

extension ReceivedFrame {
    /// The bytes of `segment`'s payload this frame holds (fewer than its length when the capture cut the frame).
    @inlinable
    public func payload(of segment: TCPSegment) -> UnsafeRawBufferPointer {
        let start = Swift.min(Int(segment.payloadOffset), bytes.count)
        let end = Swift.min(start + Int(segment.payloadLength), bytes.count)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }
}
