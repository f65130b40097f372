// Why a frame could not be read. One small enum so `throws(FrameError)` never boxes an existential.
//
// The cases follow one rule: if the buffer ends inside the fixed part of a header, the layer is
// `truncated`; if a length field inside a header claims more (or less) than is there, the error names that
// field. A frame cut short by a capture snap length therefore reads as `truncated`, and a frame whose own
// headers contradict each other reads as the bad field.

/// The header a `FrameError.truncated` stopped in.
public enum FrameLayer: UInt8, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    case ethernet
    case vlanTag
    case arp
    case ipv4
    case ipv6
    case ipv6ExtensionHeader
    case tcp
    case udp
    /// ICMPv4 or ICMPv6 header (type, code, checksum, and the echo identifier/sequence when an echo).
    case icmp
    /// ICMPv6 neighbor solicitation/advertisement body or one of its options.
    case neighborDiscovery

    public var description: String {
        switch self {
        case .ethernet: "Ethernet"
        case .vlanTag: "VLAN tag"
        case .arp: "ARP"
        case .ipv4: "IPv4"
        case .ipv6: "IPv6"
        case .ipv6ExtensionHeader: "IPv6 extension header"
        case .tcp: "TCP"
        case .udp: "UDP"
        case .icmp: "ICMP"
        case .neighborDiscovery: "neighbor discovery"
        }
    }
}

/// A typed reason a frame is refused. Parsing never traps and never reads outside the buffer it was given.
public enum FrameError: Error, Hashable, Sendable, BitwiseCopyable {
    /// The buffer ends inside the fixed part of this layer's header.
    case truncated(FrameLayer)
    /// The EtherType after any VLAN tags is not one this parser reads (or is an 802.3 length field).
    case unsupportedEtherType(UInt16)
    /// A third VLAN tag: only 802.1Q and QinQ (two tags) are read.
    case tooManyVLANTags
    /// ARP for something other than Ethernet hardware addresses and IPv4 protocol addresses.
    case unsupportedARPFormat
    /// The IP version nibble disagrees with the EtherType.
    case badIPVersion(UInt8)
    /// IPv4 IHL (in 32-bit words) below 5.
    case badIPv4HeaderLength(UInt8)
    /// IPv4 total length shorter than the header or longer than the buffer.
    case badIPv4TotalLength(UInt16)
    /// IPv6 payload length longer than the buffer.
    case badIPv6PayloadLength(UInt16)
    /// An IPv6 extension header (its type is the payload) whose length runs past the IPv6 payload.
    case badIPv6ExtensionHeaderLength(UInt8)
    /// A hop-by-hop options header anywhere but directly after the IPv6 header (RFC 8200 §4.3).
    case misplacedHopByHopHeader
    /// More IPv6 extension headers than `IPv6PacketView.maximumExtensionHeaders`.
    case tooManyExtensionHeaders
    /// TCP data offset (in 32-bit words) below 5, or past the end of the IP payload.
    case badTCPDataOffset(UInt8)
    /// A TCP option (its kind is the payload) whose length is below 2, runs past the options, or is wrong for
    /// the kind (MSS 4, window scale 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n with n in 1...4).
    case badTCPOptionLength(kind: UInt8)
    /// UDP length below 8 or longer than the IP payload.
    case badUDPLength(UInt16)
    /// A neighbor discovery option (its type is the payload) with length 0 or running past the message.
    case badNeighborDiscoveryOptionLength(type: UInt8)
}
