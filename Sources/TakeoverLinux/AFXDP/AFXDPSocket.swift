internal import CTakeoverBPF
#if canImport(Glibc)
import Glibc
#endif

/// One received frame, lent to a receive handler: a view into the UMEM, valid only during the handler call.
public struct AFXDPFrame: BitwiseCopyable {
    /// The frame, starting with the Ethernet header.
    public var bytes: UnsafeRawBufferPointer
    /// The descriptor's UMEM address of the first byte (frame base + kernel headroom), for diagnostics.
    public var umemAddress: UInt64
}

/// What became of one `transmit` call.
public enum AFXDPTransmitOutcome: Sendable, Equatable, BitwiseCopyable {
    /// The frame is in the TX ring; `flush()` makes it leave.
    case submitted(length: Int)
    /// No transmit frame or TX ring slot was free, even after a wake-up and reaping completions; the builder
    /// was not called. Counted in `transmitNoBuffer`.
    case noBufferAvailable
    /// The builder returned 0; its frame went back to the pool. Counted in `transmitAbandoned`.
    case abandoned
}

/// An AF_XDP socket bound to one queue of one interface: a UMEM of fixed-size frames, the fill, RX, TX and
/// completion rings (libxdp's xsk API), and the bookkeeping that keeps every frame in exactly one place.
///
/// ```
///              receive frames                                    transmit frames
///   free stack ──refill──► fill ring ──kernel──► RX ring    free stack ──build in place──► TX ring
///       ▲                                           │           ▲                             │ flush (sendto)
///       └──────── release after the handler ◄───────┘           └──── completion ring ◄───────┘ kernel sent it
/// ```
///
/// Receive lends frames to a handler without copying and hands them back to the fill ring after the batch;
/// transmit lends a free UMEM frame to a builder that writes the frame in place. Nothing allocates after
/// `init`. Frames the kernel could not deliver are counted by the kernel (`statistics().kernel`); frames a
/// caller could not send are counted here — no drop is silent.
///
/// The socket is bound with `XDP_USE_NEED_WAKEUP` (configurable): the kernel flags when it needs a system call
/// to make progress, so none is made otherwise; waiting for frames is a `poll` with a bounded timeout.
///
/// Not `Sendable`: one thread owns it. Receive touches only the fill/RX side and transmit only the TX/completion
/// side, so a receive handler may transmit (a responder answering an ARP request from inside the handler).
///
/// The socket lives in the network namespace of the thread that creates it.
public final class AFXDPSocket {
    public let interfaceName: String
    public let queue: UInt32
    public let configuration: AFXDPConfiguration
    public let ringSizes: AFXDPConfiguration.RingSizes
    /// The mode the kernel reports for the bound socket (XDP_OPTIONS).
    public let bindMode: AFXDPBindMode
    /// Why the socket is in copy mode (requested, or zero-copy refused with the errno), for the log; nil in
    /// zero-copy mode.
    public let copyModeReason: String?
    /// The socket's descriptor (what `XDPProgram.registerSocket` puts in the XSKMAP).
    public let fileDescriptor: Int32
    /// Whether each wait drives the NAPI itself (the configuration asked for busy polling and the kernel took it).
    public let busyPolling: Bool
    /// Why busy polling was asked for but is off (the option and errno the kernel refused), for the log.
    public let busyPollRefusal: String?

    /// Largest frame a transmit builder may write (its buffer's size).
    public var maximumFrameLength: Int { configuration.maximumTransmitLength }
    /// Largest frame the kernel can receive into one UMEM frame.
    public var maximumReceiveLength: Int { configuration.maximumReceiveLength }
    public var receives: Bool { configuration.receiveFrameCount > 0 }
    public var transmits: Bool { configuration.transmitFrameCount > 0 }

