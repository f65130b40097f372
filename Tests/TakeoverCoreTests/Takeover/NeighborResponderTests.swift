import TakeoverCore
import Testing

/// The responder's decisions, table-driven: requests built by scapy (an independent encoder), replies judged
/// by tshark. Addresses: we own 192.0.2.99 and 2001:db8::99 from 02:00:00:00:00:0b; the client is
/// 192.0.2.10 / 2001:db8::10 at 02:00:00:00:00:0c.
@Suite struct NeighborResponderTests {
    /// One received frame (a scapy expression, optionally cut short) and what the responder must do with it.
    struct Case: CustomTestStringConvertible {
        enum Expectation {
            case arpReply, advertisement
            case ignored(NeighborIgnoreReason)
        }
        var name: String
        var scapy: String
        var cutTo: Int? = nil
        var vlan: VLANTag? = nil
        var expectation: Expectation
        var testDescription: String { name }
    }

    static let our = "02:00:00:00:00:0b"
    static let client = "02:00:00:00:00:0c"
    static let other = "02:00:00:00:00:0d"
    static let second = "02:00:00:00:00:0e"
    static let broadcast = "ff:ff:ff:ff:ff:ff"
    static let vlan42 = VLANTag(identifier: 42, priority: 3)

    /// A scapy ARP frame; `vlan` adds an 802.1Q tag.
    static func arp(
        op: Int = 1, from ethernetSource: String = client, to ethernetDestination: String = broadcast,
        vlan: Int? = nil, hwsrc: String? = nil, psrc: String = "192.0.2.10", hwdst: String = "00:00:00:00:00:00",
        pdst: String = "192.0.2.99"
    ) -> String {
        let tag = vlan.map { "/Dot1Q(vlan=\($0))" } ?? ""
        return "Ether(src='\(ethernetSource)', dst='\(ethernetDestination)')\(tag)/ARP(op=\(op), "
            + "hwsrc='\(hwsrc ?? ethernetSource)', psrc='\(psrc)', hwdst='\(hwdst)', pdst='\(pdst)')"
    }

    /// A scapy IPv6 neighbor solicitation for `target`, to its solicited-node group unless `to` says otherwise.
    static func solicitation(
        from ethernetSource: String = client, source: String = "2001:db8::10", to destination: String? = nil,
        hopLimit: Int = 255, target: String = "2001:db8::99",
        option: String? = "ICMPv6NDOptSrcLLAddr(lladdr='\(client)')"
    ) -> String {
        let group = IPv6Address(target)!.solicitedNodeMulticast
        let ethernetDestination = destination == nil ? MACAddress.ipv6Multicast(group).description : our
        return "Ether(src='\(ethernetSource)', dst='\(ethernetDestination)')"
            + "/IPv6(src='\(source)', dst='\(destination ?? group.description)', hlim=\(hopLimit))"
            + "/ICMPv6ND_NS(tgt='\(target)')" + (option.map { "/" + $0 } ?? "")
    }

    static let arpRequest = arp()
    static let ownedSolicitation = solicitation()

