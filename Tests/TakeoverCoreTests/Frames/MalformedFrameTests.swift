import TakeoverCore
import Testing

/// One damaged frame: a fixture frame with a few bytes changed, and the exact error it must give.
struct Malformation: Sendable, CustomTestStringConvertible {
    var testDescription: String
    /// Fixture the damage is applied to.
    var vector: String
    var error: FrameError
    /// Changes the bytes; offsets come from scapy's description of the frame (L3 = network, L4 = transport).
    var damage: @Sendable (_ bytes: inout [UInt8], _ l3: Int, _ l4: Int) -> Void

    init(
        _ description: String, _ vector: String, _ error: FrameError,
        _ damage: @escaping @Sendable (_ bytes: inout [UInt8], _ l3: Int, _ l4: Int) -> Void
    ) {
        (self.testDescription, self.vector, self.error, self.damage) = (description, vector, error, damage)
    }
}

private func setUInt16(_ bytes: inout [UInt8], _ offset: Int, _ value: Int) {
    bytes[offset] = UInt8(value >> 8)
    bytes[offset + 1] = UInt8(value & 0xFF)
}

// Option layout of "tcp syn mss sackok ts ws": MSS at +20, SACK-permitted +24, timestamps +26, NOP +36, WS +37.
private let syn = "tcp syn mss sackok ts ws"
// "ipv6 hop-by-hop + destination options udp": hop-by-hop (8 bytes) at L3+40, destination options (16) at L3+48.
private let chain = "ipv6 hop-by-hop + destination options udp"

