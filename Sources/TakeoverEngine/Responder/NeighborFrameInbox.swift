public import TakeoverCore
public import TakeoverLinux
import Synchronization

/// ARP and neighbour-discovery frames received by another thread, on their way to the responder.
///
/// In takeover mode the XDP program hands the ARP requests and solicitations for the addresses we answer to the
/// interface's AF_XDP socket, which the session tracker's receive thread owns: that thread diverts them here
/// (`NeighborDiversionSource`) and the responder's loop answers them as if its own port had received them.
///
/// One producer (the receive thread), one consumer (the responder loop). Fixed slots, allocated at start; one
/// copy per frame (the AF_XDP frame goes back to the kernel when the batch ends). A full inbox or a frame longer
/// than a slot is counted and dropped, never waited for: the receive thread must not stall behind the responder.
public final class NeighborFrameInbox: Sendable {
    /// Longest frame a slot holds: an ARP request (42–60 bytes) or a solicitation (86 bytes with its source
    /// link-layer option), behind up to two VLAN tags, with room to spare.
    public static let slotSize = 256

    let lengths: SPSCRing<UInt16>
    /// `capacity` slots of `slotSize` bytes; slot i belongs to the i-th frame pushed, modulo the capacity.
    nonisolated(unsafe) let slots: UnsafeMutableRawBufferPointer
    /// Signalled after a batch that delivered frames; the responder polls it.
    public let wakeUp: EventFD
    let delivered = Atomic<UInt64>(0)
    let droppedFull = Atomic<UInt64>(0)
    let droppedTooLong = Atomic<UInt64>(0)

    /// `capacity`: a power of two.
    public init(capacity: Int = 256) throws(SystemCallError) {
        wakeUp = try EventFD()
        lengths = SPSCRing(capacity: capacity)
        slots = .allocate(byteCount: capacity * Self.slotSize, alignment: 64)
    }

    deinit { slots.deallocate() }

    /// What went through, and what was dropped.
    public var counters: NeighborFrameInboxCounters {
        NeighborFrameInboxCounters(
            delivered: delivered.load(ordering: .relaxed), droppedFull: droppedFull.load(ordering: .relaxed),
            droppedTooLong: droppedTooLong.load(ordering: .relaxed))
    }

    func slot(_ sequence: UInt64) -> UnsafeMutableRawBufferPointer {
        let start = Int(sequence % UInt64(lengths.capacity)) * Self.slotSize
        return UnsafeMutableRawBufferPointer(rebasing: slots[start..<start + Self.slotSize])
    }
}

public struct NeighborFrameInboxCounters: Hashable, Sendable {
    /// Frames handed to the responder.
    public var delivered: UInt64
    /// Frames dropped because the responder had not taken the earlier ones yet.
    public var droppedFull: UInt64
    /// Frames longer than a slot.
    public var droppedTooLong: UInt64
}

/// The receive thread's end. Touched by that thread only.
final class NeighborFrameInboxWriter {
    let inbox: NeighborFrameInbox
    private var producer: SPSCRing<UInt16>.Producer
    private var pushed: UInt64 = 0
    private var pushedInBatch = false

    /// Nil when the inbox already has a writer.
    init?(_ inbox: NeighborFrameInbox) {
        guard let producer = inbox.lengths.claimProducer() else { return nil }
        self.inbox = inbox
        self.producer = producer
    }

    func push(_ frame: UnsafeRawBufferPointer) {
        guard frame.count <= NeighborFrameInbox.slotSize else {
            inbox.droppedTooLong.add(1, ordering: .relaxed)
            return
        }
        guard producer.reserve(1) == 1 else {
            inbox.droppedFull.add(1, ordering: .relaxed)
            return
        }
        // The slot is written before the length is published (the ring's release store orders the two).
        inbox.slot(pushed).copyMemory(from: frame)
        producer[0] = UInt16(frame.count)
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

/// The responder loop's end. Touched by that thread only.
final class NeighborFrameInboxReader {
    let inbox: NeighborFrameInbox
    private var consumer: SPSCRing<UInt16>.Consumer
    private var taken: UInt64 = 0

    /// Nil when the inbox already has a reader.
    init?(_ inbox: NeighborFrameInbox) {
        guard let consumer = inbox.lengths.claimConsumer() else { return nil }
        self.inbox = inbox
        self.consumer = consumer
    }

    /// Lends every waiting frame to `handle`, in arrival order; returns how many.
    func drain(stampedAt now: MonotonicTime, _ handle: (ReceivedFrame) -> Void) -> Int {
        let available = consumer.peek(Int(inbox.lengths.capacity))
        guard available > 0 else { return 0 }
        for offset in 0..<available {
            let length = Int(consumer[offset])
            let bytes = UnsafeRawBufferPointer(rebasing: inbox.slot(taken &+ UInt64(offset))[..<length])
            handle(ReceivedFrame(bytes: bytes, wireLength: length, timestamp: now))
        }
        // Released only after the frames were handled: until then the writer cannot reuse their slots.
        consumer.release(available)
        taken &+= UInt64(available)
        inbox.delivered.add(UInt64(available), ordering: .relaxed)
        return available
    }
}
