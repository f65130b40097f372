public import TakeoverCore

/// What the receive thread hands the tracker thread for one captured TCP or UDP frame: a plain value, copied
/// into the SPSC ring, holding only what the tracker reads (no pointer into the frame, whose buffer goes back
/// to the kernel when the batch ends).
public struct CaptureRecord: Sendable, BitwiseCopyable {
    public enum Transport: Sendable, BitwiseCopyable {
        case tcp(TCPSegment)
        /// UDP payload bytes carried in this frame (a first fragment carries only part of the datagram).
        case udp(payloadLength: UInt16)
    }

    /// The flow in the direction this frame travelled.
    public var flow: FlowKey
    public var transport: Transport
    /// When the backend received the frame (monotonic clock).
    public var timestamp: MonotonicTime
    public var flags: CaptureRecordFlags

    @inlinable
    public init(flow: FlowKey, transport: Transport, timestamp: MonotonicTime, flags: CaptureRecordFlags) {
        self.flow = flow
        self.transport = transport
        self.timestamp = timestamp
        self.flags = flags
    }
}

/// Facts about the frame a record came from.
public struct CaptureRecordFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Sent from the peer's MAC: the peer is alive (the failure detector's traffic signal).
    public static let fromPeer = CaptureRecordFlags(rawValue: 1 << 0)
    /// Addressed to the peer's MAC.
    public static let toPeer = CaptureRecordFlags(rawValue: 1 << 1)
    /// The backend kept fewer bytes than the frame had on the wire (snapshot length); headers were complete.
    public static let truncated = CaptureRecordFlags(rawValue: 1 << 2)
    /// An IP fragment (a first fragment: its transport header was read, its payload length covers this
    /// fragment only).
    public static let fragment = CaptureRecordFlags(rawValue: 1 << 3)
}

/// What the receive thread makes of one frame.
public enum FrameClassification: Sendable, BitwiseCopyable {
    /// A TCP segment or UDP datagram for the tracker.
    case record(CaptureRecord)
    /// A well-formed frame with nothing to track (ARP, ICMP, a later fragment, another protocol);
    /// `fromPeer` still feeds the liveness signal.
    case noFlow(fromPeer: Bool)
    /// A frame the parser refused.
    case malformed(MalformedFrameReason, fromPeer: Bool)

    /// Parses `frame` (no allocation) and classifies it; `peerMAC` marks frames from and to the peer.
    @inlinable
    public static func classify(_ frame: ReceivedFrame, peerMAC: MACAddress?) -> FrameClassification {
        let parsed: ParsedFrame
        do {
            parsed = try FrameParser.parse(frame.bytes)
        } catch {
            // The source MAC sits in bytes 6..<12 whatever else is wrong with the frame.
            let fromPeer =
                peerMAC != nil && frame.bytes.count >= 12
                && MACAddress(reading: frame.bytes, at: 6) == peerMAC
            return .malformed(MalformedFrameReason(error), fromPeer: fromPeer)
        }
        var flags: CaptureRecordFlags = []
        if let peerMAC {
            if parsed.source == peerMAC { flags.insert(.fromPeer) }
            if parsed.destination == peerMAC { flags.insert(.toPeer) }
        }
        if frame.isTruncated { flags.insert(.truncated) }
        guard let ip = parsed.ip else { return .noFlow(fromPeer: flags.contains(.fromPeer)) }
        if ip.isFragment { flags.insert(.fragment) }
        let transport: CaptureRecord.Transport
        let ports: (source: UInt16, destination: UInt16)
        switch parsed.transport {
        case .tcp(let tcp):
            transport = .tcp(tcp.segment)
            ports = (tcp.sourcePort, tcp.destinationPort)
        case .udp(let udp):
            transport = .udp(payloadLength: udp.payloadLength)
            ports = (udp.sourcePort, udp.destinationPort)
        default:
            return .noFlow(fromPeer: flags.contains(.fromPeer))
        }
        let flow = FlowKey(
            source: ip.source, destination: ip.destination, sourcePort: ports.source,
            destinationPort: ports.destination, protocolNumber: ip.protocolNumber)
        return .record(CaptureRecord(flow: flow, transport: transport, timestamp: frame.timestamp, flags: flags))
    }
}
