import TakeoverCore
import Testing

@Suite struct FrameBuilderBoundsTests {
    /// One builder under test and the frame length it promises.
    struct Case: Sendable {
        typealias Build = @Sendable (UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int
        let name: String
        let required: Int
        let build: Build
        init(_ name: String, _ required: Int, _ build: @escaping Build) {
            (self.name, self.required, self.build) = (name, required, build)
        }
        var asTuple: (String, Int, Build) { (name, required, build) }
    }

    /// Every builder, with and without a VLAN tag.
    static let builders: [Case] = {
        var all: [Case] = []
        for vlan in [nil, BuilderLab.vlan] {
            let tag = vlan == nil ? "" : " tagged"
            let arps: [(String, FrameBuilder.ARP)] = [
                (
                    "ARP request",
                    .request(
                        senderMAC: BuilderLab.ourMAC, senderAddress: BuilderLab.peerIPv4,
                        targetAddress: BuilderLab.clientIPv4)
                ),
                (
                    "ARP reply",
                    .reply(
                        senderMAC: BuilderLab.ourMAC, senderAddress: BuilderLab.peerIPv4,
                        targetMAC: BuilderLab.clientMAC,
                        targetAddress: BuilderLab.clientIPv4)
                ),
                ("gratuitous ARP request", .gratuitousRequest(mac: BuilderLab.ourMAC, address: BuilderLab.peerIPv4)),
                ("gratuitous ARP reply", .gratuitousReply(mac: BuilderLab.ourMAC, address: BuilderLab.peerIPv4)),
            ]
            for (name, untagged) in arps {
                var tagged = untagged
                tagged.vlan = vlan
                let arp = tagged
                all.append(
                    Case(name + tag, FrameBuilder.ARP.frameLength(vlan: vlan)) { b throws(FrameBuildError) in
                        try arp.write(into: b)
                    })
            }
            let na = FrameBuilder.NeighborAdvertisement.unsolicited(
                senderMAC: BuilderLab.ourMAC, target: BuilderLab.peerIPv6, vlan: vlan)
            let naLength = FrameBuilder.NeighborAdvertisement.frameLength(vlan: vlan)
            all.append(
                Case("neighbor advertisement" + tag, naLength) { b throws(FrameBuildError) in try na.write(into: b) })
            for (family, source, destination) in [
                ("IPv4", FlowAddress(BuilderLab.peerIPv4), FlowAddress(BuilderLab.clientIPv4)),
                ("IPv6", FlowAddress(BuilderLab.peerIPv6), FlowAddress(BuilderLab.clientIPv6)),
            ] {
                let session = FrameBuilder.TCPControl(
                    sourceMAC: BuilderLab.ourMAC, destinationMAC: BuilderLab.clientMAC, source: source,
                    destination: destination,
                    sourcePort: 80, destinationPort: 40_000, sequence: 1, acknowledgment: 2, window: 3,
                    timestamp: .init(value: 4, echoReply: 5), vlan: vlan)
                all.append(
                    Case("\(family) RST" + tag, session.resetFrameLength) { b throws(FrameBuildError) in
                        try session.writeReset(into: b)
                    })
                all.append(
                    Case("\(family) ACK" + tag, session.acknowledgmentFrameLength) { b throws(FrameBuildError) in
                        try session.writeAcknowledgment(into: b)
                    })
            }
        }
        return all
    }()

    /// For every size short of the frame: `bufferTooSmall` with both sizes, and not one byte written, neither
    /// inside the short buffer nor past its end. At the exact size the frame fits.
    @Test func tooSmallBufferThrowsAndWritesNothing() {
        let marker: UInt8 = 0x5A
        for (name, required, build) in Self.builders.map(\.asTuple) {
            for available in 0...required {
                var backing = [UInt8](repeating: marker, count: required + 16)
                let outcome = backing.withUnsafeMutableBytes { all -> Result<Int, FrameBuildError> in
                    let buffer = UnsafeMutableRawBufferPointer(rebasing: all[..<available])
                    do throws(FrameBuildError) { return .success(try build(buffer)) } catch { return .failure(error) }
                }
                if available < required {
                    #expect(outcome == .failure(.bufferTooSmall(required: required, available: available)), "\(name)")
                    #expect(backing.allSatisfy { $0 == marker }, "\(name) wrote into a \(available)-byte buffer")
                } else {
                    #expect(outcome == .success(required), "\(name)")
                    #expect(backing[required...].allSatisfy { $0 == marker }, "\(name) wrote past its frame")
                }
            }
        }
    }

    /// The builders use unaligned stores: a frame written at any start address is the same frame, and a
    /// buffer larger than the frame gets the same bytes as one of the exact size.
    @Test func frameIsTheSameAtEveryAlignment() throws {
        for (name, required, build) in Self.builders.map(\.asTuple) {
            var reference = [UInt8](repeating: 0, count: required)
            _ = try reference.withUnsafeMutableBytes { bytes in try build(bytes) }
            for start in 1..<8 {
                var backing = [UInt8](repeating: 0xFF, count: start + required + 32)
                _ = try backing.withUnsafeMutableBytes { all in
                    try build(UnsafeMutableRawBufferPointer(rebasing: all[start...]))
                }
                #expect(Array(backing[start..<(start + required)]) == reference, "\(name) at offset \(start)")
            }
        }
    }
}
