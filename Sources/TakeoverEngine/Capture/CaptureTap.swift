public import TakeoverCore
public import TakeoverLinux
import Synchronization

/// The frames an AF_XDP capture takes from the wire, for an operator's `takeover capture`: the XDP program's
/// redirects bypass the kernel's packet taps, so libpcap on the interface never sees the peer's traffic (nor, in
/// takeover mode, the ARP/ND handed to the responder). Off unless a capture runs: then the receive thread copies
/// each frame (cut at 2048 bytes, its wire length kept) into an inbox the capture's thread drains. One capture
/// at a time per tap.
public final class CaptureTap: Sendable, Hashable {
    let inbox: FrameInbox
    let armed = Atomic<Bool>(false)

    public init() throws(SystemCallError) {
        inbox = try FrameInbox(capacity: 512, slotSize: 2048, longFrames: .truncate)
    }

    /// Starts copying frames; returns the capture's end of the inbox, or nil when another capture holds it.
    public func begin() -> FrameInboxReader? {
        guard let reader = FrameInboxReader(inbox) else { return nil }
        // Frames the receive thread copied after the last capture ended belong to nobody.
        reader.discardWaiting()
        armed.store(true, ordering: .releasing)
        return reader
    }

    /// Stops copying (frames of the current batch may still arrive; the next `begin` discards them).
    public func end() { armed.store(false, ordering: .releasing) }

    /// Signalled after a batch that copied frames.
    public var wakeUp: EventFD { inbox.wakeUp }

    /// Frames copied and dropped since the tap was made (a capture's own figures are differences).
    public var counters: FrameInboxCounters { inbox.counters }

    public static func == (lhs: CaptureTap, rhs: CaptureTap) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// A capture source that also hands every frame to a `CaptureTap` while a capture runs. Costs one relaxed load per
/// batch when none does.
public struct CaptureTapSource<Base: PacketSource>: PacketSource {
    public typealias ReceiveError = Base.ReceiveError

    private var base: Base
    private let tap: CaptureTap
    private let writer: FrameInboxWriter

    /// Nil when `tap` already has a source (one receive thread per tap).
    public init?(_ base: Base, tap: CaptureTap) {
        guard let writer = FrameInboxWriter(tap.inbox) else { return nil }
        self.base = base
        self.tap = tap
        self.writer = writer
    }

    public mutating func waitForFrames(timeout: Duration) throws(ReceiveError) -> Bool {
        try base.waitForFrames(timeout: timeout)
    }

    public mutating func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(ReceiveError) -> Int {
        guard tap.armed.load(ordering: .acquiring) else { return try base.receive(limit: limit, handler) }
        let writer = writer
        let received = try base.receive(limit: limit) { frame in
            writer.push(frame)
            handler(frame)
        }
        writer.endBatch()
        return received
    }

    public mutating func statistics() throws(ReceiveError) -> PacketSourceStatistics {
        try base.statistics()
    }
}