    private var handles: XSKHandles
    // Copies of the handles' pointers, valid while `isOpen`; every public entry point checks it first.
    private let umemArea: UnsafeMutableRawPointer
    private let fillRing: UnsafeMutablePointer<xsk_ring_prod>
    private let receiveRing: UnsafeMutablePointer<xsk_ring_cons>
    private let transmitRing: UnsafeMutablePointer<xsk_ring_prod>
    private let completionRing: UnsafeMutablePointer<xsk_ring_cons>
    /// Aligned mode: a descriptor's address with the low bits cleared is its frame's base.
    private let frameBaseMask: UInt64
    private var freeReceiveFrames: UMEMFrameStack
    private var freeTransmitFrames: UMEMFrameStack
    /// Descriptors of a transmit batch, built before the TX ring slots are reserved (so an abandoned frame
    /// never leaves a hole in the ring). Capacity: the transmit pool.
    private let transmitStaging: UnsafeMutablePointer<xdp_desc>
    private var counters = AFXDPStatistics()
    private var isOpen = true
    private var isReceiving = false

    // Ring loops count offsets in Int and add them to the free-running UInt32 ring index: a `for` over a
    // Range<UInt32> allocates in debug builds (its iterator is not specialized at -Onone); over Range<Int> it
    // does not, and in release neither does (measured with a uprobe on malloc).

    /// The kernel's copy-mode TX processes at most this many descriptors per wake-up (TX_BATCH_SIZE in
    /// net/xdp/xsk.c) and answers EAGAIN when more remain.
    private static let kernelTransmitBatch = 32

    /// Opens a socket on `queue` of `interfaceName`, hands every receive frame to the fill ring, and — when
    /// `program` is given and the socket receives — registers it in the program's socket map for `queue`, so
    /// the program's redirects arrive here. Create it on a thread in the interface's network namespace.
    ///
    /// The program redirects a frame to the socket registered for the RX queue the frame arrived on: on a
    /// multi-queue NIC open one socket per RX queue (each with its own UMEM), or reduce the NIC to one queue
    /// (`ethtool -L <interface> combined 1`). The lab's veths have one.
    ///
    /// No XDP program is loaded here (`XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD`): attach `XDPProgram` yourself.
    /// Zero-copy is tried first unless the configuration says otherwise; `bindMode` and `copyModeReason`
    /// say what was obtained. Throws `.insufficientPrivileges` without CAP_NET_RAW (use libpcap then),
    /// `.interfaceNotFound`, `.bindFailed` with the errno, `.memoryLockLimit`, `.invalidConfiguration`.
    public init(interface interfaceName: String, queue: UInt32 = 0,
                configuration: AFXDPConfiguration = AFXDPConfiguration(),
                program: XDPProgram? = nil) throws(AFXDPError) {
        let rings = try configuration.validated()
        do {
            _ = try XDPInterface.index(of: interfaceName)
        } catch {
            switch error {
            case .interfaceNotFound(let name): throw .interfaceNotFound(name)
            case .systemCall(let call): throw .systemCall(call)
            default: preconditionFailure("XDPInterface.index(of:) threw \(error)")  // it throws only the two above
            }
        }
        let frameSize = configuration.frameSize.rawValue
        let umemBytes = configuration.frameCount * frameSize

        var handles = XSKHandles()
        do {
            try handles.mapArea(bytes: umemBytes)
            try handles.createUMEM(xsk_umem_config(
                fill_size: UInt32(rings.fill), comp_size: UInt32(rings.completion), frame_size: UInt32(frameSize),
                frame_headroom: UInt32(configuration.frameHeadroom), flags: 0))
        } catch {
            throw AFXDPError.opening(error, umemBytes: umemBytes)
        }
        let (mode, reason) = try Self.bind(&handles, interface: interfaceName, queue: queue,
                                           configuration: configuration, rings: rings)
        var busyPollRefusal: String?
        if let busyPoll = configuration.busyPoll {
            do {
                try Self.applyBusyPoll(busyPoll, to: handles.fileDescriptor)
            } catch {
                busyPollRefusal = "busy polling refused by the kernel (\(error))" + Self.busyPollHint(errno: error.errno)
                    + "; receiving without it"
            }
        }
        self.busyPolling = configuration.busyPoll != nil && busyPollRefusal == nil
        self.busyPollRefusal = busyPollRefusal

        self.interfaceName = interfaceName
        self.queue = queue
        self.configuration = configuration
        self.ringSizes = rings
        self.bindMode = mode
        self.copyModeReason = reason
        self.fileDescriptor = handles.fileDescriptor
        self.umemArea = handles.area!
        self.fillRing = handles.fill
        self.receiveRing = handles.receive
        self.transmitRing = handles.transmit
        self.completionRing = handles.completion
        self.handles = handles
        self.frameBaseMask = ~UInt64(frameSize - 1)
        let receiveFrames = configuration.receiveFrameCount
        self.freeReceiveFrames = UMEMFrameStack(frames: 0..<receiveFrames, frameSize: frameSize)
        self.freeTransmitFrames = UMEMFrameStack(frames: receiveFrames..<configuration.frameCount, frameSize: frameSize)
        self.transmitStaging = .allocate(capacity: max(configuration.transmitFrameCount, 1))

        // Frames in the fill ring before the program can redirect here, so the first frames are not dropped.
        guard receives else { return }
        do {
            try refillFillRing()
        } catch {
            close()
            throw error
        }
        do {
            try program?.registerSocket(fileDescriptor: fileDescriptor, queue: queue)
        } catch {
            close()
            throw .registrationFailed(error)
        }
    }

