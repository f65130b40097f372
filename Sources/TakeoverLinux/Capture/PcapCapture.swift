public import TakeoverCore
internal import CTakeoverPcap
internal import CTakeoverBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the kernel hands captured frames to libpcap.
public enum PacketRingVersion: Int32, Hashable, Sendable {
    /// One ring slot per frame, handed over at once (libpcap 1.10 uses it in immediate mode).
    case v2 = 1
    /// Blocks of frames, handed over when full or when the block timeout passes (fewer wake-ups).
    case v3 = 2
}

/// Settings of a live capture.
public struct PcapCaptureConfiguration: Hashable, Sendable {
    public enum Delivery: Hashable, Sendable {
        /// Each frame as soon as it arrives: libpcap 1.10 uses a TPACKET_V2 ring (a wake-up per frame).
        case immediate
        /// Frames in TPACKET_V3 blocks, handed over when a block fills or `timeout` after its first
        /// frame: far fewer wake-ups under load, at most `timeout` of added latency (whole milliseconds).
        case blocks(timeout: Duration)
    }

    public var interface: String
    /// Bytes kept of each frame. The tracker needs only headers, but keeping whole frames costs little.
    public var snapshotLength: Int
    /// Kernel ring size in bytes. The kernel allocates and zeroes the whole ring inside one `setsockopt`, without
    /// a preemption point: on the lab VM (preemption model "none") a 4 MiB ring (8 MiB mapped) held its CPU for
    /// 10–20 ms, and a `SCHED_FIFO` heartbeat thread woken on that CPU waited as long (bench/RESULTS.md, false
    /// failovers). So captures opened while heartbeats run use `smallRing` where their traffic allows.
    public var bufferSize: Int
    public var delivery: Delivery
    /// Promiscuous mode for the life of the capture (on Linux CAP_NET_RAW suffices, like the capture
    /// itself). `PacketMembership` is the narrower way to receive the peer's MAC.
    public var promiscuous: Bool
    /// Size of the transmit buffer `transmit` lends: the largest frame it can send (no FCS).
    public var maximumTransmitLength: Int

    /// For low-rate captures (ARP/ND) and captures opened while the daemon runs.
    public static let smallRing = 256 << 10

    public init(
        interface: String, snapshotLength: Int = 65535, bufferSize: Int = 4 << 20,
        delivery: Delivery = .blocks(timeout: .milliseconds(1)), promiscuous: Bool = false,
        maximumTransmitLength: Int = 1518
    ) {
        self.interface = interface
        self.snapshotLength = snapshotLength
        self.bufferSize = bufferSize
        self.delivery = delivery
        self.promiscuous = promiscuous
        self.maximumTransmitLength = maximumTransmitLength
    }
}

/// A live libpcap capture on one interface: the fallback `PacketSource` and `PacketSink` when XDP is
/// unavailable. Non-blocking: `waitForFrames` polls the packet socket, because in immediate mode
/// `pcap_dispatch` can block past its timeout.
///
/// Privileges: CAP_NET_RAW, and nothing else (filter, ring, promiscuous mode and inject need no more).
/// The socket belongs to the network namespace of the thread that opened it; it can be used from any
/// thread afterwards, but from one thread at a time.
public final class PcapCapture: PacketSource, PacketSink {
    public typealias ReceiveError = PcapCaptureError
    public typealias TransmitError = PcapCaptureError

    public let configuration: PcapCaptureConfiguration
    /// The ring the kernel actually uses, read back from the socket.
    public let ringVersion: PacketRingVersion
    /// The packet socket, for an event loop's poll/epoll; valid until `close()`.
    public let selectableFileDescriptor: Int32
    public var maximumFrameLength: Int { configuration.maximumTransmitLength }

    private var handle: OpaquePointer?
    private let errorBuffer = PcapErrorBuffer()
    private let transmitBuffer: UnsafeMutableRawBufferPointer
    /// The last receive stopped at its limit, so frames may be waiting in a block libpcap already owns,
    /// which poll would not report.
    private var mayHaveBufferedFrames = false

    /// Opens and activates the capture, non-blocking, with nanosecond timestamps.
    public init(_ configuration: PcapCaptureConfiguration) throws(PcapCaptureError) {
        self.configuration = configuration
        var options = takeover_pcap_options()
        options.snapshot_length = Int32(clamping: configuration.snapshotLength)
        options.buffer_size = Int32(clamping: configuration.bufferSize)
        options.promiscuous = configuration.promiscuous ? 1 : 0
        switch configuration.delivery {
        case .immediate:
            options.immediate = 1
        case .blocks(let timeout):
            options.timeout_ms = max(1, timeout.pollMilliseconds)
        }

        var opened: OpaquePointer?
        let status = takeover_pcap_open_live(configuration.interface, &options, &opened, errorBuffer.pointer)
        guard status == TAKEOVER_PCAP_OK, let opened else {
            throw Self.openError(status, interface: configuration.interface, message: errorBuffer.message)
        }
        handle = opened
        transmitBuffer = .allocate(byteCount: configuration.maximumTransmitLength, alignment: 64)

        // Every failure from here on closes what was opened (deinit runs for a partly built instance
        // only once all stored properties are set, so do it by hand).
        do throws(PcapCaptureError) {
            if takeover_pcap_set_nonblocking(opened, 1, errorBuffer.pointer) != TAKEOVER_PCAP_OK {
                throw .libpcap(operation: "pcap_setnonblock", message: errorBuffer.message)
            }
            let descriptor = takeover_pcap_selectable_fd(opened)
            guard descriptor >= 0 else {
                throw .libpcap(operation: "pcap_get_selectable_fd", message: "no selectable descriptor")
            }
            selectableFileDescriptor = descriptor
            ringVersion = try Self.readRingVersion(descriptor)
        } catch {
            takeover_pcap_close(opened)
            transmitBuffer.deallocate()
            throw error
        }
    }

