import TakeoverCore
import Testing

/// Echo requests come from scapy (an independent encoder), are turned around in place, and go to tshark
/// and scapy (independent decoders).
@Suite struct EchoTurnaroundBuilderTests {
    static let client = "src='02:00:00:00:00:0c', dst='02:00:00:00:00:0a'"
    static let v4 = "src='198.51.100.20', dst='192.0.2.10'"
    static let v6 = "src='2001:db8:1::c', dst='2001:db8::a'"

    static func turnAround(_ frame: [UInt8], replyFrom: MACAddress? = nil) throws -> [UInt8] {
        var reply = frame
        let length = try reply.withUnsafeMutableBytes { bytes in
            try FrameBuilder.turnAroundEchoRequest(in: bytes, replyFrom: replyFrom)
        }
        #expect(length == frame.count)
        return reply
    }

    /// Tries the turnaround on a copy of `frame`; returns the error it threw, after checking that the copy
    /// is still byte for byte the frame.
    static func refusal(of frame: [UInt8]) -> EchoTurnaroundError? {
        var copy = frame
        let error = copy.withUnsafeMutableBytes { bytes -> EchoTurnaroundError? in
            do throws(EchoTurnaroundError) {
                _ = try FrameBuilder.turnAroundEchoRequest(in: bytes, replyFrom: BuilderLab.ourMAC)
                return nil
            } catch {
                return error
            }
        }
        if error != nil { #expect(copy == frame, "refused, but changed the frame") }
        return error
    }

    @Test func repliesDecodeWithGoodChecksums() throws {
        let requests = try Judge.scapyBuild([
            "Ether(\(Self.client))/IP(\(Self.v4), ttl=55, id=0x4242)"
                + "/ICMP(type=8, id=0x1234, seq=7)/Raw(b'takeover' * 5)",
            // Odd payload length, and one VLAN tag.
            "Ether(\(Self.client))/Dot1Q(vlan=42)/IP(\(Self.v4), ttl=3)/ICMP(type=8, id=1, seq=65535)/Raw(b'x' * 33)",
            // QinQ: a service tag outside a customer tag.
            "Ether(\(Self.client))/Dot1AD(vlan=100)/Dot1Q(vlan=42)/IP(\(Self.v4))/ICMP(type=8, id=9, seq=9)",
            "Ether(\(Self.client))/IPv6(\(Self.v6), hlim=50)"
                + "/ICMPv6EchoRequest(id=0x1234, seq=7, data=b'takeover' * 5)",
            "Ether(\(Self.client))/Dot1Q(vlan=42)/IPv6(\(Self.v6))/ICMPv6EchoRequest(id=2, seq=3, data=b'y' * 7)",
        ])
        let isIPv4 = [true, true, true, false, false]
        let payloadLengths = [40, 33, 0, 40, 7]
        let replies = try requests.enumerated().map { index, request in
            try Self.turnAround(request, replyFrom: index.isMultiple(of: 2) ? BuilderLab.ourMAC : nil)
        }
        for (index, (request, reply)) in zip(requests, replies).enumerated() {
            // Only headers change: the payload is where it was, as it was.
            #expect(request.suffix(payloadLengths[index]) == reply.suffix(payloadLengths[index]))
        }

        let packets = try Judge.tshark(replies)
        try #require(packets.count == replies.count)
        for (index, packet) in packets.enumerated() {
            #expect(packet["eth.dst"] == "02:00:00:00:00:0c", "\(packet)")
            #expect(packet["eth.src"] == (index.isMultiple(of: 2) ? "02:00:00:00:00:0b" : "02:00:00:00:00:0a"))
            if isIPv4[index] {
                #expect(packet["ip.src"] == "192.0.2.10")
                #expect(packet["ip.dst"] == "198.51.100.20")
                #expect(packet["ip.ttl"] == "64")
                #expect(packet["ip.checksum.status"] == Judge.checksumGood)
                #expect(packet["icmp.type"] == "0")
                #expect(packet["icmp.code"] == "0")
                #expect(packet["icmp.checksum.status"] == Judge.checksumGood)
            } else {
                #expect(packet["ipv6.src"] == "2001:db8::a")
                #expect(packet["ipv6.dst"] == "2001:db8:1::c")
                #expect(packet["ipv6.hlim"] == "64")
                #expect(packet["icmpv6.type"] == "129")
                #expect(packet["icmpv6.code"] == "0")
                #expect(packet["icmpv6.checksum.status"] == Judge.checksumGood)
            }
            #expect(packet.expertWarnings.isEmpty)
        }
        #expect(packets[0]["icmp.ident"] == "4660")
        #expect(packets[0]["icmp.seq"] == "7")
        #expect(packets[0]["ip.id"] == "0x4242")
        #expect(packets[0]["data.data"] == Array(repeating: "74:61:6b:65:6f:76:65:72", count: 5).joined(separator: ":"))
        #expect(packets[1]["vlan.id"] == "42")
        #expect(packets[2]["ieee8021ad.id"] == "100")
        #expect(packets[2]["vlan.id"] == "42")
        #expect(packets[3]["icmpv6.echo.identifier"] == "0x1234")
        #expect(packets[3]["icmpv6.echo.sequence_number"] == "7")

        let verdicts = try Judge.scapy(replies)
        for (index, verdict) in verdicts.enumerated() {
            #expect(verdict.checksumsRecomputeIdentically, "scapy computes other checksums for reply \(index)")
        }
        #expect(verdicts.map { $0.checksumFields.count } == [2, 2, 2, 1, 1])
    }

    /// The update is incremental: a request with a wrong checksum yields a reply with a wrong one, which a
    /// receiver drops just as it would have dropped the request.
    @Test func keepsABadChecksumBad() throws {
        let requests = try Judge.scapyBuild([
            "Ether(\(Self.client))/IP(\(Self.v4))/ICMP(type=8, chksum=0x1234)",
            "Ether(\(Self.client))/IPv6(\(Self.v6))/ICMPv6EchoRequest(cksum=0x1234)",
        ])
        let packets = try Judge.tshark(try requests.map { try Self.turnAround($0) })
        #expect(packets[0]["icmp.checksum.status"] == "0")
        #expect(packets[0]["ip.checksum.status"] == Judge.checksumGood)
        #expect(packets[1]["icmpv6.checksum.status"] == "0")
    }

    @Test func refusesWhatItCannotAnswerAndLeavesItUntouched() throws {
        let cases: [(scapy: String, error: EchoTurnaroundError)] = [
            ("Ether(\(Self.client))/IP(\(Self.v4))/ICMP(type=0)", .notEchoRequest),
            ("Ether(\(Self.client))/IP(\(Self.v4))/ICMP(type=8, code=1)", .notEchoRequest),
            ("Ether(\(Self.client))/IP(\(Self.v4))/UDP(sport=7, dport=7)", .notEchoRequest),
            ("Ether(\(Self.client))/ARP(op=1, psrc='198.51.100.20', pdst='192.0.2.10')", .notEchoRequest),
            ("Ether(\(Self.client))/IPv6(\(Self.v6))/ICMPv6EchoReply()", .notEchoRequest),
            ("Ether(\(Self.client))/IPv6(\(Self.v6))/ICMPv6ND_NS(tgt='2001:db8::a')", .notEchoRequest),
            ("Ether(\(Self.client))/IP(\(Self.v4), options=[IPOption_RR()])/ICMP(type=8)", .unsupportedIPHeader),
            ("Ether(\(Self.client))/IPv6(\(Self.v6))/IPv6ExtHdrHopByHop()/ICMPv6EchoRequest()", .unsupportedIPHeader),
            ("Ether(\(Self.client))/IP(\(Self.v4), flags='MF')/ICMP(type=8)", .fragmented),
            ("Ether(\(Self.client))/IP(\(Self.v4), frag=100)/ICMP(type=8)", .fragmented),
            ("Ether(\(Self.client))/IPv6(\(Self.v6))/IPv6ExtHdrFragment()/ICMPv6EchoRequest()", .fragmented),
            ("Ether(\(Self.client))/IP(src='198.51.100.20', dst='224.0.0.1')/ICMP(type=8)", .multicastDestination),
            (
                "Ether(\(Self.client))/IP(src='198.51.100.20', dst='255.255.255.255')/ICMP(type=8)",
                .multicastDestination
            ),
            (
                "Ether(\(Self.client))/IPv6(src='2001:db8:1::c', dst='ff02::1')/ICMPv6EchoRequest()",
                .multicastDestination
            ),
        ]
        let frames = try Judge.scapyBuild(cases.map(\.scapy))
        for (frame, want) in zip(frames, cases) {
            #expect(Self.refusal(of: frame) == want.error, "\(want.scapy)")
        }
    }

    /// Every proper prefix of a valid request is refused as truncated, untouched: no read or write past it.
    @Test func refusesEveryTruncation() throws {
        let requests = try Judge.scapyBuild([
            "Ether(\(Self.client))/Dot1Q(vlan=42)/IP(\(Self.v4))/ICMP(type=8)/Raw(b'abcdefgh')",
            "Ether(\(Self.client))/IPv6(\(Self.v6))/ICMPv6EchoRequest(data=b'abcdefgh')",
        ])
        for request in requests {
            for length in 0..<request.count {
                #expect(Self.refusal(of: Array(request[..<length])) == .truncated, "prefix of \(length)")
            }
            #expect(Self.refusal(of: request) == nil)
        }
    }

    /// Damaged requests (random bytes overwritten, random lengths) never trap (debug builds check every
    /// raw-buffer access) and a refused one is left untouched.
    @Test func survivesDamagedFrames() throws {
        let requests = try Judge.scapyBuild([
            "Ether(\(Self.client))/Dot1Q(vlan=42)/IP(\(Self.v4))/ICMP(type=8)/Raw(b'abcdefgh')",
            "Ether(\(Self.client))/IPv6(\(Self.v6))/ICMPv6EchoRequest(data=b'abcdefgh')",
        ])
        var generator = BuilderLab.Random(seed: 8)
        var accepted = 0
        for round in 0..<20_000 {
            var frame = requests[round % 2]
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                frame[Int.random(in: 0..<frame.count, using: &generator)] = .random(in: 0 ... .max, using: &generator)
            }
            frame = Array(frame[..<Int.random(in: 0...frame.count, using: &generator)])
            if Self.refusal(of: frame) == nil { accepted += 1 }
        }
        #expect(accepted > 0)
    }
}
