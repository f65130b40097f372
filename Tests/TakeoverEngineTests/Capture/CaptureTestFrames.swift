import TakeoverCore

/// Hand-built IPv4 frames for the pipeline's in-memory tests: the fields the parser reads, checksums left 0
/// (the parser does not verify them; the tracker does not need them).
enum CaptureTestFrames {
    struct Endpoint {
        var mac: MACAddress
        var ip: IPv4Address
        var port: UInt16
    }

    static let client = Endpoint(mac: MACAddress(0x02, 0, 0, 0, 0, 0x10), ip: IPv4Address(192, 0, 2, 10), port: 40_001)
    static let peer = Endpoint(mac: MACAddress(0x02, 0, 0, 0, 0, 0x20), ip: IPv4Address(192, 0, 2, 20), port: 80)

    static func ipv4(from source: Endpoint, to destination: Endpoint, protocolNumber: UInt8, transport: [UInt8])
        -> [UInt8]
    {
        var frame = [UInt8](repeating: 0, count: 34 + transport.count)
        frame.withUnsafeMutableBytes { bytes in
            destination.mac.write(to: bytes, at: 0)
            source.mac.write(to: bytes, at: 6)
            bytes.storeBigEndian(EtherType.ipv4, at: 12)
            bytes.storeBigEndian(UInt8(0x45), at: 14)
            bytes.storeBigEndian(UInt16(20 + transport.count), at: 16)
            bytes.storeBigEndian(UInt8(64), at: 22)
            bytes.storeBigEndian(protocolNumber, at: 23)
            bytes.storeBigEndian(source.ip.rawValue, at: 26)
            bytes.storeBigEndian(destination.ip.rawValue, at: 30)
        }
        frame.replaceSubrange(34..., with: transport)
        return frame
    }

    static func tcp(
        from source: Endpoint, to destination: Endpoint, sequence: UInt32, acknowledgment: UInt32 = 0,
        flags: TCPFlags, payload: Int = 0, window: UInt16 = 65_535
    ) -> [UInt8] {
        var segment = [UInt8](repeating: 0, count: 20 + payload)
        segment.withUnsafeMutableBytes { bytes in
            bytes.storeBigEndian(source.port, at: 0)
            bytes.storeBigEndian(destination.port, at: 2)
            bytes.storeBigEndian(sequence, at: 4)
            bytes.storeBigEndian(acknowledgment, at: 8)
            bytes.storeBigEndian(UInt16(5 << 12) | flags.rawValue, at: 12)
            bytes.storeBigEndian(window, at: 14)
        }
        return ipv4(from: source, to: destination, protocolNumber: IPProtocolNumber.tcp, transport: segment)
    }

    static func udp(from source: Endpoint, to destination: Endpoint, payload: Int, claimedLength: UInt16? = nil)
        -> [UInt8]
    {
        var datagram = [UInt8](repeating: 0, count: 8 + payload)
        datagram.withUnsafeMutableBytes { bytes in
            bytes.storeBigEndian(source.port, at: 0)
            bytes.storeBigEndian(destination.port, at: 2)
            bytes.storeBigEndian(claimedLength ?? UInt16(8 + payload), at: 4)
        }
        return ipv4(from: source, to: destination, protocolNumber: IPProtocolNumber.udp, transport: datagram)
    }

    static func arpRequest(from source: Endpoint, for target: IPv4Address) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 42)
        frame.withUnsafeMutableBytes { bytes in
            MACAddress.broadcast.write(to: bytes, at: 0)
            source.mac.write(to: bytes, at: 6)
            bytes.storeBigEndian(EtherType.arp, at: 12)
            bytes.storeBigEndian(UInt16(1), at: 14)  // Ethernet
            bytes.storeBigEndian(EtherType.ipv4, at: 16)
            bytes.storeBigEndian(UInt8(6), at: 18)
            bytes.storeBigEndian(UInt8(4), at: 19)
            bytes.storeBigEndian(UInt16(1), at: 20)  // request
            source.mac.write(to: bytes, at: 22)
            bytes.storeBigEndian(source.ip.rawValue, at: 28)
            bytes.storeBigEndian(target.rawValue, at: 38)
        }
        return frame
    }
}