    deinit {
        takeover_pcap_close(handle)
        transmitBuffer.deallocate()
    }

    /// Closes the socket and ring now; later calls throw `.closed`. Idempotent.
    public func close() {
        takeover_pcap_close(handle)
        handle = nil
    }

    private static func openError(_ status: Int32, interface: String, message: String) -> PcapCaptureError {
        switch status {
        case TAKEOVER_PCAP_NO_SUCH_DEVICE: .noSuchInterface(interface: interface, message: message)
        case TAKEOVER_PCAP_PERMISSION_DENIED: .permissionDenied(interface: interface, message: message)
        case TAKEOVER_PCAP_PROMISCUOUS_PERMISSION_DENIED:
            .promiscuousPermissionDenied(interface: interface, message: message)
        case TAKEOVER_PCAP_INTERFACE_NOT_UP: .interfaceNotUp(interface: interface)
        default: .libpcap(operation: "pcap_activate \(interface)", message: message)
        }
    }

    private static func readRingVersion(_ descriptor: Int32) throws(PcapCaptureError) -> PacketRingVersion {
        var version: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        do {
            try systemCall("getsockopt(PACKET_VERSION)") {
                getsockopt(descriptor, SOL_PACKET, PACKET_VERSION, &version, &length)
            }
        } catch { throw .system(error) }
        guard let ring = PacketRingVersion(rawValue: version) else {
            throw .libpcap(operation: "packet ring", message: "unexpected TPACKET version \(version)")
        }
        return ring
    }

    private func openHandle() throws(PcapCaptureError) -> OpaquePointer {
        guard let handle else { throw .closed }
        return handle
    }

    /// Replaces the kernel filter; frames already in the ring were selected by the old one.
    public func setFilter(_ expression: String) throws(PcapCaptureError) {
        let handle = try openHandle()
        switch takeover_pcap_set_filter(handle, expression, errorBuffer.pointer) {
        case TAKEOVER_PCAP_OK: return
        case TAKEOVER_PCAP_BAD_FILTER: throw .badFilter(expression: expression, message: errorBuffer.message)
        default: throw .libpcap(operation: "pcap_setfilter", message: errorBuffer.message)
        }
    }

    public func setFilter(_ filter: PeerCaptureFilter) throws(PcapCaptureError) {
        try setFilter(filter.expression)
    }

    // MARK: PacketSource

    public func waitForFrames(timeout: Duration) throws(PcapCaptureError) -> Bool {
        _ = try openHandle()
        if mayHaveBufferedFrames { return true }
        let milliseconds = timeout.pollMilliseconds
        var descriptor = pollfd(fd: selectableFileDescriptor, events: Int16(POLLIN), revents: 0)
        let ready: Int32
        do { ready = try systemCall("poll") { poll(&descriptor, 1, milliseconds) } } catch { throw .system(error) }
        return ready > 0
    }

    /// Lends up to `limit` frames to `handler`. Allocates once per call: a non-escaping closure cannot be
    /// reached from libpcap's C callback without `withoutActuallyEscaping`, which boxes it on the heap. The hot
    /// paths use `receive(limit:into:)`, which allocates nothing.
    public func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(PcapCaptureError) -> Int {
        try withoutActuallyEscaping(handler) { (handler) throws(PcapCaptureError) -> Int in
            var forwarding = ClosureFrameHandler(body: handler)
            return try receive(limit: limit, into: &forwarding)
        }
    }

