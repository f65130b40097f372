public import TakeoverCore

/// `FrameError` without its payload: the key drops of malformed frames are counted under. One counter per
/// case keeps the counts a fixed array (no dictionary on the receive thread).
public enum MalformedFrameReason: Int, Hashable, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case truncated
    case unsupportedEtherType
    case tooManyVLANTags
    case unsupportedARPFormat
    case badIPVersion
    case badIPv4HeaderLength
    case badIPv4TotalLength
    case badIPv6PayloadLength
    case badIPv6ExtensionHeaderLength
    case misplacedHopByHopHeader
    case tooManyExtensionHeaders
    case badTCPDataOffset
    case badTCPOptionLength
    case badUDPLength
    case badNeighborDiscoveryOptionLength

    @inlinable
    public init(_ error: FrameError) {
        switch error {
        case .truncated: self = .truncated
        case .unsupportedEtherType: self = .unsupportedEtherType
        case .tooManyVLANTags: self = .tooManyVLANTags
        case .unsupportedARPFormat: self = .unsupportedARPFormat
        case .badIPVersion: self = .badIPVersion
        case .badIPv4HeaderLength: self = .badIPv4HeaderLength
        case .badIPv4TotalLength: self = .badIPv4TotalLength
        case .badIPv6PayloadLength: self = .badIPv6PayloadLength
        case .badIPv6ExtensionHeaderLength: self = .badIPv6ExtensionHeaderLength
        case .misplacedHopByHopHeader: self = .misplacedHopByHopHeader
        case .tooManyExtensionHeaders: self = .tooManyExtensionHeaders
        case .badTCPDataOffset: self = .badTCPDataOffset
        case .badTCPOptionLength: self = .badTCPOptionLength
        case .badUDPLength: self = .badUDPLength
        case .badNeighborDiscoveryOptionLength: self = .badNeighborDiscoveryOptionLength
        }
    }

    public var description: String {
        switch self {
        case .truncated: "truncated"
        case .unsupportedEtherType: "unsupported EtherType"
        case .tooManyVLANTags: "too many VLAN tags"
        case .unsupportedARPFormat: "unsupported ARP format"
        case .badIPVersion: "bad IP version"
        case .badIPv4HeaderLength: "bad IPv4 header length"
        case .badIPv4TotalLength: "bad IPv4 total length"
        case .badIPv6PayloadLength: "bad IPv6 payload length"
        case .badIPv6ExtensionHeaderLength: "bad IPv6 extension header length"
        case .misplacedHopByHopHeader: "misplaced hop-by-hop header"
        case .tooManyExtensionHeaders: "too many IPv6 extension headers"
        case .badTCPDataOffset: "bad TCP data offset"
        case .badTCPOptionLength: "bad TCP option length"
        case .badUDPLength: "bad UDP length"
        case .badNeighborDiscoveryOptionLength: "bad neighbor discovery option length"
        }
    }
}

/// Malformed frames counted by reason: a fixed inline array, so counting never allocates.
public struct MalformedFrameCounts: Sendable, Equatable, CustomStringConvertible {
    @usableFromInline var counts = InlineArray<15, UInt64>(repeating: 0)

    public init() {}

    @inlinable public subscript(reason: MalformedFrameReason) -> UInt64 {
        get { counts[reason.rawValue] }
        set { counts[reason.rawValue] = newValue }
    }

    public var total: UInt64 { MalformedFrameReason.allCases.reduce(0) { $0 &+ self[$1] } }

    public static func == (lhs: MalformedFrameCounts, rhs: MalformedFrameCounts) -> Bool {
        MalformedFrameReason.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }

    /// The non-zero counts, e.g. "bad UDP length: 3, truncated: 1".
    public var description: String {
        let parts = MalformedFrameReason.allCases.filter { self[$0] != 0 }.map { "\($0): \(self[$0])" }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
