import TakeoverCore
import TakeoverLab
import Testing

/// The generator's frame template and its refusals; the flood itself runs in `CapturePipelineLabTests`.
@Suite struct TrafficGeneratorTests {
    static func configuration(source: IPv4Address = IPv4Address(198, 51, 100, 1), frameLength: Int = 60)
        -> TrafficGenerator.Configuration
    {
        TrafficGenerator.Configuration(
            interface: "lo", sourceMAC: MACAddress(0x02, 0, 0, 0, 0, 1),
            destinationMAC: MACAddress(0x02, 0, 0, 0, 0, 2),
            sourceIP: source, destinationIP: IPv4Address(198, 51, 100, 2), sourcePort: 40_000, destinationPort: 9,
            frameLength: frameLength, maximumFrames: 1, maximumDuration: .milliseconds(10))
    }

    @Test(arguments: [60, 128, 1514])
    func theTemplateIsAValidUDPFrameTheParserReads(length: Int) throws {
        var frame = [UInt8](repeating: 0xAA, count: length)
        frame.withUnsafeMutableBytes {
            TrafficGenerator.writeTemplate(Self.configuration(frameLength: length), into: $0)
        }
        let parsed = try frame.withUnsafeBytes { try FrameParser.parse($0) }
        #expect(
            parsed.source == MACAddress(0x02, 0, 0, 0, 0, 1) && parsed.destination == MACAddress(0x02, 0, 0, 0, 0, 2))
        let flow = try #require(parsed.flow)
        #expect(
            flow.source == FlowAddress(IPv4Address(198, 51, 100, 1)) && flow.sourcePort == 40_000
                && flow.destinationPort == 9)
        guard case .udp(let udp) = parsed.transport else {
            Issue.record("not UDP: \(parsed.transport)")
            return
        }
        #expect(Int(udp.payloadLength) == length - TrafficGenerator.sequenceOffset)
        #expect(Int(udp.payloadOffset) == TrafficGenerator.sequenceOffset)
        // The IPv4 header checksum verifies (sums to zero over the header).
        #expect(
            frame.withUnsafeBytes { InternetChecksum.checksum(of: UnsafeRawBufferPointer(rebasing: $0[14..<34])) } == 0)
    }

    @Test func addressesOutsideTheDocumentationRangesAreRefusedBeforeAnythingIsSent() {
        #expect(throws: TrafficGenerator.GeneratorError.self) {
            try TrafficGenerator.run(Self.configuration(source: IPv4Address(10, 0, 0, 1)))
        }
        #expect(throws: TrafficGenerator.GeneratorError.self) {
            try TrafficGenerator.run(Self.configuration(frameLength: 59))
        }
    }
}
