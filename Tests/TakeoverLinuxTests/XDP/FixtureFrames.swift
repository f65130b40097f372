// Hand-built frames for the XDP fixtures: plain byte arrays, written out so each test shows the exact bytes
// the program sees. Addresses are TEST-NET / documentation ranges only.

enum Fixture {
    static let ownMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    static let peerMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
    static let clientMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x03]
    static let broadcastMAC: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

    static let watchedIPv4: [UInt8] = [192, 0, 2, 10]  // the peer's address
    static let otherIPv4: [UInt8] = [192, 0, 2, 11]
    static let clientIPv4: [UInt8] = [192, 0, 2, 20]
    static let watchedIPv6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]  // 2001:db8::10
    static let otherIPv6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11]
    static let clientIPv6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20]

    static let etherTypeIPv4: [UInt8] = [0x08, 0x00]
    static let etherTypeARP: [UInt8] = [0x08, 0x06]
    static let etherTypeIPv6: [UInt8] = [0x86, 0xDD]
    static let etherType8021Q: [UInt8] = [0x81, 0x00]
    static let etherType8021AD: [UInt8] = [0x88, 0xA8]

    /// Destination, source, then any VLAN tags (each: TPID + TCI), then the EtherType and payload.
    static func ethernet(to destination: [UInt8], from source: [UInt8], vlans: [(tpid: [UInt8], id: UInt16)] = [],
                         type: [UInt8], payload: [UInt8]) -> [UInt8] {
        var frame = destination + source
        for tag in vlans { frame += tag.tpid + [UInt8(tag.id >> 8), UInt8(tag.id & 0xFF)] }
        return frame + type + payload
    }

    /// IPv4 header (no options, checksum left zero: the program does not check it) + 8 bytes of UDP-ish payload.
    static func ipv4Packet(from source: [UInt8], to destination: [UInt8]) -> [UInt8] {
        [0x45, 0x00, 0x00, 28, 0x00, 0x01, 0x00, 0x00, 64, 17, 0x00, 0x00] + source + destination
            + [0x30, 0x39, 0x00, 0x50, 0x00, 0x08, 0x00, 0x00]
    }

    /// ARP for Ethernet/IPv4: operation 1 = request, 2 = reply.
    static func arp(operation: UInt8, senderMAC: [UInt8], senderIP: [UInt8], targetMAC: [UInt8],
                    targetIP: [UInt8]) -> [UInt8] {
        [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, operation] + senderMAC + senderIP + targetMAC + targetIP
    }

    static func arpRequest(for target: [UInt8]) -> [UInt8] {
        arp(operation: 1, senderMAC: clientMAC, senderIP: clientIPv4, targetMAC: [0, 0, 0, 0, 0, 0], targetIP: target)
    }

    /// IPv6 header with the given next header and payload (hop limit 255, as ND requires).
    static func ipv6Packet(nextHeader: UInt8, from source: [UInt8], to destination: [UInt8],
                           payload: [UInt8]) -> [UInt8] {
        [0x60, 0x00, 0x00, 0x00, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF), nextHeader, 255]
            + source + destination + payload
    }

    /// ICMPv6 neighbour solicitation for `target` with a source link-layer address option (checksum not set).
    static func neighborSolicitation(for target: [UInt8]) -> [UInt8] {
        let icmp: [UInt8] = [135, 0, 0x00, 0x00, 0, 0, 0, 0] + target + [1, 1] + clientMAC
        return ipv6Packet(nextHeader: 58, from: clientIPv6, to: solicitedNode(target), payload: icmp)
    }

    static func solicitedNode(_ address: [UInt8]) -> [UInt8] {
        [0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF] + address[13...]
    }

    static func solicitedNodeMAC(_ address: [UInt8]) -> [UInt8] {
        [0x33, 0x33, 0xFF] + address[13...]
    }

    /// `frame` with its destination MAC replaced, as the takeover rewrite should leave it.
    static func rewritingDestination(_ frame: [UInt8], to mac: [UInt8]) -> [UInt8] {
        mac + frame[6...]
    }
}
