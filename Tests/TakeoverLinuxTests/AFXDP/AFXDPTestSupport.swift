import Foundation
import Glibc
import TakeoverCore
import TakeoverLinux

extension AFXDPSocket {
    /// Copies of received frames (tests may copy; the backend never does). Waits until `expected` frames
    /// arrived or `timeout` passed, then takes whatever else is already in the RX ring. Bounded in time.
    func receiveCopies(expected: Int, timeout: Duration) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while frames.count < expected, clock.now < deadline {
            let remaining = clock.now.duration(to: deadline)
            if try waitForFrames(timeout: min(remaining, .milliseconds(50))) {
                try receive(limit: 64) { frames.append(Array($0.bytes)) }
            }
        }
        // Then what is already there, in at most as many rounds as the pool has frames (traffic may go on).
        var rounds = configuration.receiveFrameCount + 1
        while rounds > 0, try receive(limit: 64, { frames.append(Array($0.bytes)) }) > 0 { rounds -= 1 }
        return frames
    }
}

/// A UDP socket in a lab namespace. The descriptor works from any thread once created in the namespace.
struct LabUDPSocket: Sendable {
    let descriptor: Int32
    let port: UInt16

    struct Failure: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    /// Opens a UDP socket in `namespace`, bound to `address` and an ephemeral port.
    static func open(in namespace: String, address: IPv4Address) throws -> LabUDPSocket {
        try NamespaceLab.inNamespace(namespace) {
            let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw Failure(call: "socket", code: errno) }
            var local = socketAddress(address, port: 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                let code = errno
                Glibc.close(descriptor)
                throw Failure(call: "bind", code: code)
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            return LabUDPSocket(descriptor: descriptor, port: UInt16(bigEndian: local.sin_port))
        }
    }

    static func socketAddress(_ address: IPv4Address, port: UInt16) -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        result.sin_addr.s_addr = address.rawValue.bigEndian
        return result
    }

    func send(_ payload: [UInt8], to address: IPv4Address, port: UInt16) throws {
        var destination = Self.socketAddress(address, port: port)
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == payload.count else { throw Failure(call: "sendto", code: errno) }
    }

    /// The next datagram, or nil when none arrives within `timeout`.
    func receive(timeout: Duration) throws -> [UInt8]? {
        var waiter = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&waiter, 1, Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        guard ready > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard count >= 0 else { throw Failure(call: "recv", code: errno) }
        return Array(buffer.prefix(count))
    }

    func close() { Glibc.close(descriptor) }
}

/// Ethernet + IPv4 + UDP frames, written in place the way the core's frame builders will write into UMEM
/// frames, and read back field by field to check what arrived.
enum LabUDPFrame {
    static let headerLength = 14 + 20 + 8

    struct Fields: Equatable {
        var destinationMAC: MACAddress
        var sourceMAC: MACAddress
        var sourceIP: IPv4Address
        var destinationIP: IPv4Address
        var sourcePort: UInt16
        var destinationPort: UInt16
        var payload: [UInt8]
    }

    /// Writes the frame at offset 0 of `buffer` (checksums included) and returns its length.
    static func write(_ fields: Fields, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let length = headerLength + fields.payload.count
        precondition(buffer.count >= length)
        fields.destinationMAC.write(to: buffer, at: 0)
        fields.sourceMAC.write(to: buffer, at: 6)
        buffer.storeBigEndian(UInt16(0x0800), at: 12)
        // IPv4: version 4, IHL 5, total length, id 0, DF, TTL 64, UDP.
        buffer.storeBigEndian(UInt16(0x4500), at: 14)
        buffer.storeBigEndian(UInt16(20 + 8 + fields.payload.count), at: 16)
        buffer.storeBigEndian(UInt32(0x0000_4000), at: 18)
        buffer.storeBigEndian(UInt16(0x4011), at: 22)
        buffer.storeBigEndian(UInt16(0), at: 24)
        fields.sourceIP.write(to: buffer, at: 26)
        fields.destinationIP.write(to: buffer, at: 30)
        buffer.storeBigEndian(checksum(UnsafeRawBufferPointer(rebasing: buffer[14..<34])), at: 24)
        // UDP with its checksum over the pseudo-header.
        buffer.storeBigEndian(fields.sourcePort, at: 34)
        buffer.storeBigEndian(fields.destinationPort, at: 36)
        buffer.storeBigEndian(UInt16(8 + fields.payload.count), at: 38)
        buffer.storeBigEndian(UInt16(0), at: 40)
        for (index, byte) in fields.payload.enumerated() { buffer[headerLength + index] = byte }
        let sum = udpChecksum(UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        buffer.storeBigEndian(sum == 0 ? 0xFFFF : sum, at: 40)  // 0 would mean "no checksum"
        return length
    }

    /// The fields of a well-formed frame, nil if it is not Ethernet/IPv4/UDP or a length or checksum is wrong.
    /// `checkUDPChecksum: false` for frames captured on a veth from the sender's own stack: veth offers checksum
    /// offload, so the stack leaves only the pseudo-header sum in the field for a device that never fills it in.
    static func read(_ frame: [UInt8], checkUDPChecksum: Bool = true) -> Fields? {
        frame.withUnsafeBytes { bytes -> Fields? in
            guard bytes.count >= headerLength, bytes.loadBigEndian(at: 12, as: UInt16.self) == 0x0800,
                  bytes[14] == 0x45, bytes[23] == 17 else { return nil }
            let ipLength = Int(bytes.loadBigEndian(at: 16, as: UInt16.self))
            let udpLength = Int(bytes.loadBigEndian(at: 38, as: UInt16.self))
            guard ipLength == 20 + udpLength, 14 + ipLength <= bytes.count, udpLength >= 8,
                  checksum(UnsafeRawBufferPointer(rebasing: bytes[14..<34])) == 0 else { return nil }
            let end = 14 + ipLength
            guard !checkUDPChecksum || bytes.loadBigEndian(at: 40, as: UInt16.self) == 0
                    || udpChecksum(UnsafeRawBufferPointer(rebasing: bytes[0..<end])) == 0 else { return nil }
            return Fields(
                destinationMAC: MACAddress(reading: bytes, at: 0), sourceMAC: MACAddress(reading: bytes, at: 6),
                sourceIP: IPv4Address(reading: bytes, at: 26), destinationIP: IPv4Address(reading: bytes, at: 30),
                sourcePort: bytes.loadBigEndian(at: 34, as: UInt16.self),
                destinationPort: bytes.loadBigEndian(at: 36, as: UInt16.self),
                payload: Array(bytes[headerLength..<end]))
        }
    }

    /// RFC 1071 one's-complement sum, complemented; 0 over data that includes a correct checksum.
    static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        var sum = initial
        var index = 0
        while index + 1 < bytes.count {
            sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum &+= UInt32(bytes[index]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// UDP checksum of the frame's datagram, over the IPv4 pseudo-header (addresses, protocol, UDP length).
    static func udpChecksum(_ frame: UnsafeRawBufferPointer) -> UInt16 {
        let udpLength = frame.count - 34
        var pseudo: UInt32 = 17 + UInt32(udpLength)
        for offset in stride(from: 26, to: 34, by: 2) { pseudo &+= UInt32(frame.loadBigEndian(at: offset, as: UInt16.self)) }
        return checksum(UnsafeRawBufferPointer(rebasing: frame[34...]), initial: pseudo)
    }
}