let malformations: [Malformation] = [
    Malformation("LLDP EtherType", "udp ipv4", .unsupportedEtherType(0x88CC)) { b, _, _ in setUInt16(&b, 12, 0x88CC) },
    Malformation("802.3 length instead of an EtherType", "udp ipv4", .unsupportedEtherType(0x0040)) { b, _, _ in
        setUInt16(&b, 12, 0x0040)
    },
    Malformation("unsupported EtherType inside QinQ", "QinQ tcp ipv4", .unsupportedEtherType(0x8847)) { b, _, _ in
        setUInt16(&b, 20, 0x8847)
    },
    Malformation("third VLAN tag", "QinQ tcp ipv4", .tooManyVLANTags) { b, _, _ in
        b.insert(contentsOf: [0x81, 0x00, 0x00, 0x05], at: 20)
    },
    Malformation("ARP hardware type not Ethernet", "arp reply", .unsupportedARPFormat) { b, l3, _ in b[l3 + 1] = 6 },
    Malformation("ARP protocol type IPv6", "arp reply", .unsupportedARPFormat) { b, l3, _ in setUInt16(&b, l3 + 2, 0x86DD) },
    Malformation("ARP protocol address length 16", "arp reply", .unsupportedARPFormat) { b, l3, _ in b[l3 + 5] = 16 },
    Malformation("IPv6 header under EtherType IPv4", "udp ipv4", .badIPVersion(6)) { b, l3, _ in b[l3] = 0x65 },
    Malformation("IPv4 header under EtherType IPv6", "udp ipv6", .badIPVersion(4)) { b, l3, _ in b[l3] = 0x45 },
    Malformation("IPv4 IHL 4", "udp ipv4", .badIPv4HeaderLength(4)) { b, l3, _ in b[l3] = 0x44 },
    Malformation("IPv4 IHL 0", "udp ipv4", .badIPv4HeaderLength(0)) { b, l3, _ in b[l3] = 0x40 },
    Malformation("IPv4 IHL 15 past the total length", "udp ipv4", .badIPv4TotalLength(43)) { b, l3, _ in b[l3] = 0x4F },
    Malformation("IPv4 total length one past the buffer", "udp ipv4", .badIPv4TotalLength(44)) { b, l3, _ in
        setUInt16(&b, l3 + 2, 44)
    },
    Malformation("IPv4 total length below the header", "udp ipv4", .badIPv4TotalLength(19)) { b, l3, _ in
        setUInt16(&b, l3 + 2, 19)
    },
    Malformation("IPv4 total length 65535", "udp ipv4", .badIPv4TotalLength(0xFFFF)) { b, l3, _ in
        setUInt16(&b, l3 + 2, 0xFFFF)
    },
    Malformation("IPv6 payload length one past the buffer", "udp ipv6", .badIPv6PayloadLength(24)) { b, l3, _ in
        setUInt16(&b, l3 + 4, 24)
    },
    Malformation("hop-by-hop length runs past the packet", chain, .badIPv6ExtensionHeaderLength(0)) { b, l3, _ in
        b[l3 + 41] = 200
    },
    Malformation("destination options length runs past the packet", chain, .badIPv6ExtensionHeaderLength(60)) {
        b, l3, _ in b[l3 + 49] = 5
    },
    Malformation("hop-by-hop pointing to itself", chain, .misplacedHopByHopHeader) { b, l3, _ in b[l3 + 40] = 0 },
    Malformation("destination options pointing back to hop-by-hop", chain, .misplacedHopByHopHeader) { b, l3, _ in
        b[l3 + 48] = 0
    },
    // The UDP header (source port 7000 = 0x1B58) then reads as a header of 89 units that cannot fit.
    Malformation("destination options pointing to itself until the packet ends", chain,
        .badIPv6ExtensionHeaderLength(60)) { b, l3, _ in b[l3 + 48] = 60 },
    Malformation("routing header announced, nothing follows", "ipv6 no next header (padded)",
        .truncated(.ipv6ExtensionHeader)) { b, l3, _ in b[l3 + 6] = 43 },
    Malformation("TCP data offset 4", syn, .badTCPDataOffset(4)) { b, _, l4 in b[l4 + 12] = 0x40 },
    Malformation("TCP data offset 0", syn, .badTCPDataOffset(0)) { b, _, l4 in b[l4 + 12] = 0x00 },
    Malformation("TCP data offset past the segment", syn, .badTCPDataOffset(11)) { b, _, l4 in b[l4 + 12] = 0xB0 },
    Malformation("MSS length 5", syn, .badTCPOptionLength(kind: 2)) { b, _, l4 in b[l4 + 21] = 5 },
    Malformation("MSS length 0", syn, .badTCPOptionLength(kind: 2)) { b, _, l4 in b[l4 + 21] = 0 },
    Malformation("MSS length 1", syn, .badTCPOptionLength(kind: 2)) { b, _, l4 in b[l4 + 21] = 1 },
    Malformation("SACK-permitted length 3", syn, .badTCPOptionLength(kind: 4)) { b, _, l4 in b[l4 + 25] = 3 },
    Malformation("timestamps length 9", syn, .badTCPOptionLength(kind: 8)) { b, _, l4 in b[l4 + 27] = 9 },
    Malformation("window scale runs past the options", syn, .badTCPOptionLength(kind: 3)) { b, _, l4 in
        b[l4 + 38] = 4
    },
    Malformation("unknown kind with no room for its length", syn, .badTCPOptionLength(kind: 0xFE)) { b, _, l4 in
        b.replaceSubrange((l4 + 37)..<(l4 + 40), with: [1, 1, 0xFE])
    },
    Malformation("unknown kind runs past the options", "tcp unknown option kinds skipped",
        .badTCPOptionLength(kind: 253)) { b, _, l4 in b[l4 + 21] = 40 },
    Malformation("SACK length not 2 + 8n", "tcp ack ts + 3 sack blocks", .badTCPOptionLength(kind: 5)) {
        b, _, l4 in b[l4 + 35] = 20
    },
    Malformation("SACK with no block", "tcp ack ts + 3 sack blocks", .badTCPOptionLength(kind: 5)) { b, _, l4 in
        b[l4 + 35] = 2
    },
    Malformation("UDP length 7", "udp ipv4", .badUDPLength(7)) { b, _, l4 in setUInt16(&b, l4 + 4, 7) },
    Malformation("UDP length past the IP payload", "udp ipv4", .badUDPLength(24)) { b, _, l4 in
        setUInt16(&b, l4 + 4, 24)
    },
    Malformation("UDP length 7 in a first fragment", "ipv4 first fragment udp", .badUDPLength(7)) { b, _, l4 in
        setUInt16(&b, l4 + 4, 7)
    },
    Malformation("ND option length 0 (would never advance)", "neighbor solicitation",
        .badNeighborDiscoveryOptionLength(type: 1)) { b, _, l4 in b[l4 + 25] = 0 },
    Malformation("ND option runs past the message", "neighbor solicitation",
        .badNeighborDiscoveryOptionLength(type: 1)) { b, _, l4 in b[l4 + 25] = 2 },
    Malformation("ICMPv6 echo cut inside the identifier", "icmpv6 echo request", .truncated(.icmp)) { b, l3, l4 in
        b.removeSubrange((l4 + 6)...)
        setUInt16(&b, l3 + 4, 6)
    },
]

