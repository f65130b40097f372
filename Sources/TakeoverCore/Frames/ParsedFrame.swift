// What the engine's hot path gets from one frame: a plain value (no references, no arrays) that holds every
// field the tracker and the responder act on, and offsets into the frame for anything they rewrite in place.
// Offsets fit `UInt16`: an L2 header is at most 22 bytes, IPv4 and IPv6 bound everything after it to 64 KiB,
// and IPv6 extension headers are capped at `IPv6PacketView.maximumExtensionHeaders` × 2 KiB.

/// An ARP packet's fields.
public struct ARPSummary: Hashable, Sendable, BitwiseCopyable {
    /// `ARPPacketView.request` (1) or `.reply` (2); other values are passed through.
    public var operation: UInt16
    public var senderHardwareAddress: MACAddress
    public var senderProtocolAddress: IPv4Address
    public var targetHardwareAddress: MACAddress
    public var targetProtocolAddress: IPv4Address

    @inlinable public init(_ view: ARPPacketView) {
        operation = view.operation
        senderHardwareAddress = view.senderHardwareAddress
        senderProtocolAddress = view.senderProtocolAddress
        targetHardwareAddress = view.targetHardwareAddress
        targetProtocolAddress = view.targetProtocolAddress
    }
}

/// IPv4 or IPv6 header fields, in one shape for both families (addresses in `FlowAddress` form: IPv4 mapped).
public struct IPSummary: Hashable, Sendable, BitwiseCopyable {
    public var source: FlowAddress
    public var destination: FlowAddress
    /// The upper-layer protocol: IPv4's protocol field, or the next header that ended IPv6's extension walk.
    public var protocolNumber: UInt8
    /// IPv4 TTL or IPv6 hop limit.
    public var hopLimit: UInt8
    /// More fragments follow, or this is not the first fragment.
    public var isFragment: Bool
    public var moreFragments: Bool
    /// Fragment offset in bytes; non-zero means no transport header is in this frame.
    public var fragmentOffset: UInt16
    /// IPv4 identification, or the IPv6 fragment header's identification (0 without one).
    public var identification: UInt32
    /// IPv6 extension headers walked (0 for IPv4).
    public var extensionHeaderCount: UInt8
    /// Offset of the transport header (or fragment data) from the start of the frame.
    public var transportOffset: UInt16
    /// Bytes from `transportOffset` to the end of the IP packet (Ethernet padding excluded).
    public var transportLength: UInt16

    @inlinable
    public init(
        source: FlowAddress, destination: FlowAddress, protocolNumber: UInt8, hopLimit: UInt8,
        isFragment: Bool, moreFragments: Bool, fragmentOffset: UInt16, identification: UInt32,
        extensionHeaderCount: UInt8, transportOffset: UInt16, transportLength: UInt16
    ) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.hopLimit = hopLimit
        self.isFragment = isFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
        self.identification = identification
        self.extensionHeaderCount = extensionHeaderCount
        self.transportOffset = transportOffset
        self.transportLength = transportLength
    }

    /// A non-first fragment carries no transport header.
    @inlinable public var isNonFirstFragment: Bool { fragmentOffset != 0 }
}

/// The network layer of a parsed frame.
public enum ParsedNetwork: Hashable, Sendable, BitwiseCopyable {
    case arp(ARPSummary)
    case ipv4(IPSummary)
    case ipv6(IPSummary)
}

/// A TCP segment: ports plus the tracker's `TCPSegment` (payload offset counted from the start of the frame).
public struct TCPSummary: Hashable, Sendable, BitwiseCopyable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var segment: TCPSegment

    @inlinable public init(sourcePort: UInt16, destinationPort: UInt16, segment: TCPSegment) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.segment = segment
    }
}

/// A UDP datagram's ports and where its payload lies in the frame.
public struct UDPSummary: Hashable, Sendable, BitwiseCopyable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payloadOffset: UInt16
    public var payloadLength: UInt16

    @inlinable
    public init(sourcePort: UInt16, destinationPort: UInt16, payloadOffset: UInt16, payloadLength: UInt16) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadOffset = payloadOffset
        self.payloadLength = payloadLength
    }
}

/// An ICMPv4 or ICMPv6 echo request or reply (the family is the frame's network case).
public struct ICMPEchoSummary: Hashable, Sendable, BitwiseCopyable {
    public var isReply: Bool
    public var identifier: UInt16
    public var sequence: UInt16
    public var dataOffset: UInt16
    public var dataLength: UInt16

    @inlinable
    public init(isReply: Bool, identifier: UInt16, sequence: UInt16, dataOffset: UInt16, dataLength: UInt16) {
        self.isReply = isReply
        self.identifier = identifier
        self.sequence = sequence
        self.dataOffset = dataOffset
        self.dataLength = dataLength
    }
}

/// A neighbor solicitation or advertisement: target and the link-layer address option that belongs to it.
public struct NeighborDiscoverySummary: Hashable, Sendable, BitwiseCopyable {
    public var target: IPv6Address
    /// Source link-layer address (solicitation) or target link-layer address (advertisement).
    public var linkLayerAddress: MACAddress
    public var hasLinkLayerAddress: Bool
    /// Advertisement flags byte: router 0x80, solicited 0x40, override 0x20 (zero in a solicitation).
    public var flags: UInt8

