import TakeoverCore
import Testing

/// Every frame scapy built parses to the fields scapy's dissector reads from the same bytes.
@Suite struct FrameParserFixtureTests {
    @Test(arguments: try FrameFixtures.load())
    func parsesEveryFieldLikeScapy(_ vector: FrameVector) throws {
        let frame = try parseOutcome(vector.bytes).get()
        let expected = vector.expected

        #expect(frame.destination == MACAddress(expected.dst))
        #expect(frame.source == MACAddress(expected.src))
        #expect(Int(frame.vlanTagCount) == expected.vlans.count)
        for (index, vlan) in expected.vlans.enumerated() {
            let tag = try #require(frame.vlanTag(index))
            #expect(tag.identifier == vlan.id)
            #expect(tag.priority == vlan.priority)
            #expect(tag.dropEligible == (vlan.dei == 1))
            #expect((index == 0 ? frame.vlanTagProtocols.0 : frame.vlanTagProtocols.1) == vlan.tpid)
        }
        #expect(frame.vlanTag(expected.vlans.count) == nil)
        #expect(frame.etherType == expected.ethertype)
        #expect(Int(frame.networkOffset) == expected.networkOffset)

        if let arp = expected.arp {
            let parsed = try #require(frame.arp)
            #expect(parsed.operation == arp.op)
            #expect(parsed.senderHardwareAddress == MACAddress(arp.senderMac))
            #expect(parsed.senderProtocolAddress == IPv4Address(arp.senderIp))
            #expect(parsed.targetHardwareAddress == MACAddress(arp.targetMac))
            #expect(parsed.targetProtocolAddress == IPv4Address(arp.targetIp))
            #expect(frame.ip == nil)
        }
        if let ip = expected.ip {
            let parsed = try #require(frame.ip)
            #expect(frame.isIPv6 == (ip.version == 6))
            #expect(parsed.source == flowAddress(ip.src))
            #expect(parsed.destination == flowAddress(ip.dst))
            // The tracker's table relies on IPv4 arriving in the ::ffff: mapped form.
            #expect(parsed.source.isIPv4 == (ip.version == 4))
            #expect(parsed.protocolNumber == ip.protocol)
            #expect(parsed.hopLimit == ip.hopLimit)
            #expect(parsed.isFragment == ip.isFragment)
            #expect(parsed.moreFragments == ip.moreFragments)
            #expect(parsed.fragmentOffset == ip.fragmentOffset)
            #expect(parsed.identification == ip.identification)
            #expect(parsed.extensionHeaderCount == ip.extensionHeaders)
            #expect(Int(parsed.transportOffset) == ip.transportOffset)
            #expect(Int(parsed.transportLength) == ip.transportLength)
            #expect(frame.arp == nil)
        }
        checkTransport(frame, expected)
    }