    static let cases: [Case] = [
        Case(name: "ARP request for an owned IPv4", scapy: arpRequest, expectation: .arpReply),
        Case(name: "ARP request for an unowned IPv4", scapy: arp(pdst: "192.0.2.77"), expectation: .ignored(.notOwned)),
        Case(
            name: "ARP request tagged VLAN 42, responder on VLAN 42", scapy: arp(vlan: 42), vlan: vlan42,
            expectation: .arpReply),
        Case(
            name: "ARP request tagged VLAN 7, responder on VLAN 42", scapy: arp(vlan: 7), vlan: vlan42,
            expectation: .ignored(.otherVLAN)),
        Case(
            name: "ARP request tagged VLAN 42, responder untagged", scapy: arp(vlan: 42),
            expectation: .ignored(.otherVLAN)),
        Case(
            name: "untagged ARP request, responder on VLAN 42", scapy: arpRequest, vlan: vlan42,
            expectation: .ignored(.otherVLAN)),
        Case(
            name: "ARP reply about an owned IPv4", scapy: arp(op: 2, to: our, hwdst: our),
            expectation: .ignored(.notARPRequest)),
        Case(
            name: "gratuitous ARP from another MAC claiming an owned IPv4",
            scapy: arp(from: other, psrc: "192.0.2.99"), expectation: .ignored(.addressConflict)),
        Case(
            name: "ARP reply from another MAC claiming an owned IPv4",
            scapy: arp(op: 2, from: other, psrc: "192.0.2.99", hwdst: other), expectation: .ignored(.addressConflict)),
        Case(
            name: "ARP probe (sender 0.0.0.0) for an owned IPv4", scapy: arp(from: second, psrc: "0.0.0.0"),
            expectation: .arpReply),
        Case(
            name: "ARP request from a multicast sender MAC", scapy: arp(hwsrc: "01:00:5e:00:00:01"),
            expectation: .ignored(.invalidSender)),
        Case(
            name: "ARP request sent from our own MAC", scapy: arp(from: our, psrc: "192.0.2.30"),
            expectation: .ignored(.fromOurselves)),
        Case(
            name: "ARP request cut inside the ARP header", scapy: arpRequest, cutTo: 30,
            expectation: .ignored(.malformed)),
        Case(name: "neighbor solicitation for an owned IPv6", scapy: ownedSolicitation, expectation: .advertisement),
        Case(
            name: "unicast solicitation without a source link-layer option",
            scapy: solicitation(from: second, source: "2001:db8::e", to: "2001:db8::99", option: nil),
            expectation: .advertisement),
        Case(
            name: "duplicate address detection probe for an owned IPv6",
            scapy: solicitation(from: other, source: "::", option: nil), expectation: .advertisement),
        Case(
            name: "DAD probe carrying a source link-layer option",
            scapy: solicitation(from: other, source: "::", option: "ICMPv6NDOptSrcLLAddr(lladdr='\(other)')"),
            expectation: .ignored(.invalidSolicitation)),
        Case(
            name: "solicitation with hop limit 64", scapy: solicitation(hopLimit: 64),
            expectation: .ignored(.invalidSolicitation)),
        Case(
            name: "solicitation for an unowned IPv6", scapy: solicitation(target: "2001:db8::77"),
            expectation: .ignored(.notOwned)),
        Case(
            name: "solicitation with a zero-length option",
            scapy: solicitation(option: "Raw(b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00')"),
            expectation: .ignored(.malformed)),
        Case(
            name: "neighbor advertisement from another MAC for an owned IPv6",
            scapy: "Ether(src='\(other)', dst='33:33:00:00:00:01')/IPv6(src='2001:db8::99', dst='ff02::1', hlim=255)"
                + "/ICMPv6ND_NA(tgt='2001:db8::99', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='\(other)')",
            expectation: .ignored(.addressConflict)),
        Case(
            name: "TCP segment to an owned IPv4",
            scapy:
                "Ether(src='\(client)', dst='\(our)')/IP(src='192.0.2.10', dst='192.0.2.99')/TCP(sport=40000, dport=80)",
            expectation: .ignored(.notNeighborDiscovery)),
        Case(
            name: "ICMPv6 echo request to an owned IPv6",
            scapy:
                "Ether(src='\(client)', dst='\(our)')/IPv6(src='2001:db8::10', dst='2001:db8::99')/ICMPv6EchoRequest()",
            expectation: .ignored(.notNeighborDiscovery)),
        Case(
            name: "an EtherType the parser does not read",
            scapy: "Ether(src='\(client)', dst='\(our)', type=0x88cc)/Raw(b'lldp' * 12)",
            expectation: .ignored(.notNeighborDiscovery)),
    ]

    /// Frames scapy builds for `cases`, in one interpreter run, cut where a case says.
    static func inputs(_ cases: [Case]) throws -> [[UInt8]] {
        let frames = try Judge.scapyBuild(cases.map(\.scapy))
        return zip(cases, frames).map { testCase, frame in testCase.cutTo.map { Array(frame.prefix($0)) } ?? frame }
    }

