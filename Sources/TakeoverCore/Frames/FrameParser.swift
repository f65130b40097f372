/// The engine's one entry point from raw frame bytes to a `ParsedFrame`.
///
/// Reads Ethernet II (up to two VLAN tags), then ARP, IPv4 or IPv6, then TCP, UDP, ICMP echo or ICMPv6
/// neighbor discovery. Every layer is a view that checks its bounds once; nothing is copied or allocated,
/// and a malformed frame throws a `FrameError` instead of trapping or reading outside `bytes`.
///
/// A first fragment (offset 0, more fragments) is read through its transport header, whose payload length
/// then covers this fragment only; `IPSummary.isFragment` says so. A later fragment has no transport header.
public enum FrameParser {
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(FrameError) -> ParsedFrame {
        let ethernet = try EthernetFrameView(bytes)
        let networkOffset = ethernet.headerLength
        var network: ParsedNetwork
        var transport = ParsedTransport.unparsed
        switch ethernet.etherType {
        case EtherType.arp:
            network = .arp(ARPSummary(try ARPPacketView(ethernet.payload)))
        case EtherType.ipv4:
            let packet = try IPv4PacketView(ethernet.payload)
            let transportOffset = networkOffset + packet.headerLength
            let summary = IPSummary(
                source: FlowAddress(packet.source), destination: FlowAddress(packet.destination),
                protocolNumber: packet.protocolNumber, hopLimit: packet.timeToLive,
                isFragment: packet.isFragment, moreFragments: packet.moreFragments,
                fragmentOffset: packet.fragmentOffset, identification: UInt32(packet.identification),
                extensionHeaderCount: 0, transportOffset: UInt16(truncatingIfNeeded: transportOffset),
                transportLength: UInt16(truncatingIfNeeded: packet.totalLength - packet.headerLength))
            network = .ipv4(summary)
            if !summary.isNonFirstFragment {
                transport = try parseTransport(
                    packet.payload, at: transportOffset, protocolNumber: summary.protocolNumber, isIPv6: false,
                    isFirstFragment: summary.isFragment)
            }
        case EtherType.ipv6:
            let packet = try IPv6PacketView(ethernet.payload)
            let transportOffset = networkOffset + packet.upperLayerOffset
            let summary = IPSummary(
                source: FlowAddress(packet.source), destination: FlowAddress(packet.destination),
                protocolNumber: packet.upperLayerProtocol, hopLimit: packet.hopLimit,
                isFragment: packet.isFragment, moreFragments: packet.moreFragments,
                fragmentOffset: packet.fragmentOffset, identification: packet.fragmentIdentification,
                extensionHeaderCount: UInt8(truncatingIfNeeded: packet.extensionHeaderCount),
                transportOffset: UInt16(truncatingIfNeeded: transportOffset),
                transportLength: UInt16(truncatingIfNeeded: packet.bytes.count - packet.upperLayerOffset))
            network = .ipv6(summary)
            if !summary.isNonFirstFragment {
                transport = try parseTransport(
                    packet.upperLayer, at: transportOffset, protocolNumber: summary.protocolNumber, isIPv6: true,
                    isFirstFragment: summary.isFragment)
            }
        default:
            throw .unsupportedEtherType(ethernet.etherType)
        }
        return ParsedFrame(
            destination: ethernet.destination, source: ethernet.source,
            vlanTagCount: UInt8(truncatingIfNeeded: ethernet.vlanTagCount),
            vlanTags: (ethernet.vlanTag(0), ethernet.vlanTag(1)),
            etherType: ethernet.etherType, networkOffset: UInt16(truncatingIfNeeded: networkOffset),
            network: network, transport: transport)
    }

    /// Reads the transport header in `bytes`, which starts `offset` bytes into the frame and ends where the
    /// IP packet ends. Only unfragmented packets and first fragments get here, so `isFirstFragment` is the
    /// packet's fragment flag.
    @inlinable
    static func parseTransport(
        _ bytes: UnsafeRawBufferPointer, at offset: Int, protocolNumber: UInt8, isIPv6: Bool,
        isFirstFragment: Bool
    ) throws(FrameError) -> ParsedTransport {
        switch protocolNumber {
        case IPProtocolNumber.tcp:
            let tcp = try TCPSegmentView(bytes)
            let segment = TCPSegment(
                sequence: tcp.sequence, acknowledgment: tcp.acknowledgment, flags: tcp.flags, window: tcp.window,
                payloadLength: UInt32(truncatingIfNeeded: bytes.count - tcp.headerLength),
                payloadOffset: UInt16(truncatingIfNeeded: offset + tcp.headerLength),
                options: try tcp.parseOptions())
            return .tcp(TCPSummary(sourcePort: tcp.sourcePort, destinationPort: tcp.destinationPort, segment: segment))
        case IPProtocolNumber.udp:
            let udp = try isFirstFragment ? UDPDatagramView(firstFragment: bytes) : UDPDatagramView(bytes)
            return .udp(
                UDPSummary(
                    sourcePort: udp.sourcePort, destinationPort: udp.destinationPort,
                    payloadOffset: UInt16(truncatingIfNeeded: offset + UDPDatagramView.headerLength),
                    payloadLength: UInt16(truncatingIfNeeded: udp.payload.count)))
        case IPProtocolNumber.icmp where !isIPv6:
            let message = try ICMPMessageView(bytes)
            switch message.type {
            case ICMPType.echoRequest, ICMPType.echoReply:
                return .icmpEcho(try echoSummary(bytes, at: offset))
            default:
                return .icmp(type: message.type, code: message.code)
            }
        case IPProtocolNumber.icmpv6 where isIPv6:
            let message = try ICMPMessageView(bytes)
            switch message.type {
            case ICMPType.v6EchoRequest, ICMPType.v6EchoReply:
                return .icmpEcho(try echoSummary(bytes, at: offset))
            case ICMPType.neighborSolicitation:
                return .neighborSolicitation(NeighborDiscoverySummary(try NeighborDiscoveryView(bytes)))
            case ICMPType.neighborAdvertisement:
                return .neighborAdvertisement(NeighborDiscoverySummary(try NeighborDiscoveryView(bytes)))
            default:
                return .icmp(type: message.type, code: message.code)
            }
        default:
            return .unparsed
        }
    }

    @inlinable
    static func echoSummary(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(FrameError) -> ICMPEchoSummary {
        let echo = try ICMPEchoView(bytes)
        return ICMPEchoSummary(
            isReply: echo.isReply, identifier: echo.identifier, sequence: echo.sequence,
            dataOffset: UInt16(truncatingIfNeeded: offset + ICMPEchoView.headerLength),
            dataLength: UInt16(truncatingIfNeeded: echo.bytes.count - ICMPEchoView.headerLength))
    }
}
