import TakeoverCore
import Testing

@Suite struct NeighborAdvertisementBuilderTests {
    @Test func tsharkDecodesUnsolicitedAndSolicitedForms() throws {
        let na = FrameBuilder.NeighborAdvertisement.self
        let messages: [FrameBuilder.NeighborAdvertisement] = [
            na.unsolicited(senderMAC: BuilderLab.ourMAC, target: BuilderLab.peerIPv6),
            na.solicited(
                senderMAC: BuilderLab.ourMAC, target: BuilderLab.peerIPv6, requesterMAC: BuilderLab.clientMAC,
                requesterAddress: BuilderLab.clientIPv6),
            // Duplicate address detection asks from ::, so the answer goes to all nodes, not solicited.
            na.solicited(
                senderMAC: BuilderLab.ourMAC, target: BuilderLab.peerIPv6, requesterMAC: BuilderLab.clientMAC,
                requesterAddress: .any),
            na.unsolicited(senderMAC: BuilderLab.ourMAC, target: BuilderLab.peerIPv6, vlan: BuilderLab.vlan),
        ]
        let frames = try messages.map { message in
            try BuilderLab.build { buffer throws(FrameBuildError) in try message.write(into: buffer) }
        }
        #expect(frames.map(\.count) == [86, 86, 86, 90])
        #expect(zip(messages, frames).allSatisfy { na.frameLength(vlan: $0.vlan) == $1.count })

        let packets = try Judge.tshark(frames)
        try #require(packets.count == 4)
        let expected: [(ethDst: String, ipDst: String, solicited: String)] = [
            ("33:33:00:00:00:01", "ff02::1", "0"),
            ("02:00:00:00:00:0c", "2001:db8:1::c", "1"),
            ("33:33:00:00:00:01", "ff02::1", "0"),
            ("33:33:00:00:00:01", "ff02::1", "0"),
        ]
        for (packet, want) in zip(packets, expected) {
            #expect(packet["eth.dst"] == want.ethDst, "\(packet)")
            #expect(packet["eth.src"] == "02:00:00:00:00:0b")
            #expect(packet["ipv6.src"] == "2001:db8::a")
            #expect(packet["ipv6.dst"] == want.ipDst)
            #expect(packet["ipv6.hlim"] == "255")
            #expect(packet["ipv6.plen"] == "32")
            #expect(packet["icmpv6.type"] == "136")
            #expect(packet["icmpv6.code"] == "0")
            #expect(packet["icmpv6.checksum.status"] == Judge.checksumGood)
            #expect(packet["icmpv6.nd.na.flag.r"] == "0")
            #expect(packet["icmpv6.nd.na.flag.s"] == want.solicited)
            #expect(packet["icmpv6.nd.na.flag.o"] == "1")
            #expect(packet["icmpv6.nd.na.target_address"] == "2001:db8::a")
            #expect(packet["icmpv6.opt.type"] == "2")
            #expect(packet["icmpv6.opt.length"] == "1")
            #expect(packet["icmpv6.opt.target_linkaddr"] == "02:00:00:00:00:0b")
            #expect(packet.expertWarnings.isEmpty)
        }
        #expect(packets[3]["vlan.id"] == "42")

        let verdicts = try Judge.scapy(frames)
        for verdict in verdicts {
            #expect(verdict.checksumFields == ["ICMPv6ND_NA.cksum"])
            #expect(verdict.checksumsRecomputeIdentically, "scapy computes another ICMPv6 checksum")
            #expect(verdict.layers["ICMPv6ND_NA"]?["O"] == "1")
            #expect(verdict.layers["ICMPv6NDOptDstLLAddr"]?["lladdr"] == "02:00:00:00:00:0b")
        }
        #expect(verdicts.map { $0.layers["ICMPv6ND_NA"]?["S"] } == ["0", "1", "0", "0"])
    }

    @Test func multicastMACOfAllNodes() {
        #expect(MACAddress.ipv6Multicast(.allNodes) == MACAddress("33:33:00:00:00:01"))
        #expect(
            MACAddress.ipv6Multicast(BuilderLab.peerIPv6.solicitedNodeMulticast) == MACAddress("33:33:ff:00:00:0a"))
    }
}