    @Test func everyCaseAnsweredOrIgnoredForItsReason() throws {
        let frames = try Self.inputs(Self.cases)
        var replies: [(Case, [UInt8])] = []
        var expectedIgnored: [NeighborIgnoreReason: UInt64] = [:]
        var expectedARP: UInt64 = 0
        var expectedNA: UInt64 = 0
        for (testCase, frame) in zip(Self.cases, frames) {
            var responder = try TakeoverLab.responder(vlan: testCase.vlan)
            let sink = InMemoryPacketQueue(capacity: 4)
            var sinkReference = sink
            let response = try frame.withUnsafeBytes { bytes in
                try responder.respond(toFrame: bytes, via: &sinkReference)
            }
            let written = TakeoverLab.drain(sink)
            switch testCase.expectation {
            case .arpReply, .advertisement:
                guard case .answered(let reply) = response else {
                    Issue.record("\(testCase.name): \(response)")
                    continue
                }
                #expect(written.count == 1, "\(testCase.name)")
                if case .arpReply = testCase.expectation {
                    #expect(responder.counters.arpRepliesSent == 1, "\(testCase.name)")
                    guard case .arp = reply else {
                        Issue.record("\(testCase.name): \(reply)")
                        continue
                    }
                } else {
                    #expect(responder.counters.neighborAdvertisementsSent == 1, "\(testCase.name)")
                    guard case .neighborAdvertisement = reply else {
                        Issue.record("\(testCase.name): \(reply)")
                        continue
                    }
                }
                if let first = written.first { replies.append((testCase, first)) }
            case .ignored(let reason):
                #expect(response == .ignored(reason), "\(testCase.name)")
                #expect(written.isEmpty, "\(testCase.name) wrote a frame")
                #expect(responder.counters[ignored: reason] == 1, "\(testCase.name)")
                #expect(responder.counters.ignored == 1 && responder.counters.answered == 0)
                let remembered = responder.clients.count
                #expect(remembered == 0, "\(testCase.name) remembered an asker")
            }
            switch testCase.expectation {
            case .arpReply: expectedARP += 1
            case .advertisement: expectedNA += 1
            case .ignored(let reason): expectedIgnored[reason, default: 0] += 1
            }
        }
        // Every reason is exercised by at least one case.
        #expect(Set(expectedIgnored.keys) == Set(NeighborIgnoreReason.allCases))
        #expect(expectedARP == 3 && expectedNA == 3)
        try judgeReplies(replies)
    }

    /// tshark's reading of each reply the table produced.
    func judgeReplies(_ replies: [(Case, [UInt8])]) throws {
        let packets = try Judge.tshark(replies.map(\.1))
        try #require(packets.count == replies.count)
        let byName = Dictionary(uniqueKeysWithValues: zip(replies.map(\.0.name), packets))
        for packet in packets {
            #expect(packet["eth.src"] == Self.our, "\(packet)")
            #expect(packet.expertWarnings.isEmpty, "\(packet.expertWarnings)")
        }

        let arp = try #require(byName["ARP request for an owned IPv4"])
        #expect(arp["eth.dst"] == Self.client)
        #expect(arp["arp.opcode"] == "2")
        #expect(arp["arp.src.hw_mac"] == Self.our)
        #expect(arp["arp.src.proto_ipv4"] == "192.0.2.99")
        #expect(arp["arp.dst.hw_mac"] == Self.client)
        #expect(arp["arp.dst.proto_ipv4"] == "192.0.2.10")
        #expect(arp["vlan.id"] == nil)

        let tagged = try #require(byName["ARP request tagged VLAN 42, responder on VLAN 42"])
        #expect(tagged["vlan.id"] == "42")
        #expect(tagged["vlan.priority"] == "3")
        #expect(tagged["arp.opcode"] == "2")
        #expect(tagged["arp.dst.proto_ipv4"] == "192.0.2.10")

        // RFC 5227 probe: answered to the prober's MAC with target 0.0.0.0, as Linux does.
        let probe = try #require(byName["ARP probe (sender 0.0.0.0) for an owned IPv4"])
        #expect(probe["eth.dst"] == Self.second)
        #expect(probe["arp.dst.hw_mac"] == Self.second)
        #expect(probe["arp.dst.proto_ipv4"] == "0.0.0.0")
        #expect(probe["arp.src.proto_ipv4"] == "192.0.2.99")

        let expectedNA: [(name: String, ethDst: String, ipDst: String, solicited: String)] = [
            ("neighbor solicitation for an owned IPv6", Self.client, "2001:db8::10", "1"),
            ("unicast solicitation without a source link-layer option", Self.second, "2001:db8::e", "1"),
            ("duplicate address detection probe for an owned IPv6", "33:33:00:00:00:01", "ff02::1", "0"),
        ]
        for want in expectedNA {
            let packet = try #require(byName[want.name])
            #expect(packet["eth.dst"] == want.ethDst, "\(want.name)")
            #expect(packet["ipv6.src"] == "2001:db8::99")
            #expect(packet["ipv6.dst"] == want.ipDst, "\(want.name)")
            #expect(packet["ipv6.hlim"] == "255")
            #expect(packet["icmpv6.type"] == "136")
            #expect(packet["icmpv6.checksum.status"] == Judge.checksumGood)
            #expect(packet["icmpv6.nd.na.flag.s"] == want.solicited, "\(want.name)")
            #expect(packet["icmpv6.nd.na.flag.o"] == "1")
            #expect(packet["icmpv6.nd.na.flag.r"] == "0")
            #expect(packet["icmpv6.nd.na.target_address"] == "2001:db8::99")
            #expect(packet["icmpv6.opt.target_linkaddr"] == Self.our)
        }
    }

