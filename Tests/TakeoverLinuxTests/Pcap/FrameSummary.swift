import TakeoverCore

/// What a test needs to know about a captured Ethernet frame, copied out of the lent bytes.
/// A deliberately small, independent decoder (Ethernet, ARP, IPv4, ICMP/UDP/TCP) so the tests do not
/// rest on the engine's own parser.
struct FrameSummary: CustomStringConvertible {
    var source: MACAddress
    var destination: MACAddress
    var etherType: UInt16
    var capturedLength: Int
    var wireLength: Int
    var timestamp: MonotonicTime
    var ipSource: IPv4Address?
    var ipDestination: IPv4Address?
    var ipProtocol: UInt8?
    var sourcePort: UInt16?
    var destinationPort: UInt16?
    var tcpFlags: UInt8?
    var icmpType: UInt8?
    var arpSender: IPv4Address?
    var arpTarget: IPv4Address?
    var icmpv6Type: UInt8?
    /// Target address of a neighbour solicitation or advertisement.
    var neighbourTarget: IPv6Address?
    var payload: [UInt8] = []

    static let arp: UInt16 = 0x0806
    static let ipv4: UInt16 = 0x0800
    static let ipv6: UInt16 = 0x86DD

    init?(_ frame: ReceivedFrame) {
        let bytes = frame.bytes
        guard bytes.count >= 14 else { return nil }
        destination = MACAddress(reading: bytes, at: 0)
        source = MACAddress(reading: bytes, at: 6)
        etherType = bytes.loadBigEndian(at: 12, as: UInt16.self)
        capturedLength = bytes.count
        wireLength = frame.wireLength
        timestamp = frame.timestamp
        if etherType == Self.arp, bytes.count >= 14 + 28 {
            arpSender = IPv4Address(reading: bytes, at: 14 + 14)
            arpTarget = IPv4Address(reading: bytes, at: 14 + 24)
        } else if etherType == Self.ipv6, bytes.count >= 14 + 40 + 4, bytes[14 + 6] == IPProtocolNumber.icmpv6 {
            let type = bytes[14 + 40]
            icmpv6Type = type
            if type == 135 || type == 136, bytes.count >= 14 + 40 + 24 {
                neighbourTarget = IPv6Address(reading: bytes, at: 14 + 40 + 8)
            }
        } else if etherType == Self.ipv4, bytes.count >= 14 + 20 {
            let headerLength = Int(bytes[14] & 0x0F) * 4
            let totalLength = Int(bytes.loadBigEndian(at: 16, as: UInt16.self))
            ipProtocol = bytes[14 + 9]
            ipSource = IPv4Address(reading: bytes, at: 14 + 12)
            ipDestination = IPv4Address(reading: bytes, at: 14 + 16)
            let transport = 14 + headerLength
            let end = min(bytes.count, 14 + totalLength)
            switch ipProtocol {
            case IPProtocolNumber.icmp where end >= transport + 8:
                icmpType = bytes[transport]
            case IPProtocolNumber.udp where end >= transport + 8:
                sourcePort = bytes.loadBigEndian(at: transport, as: UInt16.self)
                destinationPort = bytes.loadBigEndian(at: transport + 2, as: UInt16.self)
                payload = Array(bytes[(transport + 8)..<end])
            case IPProtocolNumber.tcp where end >= transport + 20:
                sourcePort = bytes.loadBigEndian(at: transport, as: UInt16.self)
                destinationPort = bytes.loadBigEndian(at: transport + 2, as: UInt16.self)
                tcpFlags = bytes[transport + 13]
                let dataOffset = Int(bytes[transport + 12] >> 4) * 4
                if end >= transport + dataOffset { payload = Array(bytes[(transport + dataOffset)..<end]) }
            default:
                break
            }
        }
    }

    var isSYN: Bool { tcpFlags.map { $0 & 0x12 == 0x02 } ?? false }
    var isSYNACK: Bool { tcpFlags.map { $0 & 0x12 == 0x12 } ?? false }

    var description: String {
        var text = "\(source) > \(destination) type 0x\(String(etherType, radix: 16))"
        if let ipSource, let ipDestination, let ipProtocol {
            text += " \(ipSource):\(sourcePort ?? 0) > \(ipDestination):\(destinationPort ?? 0) proto \(ipProtocol)"
        }
        if let arpSender, let arpTarget { text += " arp \(arpSender) -> \(arpTarget)" }
        if let icmpv6Type { text += " icmp6 type \(icmpv6Type)" }
        if let neighbourTarget { text += " target \(neighbourTarget)" }
        return text
    }
}
