internal import CTakeoverBPF

/// What the XDP program does with frames; the value userspace flips in the mode map without reloading.
public enum XDPMode: Sendable, CaseIterable, CustomStringConvertible {
    /// Every frame passes.
    case off
    /// Frames to the peer's MAC, and the peer's frames to other hosts, go to the AF_XDP socket.
    case monitor
    /// Frames to the peer's MAC are rewritten to our MAC and pass; ARP/ND for watched addresses go to the socket.
    case takeover

    public var description: String {
        switch self {
        case .off: "off"
        case .monitor: "monitor"
        case .takeover: "takeover"
        }
    }
}

// Values come from the shared header (the one source), never restated here.
extension XDPMode {
    /// The value stored in the mode map (`enum takeover_xdp_mode`).
    var mapValue: UInt32 {
        switch self {
        case .off: TAKEOVER_XDP_MODE_OFF.rawValue
        case .monitor: TAKEOVER_XDP_MODE_MONITOR.rawValue
        case .takeover: TAKEOVER_XDP_MODE_TAKEOVER.rawValue
        }
    }

    init?(mapValue: UInt32) {
        guard let mode = XDPMode.allCases.first(where: { $0.mapValue == mapValue }) else { return nil }
        self = mode
    }
}

/// An XDP program's return value (`enum xdp_action`).
public enum XDPVerdict: UInt32, Sendable, CustomStringConvertible {
    case aborted = 0, drop, pass, transmit, redirect

    public var description: String {
        switch self {
        case .aborted: "XDP_ABORTED"
        case .drop: "XDP_DROP"
        case .pass: "XDP_PASS"
        case .transmit: "XDP_TX"
        case .redirect: "XDP_REDIRECT"
        }
    }
}

/// What happened to one frame; each frame increments exactly one per-CPU counter slot.
public enum XDPOutcome: Sendable, CaseIterable, CustomStringConvertible {
    /// Mode off: passed untouched.
    case passedOff
    /// Not selected by the current mode: passed untouched.
    case passedUnrelated
    /// Too short for the headers the decision needs: passed untouched, never redirected.
    case passedMalformed
    /// Monitor: redirected to the AF_XDP socket.
    case monitorRedirected
    /// Monitor: selected, but no AF_XDP socket on the RX queue, so passed.
    case monitorNoSocket
    /// Takeover: destination rewritten from the peer's MAC to ours, passed to the stack.
    case takeoverRewritten
    /// Takeover: ARP request / neighbour solicitation for a watched address redirected to the socket.
    case neighborRedirected
    /// Takeover: as `neighborRedirected`, but no socket on the RX queue, so passed.
    case neighborNoSocket

    /// The counter map slot (`enum takeover_xdp_counter`).
    var slot: Int {
        let value = switch self {
        case .passedOff: TAKEOVER_XDP_COUNT_PASS_OFF
        case .passedUnrelated: TAKEOVER_XDP_COUNT_PASS_UNRELATED
        case .passedMalformed: TAKEOVER_XDP_COUNT_PASS_MALFORMED
        case .monitorRedirected: TAKEOVER_XDP_COUNT_MONITOR_REDIRECT
        case .monitorNoSocket: TAKEOVER_XDP_COUNT_MONITOR_NO_SOCKET
        case .takeoverRewritten: TAKEOVER_XDP_COUNT_TAKEOVER_REWRITE
        case .neighborRedirected: TAKEOVER_XDP_COUNT_NEIGHBOR_REDIRECT
        case .neighborNoSocket: TAKEOVER_XDP_COUNT_NEIGHBOR_NO_SOCKET
        }
        return Int(value.rawValue)
    }

    static let slotCount = Int(TAKEOVER_XDP_COUNTER_SLOTS.rawValue)

    public var description: String {
        switch self {
        case .passedOff: "passed (off)"
        case .passedUnrelated: "passed (unrelated)"
        case .passedMalformed: "passed (malformed)"
        case .monitorRedirected: "monitor → socket"
        case .monitorNoSocket: "monitor, no socket → passed"
        case .takeoverRewritten: "takeover rewrite → stack"
        case .neighborRedirected: "ARP/ND → socket"
        case .neighborNoSocket: "ARP/ND, no socket → passed"
        }
    }
}

/// Packets and bytes counted in one outcome slot, summed over CPUs.
public struct XDPCount: Sendable, Equatable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// A snapshot of all outcome counters, summed over CPUs.
public struct XDPCounters: Sendable, Equatable, CustomStringConvertible {
    private var slots: [XDPCount]

    init(slots: [XDPCount]) {
        precondition(slots.count == XDPOutcome.slotCount)
        self.slots = slots
    }

    public subscript(outcome: XDPOutcome) -> XDPCount { slots[outcome.slot] }

    public var totalPackets: UInt64 { slots.reduce(0) { $0 + $1.packets } }

    /// Counts since `earlier` (counters only grow while the program is loaded).
    public func since(_ earlier: XDPCounters) -> XDPCounters {
        XDPCounters(slots: zip(slots, earlier.slots).map {
            XDPCount(packets: $0.packets &- $1.packets, bytes: $0.bytes &- $1.bytes)
        })
    }

    public var description: String {
        XDPOutcome.allCases.filter { self[$0].packets != 0 }.map { "\($0): \(self[$0].packets)" }
            .joined(separator: ", ")
    }
}

/// How an XDP program is attached to an interface.
public enum XDPAttachMode: Sendable, Equatable, CustomStringConvertible {
    /// In the driver (XDP_FLAGS_DRV_MODE): before an skb exists.
    case native
    /// In the generic hook (XDP_FLAGS_SKB_MODE): after the skb is built; works on any interface, slower.
    case generic
    /// Offloaded to the NIC (only ever seen on other programs, never chosen by this loader).
    case offloaded

    var flags: UInt32 {
        switch self {
        case .native: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        case .offloaded: UInt32(XDP_FLAGS_HW_MODE)
        }
    }

    public var description: String {
        switch self {
        case .native: "native (driver)"
        case .generic: "generic (SKB)"
        case .offloaded: "offloaded (hardware)"
        }
    }
}

/// Which attach modes the loader may use.
public enum XDPAttachPreference: Sendable {
    /// Native, and generic when the driver cannot take the program natively (the reason is reported).
    case nativeWithGenericFallback
    case nativeOnly
    case genericOnly

    var modes: [XDPAttachMode] {
        switch self {
        case .nativeWithGenericFallback: [.native, .generic]
        case .nativeOnly: [.native]
        case .genericOnly: [.generic]
        }
    }
}

/// One program found attached to an interface (`bpf_xdp_query` + `bpf_obj_get_info_by_fd`).
public struct XDPAttachedProgram: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    public var mode: XDPAttachMode

    public init(id: UInt32, name: String, mode: XDPAttachMode) {
        self.id = id
        self.name = name
        self.mode = mode
    }

    /// Whether it is this project's program (recognised by name), e.g. one left by a crashed run.
    public var isTakeover: Bool { name == XDPProgram.programName }
}

/// The result of running the program once on a frame with BPF_PROG_TEST_RUN.
public struct XDPTestRun: Sendable, Equatable {
    /// The raw return value (an unknown value would be kept here while `verdict` is nil).
    public var returnValue: UInt32
    public var verdict: XDPVerdict? { XDPVerdict(rawValue: returnValue) }
    /// The frame as the program left it.
    public var output: [UInt8]
}
