import TakeoverCore
import Testing

@Suite struct TCPControlBuilderTests {
    /// A tracked session seen from the standby answering for the peer: peer → client, from our MAC.
    static func session(
        _ source: FlowAddress, _ destination: FlowAddress, timestamp: FrameBuilder.TCPControl.Timestamp? = nil,
        vlan: VLANTag? = nil
    ) -> FrameBuilder.TCPControl {
        FrameBuilder.TCPControl(
            sourceMAC: BuilderLab.ourMAC, destinationMAC: BuilderLab.clientMAC, source: source,
            destination: destination,
            sourcePort: 443, destinationPort: 50_123, sequence: 0xFFFF_FFF0, acknowledgment: 0x1234_5678,
            window: 502, timestamp: timestamp, vlan: vlan)
    }

    @Test func tsharkDecodesResetsAndAcknowledgments() throws {
        let timestamp = FrameBuilder.TCPControl.Timestamp(value: 3_000_000_001, echoReply: 77)
        let v4 = Self.session(
            FlowAddress(BuilderLab.peerIPv4), FlowAddress(BuilderLab.clientIPv4), timestamp: timestamp)
        let v6 = Self.session(
            FlowAddress(BuilderLab.peerIPv6), FlowAddress(BuilderLab.clientIPv6), timestamp: timestamp)
        var v4Plain = v4
        v4Plain.timestamp = nil
        var v4Tagged = v4
        v4Tagged.vlan = BuilderLab.vlan

        typealias Build = (UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int
        let builds: [(Build, expectedLength: Int)] = [
            ({ b throws(FrameBuildError) in try v4.writeReset(into: b) }, 60),  // 54 bytes padded
            ({ b throws(FrameBuildError) in try v4.writeAcknowledgment(into: b) }, 66),
            ({ b throws(FrameBuildError) in try v4Plain.writeAcknowledgment(into: b) }, 60),
            ({ b throws(FrameBuildError) in try v6.writeReset(into: b) }, 74),
            ({ b throws(FrameBuildError) in try v6.writeAcknowledgment(into: b) }, 86),
            ({ b throws(FrameBuildError) in try v4Tagged.writeReset(into: b) }, 64),
        ]
        let frames = try builds.map { build, _ in try BuilderLab.build(build) }
        #expect(frames.map(\.count) == builds.map(\.expectedLength))
        #expect(
            [
                v4.resetFrameLength, v4.acknowledgmentFrameLength, v4Plain.acknowledgmentFrameLength,
                v6.resetFrameLength, v6.acknowledgmentFrameLength, v4Tagged.resetFrameLength,
            ] == frames.map(\.count))

        let packets = try Judge.tshark(frames)
        try #require(packets.count == 6)
        let isReset = [true, false, false, true, false, true]
        let hasTimestamp = [false, true, false, false, true, false]
        let isIPv4 = [true, true, true, false, false, true]
        for (index, packet) in packets.enumerated() {
            #expect(packet["eth.dst"] == "02:00:00:00:00:0c", "\(packet)")
            #expect(packet["eth.src"] == "02:00:00:00:00:0b")
            if isIPv4[index] {
                #expect(packet["ip.src"] == "192.0.2.10")
                #expect(packet["ip.dst"] == "198.51.100.20")
                #expect(packet["ip.ttl"] == "64")
                #expect(packet["ip.len"] == (hasTimestamp[index] ? "52" : "40"))
                #expect(packet["ip.checksum.status"] == Judge.checksumGood)
            } else {
                #expect(packet["ipv6.src"] == "2001:db8::a")
                #expect(packet["ipv6.dst"] == "2001:db8:1::c")
                #expect(packet["ipv6.hlim"] == "64")
                #expect(packet["ipv6.plen"] == (hasTimestamp[index] ? "32" : "20"))
            }
            #expect(packet["tcp.srcport"] == "443")
            #expect(packet["tcp.dstport"] == "50123")
            #expect(packet["tcp.seq_raw"] == "4294967280")
            #expect(packet["tcp.ack_raw"] == "305419896")
            #expect(packet["tcp.len"] == "0")
            #expect(packet["tcp.flags.reset"] == (isReset[index] ? "1" : "0"))
            #expect(packet["tcp.flags.ack"] == "1")
            #expect(packet["tcp.flags.syn"] == "0")
            #expect(packet["tcp.flags.fin"] == "0")
            #expect(packet["tcp.flags.push"] == "0")
            #expect(packet["tcp.window_size_value"] == (isReset[index] ? "0" : "502"))
            #expect(packet["tcp.hdr_len"] == (hasTimestamp[index] ? "32" : "20"))
            #expect(packet["tcp.checksum.status"] == Judge.checksumGood)
            #expect(packet["tcp.options.timestamp.tsval"] == (hasTimestamp[index] ? "3000000001" : nil))
            #expect(packet["tcp.options.timestamp.tsecr"] == (hasTimestamp[index] ? "77" : nil))
            // tshark warns about every RST, and about nothing else here.
            #expect(packet.expertWarnings == (isReset[index] ? ["Connection reset (RST)"] : []))
        }
        #expect(packets[5]["vlan.id"] == "42")

        let verdicts = try Judge.scapy(frames)
        for (index, verdict) in verdicts.enumerated() {
            #expect(
                verdict.checksumFields == (isIPv4[index] ? ["IP.chksum", "TCP.chksum"] : ["TCP.chksum"]),
                "frame \(index)")
            #expect(verdict.checksumsRecomputeIdentically, "scapy computes other checksums for frame \(index)")
            #expect(verdict.layers["TCP"]?["flags"] == (isReset[index] ? "RA" : "A"))
            #expect(verdict.layers["TCP"]?["seq"] == "4294967280")
        }
    }

    /// Sequence numbers, ports and addresses vary; scapy must agree on every checksum.
    @Test func checksumsAgreeWithScapyOnRandomSessions() throws {
        var generator = BuilderLab.Random(seed: 9293)
        var frames: [[UInt8]] = []
        for index in 0..<40 {
            let v4 = index % 2 == 0
            let source =
                v4
                ? FlowAddress(IPv4Address(192, 0, 2, UInt8.random(in: 1...254, using: &generator)))
                : FlowAddress(IPv6Address(high: 0x2001_0DB8_0000_0000, low: generator.next()))
            let destination =
                v4
                ? FlowAddress(IPv4Address(203, 0, 113, UInt8.random(in: 1...254, using: &generator)))
                : FlowAddress(IPv6Address(high: 0x2001_0DB8_FFFF_0000, low: generator.next()))
            let session = FrameBuilder.TCPControl(
                sourceMAC: BuilderLab.ourMAC, destinationMAC: BuilderLab.clientMAC, source: source,
                destination: destination,
                sourcePort: .random(in: 1 ... .max, using: &generator),
                destinationPort: .random(in: 1 ... .max, using: &generator),
                sequence: .random(in: 0 ... .max, using: &generator),
                acknowledgment: .random(in: 0 ... .max, using: &generator),
                window: .random(in: 0 ... .max, using: &generator),
                timestamp: .init(
                    value: .random(in: 0 ... .max, using: &generator),
                    echoReply: .random(in: 0 ... .max, using: &generator)))
            frames.append(
                try BuilderLab.build { b throws(FrameBuildError) in try session.writeAcknowledgment(into: b) })
            frames.append(try BuilderLab.build { b throws(FrameBuildError) in try session.writeReset(into: b) })
        }
        let verdicts = try Judge.scapy(frames)
        try #require(verdicts.count == frames.count)
        for (index, verdict) in verdicts.enumerated() {
            #expect(verdict.checksumFields.contains("TCP.chksum"))
            #expect(verdict.checksumsRecomputeIdentically, "frame \(index)")
        }
    }

    @Test func refusesMixedAddressFamilies() {
        let session = Self.session(FlowAddress(BuilderLab.peerIPv4), FlowAddress(BuilderLab.clientIPv6))
        var buffer = [UInt8](repeating: 0xA5, count: 128)
        buffer.withUnsafeMutableBytes { bytes in
            #expect(throws: FrameBuildError.mixedAddressFamilies) { try session.writeReset(into: bytes) }
            #expect(throws: FrameBuildError.mixedAddressFamilies) { try session.writeAcknowledgment(into: bytes) }
        }
        #expect(buffer.allSatisfy { $0 == 0xA5 })
    }
}