    @Test func askersAreRememberedAsClients() throws {
        let cases = Self.cases.filter {
            [
                "ARP request for an owned IPv4", "neighbor solicitation for an owned IPv6",
                "unicast solicitation without a source link-layer option",
                "ARP probe (sender 0.0.0.0) for an owned IPv4",
                "duplicate address detection probe for an owned IPv6",
            ].contains($0.name)
        }
        let frames = try Self.inputs(cases)
        var responder = try TakeoverLab.responder()
        var sink = InMemoryPacketQueue(capacity: 16)
        for frame in frames + frames {  // twice: a known asker is not added again
            _ = try frame.withUnsafeBytes { try responder.respond(toFrame: $0, via: &sink) }
        }
        // Probes from :: and 0.0.0.0 come from hosts without an address: nobody to remember.
        #expect(responder.clients.count == 3)
        let remembered = (0..<responder.clients.count).map { responder.clients[$0] }
        #expect(
            remembered == [
                KnownClient(mac: TakeoverLab.clientMAC, address: .v4(TakeoverLab.clientIPv4)),
                KnownClient(mac: TakeoverLab.clientMAC, address: .v6(TakeoverLab.clientIPv6)),
                KnownClient(mac: TakeoverLab.secondClientMAC, address: .v6(IPv6Address("2001:db8::e")!)),
            ])
        #expect(responder.counters.answered == 10)
        #expect(sink.pendingCount == 10)
    }

    @Test func ownershipChangesTakeEffectAtOnce() throws {
        let frames = try Judge.scapyBuild([Self.arpRequest, Self.ownedSolicitation])
        var responder = NeighborResponder(mac: TakeoverLab.ourMAC)
        var sink = InMemoryPacketQueue(capacity: 8)
        func answer(_ frame: [UInt8]) throws -> NeighborResponse {
            try frame.withUnsafeBytes { try responder.respond(toFrame: $0, via: &sink) }
        }
        // Standing by: nothing owned.
        #expect(try answer(frames[0]) == .ignored(.notOwned))
        #expect(try answer(frames[1]) == .ignored(.notOwned))
        try responder.owned.insert(.v4(TakeoverLab.ownedIPv4))
        #expect(try { if case .answered = try answer(frames[0]) { true } else { false } }())
        #expect(try answer(frames[1]) == .ignored(.notOwned))
        try responder.owned.insert(.v6(TakeoverLab.ownedIPv6))
        #expect(try { if case .answered = try answer(frames[1]) { true } else { false } }())
        // Failback.
        responder.owned.removeAll()
        #expect(try answer(frames[0]) == .ignored(.notOwned))
        #expect(try answer(frames[1]) == .ignored(.notOwned))
        #expect(responder.counters.answered == 2)
        #expect(responder.counters[ignored: .notOwned] == 5)
    }

    @Test func watchedAddressesTeachClientsWithoutAnAnswer() throws {
        // Standing by for the live peer at 192.0.2.77 / 2001:db8::77: listen, remember, never answer.
        let inputs = [
            Self.arp(pdst: "192.0.2.77"),
            Self.solicitation(target: "2001:db8::77"),
            Self.solicitation(
                from: Self.second, source: "2001:db8::e", to: "2001:db8::77", target: "2001:db8::77",
                option: nil),
            Self.arp(from: Self.second, psrc: "0.0.0.0", pdst: "192.0.2.77"),  // probe: no address to remember
            Self.solicitation(from: Self.other, source: "::", target: "2001:db8::77", option: nil),  // DAD
            Self.solicitation(hopLimit: 64, target: "2001:db8::77"),
            Self.arp(pdst: "192.0.2.88"),  // neither owned nor watched
        ]
        let frames = try Judge.scapyBuild(inputs)
        var responder = NeighborResponder(mac: TakeoverLab.ourMAC)
        try responder.watched.insert(.v4(TakeoverLab.unownedIPv4))
        try responder.watched.insert(.v6(IPv6Address("2001:db8::77")!))
        var sink = InMemoryPacketQueue(capacity: 8)
        var responses: [NeighborResponse] = []
        for frame in frames {
            responses.append(try frame.withUnsafeBytes { try responder.respond(toFrame: $0, via: &sink) })
        }
        let v4 = KnownClient(mac: TakeoverLab.clientMAC, address: .v4(TakeoverLab.clientIPv4))
        let v6 = KnownClient(mac: TakeoverLab.clientMAC, address: .v6(TakeoverLab.clientIPv6))
        let second = KnownClient(mac: TakeoverLab.secondClientMAC, address: .v6(IPv6Address("2001:db8::e")!))
        #expect(
            responses == [
                .learned(v4), .learned(v6), .learned(second), .ignored(.notOwned), .ignored(.notOwned),
                .ignored(.notOwned), .ignored(.notOwned),
            ])
        #expect(sink.pendingCount == 0, "a watched address is never answered")
        #expect(responder.counters.askersLearned == 3 && responder.counters.answered == 0)
        #expect(responder.counters[ignored: .notOwned] == 4)
        let remembered = (0..<responder.clients.count).map { responder.clients[$0] }
        #expect(remembered == [v4, v6, second])

        // Taking the address over turns listening into answering.
        try responder.owned.insert(.v4(TakeoverLab.unownedIPv4))
        let answer = try frames[0].withUnsafeBytes { try responder.respond(toFrame: $0, via: &sink) }
        #expect({ if case .answered = answer { true } else { false } }())
    }

    @Test func aFullSinkIsCountedAndTheReplyReported() throws {
        let frames = try Judge.scapyBuild([Self.arpRequest])
        var responder = try TakeoverLab.responder()
        var sink = InMemoryPacketQueue(capacity: 1)
        sink.enqueue([0], at: .zero)  // the only slot is taken
        let response = try frames[0].withUnsafeBytes { try responder.respond(toFrame: $0, via: &sink) }
        guard case .unsent(.arp(let reply), .noBufferAvailable) = response else {
            Issue.record("\(response)")
            return
        }
        #expect(reply.targetAddress == TakeoverLab.clientIPv4 && reply.senderMAC == TakeoverLab.ourMAC)
        #expect(responder.counters.unsent == 1 && responder.counters.answered == 0)
        // The asker is remembered even so: it gets its unicast at the next takeover announcement.
        #expect(responder.clients.count == 1)

        // A sink whose buffers are smaller than any reply abandons it.
        var small = InMemoryPacketQueue(capacity: 4, maximumFrameLength: 42)
        let abandoned = try frames[0].withUnsafeBytes { try responder.respond(toFrame: $0, via: &small) }
        guard case .unsent(_, .abandoned) = abandoned else {
            Issue.record("\(abandoned)")
            return
        }
        #expect(small.pendingCount == 0)
    }

    @Test func aFullClientTableStillAnswers() throws {
        var responder = NeighborResponder(mac: TakeoverLab.ourMAC, clientCapacity: 2)
        try responder.owned.insert(.v4(TakeoverLab.ownedIPv4))
        var sink = InMemoryPacketQueue(capacity: 8)
        for last in UInt8(1)...4 {
            let request = FrameBuilder.ARP.request(
                senderMAC: MACAddress(0x02, 0, 0, 0, 1, last), senderAddress: IPv4Address(198, 51, 100, last),
                targetAddress: TakeoverLab.ownedIPv4)
            var frame = [UInt8](repeating: 0, count: 60)
            _ = try frame.withUnsafeMutableBytes { try request.write(into: $0) }
            let response = try frame.withUnsafeBytes { try responder.respond(toFrame: $0, via: &sink) }
            #expect({ if case .answered = response { true } else { false } }())
        }
        #expect(responder.counters.arpRepliesSent == 4)
        #expect(responder.clients.count == 2)
        #expect(responder.counters.clientsNotRecorded == 2)
    }
}
