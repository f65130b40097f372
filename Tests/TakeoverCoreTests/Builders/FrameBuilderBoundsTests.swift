import TakeoverCore
import Testing

@Suite struct FrameBuilderBoundsTests {
    typealias Build = @Sendable (UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int

    /// Every builder, with and without a VLAN tag, and the length it promises.
    static let builders: [(name: String, required: Int, build: Build)] = {
        var all: [(String, Int, Build)] = []
        for vlan in [nil, Lab.vlan] {
            let tag = vlan == nil ? "" : " tagged"
            let arps: [(String, FrameBuilder.ARP)] = [
                ("ARP request", .request(senderMAC: Lab.ourMAC, senderAddress: Lab.peerIPv4, targetAddress: Lab.clientIPv4, vlan: vlan)),
                ("ARP reply", .reply(senderMAC: Lab.ourMAC, senderAddress: Lab.peerIPv4, targetMAC: Lab.clientMAC, targetAddress: Lab.clientIPv4, vlan: vlan)),
                ("gratuitous ARP request", .gratuitousRequest(mac: Lab.ourMAC, address: Lab.peerIPv4, vlan: vlan)),
                ("gratuitous ARP reply", .gratuitousReply(mac: Lab.ourMAC, address: Lab.peerIPv4, vlan: vlan)),
            ]
            for (name, arp) in arps {
                all.append((name + tag, FrameBuilder.ARP.frameLength(vlan: vlan), { b throws(FrameBuildError) in try arp.write(into: b) }))
            }
            let na = FrameBuilder.NeighborAdvertisement.unsolicited(senderMAC: Lab.ourMAC, target: Lab.peerIPv6, vlan: vlan)
            all.append(("neighbor advertisement" + tag, FrameBuilder.NeighborAdvertisement.frameLength(vlan: vlan), { b throws(FrameBuildError) in try na.write(into: b) }))
            for (family, source, destination) in [
                ("IPv4", FlowAddress(Lab.peerIPv4), FlowAddress(Lab.clientIPv4)),
                ("IPv6", FlowAddress(Lab.peerIPv6), FlowAddress(Lab.clientIPv6)),
            ] {
                let session = FrameBuilder.TCPControl(
                    sourceMAC: Lab.ourMAC, destinationMAC: Lab.clientMAC, source: source, destination: destination,
                    sourcePort: 80, destinationPort: 40_000, sequence: 1, acknowledgment: 2, window: 3,
                    timestamp: .init(value: 4, echoReply: 5), vlan: vlan)
                all.append(("\(family) RST" + tag, session.resetFrameLength, { b throws(FrameBuildError) in try session.writeReset(into: b) }))
                all.append(("\(family) ACK" + tag, session.acknowledgmentFrameLength, { b throws(FrameBuildError) in try session.writeAcknowledgment(into: b) }))
            }
        }
        return all
    }()

    /// For every size short of the frame: `bufferTooSmall` with both sizes, and not one byte written, neither
    /// inside the short buffer nor past its end. At the exact size the frame fits.
    @Test func tooSmallBufferThrowsAndWritesNothing() {
        let marker: UInt8 = 0x5A
        for (name, required, build) in Self.builders {
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
        for (name, required, build) in Self.builders {
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