    /// Lends up to `limit` frames to `handler` without allocating: the C callback reaches the handler through
    /// a pointer to it and the metatype of a generic invoker (a static call, no boxing, no reference counting).
    public func receive<Handler: ReceivedFrameHandler & ~Copyable>(
        limit: Int, into handler: inout Handler
    ) throws(PcapCaptureError) -> Int {
        let handle = try openHandle()
        guard limit > 0 else { return 0 }
        let offset = try realtimeOffset()
        let result = withUnsafeMutablePointer(to: &handler) { handler in
            var context = DispatchContext(
                handler: UnsafeMutableRawPointer(handler), invoker: FrameHandlerInvocation<Handler>.self,
                realtimeOffset: offset)
            return withUnsafeMutablePointer(to: &context) { context in
                takeover_pcap_dispatch(handle, Int32(clamping: limit), { context, bytes, captured, wire, seconds, nanoseconds in
                    let context = context.unsafelyUnwrapped.assumingMemoryBound(to: DispatchContext.self)
                    // The kernel stamps frames on the realtime clock; the engine runs on the monotonic one.
                    let realtime = seconds &* 1_000_000_000 &+ nanoseconds
                    let monotonic = UInt64(clamping: realtime &- context.pointee.realtimeOffset)
                    let frame = ReceivedFrame(
                        bytes: UnsafeRawBufferPointer(start: bytes, count: Int(captured)),
                        wireLength: Int(wire), timestamp: MonotonicTime(nanoseconds: monotonic))
                    context.pointee.invoker.invoke(context.pointee.handler, frame)
                }, context, errorBuffer.pointer)
            }
        }
        switch result {
        case 0...:
            mayHaveBufferedFrames = Int(result) >= limit
            return Int(result)
        case TAKEOVER_PCAP_BROKEN_LOOP:
            mayHaveBufferedFrames = false
            return 0
        default:
            throw .libpcap(operation: "pcap_dispatch", message: errorBuffer.message)
        }
    }

    private func realtimeOffset() throws(PcapCaptureError) -> Int64 {
        var realtime = timespec()
        var monotonic = timespec()
        do {
            try systemCall("clock_gettime(CLOCK_REALTIME)") { clock_gettime(CLOCK_REALTIME, &realtime) }
            try systemCall("clock_gettime(CLOCK_MONOTONIC)") { clock_gettime(CLOCK_MONOTONIC, &monotonic) }
        } catch { throw .system(error) }
        return (Int64(realtime.tv_sec) - Int64(monotonic.tv_sec)) * 1_000_000_000
            + Int64(realtime.tv_nsec) - Int64(monotonic.tv_nsec)
    }

    public func statistics() throws(PcapCaptureError) -> PacketSourceStatistics {
        let handle = try openHandle()
        var counters = takeover_pcap_statistics()
        guard takeover_pcap_statistics_get(handle, &counters, errorBuffer.pointer) == TAKEOVER_PCAP_OK else {
            throw .libpcap(operation: "pcap_stats", message: errorBuffer.message)
        }
        return PacketSourceStatistics(
            received: counters.received, dropped: counters.dropped, interfaceDropped: counters.interface_dropped)
    }

    // MARK: PacketSink

    /// Builds the frame in the capture's one transmit buffer and sends it with `pcap_inject`, which
    /// copies it into the kernel: the buffer is free again when this returns, so `flush` has nothing to do.
    public func transmit(
        _ build: (UnsafeMutableRawBufferPointer) -> Int
    ) throws(PcapCaptureError) -> TransmitOutcome {
        let handle = try openHandle()
        let length = build(transmitBuffer)
        guard length > 0 else { return .abandoned }
        guard length <= transmitBuffer.count else {
            throw .frameTooLong(length: length, maximum: transmitBuffer.count)
        }
        let sent = takeover_pcap_inject(handle, transmitBuffer.baseAddress, length, errorBuffer.pointer)
        guard sent == length else {
            throw .libpcap(
                operation: "pcap_inject", message: sent < 0 ? errorBuffer.message : "sent \(sent) of \(length) bytes")
        }
        return .submitted(length: length)
    }

    public func flush() throws(PcapCaptureError) {}
}

extension Duration {
    /// Whole milliseconds for poll() and libpcap timeouts: rounded up, so a short wait is not a busy
    /// poll, and never negative, which poll would take as "wait forever".
    fileprivate var pollMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        return Int32(clamping: max(0, seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000))
    }
}

/// What libpcap's C callback needs; lives on the stack for one dispatch.
private struct DispatchContext {
    /// The caller's handler, of the type `invoker` was made for.
    let handler: UnsafeMutableRawPointer
    let invoker: any FrameHandlerInvoking.Type
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds, sampled once per batch (a step of the realtime
    /// clock between a frame's capture and its batch shifts that batch only).
    let realtimeOffset: Int64
}

/// Calls a handler whose type the (non-generic) C callback does not know, through an existential metatype.
private protocol FrameHandlerInvoking {
    static func invoke(_ handler: UnsafeMutableRawPointer, _ frame: ReceivedFrame)
}

private enum FrameHandlerInvocation<Handler: ReceivedFrameHandler & ~Copyable>: FrameHandlerInvoking {
    static func invoke(_ handler: UnsafeMutableRawPointer, _ frame: ReceivedFrame) {
        handler.assumingMemoryBound(to: Handler.self).pointee.handle(frame)
    }
}

/// A closure as a `ReceivedFrameHandler`, for the closure form of `receive`.
private struct ClosureFrameHandler: ReceivedFrameHandler {
    let body: (ReceivedFrame) -> Void
    func handle(_ frame: ReceivedFrame) { body(frame) }
}