    /// Binds with the preferred flags; falls back from zero-copy to copy mode when allowed, keeping the reason.
    private static func bind(_ handles: inout XSKHandles, interface: String, queue: UInt32,
                             configuration: AFXDPConfiguration,
                             rings: AFXDPConfiguration.RingSizes) throws(AFXDPError) -> (AFXDPBindMode, String?) {
        var socketConfig = xsk_socket_config()
        socketConfig.rx_size = configuration.receiveFrameCount > 0 ? UInt32(rings.receive) : 0
        socketConfig.tx_size = configuration.transmitFrameCount > 0 ? UInt32(rings.transmit) : 0
        socketConfig.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
        let wakeup = configuration.useNeedWakeup ? UInt16(XDP_USE_NEED_WAKEUP) : 0

        func attempt(_ modeFlag: Int32) throws(SystemCallError) {
            socketConfig.bind_flags = UInt16(modeFlag) | wakeup
            try handles.createSocket(interface: interface, queue: queue,
                                     receive: configuration.receiveFrameCount > 0,
                                     transmit: configuration.transmitFrameCount > 0, config: socketConfig)
        }
        func classify(_ error: SystemCallError) -> AFXDPError {
            switch error.errno {
            case EPERM, EACCES: .insufficientPrivileges(error)
            case ENODEV: .interfaceNotFound(interface)
            default: .bindFailed(interface: interface, queue: queue, error)
            }
        }

        var reason: String?
        switch configuration.bindPreference {
        case .copyOnly:
            do { try attempt(XDP_COPY) } catch { throw classify(error) }
            reason = "copy mode requested by the configuration"
        case .zeroCopyOnly:
            do { try attempt(XDP_ZEROCOPY) } catch { throw classify(error) }
        case .zeroCopyWithCopyFallback:
            do {
                try attempt(XDP_ZEROCOPY)
            } catch where error.errno == EPERM || error.errno == EACCES || error.errno == EBUSY
                || error.errno == ENODEV {
                throw classify(error)  // copy mode would fail the same way
            } catch {
                do { try attempt(XDP_COPY) } catch { throw classify(error) }
                reason = "zero-copy refused by \(interface) (\(error)); using copy mode"
            }
        }

        // Read the mode back rather than trusting the request.
        var options = xdp_options()
        var length = socklen_t(MemoryLayout<xdp_options>.size)
        let descriptor = handles.fileDescriptor
        do {
            try systemCall("getsockopt(XDP_OPTIONS)") {
                getsockopt(descriptor, SOL_XDP, XDP_OPTIONS, &options, &length)
            }
        } catch {
            throw .systemCall(error)
        }
        let mode: AFXDPBindMode = options.flags & UInt32(XDP_OPTIONS_ZEROCOPY) != 0 ? .zeroCopy : .copy
        return (mode, mode == .copy ? reason ?? "the kernel bound the socket in copy mode" : nil)
    }

