import TakeoverCore
import Testing

/// The views the builders and the responder use directly, on frames scapy built.
@Suite struct FrameViewTests {
    private func withFrame<R>(_ name: String, _ body: (UnsafeRawBufferPointer, ExpectedFrame) throws -> R) throws -> R {
        let vector = try FrameFixtures.vector(name)
        return try vector.bytes.withUnsafeBytes { try body($0, vector.expected) }
    }

    @Test func parsedTagsRoundTripThroughTheBuildersTagWord() throws {
        try withFrame("QinQ arp") { bytes, _ in
            let ethernet = try EthernetFrameView(bytes)
            #expect(ethernet.vlanTagCount == 2)
            #expect(ethernet.vlanTagProtocol(0) == EtherType.serviceVLAN && ethernet.vlanTagProtocol(1) == EtherType.vlan)
            // Inner tag: VLAN 4094, priority 7; the word the builders write back is the word on the wire.
            let inner = try #require(ethernet.vlanTag(1))
            #expect(inner == VLANTag(identifier: 4094, priority: 7))
            #expect(inner.tagControlInformation == bytes.loadBigEndian(at: 18, as: UInt16.self))
        }
    }

    @Test func ipv4ViewBoundsThePayloadByTotalLengthNotByPadding() throws {
        try withFrame("tcp bare ack (padded)") { bytes, _ in
            #expect(bytes.count == 60)
            let ethernet = try EthernetFrameView(bytes)
            #expect(ethernet.payload.count == 46)
            let ip = try IPv4PacketView(ethernet.payload)
            #expect(ip.totalLength == 40 && ip.payload.count == 20 && ip.options.isEmpty)
            let tcp = try TCPSegmentView(ip.payload)
            #expect(tcp.payload.isEmpty && tcp.options.isEmpty)
        }
    }

    @Test func ipv4OptionsAreExposedRaw() throws {
        try withFrame("ipv4 router alert option tcp") { bytes, _ in
            let ip = try IPv4PacketView(try EthernetFrameView(bytes).payload)
            #expect(ip.headerLength == 24)
            #expect(Array(ip.options) == [0x94, 0x04, 0x00, 0x00])
            let tcp = try TCPSegmentView(ip.payload)
            #expect(Array(tcp.payload) == Array("hello, takeover".utf8))
        }
    }

    @Test func udpAndEchoPayloadsAreTheBytesScapyWrote() throws {
        try withFrame("802.1Q udp ipv4") { bytes, _ in
            let ethernet = try EthernetFrameView(bytes)
            #expect(ethernet.vlanTagCount == 1 && ethernet.headerLength == 18)
            let udp = try UDPDatagramView(try IPv4PacketView(ethernet.payload).payload)
            #expect(udp.length == 23 && Array(udp.payload) == Array("hello, takeover".utf8))
        }
        try withFrame("icmpv6 echo request") { bytes, _ in
            let ip = try IPv6PacketView(try EthernetFrameView(bytes).payload)
            let echo = try ICMPEchoView(ip.upperLayer)
            #expect(echo.type == 128 && !echo.isReply && echo.identifier == 0xBEEF && echo.sequence == 7)
            #expect(Array(echo.data) == Array("hello, takeover".utf8))
        }
    }

    @Test func ipv6ViewWalksTheChainOnce() throws {
        try withFrame("ipv6 hop-by-hop + destination options + first fragment udp") { bytes, expected in
            let ip = try IPv6PacketView(try EthernetFrameView(bytes).payload)
            #expect(ip.nextHeader == IPProtocolNumber.ipv6HopByHop)
            #expect(ip.extensionHeaderCount == 3 && ip.hasFragmentHeader && ip.moreFragments)
            #expect(ip.fragmentIdentification == 0xCAFE_0001 && ip.upperLayerProtocol == IPProtocolNumber.udp)
            #expect(ip.upperLayerOffset == expected.ip!.transportOffset - expected.networkOffset)
            // The UDP length covers the whole datagram; this fragment carries less of it.
            #expect(throws: FrameError.badUDPLength(308)) { try UDPDatagramView(ip.upperLayer) }
            let udp = try UDPDatagramView(firstFragment: ip.upperLayer)
            #expect(udp.length == 308 && udp.payload.count == ip.upperLayer.count - 8)
        }
    }

    @Test func neighborDiscoveryPicksTheOptionThatBelongsToTheMessage() throws {
        // An advertisement carrying both options: the target link-layer address is the one that counts.
        try withFrame("neighbor advertisement unsolicited router") { bytes, _ in
            let ip = try IPv6PacketView(try EthernetFrameView(bytes).payload)
            let nd = try NeighborDiscoveryView(ip.upperLayer)
            #expect(nd.hasLinkLayerAddress && nd.linkLayerAddress == MACAddress("02:00:00:00:00:02"))
            #expect(nd.options.count == 16 && nd.flags == 0xA0)
        }
    }

    @Test func flowKeysOfBothDirectionsAreReverses() throws {
        let request = try parseOutcome(try FrameFixtures.vector("tcp syn mss sackok ts ws").bytes).get()
        let reply = try parseOutcome(try FrameFixtures.vector("tcp syn-ack ece").bytes).get()
        let key = try #require(request.flow)
        #expect(reply.flow == key.reversed)
        #expect(key.source == FlowAddress(high: 0, low: 0x0000_FFFF_C000_020A))  // ::ffff:192.0.2.10
        #expect(key.protocolNumber == IPProtocolNumber.tcp)
    }

    @Test func parsedFrameIsAPlainValue() {
        #expect(_isPOD(ParsedFrame.self))
        #expect(MemoryLayout<ParsedFrame>.size <= 192)
    }
}

extension FrameViewTests {
    @Test func vlanTagAccessorNeverReadsPastTheHeader() throws {
        // A bare 14-byte header: asking for tags that are not there must not read bytes 14...21.
        let header: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]
        try header.withUnsafeBytes { bytes in
            let ethernet = try EthernetFrameView(bytes)
            #expect(ethernet.vlanTagCount == 0 && ethernet.payload.isEmpty)
            #expect(ethernet.vlanTag(0) == nil && ethernet.vlanTag(1) == nil && ethernet.vlanTag(-1) == nil)
            #expect(ethernet.vlanTagProtocol(0) == 0 && ethernet.vlanTagProtocol(2) == 0)
        }
    }
}
