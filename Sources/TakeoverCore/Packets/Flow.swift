// The contract between the frame parser (which produces these from captured bytes) and the session
// tracker (which consumes them). Plain values, no references: they cross the SPSC rings by copy.

/// A monotonic point in time in nanoseconds. Core code never reads a clock; callers inject one.
public struct MonotonicTime: Hashable, Comparable, Sendable, BitwiseCopyable {
    public var nanoseconds: UInt64

    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = MonotonicTime(nanoseconds: 0)

    @inlinable public static func < (lhs: MonotonicTime, rhs: MonotonicTime) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    @inlinable public func nanoseconds(since earlier: MonotonicTime) -> UInt64 {
        nanoseconds &- (nanoseconds >= earlier.nanoseconds ? earlier.nanoseconds : nanoseconds)
    }

    @inlinable public static func + (lhs: MonotonicTime, nanoseconds: UInt64) -> MonotonicTime {
        MonotonicTime(nanoseconds: lhs.nanoseconds &+ nanoseconds)
    }
}

/// IP protocol numbers the engine distinguishes.
public enum IPProtocolNumber {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let icmpv6: UInt8 = 58
}

/// One endpoint address of either family in one fixed shape, so a single table holds IPv4 and IPv6 flows.
/// IPv4 uses the IPv4-mapped form `::ffff:a.b.c.d`.
public struct FlowAddress: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    @inlinable public init(_ v4: IPv4Address) {
        self.init(high: 0, low: 0x0000_FFFF_0000_0000 | UInt64(v4.rawValue))
    }

    @inlinable public init(_ v6: IPv6Address) { self.init(high: v6.high, low: v6.low) }

    public init(_ address: IPAddress) {
        switch address {
        case .v4(let v4): self.init(v4)
        case .v6(let v6): self.init(v6)
        }
    }

    @inlinable public var isIPv4: Bool { high == 0 && low >> 32 == 0x0000_FFFF }

    public var ipAddress: IPAddress {
        isIPv4
            ? .v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)))
            : .v6(IPv6Address(high: high, low: low))
    }

    public var description: String { ipAddress.description }
}

/// The 5-tuple of one direction of a flow, as seen on the wire (source → destination).
public struct FlowKey: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var source: FlowAddress
    public var destination: FlowAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// IP protocol number (`IPProtocolNumber`).
    public var protocolNumber: UInt8

    @inlinable
    public init(
        source: FlowAddress, destination: FlowAddress, sourcePort: UInt16, destinationPort: UInt16,
        protocolNumber: UInt8
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.protocolNumber = protocolNumber
    }

    /// The same flow seen from the other side.
    @inlinable public var reversed: FlowKey {
        FlowKey(
            source: destination, destination: source, sourcePort: destinationPort,
            destinationPort: sourcePort, protocolNumber: protocolNumber)
    }

    public var description: String {
        let name = protocolNumber == IPProtocolNumber.tcp ? "tcp" : protocolNumber == IPProtocolNumber.udp ? "udp" : "ip\(protocolNumber)"
        return "\(name) \(source):\(sourcePort) → \(destination):\(destinationPort)"
    }
}

