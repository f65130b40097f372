// The two ends of the data plane, as the engine sees them. A backend — AF_XDP, libpcap, or the
// in-memory queue of tests — receives frames into memory it owns and lends them out; it transmits frames
// that the caller builds directly in memory it owns. No frame is copied or allocated on the way.
//
// Buffer ownership, receive side:
//
//   kernel ring / UMEM ──lend──► handler(frame) ──return──► released back to the kernel
//                              (frame.bytes valid only here)
//
//   `receive(limit:_:)` lends each ready frame to the handler, in arrival order, then releases the
//   whole batch before it returns. A handler that needs bytes later copies them (the tracker copies
//   only the fields it parses). libpcap hands each ring slot back as soon as the handler returns, and
//   AF_XDP releases its RX descriptors after the batch, so neither pointer may outlive the call.
//
// Buffer ownership, transmit side:
//
//   sink's free buffer ──lend──► build(buffer) writes the frame, returns its length ──► submitted
//
//   The buffer belongs to the sink throughout. After `build` returns, the sink either copies it into
//   the kernel (libpcap's inject) or queues it in place (an AF_XDP UMEM frame, reusable only after the
//   kernel completes it). `flush()` makes queued frames go out.

/// One received frame, lent to a `PacketSource` handler. A plain value: passing it costs no reference
/// counting. `bytes` is valid only during the handler call that received it.
public struct ReceivedFrame: BitwiseCopyable {
    /// The captured bytes, starting with the Ethernet header.
    public var bytes: UnsafeRawBufferPointer
    /// The frame's length on the wire; larger than `bytes.count` when the backend's snapshot length cut it.
    public var wireLength: Int
    /// When the frame was received, on the monotonic clock the engine uses everywhere.
    public var timestamp: MonotonicTime

    @inlinable
    public init(bytes: UnsafeRawBufferPointer, wireLength: Int, timestamp: MonotonicTime) {
        self.bytes = bytes
        self.wireLength = wireLength
        self.timestamp = timestamp
    }

    /// The backend kept only the first `bytes.count` bytes.
    @inlinable public var isTruncated: Bool { wireLength > bytes.count }
}

/// Counters of a packet source since it was opened. Every frame the system saw but the engine did not
/// get is counted in one of the two drop counters.
public struct PacketSourceStatistics: Hashable, Sendable, BitwiseCopyable {
    /// Frames that matched the source's selection (filter or XDP program).
    public var received: UInt64
    /// Frames lost because the source's own buffer (kernel ring, RX ring, test queue) was full.
    public var dropped: UInt64
    /// Frames the interface or driver dropped before the source saw them, as far as it can tell.
    public var interfaceDropped: UInt64

    @inlinable
    public init(received: UInt64 = 0, dropped: UInt64 = 0, interfaceDropped: UInt64 = 0) {
        self.received = received
        self.dropped = dropped
        self.interfaceDropped = interfaceDropped
    }
}

/// Where frames come from. The receive thread's loop is `waitForFrames` then `receive`.
public protocol PacketSource: ~Copyable {
    associatedtype ReceiveError: Error

    /// Waits until at least one frame is ready or `timeout` passes; true if frames are ready. Never
    /// waits longer than `timeout` (plus scheduling).
    mutating func waitForFrames(timeout: Duration) throws(ReceiveError) -> Bool

    /// Lends up to `limit` frames that are ready now, without waiting, to `handler` in arrival order,
    /// then releases them (see the ownership notes above). Returns how many were handled; 0 when none
    /// were ready.
    mutating func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(ReceiveError) -> Int

    /// As `receive(limit:_:)`, with the handler as a value instead of a closure. A backend that calls its
    /// handler from a C callback (libpcap) cannot keep a pointer to a non-escaping closure without boxing it
    /// on the heap once per call; it can keep a pointer to `handler`. The default forwards to the closure form.
    mutating func receive<Handler: ReceivedFrameHandler & ~Copyable>(
        limit: Int, into handler: inout Handler
    ) throws(ReceiveError) -> Int

    /// Counters since the source was opened.
    mutating func statistics() throws(ReceiveError) -> PacketSourceStatistics
}

/// Takes the frames a `PacketSource` lends, one call per frame (see the ownership notes above: `frame.bytes`
/// is valid only during the call).
public protocol ReceivedFrameHandler: ~Copyable {
    mutating func handle(_ frame: ReceivedFrame)
}

extension PacketSource where Self: ~Copyable {
    @inlinable
    public mutating func receive<Handler: ReceivedFrameHandler & ~Copyable>(
        limit: Int, into handler: inout Handler
    ) throws(ReceiveError) -> Int {
        try receive(limit: limit) { frame in handler.handle(frame) }
    }
}

/// What became of one `PacketSink.transmit` call.
public enum TransmitOutcome: Hashable, Sendable, BitwiseCopyable {
    /// The frame was handed to the sink; `flush()` makes sure it leaves.
    case submitted(length: Int)
    /// No transmit buffer was free (ring full, completions pending); `build` was not called.
    case noBufferAvailable
    /// `build` returned 0: nothing was sent and the buffer went back to the sink.
    case abandoned
}

/// Where frames go. Frames are built in place in the sink's own transmit buffers.
public protocol PacketSink: ~Copyable {
    associatedtype TransmitError: Error

    /// The largest frame (without the FCS) a transmit buffer holds; the buffer `build` gets has this size.
    var maximumFrameLength: Int { get }

    /// Lends a free transmit buffer to `build`, which writes one frame from offset 0 and returns its
    /// length (0 abandons it; a length above the buffer's size is a programming error the sink reports
    /// by throwing), then submits it.
    mutating func transmit(_ build: (UnsafeMutableRawBufferPointer) -> Int) throws(TransmitError) -> TransmitOutcome

    /// Makes every submitted frame go out (an AF_XDP wake-up, for instance). Cheap when nothing is pending.
    mutating func flush() throws(TransmitError)
}