@Suite struct MalformedFrameTests {
    @Test(arguments: malformations)
    func damagedFrameGivesItsTypedReason(_ malformation: Malformation) throws {
        let vector = try FrameFixtures.vector(malformation.vector)
        var bytes = vector.bytes
        // The undamaged frame parses, so the error comes from the damage.
        #expect(throws: Never.self) { try parseOutcome(bytes).get() }
        malformation.damage(&bytes, vector.expected.networkOffset, vector.expected.ip?.transportOffset ?? 0)
        #expect(parseOutcome(bytes) == .failure(malformation.error))
    }

    @Test func endOfListStopsTheOptionWalk() throws {
        let vector = try FrameFixtures.vector(syn)
        var bytes = vector.bytes
        let l4 = try #require(vector.expected.ip).transportOffset
        bytes[l4 + 20] = TCPOptionKind.endOfList
        // What follows end-of-list is padding, even a malformed-looking MSS length.
        bytes[l4 + 21] = 0
        let tcp = try #require(try parseOutcome(bytes).get().tcp)
        #expect(tcp.segment.options == TCPOptionsSummary())
    }

    @Test func eightExtensionHeadersAreReadAndNineAreRefused() throws {
        let eight = try parseOutcome(ipv6FrameWithDestinationOptions(count: 8)).get()
        #expect(eight.ip?.extensionHeaderCount == 8)
        #expect(eight.ip?.transportOffset == UInt16(14 + 40 + 8 * 8))
        guard case .udp(let udp) = eight.transport else {
            Issue.record("expected UDP after eight headers, got \(eight.transport)")
            return
        }
        #expect(udp.sourcePort == 0x1234 && udp.destinationPort == 0x5678 && udp.payloadLength == 0)
        #expect(IPv6PacketView.maximumExtensionHeaders == 8)
        #expect(parseOutcome(ipv6FrameWithDestinationOptions(count: 9)) == .failure(.tooManyExtensionHeaders))
        #expect(parseOutcome(ipv6FrameWithDestinationOptions(count: 40)) == .failure(.tooManyExtensionHeaders))
    }

    @Test func fragmentFlagsFollowMoreFragmentsAndOffset() throws {
        let vector = try FrameFixtures.vector("udp ipv4")
        let l3 = vector.expected.networkOffset
        var bytes = vector.bytes
        bytes[l3 + 6] = 0x40  // don't fragment only: not a fragment
        let unfragmented = try #require(try parseOutcome(bytes).get().ip)
        #expect(!unfragmented.isFragment)
        bytes[l3 + 6] = 0x20  // more fragments, offset 0: a first fragment, transport read
        let first = try parseOutcome(bytes).get()
        #expect(first.ip?.isFragment == true && first.ip?.isNonFirstFragment == false)
        #expect(first.flow != nil)
        setUInt16(&bytes, l3 + 6, 0x0001)  // offset 8, last fragment: no transport header
        let last = try parseOutcome(bytes).get()
        #expect(last.ip?.isFragment == true && last.ip?.fragmentOffset == 8 && last.ip?.moreFragments == false)
        #expect(last.transport == .unparsed && last.flow == nil)
    }
}

/// Ethernet + IPv6 + `count` destination-options headers of 8 bytes + an empty UDP datagram, by hand.
private func ipv6FrameWithDestinationOptions(count: Int) -> [UInt8] {
    var frame: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xDD]
    let payloadLength = 8 * count + 8
    frame += [0x60, 0, 0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xFF), count > 0 ? 60 : 17, 64]
    frame += [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x10]
    frame += [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x20]
    for index in 0..<count {
        frame += [index == count - 1 ? 17 : 60, 0, 1, 4, 0, 0, 0, 0]  // PadN of 4 fills the 8 bytes
    }
    frame += [0x12, 0x34, 0x56, 0x78, 0, 8, 0, 0]
    return frame
}
