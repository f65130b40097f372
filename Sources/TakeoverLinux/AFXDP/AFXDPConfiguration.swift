/// The shape of an AF_XDP socket: how many UMEM frames, how large, how they split between receive and transmit,
/// the ring sizes, and the bind mode to ask for.
///
/// Receive and transmit frames are separate pools, so a transmit burst can never take the frames the kernel
/// needs to keep receiving, and a receive flood can never starve the responder's transmit.
///
/// Ring sizes left `nil` are derived: the smallest power of two that holds every frame of the pool the ring
/// serves. A fill ring that holds all receive frames can always take back every released frame at once,
/// which is what keeps it topped up and receive drops away.
public struct AFXDPConfiguration: Sendable, Equatable {
    /// UMEM frame ("chunk") size. Aligned mode allows powers of two from 2048 to the page size.
    public enum FrameSize: Int, Sendable, CaseIterable {
        case bytes2048 = 2048
        case bytes4096 = 4096
    }

    /// Which bind mode to ask for.
    public enum BindPreference: Sendable, Equatable {
        /// Zero-copy where the driver supports it; copy mode otherwise (the reason is reported).
        case zeroCopyWithCopyFallback
        /// Zero-copy or fail (to prove a NIC's support).
        case zeroCopyOnly
        /// Copy mode: the kernel copies frames between its buffers and the UMEM.
        case copyOnly
    }

    /// The busy-poll socket options. Setting them needs CAP_NET_ADMIN (SO_PREFER_BUSY_POLL always, the other
    /// two when raised); without it the kernel answers EPERM and the socket runs without busy polling.
    public struct BusyPoll: Sendable, Equatable {
        /// SO_BUSY_POLL: how long one busy-poll call may spin on the NAPI for frames, µs (> 0).
        public var microseconds: Int
        /// SO_BUSY_POLL_BUDGET: frames one NAPI poll may process (1...65535).
        public var budget: Int

        public init(microseconds: Int = 20, budget: Int = 64) {
            self.microseconds = microseconds
            self.budget = budget
        }
    }

    public var frameSize: FrameSize
    /// Frames in the UMEM, receive and transmit pools together.
    public var frameCount: Int
    /// How many of the frames are transmit frames; the rest receive. 0 makes a receive-only socket (no TX ring).
    public var transmitFrameCount: Int
    /// Headroom the kernel leaves before each received frame (besides its own XDP_PACKET_HEADROOM).
    public var frameHeadroom: Int
    public var bindPreference: BindPreference
    /// Busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET; kernel ≥ 5.11): each wait first
    /// drives the interface's NAPI from the receiving thread, so the kernel's copy into the UMEM happens on the
    /// core that then reads the frame. nil: the kernel's NAPI (softirq or kthread) alone fills the RX ring.
    /// A kernel that refuses the options leaves the socket working without them (`AFXDPSocket.busyPollRefusal`).
    public var busyPoll: BusyPoll?
    /// XDP_USE_NEED_WAKEUP: the kernel says when it needs a wake-up call, so none is made when it does not.
    public var useNeedWakeup: Bool
    /// Ring sizes (powers of two); nil derives them from the pool sizes as described above.
    public var fillRingSize: Int?
    public var receiveRingSize: Int?
    public var transmitRingSize: Int?
    public var completionRingSize: Int?

    /// Defaults for a monitor socket on a 2-core machine: 4096 frames of 2048 bytes (8 MiB), an eighth of
    /// them (512) for transmit unless `transmitFrameCount` says otherwise; a 4096-entry fill ring, so the kernel
    /// always has every receive frame to write into.
    public init(frameSize: FrameSize = .bytes2048, frameCount: Int = 4096, transmitFrameCount: Int? = nil,
                frameHeadroom: Int = 0, bindPreference: BindPreference = .zeroCopyWithCopyFallback,
                useNeedWakeup: Bool = true, busyPoll: BusyPoll? = nil, fillRingSize: Int? = nil, receiveRingSize: Int? = nil,
                transmitRingSize: Int? = nil, completionRingSize: Int? = nil) {
        self.frameSize = frameSize
        self.frameCount = frameCount
        self.transmitFrameCount = transmitFrameCount ?? frameCount / 8
        self.frameHeadroom = frameHeadroom
        self.bindPreference = bindPreference
        self.useNeedWakeup = useNeedWakeup
        self.busyPoll = busyPoll
        self.fillRingSize = fillRingSize
        self.receiveRingSize = receiveRingSize
        self.transmitRingSize = transmitRingSize
        self.completionRingSize = completionRingSize
    }

