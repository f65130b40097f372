// Frames the engine sends, written in place into a caller's buffer (later a UMEM transmit frame): no
// allocation, no intermediate copy. Every builder checks the buffer's size once, before writing anything,
// and throws `FrameBuildError.bufferTooSmall` instead of writing past its end.
//
// The header code every builder shares lives here, once: Ethernet II with an optional 802.1Q tag (plus the
// zero padding up to the minimum frame size), the IPv4 header with its checksum, the IPv6 header.
//
//   | dst MAC (6) | src MAC (6) | [0x8100 | TCI] | EtherType (2) | IPv4 / IPv6 / ARP ... | zero pad to 60 |

/// Namespace of the in-place frame builders: `ARP`, `NeighborAdvertisement`, `TCPControl`, and
/// `turnAroundEchoRequest(in:replyFrom:)`.
public enum FrameBuilder {}

extension FrameBuilder {
    /// TTL / hop limit of the IP packets the engine originates (Linux's default).
    @inlinable static var defaultHopLimit: UInt8 { 64 }

    @inlinable static var ipv4HeaderLength: Int { 20 }
    @inlinable static var ipv6HeaderLength: Int { 40 }

    /// Bytes of the Ethernet II header, with the 802.1Q tag when there is one.
    @inlinable
    static func ethernetHeaderLength(vlan: VLANTag?) -> Int { vlan == nil ? 14 : 18 }

    /// The length of a frame whose headers and payload take `contentLength` bytes after the Ethernet header:
    /// short frames are zero-padded to 60 bytes (the Ethernet minimum without FCS, which NICs on the transmit
    /// path do not always add), plus the tag's four so the frame is still 60 bytes when a switch strips it.
    @inlinable
    static func frameLength(contentLength: Int, vlan: VLANTag?) -> Int {
        let headerLength = ethernetHeaderLength(vlan: vlan)
        return max(headerLength + contentLength, 60 + headerLength - 14)
    }

    /// Where a frame's content starts and where the frame ends.
    @usableFromInline
    struct Layout {
        /// Offset of the first byte after the Ethernet header (and tag): the ARP or IP header.
        @usableFromInline let contentOffset: Int
        /// Total frame length including padding; the builders' return value.
        @usableFromInline let frameLength: Int

        @inlinable init(contentOffset: Int, frameLength: Int) {
            self.contentOffset = contentOffset
            self.frameLength = frameLength
        }
    }

    /// Checks that `buffer` holds the whole frame, then writes the Ethernet header (and tag) and the zero
    /// padding after the content. The caller writes `contentLength` bytes at `contentOffset`.
    @inlinable
    static func beginFrame(
        in buffer: UnsafeMutableRawBufferPointer, destination: MACAddress, source: MACAddress, vlan: VLANTag?,
        etherType: UInt16, contentLength: Int
    ) throws(FrameBuildError) -> Layout {
        let contentOffset = ethernetHeaderLength(vlan: vlan)
        let length = frameLength(contentLength: contentLength, vlan: vlan)
        guard buffer.count >= length else { throw .bufferTooSmall(required: length, available: buffer.count) }
        destination.write(to: buffer, at: 0)
        source.write(to: buffer, at: 6)
        if let vlan {
            buffer.storeBigEndian(EtherType.vlan, at: 12)
            buffer.storeBigEndian(vlan.tagControlInformation, at: 14)
        }
        buffer.storeBigEndian(etherType, at: contentOffset - 2)
        let contentEnd = contentOffset + contentLength
        if contentEnd < length {
            _ = UnsafeMutableRawBufferPointer(rebasing: buffer[contentEnd..<length])
                .initializeMemory(as: UInt8.self, repeating: 0)
        }
        return Layout(contentOffset: contentOffset, frameLength: length)
    }

    /// Writes a 20-byte IPv4 header (no options, DF set, identification 0 as Linux does for DF packets)
    /// with its header checksum at `offset`. The caller has checked the bounds.
    @inlinable
    static func writeIPv4Header(
        into buffer: UnsafeMutableRawBufferPointer, at offset: Int, source: IPv4Address,
        destination: IPv4Address, protocolNumber: UInt8, payloadLength: Int, timeToLive: UInt8
    ) {
        let versionAndLength: UInt16 = 0x4500  // version 4, IHL 5, DSCP/ECN 0
        let totalLength = UInt16(truncatingIfNeeded: ipv4HeaderLength + payloadLength)
        let identification: UInt16 = 0
        let flagsAndOffset: UInt16 = 0x4000  // DF, fragment offset 0
        let timeToLiveAndProtocol = UInt16(timeToLive) << 8 | UInt16(protocolNumber)
        buffer.storeBigEndian(versionAndLength, at: offset)
        buffer.storeBigEndian(totalLength, at: offset + 2)
        buffer.storeBigEndian(identification, at: offset + 4)
        buffer.storeBigEndian(flagsAndOffset, at: offset + 6)
        buffer.storeBigEndian(timeToLiveAndProtocol, at: offset + 8)
        source.write(to: buffer, at: offset + 12)
        destination.write(to: buffer, at: offset + 16)
        // Summed from the values just written rather than read back: a wide load over freshly stored
        // narrow fields stalls on store-to-load forwarding.
        var sum = InternetChecksum()
        sum.add(versionAndLength)
        sum.add(totalLength)
        sum.add(identification)
        sum.add(flagsAndOffset)
        sum.add(timeToLiveAndProtocol)
        sum.add(source)
        sum.add(destination)
        buffer.storeBigEndian(sum.checksum, at: offset + 10)
    }

    /// Writes a 40-byte IPv6 header (traffic class and flow label 0) at `offset`. The caller has checked
    /// the bounds.
    @inlinable
    static func writeIPv6Header(
        into buffer: UnsafeMutableRawBufferPointer, at offset: Int, source: IPv6Address,
        destination: IPv6Address, nextHeader: UInt8, payloadLength: Int, hopLimit: UInt8
    ) {
        buffer.storeBigEndian(UInt32(0x6000_0000), at: offset)
        buffer.storeBigEndian(UInt16(truncatingIfNeeded: payloadLength), at: offset + 4)
        buffer.storeBigEndian(UInt16(nextHeader) << 8 | UInt16(hopLimit), at: offset + 6)
        source.write(to: buffer, at: offset + 8)
        destination.write(to: buffer, at: offset + 24)
    }
}

extension MACAddress {
    /// The Ethernet group address an IPv6 multicast group maps to (RFC 2464 §7): 33:33 and the group's last
    /// 32 bits. `ff02::1` maps to 33:33:00:00:00:01.
    @inlinable
    public static func ipv6Multicast(_ group: IPv6Address) -> MACAddress {
        MACAddress(rawValue: 0x3333_0000_0000 | group.low & 0xFFFF_FFFF)
    }
}