/// TCP header flags (the low nine bits of the offset/flags word).
public struct TCPFlags: OptionSet, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
    public static let ae = TCPFlags(rawValue: 0x100)

    public var description: String {
        let names: [(TCPFlags, String)] = [
            (.syn, "S"), (.fin, "F"), (.rst, "R"), (.psh, "P"), (.ack, "."), (.urg, "U"), (.ece, "E"),
            (.cwr, "W"), (.ae, "A"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined()
    }
}

/// A SACK block: bytes `[left, right)` the receiver holds beyond its cumulative ACK.
public struct SACKBlock: Hashable, Sendable, BitwiseCopyable {
    public var left: UInt32
    public var right: UInt32
    @inlinable public init(left: UInt32, right: UInt32) {
        self.left = left
        self.right = right
    }
}

/// The TCP options the tracker keeps. Absent options have their `has…` flag false; no optionals, so the
/// struct stays a fixed, trivially copyable size.
public struct TCPOptionsSummary: Hashable, Sendable, BitwiseCopyable {
    /// Maximum segment size (kind 2), 0 when absent.
    public var mss: UInt16 = 0
    /// Window scale shift (kind 3); meaningful when `hasWindowScale`.
    public var windowScale: UInt8 = 0
    public var hasWindowScale = false
    /// SACK-permitted (kind 4).
    public var sackPermitted = false
    /// Timestamps (kind 8); meaningful when `hasTimestamp`.
    public var hasTimestamp = false
    public var timestampValue: UInt32 = 0
    public var timestampEcho: UInt32 = 0
    /// SACK blocks (kind 5), at most four fit in the 40 option bytes.
    public var sackBlockCount: UInt8 = 0
    public var sackBlocks: (SACKBlock, SACKBlock, SACKBlock, SACKBlock) = (
        SACKBlock(left: 0, right: 0), SACKBlock(left: 0, right: 0), SACKBlock(left: 0, right: 0),
        SACKBlock(left: 0, right: 0)
    )

    @inlinable public init() {}

    /// Block `index` (< `sackBlockCount`).
    @inlinable public func sackBlock(_ index: Int) -> SACKBlock {
        switch index {
        case 0: sackBlocks.0
        case 1: sackBlocks.1
        case 2: sackBlocks.2
        default: sackBlocks.3
        }
    }

    public static func == (lhs: TCPOptionsSummary, rhs: TCPOptionsSummary) -> Bool {
        lhs.mss == rhs.mss && lhs.windowScale == rhs.windowScale && lhs.hasWindowScale == rhs.hasWindowScale
            && lhs.sackPermitted == rhs.sackPermitted && lhs.hasTimestamp == rhs.hasTimestamp
            && lhs.timestampValue == rhs.timestampValue && lhs.timestampEcho == rhs.timestampEcho
            && lhs.sackBlockCount == rhs.sackBlockCount
            && (0..<Int(lhs.sackBlockCount)).allSatisfy { lhs.sackBlock($0) == rhs.sackBlock($0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(mss)
        hasher.combine(windowScale)
        hasher.combine(hasTimestamp)
        hasher.combine(timestampValue)
    }
}

/// One TCP segment as the tracker needs it: header fields, options, and where its payload lies in the frame.
public struct TCPSegment: Hashable, Sendable, BitwiseCopyable {
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: TCPFlags
    /// Advertised window as on the wire (unscaled).
    public var window: UInt16
    /// Payload bytes carried (excludes SYN/FIN sequence space).
    public var payloadLength: UInt32
    /// Offset of the payload from the start of the frame.
    public var payloadOffset: UInt16
    public var options: TCPOptionsSummary

    @inlinable
    public init(
        sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags, window: UInt16, payloadLength: UInt32,
        payloadOffset: UInt16 = 0, options: TCPOptionsSummary = TCPOptionsSummary()
    ) {
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.window = window
        self.payloadLength = payloadLength
        self.payloadOffset = payloadOffset
        self.options = options
    }

    /// Sequence space this segment occupies: payload plus one for SYN and one for FIN.
    @inlinable public var sequenceLength: UInt32 {
        payloadLength &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
    }
}

/// Serial-number arithmetic on 32-bit TCP sequence numbers (RFC 1982 / RFC 9293 §3.4).
public enum SequenceNumber {
    /// `a` is before `b` in sequence space.
    @inlinable @inline(__always)
    public static func isBefore(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }

    /// `a` is after `b` in sequence space.
    @inlinable @inline(__always)
    public static func isAfter(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) > 0 }

    /// The later of the two in sequence space.
    @inlinable @inline(__always)
    public static func max(_ a: UInt32, _ b: UInt32) -> UInt32 { isAfter(a, b) ? a : b }
}