    @inlinable public init(_ view: NeighborDiscoveryView) {
        target = view.target
        linkLayerAddress = view.linkLayerAddress
        hasLinkLayerAddress = view.hasLinkLayerAddress
        flags = view.flags
    }

    @inlinable public var isRouter: Bool { flags & 0x80 != 0 }
    @inlinable public var isSolicited: Bool { flags & 0x40 != 0 }
    @inlinable public var isOverride: Bool { flags & 0x20 != 0 }
}

/// The transport layer of a parsed frame.
public enum ParsedTransport: Hashable, Sendable, BitwiseCopyable {
    /// Nothing read: an ARP frame, a non-first fragment, IPv6 "no next header", or a protocol this parser
    /// does not read (the protocol number is in the `IPSummary`).
    case unparsed
    case tcp(TCPSummary)
    case udp(UDPSummary)
    case icmpEcho(ICMPEchoSummary)
    case neighborSolicitation(NeighborDiscoverySummary)
    case neighborAdvertisement(NeighborDiscoverySummary)
    /// Any other ICMPv4 or ICMPv6 message.
    case icmp(type: UInt8, code: UInt8)
}

/// One frame, parsed. A plain value: it holds no pointer into the frame, only offsets.
public struct ParsedFrame: Sendable, BitwiseCopyable {
    public var destination: MACAddress
    public var source: MACAddress
    /// 0, 1 or 2; read the tags with `vlanTag(_:)`.
    public var vlanTagCount: UInt8
    /// Outermost first; past `vlanTagCount` the slots hold `noVLANTag` (VLAN 0, which a tag can also carry).
    public var vlanTags: (VLANTag, VLANTag)
    /// TPIDs of the tags (`EtherType.vlan` or `.serviceVLAN`), 0 past `vlanTagCount`.
    public var vlanTagProtocols: (UInt16, UInt16)
    /// The EtherType after any tags: `EtherType.arp`, `.ipv4` or `.ipv6`.
    public var etherType: UInt16
    /// Offset of the ARP or IP header from the start of the frame.
    public var networkOffset: UInt16
    public var network: ParsedNetwork
    public var transport: ParsedTransport

    @inlinable
    public init(
        destination: MACAddress, source: MACAddress, vlanTagCount: UInt8, vlanTags: (VLANTag, VLANTag),
        vlanTagProtocols: (UInt16, UInt16), etherType: UInt16, networkOffset: UInt16, network: ParsedNetwork,
        transport: ParsedTransport
    ) {
        self.destination = destination
        self.source = source
        self.vlanTagCount = vlanTagCount
        self.vlanTags = vlanTags
        self.vlanTagProtocols = vlanTagProtocols
        self.etherType = etherType
        self.networkOffset = networkOffset
        self.network = network
        self.transport = transport
    }

    /// Filler for the tag slots past `vlanTagCount`.
    public static let noVLANTag = VLANTag(identifier: 0)

    /// Tag `index`, outermost first; `nil` past `vlanTagCount`. A reply built with `FrameBuilder` can take
    /// `vlanTag(0)` of the frame it answers.
    @inlinable public func vlanTag(_ index: Int) -> VLANTag? {
        guard index >= 0 && index < Int(vlanTagCount) else { return nil }
        return index == 0 ? vlanTags.0 : vlanTags.1
    }

    @inlinable public var arp: ARPSummary? {
        if case .arp(let arp) = network { arp } else { nil }
    }

    /// IPv4 or IPv6 fields; `nil` for ARP.
    @inlinable public var ip: IPSummary? {
        switch network {
        case .ipv4(let ip), .ipv6(let ip): ip
        case .arp: nil
        }
    }

    @inlinable public var isIPv6: Bool { if case .ipv6 = network { true } else { false } }

    @inlinable public var tcp: TCPSummary? {
        if case .tcp(let tcp) = transport { tcp } else { nil }
    }

    /// The 5-tuple of a TCP or UDP frame, as seen on the wire; `nil` for anything else.
    @inlinable public var flow: FlowKey? {
        guard let ip else { return nil }
        switch transport {
        case .tcp(let tcp):
            return FlowKey(
                source: ip.source, destination: ip.destination, sourcePort: tcp.sourcePort,
                destinationPort: tcp.destinationPort, protocolNumber: IPProtocolNumber.tcp)
        case .udp(let udp):
            return FlowKey(
                source: ip.source, destination: ip.destination, sourcePort: udp.sourcePort,
                destinationPort: udp.destinationPort, protocolNumber: IPProtocolNumber.udp)
        default:
            return nil
        }
    }
}

extension ParsedFrame: Equatable {
    /// Field by field; tuples do not synthesize `Equatable`.
    @inlinable public static func == (lhs: ParsedFrame, rhs: ParsedFrame) -> Bool {
        lhs.destination == rhs.destination && lhs.source == rhs.source && lhs.vlanTagCount == rhs.vlanTagCount
            && lhs.vlanTags.0 == rhs.vlanTags.0 && lhs.vlanTags.1 == rhs.vlanTags.1
            && lhs.vlanTagProtocols.0 == rhs.vlanTagProtocols.0 && lhs.vlanTagProtocols.1 == rhs.vlanTagProtocols.1
            && lhs.etherType == rhs.etherType && lhs.networkOffset == rhs.networkOffset
            && lhs.network == rhs.network && lhs.transport == rhs.transport
    }
}