    /// Sets the three busy-poll options; on a refusal turns back off the ones already set (so the socket is
    /// plainly without busy polling) and throws the refused call.
    private static func applyBusyPoll(_ busyPoll: AFXDPConfiguration.BusyPoll,
                                      to descriptor: Int32) throws(SystemCallError) {
        func set(_ option: Int32, _ name: String, _ value: Int32) throws(SystemCallError) {
            var value = value
            try systemCall("setsockopt(\(name) = \(value))") {
                setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        do {
            try set(SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL", 1)
            try set(SO_BUSY_POLL, "SO_BUSY_POLL", Int32(busyPoll.microseconds))
            try set(SO_BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET", Int32(busyPoll.budget))
        } catch {
            // Lowering needs no capability; a kernel that refused setting an option left it at 0 anyway.
            try? set(SO_BUSY_POLL, "SO_BUSY_POLL", 0)
            try? set(SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL", 0)
            throw error
        }
    }

    private static func busyPollHint(errno: Int32) -> String {
        switch errno {
        case EPERM: " — setting busy-poll options needs CAP_NET_ADMIN"
        case ENOPROTOOPT: " — the kernel is older than 5.11 or built without CONFIG_NET_RX_BUSY_POLL"
        default: ""
        }
    }

    /// The busy-poll time (SO_BUSY_POLL, µs) the kernel holds for this socket now, read back with getsockopt;
    /// nil when it is 0 or SO_PREFER_BUSY_POLL is off. (The budget cannot be read back: getsockopt has no
    /// SO_BUSY_POLL_BUDGET — ENOPROTOOPT on 6.18.)
    public func busyPollMicroseconds() throws(AFXDPError) -> Int? {
        guard isOpen else { throw .closed }
        let descriptor = fileDescriptor
        func get(_ option: Int32, _ name: String) throws(AFXDPError) -> Int32 {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            do {
                try systemCall("getsockopt(\(name))") { getsockopt(descriptor, SOL_SOCKET, option, &value, &length) }
            } catch {
                throw .systemCall(error)
            }
            return value
        }
        let prefer = try get(SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL")
        let microseconds = try get(SO_BUSY_POLL, "SO_BUSY_POLL")
        return prefer != 0 && microseconds > 0 ? Int(microseconds) : nil
    }

    deinit {
        close()
        transmitStaging.deallocate()
    }

    /// Unbinds the socket (the kernel also drops it from the XSKMAP) and frees the UMEM. Idempotent; every
    /// later call throws `.closed`. Must not be called from inside a receive handler.
    public func close() {
        precondition(!isReceiving, "close() from inside a receive handler")
        guard isOpen else { return }
        isOpen = false
        handles.close()
    }

    // MARK: Receive

    /// Waits until frames are in the RX ring or `timeout` passes (one `poll`, never longer); true if frames are
    /// ready. The fill ring is topped up first, so the kernel has frames to receive into while we sleep.
    public func waitForFrames(timeout: Duration) throws(AFXDPError) -> Bool {
        guard isOpen else { throw .closed }
        guard receives else { return false }
        try refillFillRing()
        if xsk_cons_nb_avail(receiveRing, 1) > 0 { return true }
        if busyPolling {
            // One NAPI poll of up to the budget's frames on this thread: the frames land in the UMEM from the
            // core that reads them next. Nothing yet → the ordinary wait below (busy polling never spins idle).
            try busyPollOnce()
            if xsk_cons_nb_avail(receiveRing, 1) > 0 { return true }
        }
        var waiter = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Self.milliseconds(timeout)
        let ready: Int32
        counters.receivePolls &+= 1
        do {
            ready = try systemCall("poll(AF_XDP \(interfaceName) queue \(queue))") { poll(&waiter, 1, milliseconds) }
        } catch {
            throw .systemCall(error)
        }
        if ready == 0 { try checkStillBound() }
        return xsk_cons_nb_avail(receiveRing, 1) > 0
    }

    /// A non-blocking `recvfrom`: on a busy-polling socket the kernel runs the interface's NAPI once from here.
    private func busyPollOnce() throws(AFXDPError) {
        counters.busyPolls &+= 1
        let descriptor = fileDescriptor
        do {
            _ = try nonBlockingSystemCall("recvfrom(AF_XDP \(interfaceName) queue \(queue) busy poll)") {
                recvfrom(descriptor, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
            }
        } catch where error.errno == ENETDOWN || error.errno == ENXIO {
            throw .unbound(interface: interfaceName, queue: queue, error)
        } catch {
            throw .systemCall(error)
        }
    }

    /// An unbound socket polls as "nothing yet" forever, so a quiet timeout asks whether the kernel unbound it
    /// (the interface was unregistered: the kernel leaves ENETDOWN in SO_ERROR). Costs a call only when idle.
    private func checkStillBound() throws(AFXDPError) {
        var pending: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let descriptor = fileDescriptor
        do {
            try systemCall("getsockopt(SO_ERROR)") { getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &pending, &length) }
        } catch {
            throw .systemCall(error)
        }
        if pending != 0 {
            throw .unbound(interface: interfaceName, queue: queue, SystemCallError("AF_XDP socket", errno: pending))
        }
    }

    /// Lends up to `limit` frames that are ready now, in arrival order, to `handler` — views into the UMEM,
    /// no copy — then returns them all to the fill ring. Never waits. Returns how many were handled.
    ///
    /// A frame's bytes are valid only during its handler call. The handler may transmit, but must not call
    /// `receive` or `close`.
    @discardableResult
    public func receive(limit: Int, _ handler: (AFXDPFrame) -> Void) throws(AFXDPError) -> Int {
        guard isOpen else { throw .closed }
        precondition(!isReceiving, "receive(limit:_:) called from inside its own handler")
        guard receives, limit > 0 else { return 0 }
        var first: UInt32 = 0
        let count = xsk_ring_cons__peek(receiveRing, UInt32(clamping: limit), &first)
        if count > 0 {
            isReceiving = true
            var bytes: UInt64 = 0
            for offset in 0..<Int(count) {
                let descriptor = xsk_ring_cons__rx_desc(receiveRing, first &+ UInt32(truncatingIfNeeded: offset)).pointee
                let frame = AFXDPFrame(
                    bytes: UnsafeRawBufferPointer(start: umemArea + Int(descriptor.addr), count: Int(descriptor.len)),
                    umemAddress: descriptor.addr)
                handler(frame)
                bytes &+= UInt64(descriptor.len)
                freeReceiveFrames.push(descriptor.addr & frameBaseMask)
            }
            // Every descriptor has been read and its frame is back on our free stack: the kernel may reuse the slots.
            xsk_ring_cons__release(receiveRing, count)
            isReceiving = false
            counters.receivedFrames &+= UInt64(count)
            counters.receivedBytes &+= bytes
        }
        try refillFillRing()
        return Int(count)
    }

    /// Moves every free receive frame into the fill ring (as many as it has room for), in one reserve/submit,
    /// then wakes the driver if it asked for it (zero-copy drivers sleep when the fill ring ran dry).
    private func refillFillRing() throws(AFXDPError) {
        let free = freeReceiveFrames.count
        if free > 0 {
            let room = Int(xsk_prod_nb_free(fillRing, UInt32(free)))
            let count = UInt32(min(free, room))
            var first: UInt32 = 0
            if count > 0, xsk_ring_prod__reserve(fillRing, count, &first) == count {
                for offset in 0..<Int(count) {
                    xsk_ring_prod__fill_addr(fillRing, first &+ UInt32(truncatingIfNeeded: offset)).pointee =
                        freeReceiveFrames.pop()
                }
                xsk_ring_prod__submit(fillRing, count)
            }
        }
        if configuration.useNeedWakeup, xsk_ring_prod__needs_wakeup(fillRing) != 0 {
            counters.fillWakeups &+= 1
            let descriptor = fileDescriptor
            do {
                _ = try nonBlockingSystemCall("recvfrom(AF_XDP wake-up)") {
                    recvfrom(descriptor, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
                }
            } catch {
                throw .systemCall(error)
            }
        }
    }

    // MARK: Transmit

    /// Lends a free transmit frame (`maximumFrameLength` bytes) to `build`, which writes one frame in place from
    /// offset 0 and returns its length (0 abandons it; a negative length or one above the buffer's size throws
    /// `.invalidFrameLength`), then queues it in the TX ring. `flush()` sends it.
    ///
    /// When no frame is free, completions are reaped (after a wake-up, if the kernel wants one) and the call
    /// retries once; if still none, it returns `.noBufferAvailable` without calling `build`.
    public func transmit(_ build: (UnsafeMutableRawBufferPointer) -> Int) throws(AFXDPError) -> AFXDPTransmitOutcome {
        var length = 0
        let batch = try transmitBatch(count: 1) { _, buffer in
            length = build(buffer)
            return length
        }
        if batch.refused == 1 { return .noBufferAvailable }
        return batch.queued == 1 ? .submitted(length: length) : .abandoned
    }

    /// Builds up to `count` frames in place — `build(i, buffer)` for the i-th, returning its length, 0 to
    /// abandon — and queues them in the TX ring with one reserve/submit. Returns how many were queued. A length
    /// outside 0...maximumFrameLength throws `.invalidFrameLength` and queues nothing of the batch. Frames
    /// beyond the free transmit frames are not built and are counted in `transmitNoBuffer`. `flush()` sends.
    @discardableResult
    public func transmit(count: Int, _ build: (Int, UnsafeMutableRawBufferPointer) -> Int) throws(AFXDPError) -> Int {
        try transmitBatch(count: count, build).queued
    }

    /// How a transmit batch went: frames queued, and frames refused for want of a buffer (not built).
    private struct TransmitBatch {
        var queued = 0
        var refused = 0
    }

    private func transmitBatch(count: Int, _ build: (Int, UnsafeMutableRawBufferPointer) -> Int) throws(AFXDPError) -> TransmitBatch {
        guard isOpen else { throw .closed }
        guard transmits else { throw .invalidConfiguration("socket has no transmit frames (transmitFrameCount 0)") }
        guard count > 0 else { return TransmitBatch() }
        reapCompletions()
        var available = transmitCapacity(wanted: count)
        if available < count {
            try kickTransmit()
            reapCompletions()
            available = transmitCapacity(wanted: count)
        }
        let refused = count - available
        counters.transmitNoBuffer &+= UInt64(refused)

        var built = 0
        var bytes: UInt64 = 0
        let capacity = maximumFrameLength
        for index in 0..<available {
            let address = freeTransmitFrames.pop()
            let buffer = UnsafeMutableRawBufferPointer(start: umemArea + Int(address), count: capacity)
            let length = build(index, buffer)
            guard (0...capacity).contains(length) else {
                // A builder bug: nothing of this batch is sent, every frame it took goes back.
                freeTransmitFrames.push(address)
                for staged in 0..<built { freeTransmitFrames.push(transmitStaging[staged].addr) }
                throw .invalidFrameLength(length, capacity: capacity)
            }
            guard length > 0 else {
                freeTransmitFrames.push(address)
                counters.transmitAbandoned &+= 1
                continue
            }
            transmitStaging[built] = xdp_desc(addr: address, len: UInt32(length), options: 0)
            built += 1
            bytes &+= UInt64(length)
        }
        guard built > 0 else { return TransmitBatch(queued: 0, refused: refused) }
        var first: UInt32 = 0
        // Cannot fall short: `transmitCapacity` counted the ring's free slots and only we produce.
        let reserved = xsk_ring_prod__reserve(transmitRing, UInt32(built), &first)
        precondition(reserved == UInt32(built), "TX ring lost free slots between count and reserve")
        for offset in 0..<built {
            xsk_ring_prod__tx_desc(transmitRing, first &+ UInt32(offset)).pointee = transmitStaging[offset]
        }
        xsk_ring_prod__submit(transmitRing, UInt32(built))
        counters.transmitSubmitted &+= UInt64(built)
        counters.transmitSubmittedBytes &+= bytes
        return TransmitBatch(queued: built, refused: refused)
    }

    /// Makes every queued frame go out: wakes the kernel with `sendto` when it asks for it (always, in copy
    /// mode, where the sending happens inside that call), repeating while it reports more to do — bounded by
    /// the number of queued frames — and reaps completions.
    public func flush() throws(AFXDPError) {
        guard isOpen else { throw .closed }
        guard transmits else { return }
        try kickTransmit()
        reapCompletions()
    }

    /// Frames still in the TX ring (submitted, not yet taken by the kernel).
    private var queuedTransmitFrames: Int {
        ringSizes.transmit - Int(xsk_prod_nb_free(transmitRing, UInt32(ringSizes.transmit)))
    }

    private func transmitCapacity(wanted: Int) -> Int {
        let ringRoom = Int(xsk_prod_nb_free(transmitRing, UInt32(clamping: wanted)))
        return min(wanted, freeTransmitFrames.count, ringRoom)
    }

    private func kickTransmit() throws(AFXDPError) {
        var queued = queuedTransmitFrames
        guard queued > 0 else { return }
        // Each wake-up sends up to kernelTransmitBatch frames in copy mode; two spare rounds for EAGAIN on a busy
        // device. A zero-copy driver returns at once and sends asynchronously.
        var rounds = queued / Self.kernelTransmitBatch + 2
        let descriptor = fileDescriptor
        while rounds > 0, queued > 0 {
            rounds -= 1
            if configuration.useNeedWakeup, xsk_ring_prod__needs_wakeup(transmitRing) == 0 { return }
            counters.transmitKicks &+= 1
            do {
                let result = try nonBlockingSystemCall("sendto(AF_XDP \(interfaceName) queue \(queue) TX wake-up)") {
                    sendto(descriptor, nil, 0, Int32(MSG_DONTWAIT), nil, 0)
                }
                if case .done = result, bindMode == .zeroCopy { return }
            } catch where error.errno == EBUSY {
                // Copy mode: the device dropped the frame (NET_XMIT_DROP); it is completed, not sent.
                counters.transmitDroppedByDevice &+= 1
            } catch where error.errno == ENOBUFS {
                // The completion ring is full: reap it and go on.
            } catch where error.errno == ENXIO {
                throw .unbound(interface: interfaceName, queue: queue, error)
            } catch where error.errno == ENETDOWN {
                throw .interfaceDown(interface: interfaceName, error)
            } catch {
                throw .systemCall(error)
            }
            reapCompletions()
            queued = queuedTransmitFrames
        }
    }

    /// Returns completed transmit frames to the free stack.
    private func reapCompletions() {
        var first: UInt32 = 0
        let count = xsk_ring_cons__peek(completionRing, UInt32(ringSizes.completion), &first)
        guard count > 0 else { return }
        for offset in 0..<Int(count) {
            let index = first &+ UInt32(truncatingIfNeeded: offset)
            freeTransmitFrames.push(xsk_ring_cons__comp_addr(completionRing, index).pointee & frameBaseMask)
        }
        xsk_ring_cons__release(completionRing, count)
        counters.transmitCompleted &+= UInt64(count)
    }

    // MARK: Statistics

    /// The kernel's counters (XDP_STATISTICS) with ours and where the frames are. Reaps completions first.
    public func statistics() throws(AFXDPError) -> AFXDPStatistics {
        guard isOpen else { throw .closed }
        if transmits { reapCompletions() }
        var kernel = xdp_statistics()
        var length = socklen_t(MemoryLayout<xdp_statistics>.size)
        let descriptor = fileDescriptor
        do {
            try systemCall("getsockopt(XDP_STATISTICS)") {
                getsockopt(descriptor, SOL_XDP, XDP_STATISTICS, &kernel, &length)
            }
        } catch {
            throw .systemCall(error)
        }
        var statistics = counters
        statistics.kernel = AFXDPKernelStatistics(
            receiveDropped: kernel.rx_dropped, receiveInvalidDescriptors: kernel.rx_invalid_descs,
            transmitInvalidDescriptors: kernel.tx_invalid_descs, receiveRingFull: kernel.rx_ring_full,
            fillRingEmpty: kernel.rx_fill_ring_empty_descs, transmitRingEmpty: kernel.tx_ring_empty_descs)
        statistics.receiveFramesFree = freeReceiveFrames.count
        statistics.receiveFramesWithKernel = configuration.receiveFrameCount - freeReceiveFrames.count
        statistics.transmitFramesFree = freeTransmitFrames.count
        statistics.transmitFramesInFlight = configuration.transmitFrameCount - freeTransmitFrames.count
        return statistics
    }

    // MARK: Helpers

    /// A poll timeout: rounded up to whole milliseconds (a positive timeout never becomes a busy 0), clamped.
    static func milliseconds(_ duration: Duration) -> Int32 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        let whole = seconds.multipliedReportingOverflow(by: 1000)
        if whole.overflow || whole.partialValue >= Int64(Int32.max) { return Int32.max }
        let fraction = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: whole.partialValue + fraction)
    }
}
