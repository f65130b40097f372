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
        let network: ParsedNetwork
        var transport = ParsedTransport.unparsed
        switch ethernet.etherType {
        case EtherType.arp:
            network = .arp(ARPSummary(try ARPPacketView(ethernet.payload)))
        case EtherType.ipv4:
            let packet = try IPv4PacketView(ethernet.payload)
            let ip = IPSummary(
                source: FlowAddress(packet.source), destination: FlowAddress(packet.destination),
                protocolNumber: packet.protocolNumber, hopLimit: packet.timeToLive,
                isFragment: packet.isFragment, moreFragments: packet.moreFragments,
                fragmentOffset: packet.fragmentOffset, identification: UInt32(packet.identification),
                extensionHeaderCount: 0,
                transportOffset: UInt16(truncatingIfNeeded: networkOffset + packet.headerLength),
                transportLength: UInt16(truncatingIfNeeded: packet.payload.count))
            network = .ipv4(ip)
            transport = try parseTransport(packet.payload, of: ip, isIPv6: false)
        case EtherType.ipv6:
            let packet = try IPv6PacketView(ethernet.payload)
            let ip = IPSummary(
                source: FlowAddress(packet.source), destination: FlowAddress(packet.destination),
                protocolNumber: packet.upperLayerProtocol, hopLimit: packet.hopLimit,
                isFragment: packet.isFragment, moreFragments: packet.moreFragments,
                fragmentOffset: packet.fragmentOffset, identification: packet.fragmentIdentification,
                extensionHeaderCount: UInt8(truncatingIfNeeded: packet.extensionHeaderCount),
                transportOffset: UInt16(truncatingIfNeeded: networkOffset + packet.upperLayerOffset),
                transportLength: UInt16(truncatingIfNeeded: packet.upperLayer.count))
            network = .ipv6(ip)
            transport = try parseTransport(packet.upperLayer, of: ip, isIPv6: true)
        default:
            throw .unsupportedEtherType(ethernet.etherType)
        }
        return ParsedFrame(
            destination: ethernet.destination, source: ethernet.source,
            vlanTagCount: UInt8(truncatingIfNeeded: ethernet.vlanTagCount),
            vlanTags: (ethernet.vlanTag(0) ?? ParsedFrame.noVLANTag, ethernet.vlanTag(1) ?? ParsedFrame.noVLANTag),
            vlanTagProtocols: (ethernet.vlanTagProtocol(0), ethernet.vlanTagProtocol(1)),
            etherType: ethernet.etherType, networkOffset: UInt16(truncatingIfNeeded: networkOffset),
            network: network, transport: transport)
    }

    /// Reads the transport header in `bytes`: the IP packet `ip` from its transport offset to its end.
    @inlinable @inline(__always)
    static func parseTransport(
        _ bytes: UnsafeRawBufferPointer, of ip: IPSummary, isIPv6: Bool
    ) throws(FrameError) -> ParsedTransport {
        // A later fragment carries the middle of someone else's payload, not a header.
        if ip.isNonFirstFragment { return .unparsed }
        let offset = Int(ip.transportOffset)
        switch ip.protocolNumber {
        case IPProtocolNumber.tcp:
            let tcp = try TCPSegmentView(bytes)
            let segment = TCPSegment(
                sequence: tcp.sequence, acknowledgment: tcp.acknowledgment, flags: tcp.flags, window: tcp.window,
                payloadLength: UInt32(truncatingIfNeeded: tcp.payload.count),
                payloadOffset: UInt16(truncatingIfNeeded: offset + tcp.headerLength),
                options: try tcp.parseOptions())
            return .tcp(TCPSummary(sourcePort: tcp.sourcePort, destinationPort: tcp.destinationPort, segment: segment))
        case IPProtocolNumber.udp:
            // Here a fragment is a first fragment, whose UDP length covers more than it carries.
            let udp = try ip.isFragment ? UDPDatagramView(firstFragment: bytes) : UDPDatagramView(bytes)
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
            dataLength: UInt16(truncatingIfNeeded: echo.data.count))
    }
}
