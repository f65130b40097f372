// The frames the PcapReceive benchmarks inject on a namespace's loopback: 192.0.2.1 → 192.0.2.2 (TEST-NET-1;
// no local address has them, so the kernel drops them after the capture), zero MACs (loopback), valid checksums.
import TakeoverCore

enum LoopbackFrame {
    static let source = IPv4Address(192, 0, 2, 1)
    static let destination = IPv4Address(192, 0, 2, 2)
    /// Bytes of payload in either frame.
    static let payloadLength = 18

    /// UDP 12345 → 9: a 60-byte frame.
    static let udp: [UInt8] = frame(protocolNumber: 17, transportHeader: [0x30, 0x39, 0, 9, 0, 26, 0, 0])

    /// TCP 12345 → 9, PSH|ACK, seq 1000, ack 2000, window 65535: a 72-byte frame whose payload a
    /// `SessionPayloadStore` takes.
    static let tcp: [UInt8] = frame(
        protocolNumber: 6,
        transportHeader: [
            0x30, 0x39, 0, 9, 0, 0, 0x03, 0xE8, 0, 0, 0x07, 0xD0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0,
        ])

    /// The TCP frame from another MAC (02:00:00:00:00:01) to the all-zero one: with the pipeline's peer MAC zero, a
    /// client's frame TO the peer (the unanswered-requests rule counts it), where `tcp` is one FROM the peer.
    static let tcpToPeer: [UInt8] = {
        var frame = tcp
        frame[6] = 0x02
        frame[11] = 0x01
        return frame
    }()

    /// Ethernet + IPv4 + `transportHeader` + payload, with the IPv4 header checksum and the transport checksum
    /// (offset 6 for UDP, 16 for TCP) filled in.
    private static func frame(protocolNumber: UInt8, transportHeader: [UInt8]) -> [UInt8] {
        let transportLength = transportHeader.count + payloadLength
        var ip: [UInt8] = [0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocolNumber, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]
        ip[2] = UInt8((20 + transportLength) >> 8)
        ip[3] = UInt8((20 + transportLength) & 0xFF)
        var ipSum = InternetChecksum()
        ip.withUnsafeBytes { ipSum.add(bytes: $0) }
        ip[10] = UInt8(ipSum.checksum >> 8)
        ip[11] = UInt8(ipSum.checksum & 0xFF)

        var transport = transportHeader + (0..<payloadLength).map { UInt8($0) }
        var sum = InternetChecksum.ipv4PseudoHeader(
            source: source, destination: destination, protocolNumber: protocolNumber,
            length: UInt16(transportLength))
        transport.withUnsafeBytes { sum.add(bytes: $0) }
        let checksumOffset = protocolNumber == 6 ? 16 : 6
        transport[checksumOffset] = UInt8(sum.checksum >> 8)
        transport[checksumOffset + 1] = UInt8(sum.checksum & 0xFF)

        var ethernet = [UInt8](repeating: 0, count: 14)
        ethernet[12] = 0x08
        return ethernet + ip + transport
    }
}
