import TakeoverCore
import Testing

@Suite struct ARPFrameBuilderTests {
    @Test func tsharkDecodesEveryForm() throws {
        let arp = FrameBuilder.ARP.self
        let messages: [FrameBuilder.ARP] = [
            arp.request(
                senderMAC: BuilderLab.ourMAC, senderAddress: BuilderLab.peerIPv4, targetAddress: BuilderLab.clientIPv4),
            arp.reply(
                senderMAC: BuilderLab.ourMAC, senderAddress: BuilderLab.peerIPv4, targetMAC: BuilderLab.clientMAC,
                targetAddress: BuilderLab.clientIPv4),
            arp.gratuitousRequest(mac: BuilderLab.ourMAC, address: BuilderLab.peerIPv4),
            arp.gratuitousReply(mac: BuilderLab.ourMAC, address: BuilderLab.peerIPv4),
            arp.gratuitousReply(mac: BuilderLab.ourMAC, address: BuilderLab.peerIPv4, vlan: BuilderLab.vlan),
        ]
        let frames = try messages.map { message in
            try BuilderLab.build { buffer throws(FrameBuildError) in try message.write(into: buffer) }
        }
        #expect(frames.map(\.count) == [60, 60, 60, 60, 64], "padded to the Ethernet minimum (plus the tag)")
        #expect(zip(messages, frames).allSatisfy { FrameBuilder.ARP.frameLength(vlan: $0.vlan) == $1.count })

        let packets = try Judge.tshark(frames)
        try #require(packets.count == 5)
        let expected: [(ethDst: String, opcode: String, targetMAC: String, targetIP: String, gratuitous: Bool)] = [
            ("ff:ff:ff:ff:ff:ff", "1", "00:00:00:00:00:00", "198.51.100.20", false),
            ("02:00:00:00:00:0c", "2", "02:00:00:00:00:0c", "198.51.100.20", false),
            ("ff:ff:ff:ff:ff:ff", "1", "00:00:00:00:00:00", "192.0.2.10", true),
            ("ff:ff:ff:ff:ff:ff", "2", "02:00:00:00:00:0b", "192.0.2.10", true),
            ("ff:ff:ff:ff:ff:ff", "2", "02:00:00:00:00:0b", "192.0.2.10", true),
        ]
        for (packet, want) in zip(packets, expected) {
            #expect(packet["eth.dst"] == want.ethDst, "\(packet)")
            #expect(packet["eth.src"] == "02:00:00:00:00:0b")
            #expect(packet["arp.hw.type"] == "1")
            #expect(packet["arp.proto.type"] == "0x0800")
            #expect(packet["arp.opcode"] == want.opcode)
            #expect(packet["arp.src.hw_mac"] == "02:00:00:00:00:0b")
            #expect(packet["arp.src.proto_ipv4"] == "192.0.2.10")
            #expect(packet["arp.dst.hw_mac"] == want.targetMAC)
            #expect(packet["arp.dst.proto_ipv4"] == want.targetIP)
            #expect((packet["arp.isgratuitous"] == "1") == want.gratuitous, "\(packet)")
            #expect(packet.expertWarnings.isEmpty)
        }
        #expect(packets[4]["vlan.id"] == "42")
        #expect(packets[4]["vlan.priority"] == "5")
        #expect(packets[4]["vlan.etype"] == "0x0806")

        let verdicts = try Judge.scapy(frames)
        #expect(verdicts.map { $0.layers["ARP"]?["op"] } == ["1", "2", "1", "2", "2"])
        #expect(verdicts.map { $0.layers["ARP"]?["pdst"] } == expected.map(\.targetIP))
        #expect(verdicts[4].layers["Dot1Q"]?["vlan"] == "42")
    }
}
