import TakeoverCore
import Testing

/// Seeded random damage to every fixture frame: parsing must throw or give a frame whose every offset and
/// length stays inside the bytes it was given. Run in debug, where an out-of-bounds load traps.
@Suite struct FrameRandomDamageTests {
    @Test(arguments: try FrameFixtures.load())
    func damagedFramesStayInBounds(_ vector: FrameVector) {
        // Seeded from the vector's name, so a failure names a reproducible case.
        var random = SplitMix64(seed: vector.name.utf8.reduce(5381) { ($0 &* 33) &+ UInt64($1) })
        var parsed = 0
        for round in 0..<300 {
            var bytes = vector.bytes
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            // Sometimes also cut, so length fields and damage meet.
            if round % 3 == 0 { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &random)) }
            if case .success(let frame) = parseOutcome(bytes) {
                parsed += 1
                expectInBounds(frame, count: bytes.count, round: round)
            }
        }
        // Most single-byte damage lands in fields that do not matter to the parser; keep the test honest.
        #expect(parsed > 0)
    }

    private func expectInBounds(_ frame: ParsedFrame, count: Int, round: Int) {
        let comment: Comment = "round \(round)"
        #expect(Int(frame.networkOffset) <= count, comment)
        guard let ip = frame.ip else { return }
        let transportEnd = Int(ip.transportOffset) + Int(ip.transportLength)
        #expect(Int(ip.transportOffset) >= Int(frame.networkOffset) && transportEnd <= count, comment)
        switch frame.transport {
        case .tcp(let tcp):
            #expect(Int(tcp.segment.payloadOffset) + Int(tcp.segment.payloadLength) == transportEnd, comment)
            #expect(Int(tcp.segment.payloadOffset) >= Int(ip.transportOffset) + 20, comment)
            #expect(Int(tcp.segment.options.sackBlockCount) <= 4, comment)
        case .udp(let udp):
            #expect(Int(udp.payloadOffset) + Int(udp.payloadLength) <= transportEnd, comment)
        case .icmpEcho(let echo):
            #expect(Int(echo.dataOffset) + Int(echo.dataLength) == transportEnd, comment)
        case .neighborSolicitation, .neighborAdvertisement:
            #expect(Int(ip.transportLength) >= 24, comment)
        case .icmp, .unparsed:
            break
        }
        if ip.isNonFirstFragment { #expect(frame.transport == .unparsed, comment) }
    }
}
