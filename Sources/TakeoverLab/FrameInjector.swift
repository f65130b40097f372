import Foundation
public import TakeoverCore
public import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// Sends hand-made Ethernet frames from a lab host (AF_PACKET, send only): an intruder's forged or replayed
/// packets, with whatever source addresses they claim. Documentation ranges only, as every lab frame.
public final class FrameInjector: @unchecked Sendable {
    private let descriptor: Int32

    public init(lab: NetworkLab, host: LabHost, interface: String = "eth0") throws {
        descriptor = try lab.withNamespace(of: host) { try TrafficGenerator.openSocket(interface: interface) }
    }

    deinit { close(descriptor) }

    /// Sends one frame; throws when the kernel refuses it.
    public func send(_ frame: [UInt8]) throws(SystemCallError) {
        try systemCall("send(AF_PACKET)") { frame.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) } }
    }

    /// An Ethernet + IPv4 + UDP frame carrying `payload` (IPv4 header checksum computed; UDP checksum 0, "none").
    public static func udpFrame(
        from sourceMAC: MACAddress, to destinationMAC: MACAddress, source: IPv4Address, destination: IPv4Address,
        sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]
    ) -> [UInt8] {
        func bytes(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
        func bytes(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
        func mac(_ address: MACAddress) -> [UInt8] { address.description.split(separator: ":").map { UInt8($0, radix: 16)! } }
        var ip: [UInt8] = [0x45, 0] + bytes(UInt16(20 + 8 + payload.count)) + [0, 0, 0x40, 0, 64, 17, 0, 0]
        ip += bytes(source.rawValue) + bytes(destination.rawValue)
        let checksum = ip.withUnsafeBytes { InternetChecksum.checksum(of: $0) }
        ip[10] = UInt8(checksum >> 8)
        ip[11] = UInt8(checksum & 0xFF)
        let udp = bytes(sourcePort) + bytes(destinationPort) + bytes(UInt16(8 + payload.count)) + [0, 0]
        return mac(destinationMAC) + mac(sourceMAC) + [0x08, 0x00] + ip + udp + payload
    }
}
