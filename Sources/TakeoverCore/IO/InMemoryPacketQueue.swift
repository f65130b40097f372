/// A fixed-capacity FIFO of frames that is both a `PacketSource` and a `PacketSink`, for tests and for
/// wiring parts together without a kernel: frames a test enqueues, and frames transmitted into it, come
/// out of `receive` in order. All memory is allocated once in `init`; enqueue, transmit and receive never
/// allocate. Not thread-safe: one owner at a time.
///
///     slots:  [ frame 0 | frame 1 | ... | frame capacity-1 ]   each `maximumFrameLength` bytes
///               ^ head (oldest)         ^ head + count (next free, modulo capacity)
public final class InMemoryPacketQueue: PacketSource, PacketSink {
    public typealias ReceiveError = Never

    public enum TransmitError: Error, Hashable, Sendable {
        /// `build` returned a length larger than the buffer it was given.
        case frameTooLong(length: Int, maximum: Int)
    }

    /// How many frames the queue holds before it drops.
    public let capacity: Int
    public let maximumFrameLength: Int
    /// The time stamped on frames that arrive by `transmit` (the core never reads a clock).
    public var now: MonotonicTime = .zero

    private let storage: UnsafeMutableRawBufferPointer
    private let lengths: UnsafeMutableBufferPointer<Int>
    private let timestamps: UnsafeMutableBufferPointer<MonotonicTime>
    private var head = 0
    private var count = 0
    private var counters = PacketSourceStatistics()

    public init(capacity: Int, maximumFrameLength: Int = 2048) {
        precondition(capacity > 0 && maximumFrameLength > 0, "an in-memory queue needs room for a frame")
        self.capacity = capacity
        self.maximumFrameLength = maximumFrameLength
        storage = .allocate(byteCount: capacity * maximumFrameLength, alignment: 64)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0)
        timestamps = .allocate(capacity: capacity)
        timestamps.initialize(repeating: .zero)
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
        timestamps.deallocate()
    }

    /// Frames waiting to be received.
    public var pendingCount: Int { count }

    private func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[index * maximumFrameLength..<(index + 1) * maximumFrameLength])
    }

    /// Copies `frame` in as if it had arrived at `timestamp`, keeping at most `maximumFrameLength` bytes
    /// (the wire length stays the full length, as a snapshot length would). Returns false and counts a
    /// drop when the queue is full.
    @discardableResult
    public func enqueue(_ frame: UnsafeRawBufferPointer, at timestamp: MonotonicTime) -> Bool {
        guard count < capacity else {
            counters.dropped += 1
            return false
        }
        let index = (head + count) % capacity
        let kept = min(frame.count, maximumFrameLength)
        if kept > 0 { slot(index).baseAddress!.copyMemory(from: frame.baseAddress!, byteCount: kept) }
        storeArrival(at: index, captured: kept, wire: frame.count, timestamp: timestamp)
        return true
    }

    /// As `enqueue(_:at:)`, from an array (test convenience).
    @discardableResult
    public func enqueue(_ frame: [UInt8], at timestamp: MonotonicTime) -> Bool {
        frame.withUnsafeBytes { enqueue($0, at: timestamp) }
    }

    // Captured and wire length share one slot: the low 32 bits hold the captured length, the high bits
    // the wire length, so truncation survives without a second array.
    private func storeArrival(at index: Int, captured: Int, wire: Int, timestamp: MonotonicTime) {
        lengths[index] = wire << 32 | captured
        timestamps[index] = timestamp
        count += 1
        counters.received += 1
    }

    public func waitForFrames(timeout: Duration) -> Bool {
        // Nothing can arrive while the only owner waits, so there is nothing to wait for.
        count > 0
    }

    public func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) -> Int {
        let batch = max(0, min(limit, count))
        for _ in 0..<batch {
            let packed = lengths[head]
            let bytes = UnsafeRawBufferPointer(rebasing: slot(head)[0..<(packed & 0xFFFF_FFFF)])
            handler(ReceivedFrame(bytes: bytes, wireLength: packed >> 32, timestamp: timestamps[head]))
            head = (head + 1) % capacity
            count -= 1
        }
        return batch
    }

    public func statistics() -> PacketSourceStatistics { counters }

    public func transmit(
        _ build: (UnsafeMutableRawBufferPointer) -> Int
    ) throws(TransmitError) -> TransmitOutcome {
        guard count < capacity else { return .noBufferAvailable }
        let index = (head + count) % capacity
        let length = build(slot(index))
        guard length > 0 else { return .abandoned }
        guard length <= maximumFrameLength else {
            throw .frameTooLong(length: length, maximum: maximumFrameLength)
        }
        storeArrival(at: index, captured: length, wire: length, timestamp: now)
        return .submitted(length: length)
    }

    public func flush() {}
}
