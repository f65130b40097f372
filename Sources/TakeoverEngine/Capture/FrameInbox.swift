public import TakeoverCore
public import TakeoverLinux
import Synchronization

/// Frames one thread received, copied on their way to another: the AF_XDP capture's receive thread hands the
/// responder the ARP/ND the XDP program sends it in takeover mode (`NeighborDiversionSource`), and hands an
/// operator's `takeover capture` the frames it takes from the wire (`CaptureTap`).
///
/// One producer, one consumer. Fixed slots, allocated at start; one copy per frame (an AF_XDP frame goes back to
/// the kernel when its batch ends). A full inbox drops and counts, never waits: the receive thread must not stall
/// behind its reader.
public final class FrameInbox: Sendable {
    /// What a frame longer than a slot becomes.
    public enum LongFrames: Sendable {
        /// Dropped and counted (a cut ARP or solicitation would be misread).
        case drop
        /// Cut to the slot, its wire length kept (a capture's snap length).
        case truncate
    }

    public let slotSize: Int
    public let longFrames: LongFrames
    let headers: SPSCRing<FrameSlotHeader>
    /// `capacity` slots of `slotSize` bytes; slot i belongs to the i-th frame pushed, modulo the capacity.
    nonisolated(unsafe) let slots: UnsafeMutableRawBufferPointer
    /// Signalled after a batch that delivered frames; the reader polls it.
    public let wakeUp: EventFD
    let delivered = Atomic<UInt64>(0)
    let droppedFull = Atomic<UInt64>(0)
    let droppedTooLong = Atomic<UInt64>(0)
    /// Frames a reader dropped unseen (`FrameInboxReader.discardWaiting`).
    let discarded = Atomic<UInt64>(0)

    /// `capacity`: a power of two.
    public init(capacity: Int, slotSize: Int, longFrames: LongFrames) throws(SystemCallError) {
        precondition(slotSize > 0 && slotSize <= Int(UInt16.max), "FrameInbox: slot size in 1...65535")
        wakeUp = try EventFD()
        headers = SPSCRing(capacity: capacity)
        slots = .allocate(byteCount: capacity * slotSize, alignment: 64)
        self.slotSize = slotSize
        self.longFrames = longFrames
    }

    /// For the responder: ARP requests (42–60 bytes) and solicitations (86 bytes with their source link-layer
    /// option), behind up to two VLAN tags, in 256-byte slots; longer frames are dropped.
    public static func neighborDiscovery(capacity: Int = 256) throws(SystemCallError) -> FrameInbox {
        try FrameInbox(capacity: capacity, slotSize: 256, longFrames: .drop)
    }

    deinit { slots.deallocate() }

    /// What went through, and what was dropped.
    public var counters: FrameInboxCounters {
        FrameInboxCounters(
            delivered: delivered.load(ordering: .relaxed), droppedFull: droppedFull.load(ordering: .relaxed),
            droppedTooLong: droppedTooLong.load(ordering: .relaxed))
    }

    func slot(_ sequence: UInt64) -> UnsafeMutableRawBufferPointer {
        let start = Int(sequence % UInt64(headers.capacity)) * slotSize
        return UnsafeMutableRawBufferPointer(rebasing: slots[start..<start + slotSize])
    }
}

/// A frame's length in its slot, its length on the wire and when it was received.
struct FrameSlotHeader: BitwiseCopyable {
    var length: UInt16
    var wireLength: UInt32
    var timestamp: UInt64
}

public struct FrameInboxCounters: Hashable, Sendable {
    /// Frames handed to the reader.
    public var delivered: UInt64
    /// Frames dropped because the reader had not taken the earlier ones yet.
    public var droppedFull: UInt64
    /// Frames longer than a slot, with `LongFrames.drop`.
    public var droppedTooLong: UInt64
}

/// The producing thread's end. Touched by that thread only.
final class FrameInboxWriter {
    let inbox: FrameInbox
    private var producer: SPSCRing<FrameSlotHeader>.Producer
    private var pushed: UInt64 = 0
    private var pushedInBatch = false

    /// Nil when the inbox already has a writer.
    init?(_ inbox: FrameInbox) {
        guard let producer = inbox.headers.claimProducer() else { return nil }
        self.inbox = inbox
        self.producer = producer
    }

    func push(_ frame: ReceivedFrame) {
        var length = frame.bytes.count
        if length > inbox.slotSize {
            guard inbox.longFrames == .truncate else {
                inbox.droppedTooLong.add(1, ordering: .relaxed)
                return
            }
            length = inbox.slotSize
        }
        guard producer.reserve(1) == 1 else {
            inbox.droppedFull.add(1, ordering: .relaxed)
            return
        }
        // The slot is written before its header is published (the ring's release store orders the two).
        inbox.slot(pushed).copyMemory(from: UnsafeRawBufferPointer(rebasing: frame.bytes[..<length]))
        producer[0] = FrameSlotHeader(
            length: UInt16(length), wireLength: UInt32(clamping: frame.wireLength), timestamp: frame.timestamp.nanoseconds)
        producer.submit(1)
        pushed &+= 1
        pushedInBatch = true
    }

    /// At the end of a receive batch: one wake-up for all the frames it delivered.
    func endBatch() {
        guard pushedInBatch else { return }
        pushedInBatch = false
        _ = try? inbox.wakeUp.signal()
    }
}

/// The consuming thread's end. Touched by that thread only; the inbox takes a new reader once this one is gone.
public final class FrameInboxReader {
    let inbox: FrameInbox
    private var consumer: SPSCRing<FrameSlotHeader>.Consumer
    private var taken: UInt64 = 0

    /// Nil when the inbox already has a reader.
    init?(_ inbox: FrameInbox) {
        guard let consumer = inbox.headers.claimConsumer() else { return nil }
        self.inbox = inbox
        self.consumer = consumer
        // The writer counts slots from the ring's start; a later reader starts where the last one stopped.
        taken = inbox.delivered.load(ordering: .acquiring) &+ inbox.discarded.load(ordering: .acquiring)
    }

    /// Lends every waiting frame to `handle`, in arrival order; returns how many.
    @discardableResult
    public func drain(_ handle: (ReceivedFrame) -> Void) -> Int {
        let available = consumer.peek(inbox.headers.capacity)
        guard available > 0 else { return 0 }
        for offset in 0..<available {
            let header = consumer[offset]
            let bytes = UnsafeRawBufferPointer(rebasing: inbox.slot(taken &+ UInt64(offset))[..<Int(header.length)])
            handle(
                ReceivedFrame(
                    bytes: bytes, wireLength: Int(header.wireLength), timestamp: MonotonicTime(nanoseconds: header.timestamp)))
        }
        // Released only after the frames were handled: until then the writer cannot reuse their slots.
        consumer.release(available)
        taken &+= UInt64(available)
        inbox.delivered.add(UInt64(available), ordering: .relaxed)
        return available
    }

    /// Drops every waiting frame unseen (a capture starting: what the tap took before it is not its own).
    public func discardWaiting() {
        let available = consumer.peek(inbox.headers.capacity)
        guard available > 0 else { return }
        consumer.release(available)
        taken &+= UInt64(available)
        inbox.discarded.add(UInt64(available), ordering: .relaxed)
    }
}