    private func checkTransport(_ frame: ParsedFrame, _ expected: ExpectedFrame) {
        let want = expected.transport
        switch (want.kind, frame.transport) {
        case ("tcp", .tcp(let tcp)):
            #expect(tcp.sourcePort == want.sport)
            #expect(tcp.destinationPort == want.dport)
            let segment = tcp.segment
            #expect(segment.sequence == want.seq)
            #expect(segment.acknowledgment == want.ack)
            #expect(segment.flags.rawValue == want.flags)
            #expect(segment.window == want.window)
            #expect(Int(segment.payloadOffset) == want.payloadOffset)
            #expect(Int(segment.payloadLength) == want.payloadLength)
            if let options = want.options {
                let parsed = segment.options
                #expect(parsed.mss == options.mss)
                #expect(parsed.hasWindowScale == (options.windowScale != nil))
                #expect(parsed.windowScale == options.windowScale ?? 0)
                #expect(parsed.sackPermitted == options.sackPermitted)
                #expect(parsed.hasTimestamp == (options.timestamp != nil))
                #expect(parsed.timestampValue == options.timestamp?[0] ?? 0)
                #expect(parsed.timestampEcho == options.timestamp?[1] ?? 0)
                #expect(Int(parsed.sackBlockCount) == options.sack.count)
                for (index, block) in options.sack.enumerated() {
                    #expect(parsed.sackBlock(index) == SACKBlock(left: block[0], right: block[1]))
                }
            } else {
                Issue.record("fixture has no TCP options summary")
            }
            #expect(frame.tcp == tcp)
        case ("udp", .udp(let udp)):
            #expect(udp.sourcePort == want.sport)
            #expect(udp.destinationPort == want.dport)
            #expect(Int(udp.payloadOffset) == want.payloadOffset)
            #expect(Int(udp.payloadLength) == want.payloadLength)
        case ("icmp_echo", .icmpEcho(let echo)):
            #expect(echo.isReply == want.isReply)
            #expect(echo.identifier == want.id)
            #expect(UInt32(echo.sequence) == want.seq)
            #expect(Int(echo.dataOffset) == want.dataOffset)
            #expect(Int(echo.dataLength) == want.dataLength)
        case ("neighbor_solicitation", .neighborSolicitation(let nd)),
            ("neighbor_advertisement", .neighborAdvertisement(let nd)):
            #expect(nd.target == want.target.flatMap { IPv6Address($0) })
            #expect(nd.hasLinkLayerAddress == (want.linkLayerAddress != nil))
            #expect(nd.linkLayerAddress == want.linkLayerAddress.flatMap { MACAddress($0) } ?? .zero)
            #expect(UInt16(nd.flags) == want.flags)
        case ("icmp", .icmp(let type, let code)):
            #expect(type == want.type)
            #expect(code == want.code)
        case ("unparsed", .unparsed):
            break
        default:
            Issue.record("transport \(frame.transport), expected \(want.kind)")
        }

        // The session tracker's key: exactly TCP and UDP frames have one, built from the same fields.
        if want.kind == "tcp" || want.kind == "udp", let ip = expected.ip {
            let key = FlowKey(
                source: flowAddress(ip.src)!, destination: flowAddress(ip.dst)!, sourcePort: want.sport!,
                destinationPort: want.dport!, protocolNumber: ip.protocol)
            #expect(frame.flow == key)
        } else {
            #expect(frame.flow == nil)
        }
    }

    /// A table that lost rows would pass vacuously; make sure every kind the issue names is in it.
    @Test func tableCoversEveryKindOfFrame() throws {
        let vectors = try FrameFixtures.load()
        let kinds = Set(vectors.map(\.expected.transport.kind))
        #expect(kinds.isSuperset(of: ["tcp", "udp", "icmp_echo", "neighbor_solicitation", "neighbor_advertisement", "icmp", "unparsed"]))
        #expect(vectors.contains { $0.expected.arp?.op == 1 } && vectors.contains { $0.expected.arp?.op == 2 })
        #expect(vectors.contains { $0.expected.vlans.count == 1 } && vectors.contains { $0.expected.vlans.count == 2 })
        #expect(vectors.contains { $0.expected.vlans.first?.tpid == EtherType.serviceVLAN })
        #expect(vectors.contains { ($0.expected.ip?.transportOffset ?? 0) - $0.expected.networkOffset > 20 && $0.expected.ip?.version == 4 })
        #expect(vectors.contains { $0.expected.ip?.isFragment == true && $0.expected.ip?.fragmentOffset == 0 })
        #expect(vectors.contains { ($0.expected.ip?.fragmentOffset ?? 0) != 0 && $0.expected.ip?.version == 4 })
        #expect(vectors.contains { ($0.expected.ip?.fragmentOffset ?? 0) != 0 && $0.expected.ip?.version == 6 })
        #expect(vectors.contains { ($0.expected.ip?.extensionHeaders ?? 0) >= 3 })
        let options = vectors.compactMap(\.expected.transport.options)
        #expect(options.contains { $0.mss != 0 && $0.windowScale != nil && $0.sackPermitted && $0.timestamp != nil })
        #expect(options.contains { $0.sack.count == 3 } && options.contains { $0.sack.count == 4 })
        #expect(vectors.contains { $0.expected.ip?.version == 6 && $0.expected.transport.kind == "icmp_echo" })
        #expect(vectors.contains { $0.expected.ip?.version == 4 && $0.expected.transport.kind == "icmp_echo" })
    }
}
