/// An IPv4 address; `rawValue` is the address as a host-order integer (192.0.2.1 is 0xC000_0201).
public struct IPv4Address: Hashable, Sendable, BitwiseCopyable, Comparable, CustomStringConvertible {
    public let rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text (`192.0.2.1`); no leading zeros, no shorthand.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII),
                !(part.count > 1 && part.first == "0"), let octet = UInt8(part)
            else { return nil }
            value = value << 8 | UInt32(octet)
        }
        self.rawValue = value
    }

    @inlinable @inline(__always)
    public init(reading bytes: UnsafeRawBufferPointer, at offset: Int) {
        self.rawValue = bytes.loadBigEndian(at: offset)
    }

    @inlinable @inline(__always)
    public func write(to bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBigEndian(rawValue, at: offset)
    }

    public static let any = IPv4Address(rawValue: 0)
    public static let broadcast = IPv4Address(rawValue: 0xFFFF_FFFF)

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }
}

/// An IPv6 address as two host-order 64-bit halves (`high` holds the first eight octets).
public struct IPv6Address: Hashable, Sendable, BitwiseCopyable, Comparable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    @inlinable @inline(__always)
    public init(reading bytes: UnsafeRawBufferPointer, at offset: Int) {
        self.high = bytes.loadBigEndian(at: offset)
        self.low = bytes.loadBigEndian(at: offset + 8)
    }

    @inlinable @inline(__always)
    public func write(to bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBigEndian(high, at: offset)
        bytes.storeBigEndian(low, at: offset + 8)
    }

    /// The eight 16-bit groups, first group first.
    public var groups: [UInt16] {
        (0..<8).map { i in UInt16(truncatingIfNeeded: (i < 4 ? high : low) >> (48 - 16 * (i % 4))) }
    }

    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has eight groups")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
        self.init(high: high, low: low)
    }

    /// Parses RFC 4291 text (`2001:db8::1`, `::`, `fe80::1:2`); embedded IPv4 tails and zone ids are refused.
    public init?(_ text: some StringProtocol) {
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = parseGroups(halves[0]) else { return nil }
        if halves.count == 1 {
            guard head.count == 8 else { return nil }
            self.init(groups: head)
        } else {
            guard let tail = parseGroups(halves[1]), head.count + tail.count <= 7 else { return nil }
            self.init(groups: head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail)
        }
    }

    /// Solicited-node multicast address (ff02::1:ffXX:XXXX) for neighbor solicitations.
    public var solicitedNodeMulticast: IPv6Address {
        IPv6Address(high: 0xFF02_0000_0000_0000, low: 0x0000_0001_FF00_0000 | (low & 0x00FF_FFFF))
    }

    public static let any = IPv6Address(high: 0, low: 0)
    public static let allNodes = IPv6Address(high: 0xFF02_0000_0000_0000, low: 1)

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// RFC 5952 text: lowercase, longest run of two or more zero groups shortened to `::`.
    public var description: String {
        let groups = self.groups
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength { (bestStart, bestLength) = (index, end - index) }
            index = end
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        return hex[..<bestStart].joined(separator: ":") + "::"
            + hex[(bestStart + bestLength)...].joined(separator: ":")
    }
}

/// Either family, for configuration and for APIs that take both.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: some StringProtocol) {
        if let v4 = IPv4Address(text) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }
}

extension StringProtocol {
    /// Splits on the first `::` only (the IPv6 shorthand); a second `::` yields three parts.
    fileprivate func components(separatedByDoubleColon: Void) -> [Substring] {
        let text = Substring(self)
        var parts: [Substring] = []
        var rest = text[...]
        while let range = rest.firstRange(of: "::") {
            parts.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}