    public var receiveFrameCount: Int { frameCount - transmitFrameCount }

    /// The ring sizes actually used (explicit or derived).
    public struct RingSizes: Sendable, Equatable {
        public var fill: Int
        public var receive: Int
        public var transmit: Int
        public var completion: Int

        public init(fill: Int, receive: Int, transmit: Int, completion: Int) {
            self.fill = fill
            self.receive = receive
            self.transmit = transmit
            self.completion = completion
        }
    }

    /// The kernel's own headroom in front of every received frame (XDP_PACKET_HEADROOM in linux/bpf.h), which
    /// copy mode and zero-copy drivers alike leave free.
    public static let kernelReceiveHeadroom = 256

    /// Largest frame the kernel can receive into one UMEM frame; longer frames are dropped (and counted).
    public var maximumReceiveLength: Int { frameSize.rawValue - Self.kernelReceiveHeadroom - frameHeadroom }

    /// Largest frame a transmit frame holds (a transmit descriptor may use the whole UMEM frame).
    public var maximumTransmitLength: Int { frameSize.rawValue }

    /// Checks the configuration and returns the ring sizes, or says what is wrong.
    public func validated() throws(AFXDPError) -> RingSizes {
        func invalid(_ reason: String) -> AFXDPError { .invalidConfiguration(reason) }
        guard frameCount > 0 else { throw invalid("frameCount must be positive (is \(frameCount))") }
        // UMEM addresses are 64-bit, but a descriptor's frame address must also fit the kernel's u32 chunk count.
        guard frameCount <= 1 << 24 else { throw invalid("frameCount \(frameCount) exceeds \(1 << 24)") }
        guard (0...frameCount).contains(transmitFrameCount) else {
            throw invalid("transmitFrameCount \(transmitFrameCount) is not within 0...frameCount (\(frameCount))")
        }
        guard frameHeadroom >= 0, maximumReceiveLength >= 64 else {
            throw invalid("frameHeadroom \(frameHeadroom) leaves no room for a frame in \(frameSize.rawValue)-byte frames")
        }
        if let busyPoll {
            guard busyPoll.microseconds > 0, busyPoll.microseconds <= Int(Int32.max) else {
                throw invalid("busy-poll time \(busyPoll.microseconds) µs is not positive")
            }
            guard (1...Int(UInt16.max)).contains(busyPoll.budget) else {
                throw invalid("busy-poll budget \(busyPoll.budget) is not within 1...\(UInt16.max)")
            }
        }
        let sizes = RingSizes(
            fill: fillRingSize ?? Self.ringSize(holding: receiveFrameCount),
            receive: receiveRingSize ?? Self.ringSize(holding: receiveFrameCount),
            transmit: transmitRingSize ?? Self.ringSize(holding: transmitFrameCount),
            completion: completionRingSize ?? Self.ringSize(holding: transmitFrameCount))
        for (name, size) in [("fill", sizes.fill), ("receive", sizes.receive), ("transmit", sizes.transmit),
                             ("completion", sizes.completion)] {
            guard size > 0, size <= Self.maximumRingSize, size & (size - 1) == 0 else {
                throw invalid("\(name) ring size \(size) is not a power of two in 1...\(Self.maximumRingSize)")
            }
        }
        return sizes
    }

    static let maximumRingSize = 1 << 20

    /// The smallest power of two ≥ `frames` (at least 64: the kernel needs fill and completion rings even
    /// for a pool that is empty, and tiny rings buy nothing).
    static func ringSize(holding frames: Int) -> Int {
        var size = 64
        while size < frames { size <<= 1 }
        return size
    }
}

/// How the socket ended up bound (read back from the kernel with XDP_OPTIONS, not assumed from the request).
public enum AFXDPBindMode: Sendable, Equatable, CustomStringConvertible {
    /// The driver DMAs straight into the UMEM.
    case zeroCopy
    /// The kernel copies each frame between its own buffers and the UMEM (veth, generic XDP, most virtual NICs).
    case copy

    public var description: String {
        switch self {
        case .zeroCopy: "zero-copy"
        case .copy: "copy"
        }
    }
}
