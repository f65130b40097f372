public import TakeoverCore
internal import CTakeoverPcap

/// The standby's capture selection as a libpcap filter expression: every frame to or from the peer's
/// MAC (both directions of its sessions), plus ARP and IPv6 neighbour discovery about the watched IPs
/// (who asks for them and who answers, whatever MAC they use). The same selection the XDP program makes.
public struct PeerCaptureFilter: Hashable, Sendable {
    public var peerMAC: MACAddress
    public var watchedAddresses: [IPAddress]

    public init(peerMAC: MACAddress, watchedAddresses: [IPAddress]) {
        self.peerMAC = peerMAC
        self.watchedAddresses = watchedAddresses
    }

    /// The pcap-filter(7) expression.
    public var expression: String {
        var clauses = ["ether host \(peerMAC)"]
        for address in watchedAddresses {
            switch address {
            case .v4(let v4):
                // Sender or target protocol address of an ARP packet.
                clauses.append("(arp host \(v4))")
            case .v6(let v6):
                // Neighbour solicitation (135) or advertisement (136) whose target is the address. ND
                // carries no extension headers, so the ICMPv6 header sits at ip6[40] and the target at
                // ip6[48..64]; libpcap has no primitive for the target.
                let words = [v6.high >> 32, v6.high & 0xFFFF_FFFF, v6.low >> 32, v6.low & 0xFFFF_FFFF]
                let target = words.enumerated().map { index, word in
                    "ip6[\(48 + 4 * index):4] = 0x\(String(word, radix: 16))"
                }
                clauses.append(
                    "(icmp6 and (ip6[40] = 135 or ip6[40] = 136) and \(target.joined(separator: " and ")))")
            }
        }
        return clauses.joined(separator: " or ")
    }

    /// Checks that `expression` compiles for Ethernet, without opening a device (no privileges needed).
    public static func validate(_ expression: String, snapshotLength: Int = 65535) throws(PcapCaptureError) {
        let errorBuffer = PcapErrorBuffer()
        if takeover_pcap_check_filter(expression, Int32(snapshotLength), errorBuffer.pointer) != TAKEOVER_PCAP_OK {
            throw .badFilter(expression: expression, message: errorBuffer.message)
        }
    }
}

/// libpcap's fixed-size error buffer, allocated once per owner so calls that succeed allocate nothing.
final class PcapErrorBuffer {
    let pointer: UnsafeMutablePointer<CChar>

    init() {
        pointer = .allocate(capacity: Int(TAKEOVER_PCAP_ERRBUF_SIZE))
        pointer.initialize(repeating: 0, count: Int(TAKEOVER_PCAP_ERRBUF_SIZE))
    }

    deinit { pointer.deallocate() }

    var message: String { String(cString: pointer) }
}
