// ICMP echo reply made from the received echo request in place: the frame's own bytes become the reply, so
// the payload is never copied. Swapping the two addresses leaves every checksum valid (one's-complement
// addition is commutative, and the ICMPv6 pseudo-header only sums them), so only the changed words are
// patched, incrementally (RFC 1624): the type (8 → 0, 128 → 129) in the ICMP checksum and, for IPv4, the
// reset TTL in the header checksum. A request that arrived with a bad checksum keeps a bad one: a
// receiver drops the reply exactly as it would have dropped the request.
//
//   before:  | A-MAC B-MAC [tags] | IP A → B, TTL t | type 8   | ck  | id seq data |
//   after:   | B-MAC* A-MAC [tags] | IP B → A, TTL 64 | type 0   | ck' | id seq data |     * or `replyFrom`

extension FrameBuilder {
    /// Turns the echo request that fills `frame` (IPv4 ICMP type 8 or IPv6 ICMPv6 type 128, behind up to
    /// two VLAN tags) into the echo reply in place and returns the frame's length, which does not change.
    /// The reply's Ethernet source is `replyFrom`, or the request's Ethernet destination when nil.
    /// Checks everything before changing a byte: on a throw the frame is untouched.
    @inlinable
    public static func turnAroundEchoRequest(
        in frame: UnsafeMutableRawBufferPointer, replyFrom sourceMAC: MACAddress? = nil
    ) throws(EchoTurnaroundError) -> Int {
        guard frame.count >= 14 else { throw .truncated }
        var etherTypeOffset = 12
        var etherType: UInt16 = frame.loadBigEndian(at: etherTypeOffset)
        var tags = 0
        while tags < 2 && EtherType.isVLANTag(etherType) {
            tags += 1
            etherTypeOffset += 4
            guard frame.count >= etherTypeOffset + 2 else { throw .truncated }
            etherType = frame.loadBigEndian(at: etherTypeOffset)
        }
        let ip = etherTypeOffset + 2
        switch etherType {
        case EtherType.ipv4: try turnAroundIPv4EchoRequest(in: frame, at: ip)
        case EtherType.ipv6: try turnAroundIPv6EchoRequest(in: frame, at: ip)
        default: throw .notEchoRequest
        }
        let bytes = UnsafeRawBufferPointer(frame)
        let requester = MACAddress(reading: bytes, at: 6)
        let replier = sourceMAC ?? MACAddress(reading: bytes, at: 0)
        requester.write(to: frame, at: 0)
        replier.write(to: frame, at: 6)
        return frame.count
    }

    @inlinable
    static func turnAroundIPv4EchoRequest(
        in frame: UnsafeMutableRawBufferPointer, at ip: Int
    ) throws(EchoTurnaroundError) {
        guard frame.count >= ip + ipv4HeaderLength else { throw .truncated }
        let versionAndLength = frame[ip]
        guard versionAndLength >> 4 == 4 else { throw .notEchoRequest }
        guard versionAndLength & 0x0F == 5 else { throw .unsupportedIPHeader }
        let totalLength = Int(frame.loadBigEndian(at: ip + 2, as: UInt16.self))
        guard totalLength >= ipv4HeaderLength + 8, ip + totalLength <= frame.count else { throw .truncated }
        guard frame.loadBigEndian(at: ip + 6, as: UInt16.self) & 0x3FFF == 0 else { throw .fragmented }  // MF, offset
        guard frame[ip + 9] == IPProtocolNumber.icmp else { throw .notEchoRequest }
        let source: UInt32 = frame.loadBigEndian(at: ip + 12)
        let destination: UInt32 = frame.loadBigEndian(at: ip + 16)
        guard destination >> 28 < 0xE else { throw .multicastDestination }  // 224/4 multicast, 240/4 and broadcast
        let icmp = ip + ipv4HeaderLength
        guard frame.loadBigEndian(at: icmp, as: UInt16.self) == 0x0800 else { throw .notEchoRequest }

        frame.storeBigEndian(destination, at: ip + 12)
        frame.storeBigEndian(source, at: ip + 16)
        frame.storeBigEndian(
            UInt16(defaultHopLimit) << 8 | UInt16(IPProtocolNumber.icmp), at: ip + 8, updatingChecksumAt: ip + 10)
        frame.storeBigEndian(UInt16(0x0000), at: icmp, updatingChecksumAt: icmp + 2)  // echo reply, code 0
    }

    @inlinable
    static func turnAroundIPv6EchoRequest(
        in frame: UnsafeMutableRawBufferPointer, at ip: Int
    ) throws(EchoTurnaroundError) {
        guard frame.count >= ip + ipv6HeaderLength else { throw .truncated }
        guard frame[ip] >> 4 == 6 else { throw .notEchoRequest }
        let payloadLength = Int(frame.loadBigEndian(at: ip + 4, as: UInt16.self))
        guard payloadLength >= 8, ip + ipv6HeaderLength + payloadLength <= frame.count else { throw .truncated }
        switch frame[ip + 6] {
        case IPProtocolNumber.icmpv6: break
        case 44: throw .fragmented
        case 0, 43, 60, 51, 50, 135, 139, 140: throw .unsupportedIPHeader  // RFC 8200 / IANA extension headers
        default: throw .notEchoRequest
        }
        let bytes = UnsafeRawBufferPointer(frame)
        let source = IPv6Address(reading: bytes, at: ip + 8)
        let destination = IPv6Address(reading: bytes, at: ip + 24)
        guard destination.high >> 56 != 0xFF else { throw .multicastDestination }
        let icmp = ip + ipv6HeaderLength
        guard frame.loadBigEndian(at: icmp, as: UInt16.self) == 0x8000 else { throw .notEchoRequest }

        destination.write(to: frame, at: ip + 8)
        source.write(to: frame, at: ip + 24)
        frame[ip + 7] = defaultHopLimit  // covered by no checksum
        frame.storeBigEndian(UInt16(0x8100), at: icmp, updatingChecksumAt: icmp + 2)  // echo reply, code 0
    }
}
