/// A 48-bit Ethernet address, stored in the low 48 bits of a `UInt64` (first octet most significant).
public struct MACAddress: Hashable, Sendable, BitwiseCopyable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
        self.init(rawValue: [a, b, c, d, e, f].reduce(0) { $0 << 8 | UInt64($1) })
    }

    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)
    public static let zero = MACAddress(rawValue: 0)

    /// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated), case-insensitive. Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        var value: UInt64 = 0
        var octets = 0
        for part in text.split(separator: text.contains("-") ? "-" : ":", omittingEmptySubsequences: false) {
            guard part.count == 2, let octet = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(octet)
            octets += 1
        }
        guard octets == 6 else { return nil }
        self.init(rawValue: value)
    }

    /// Reads six octets at `offset`; the caller has checked the bounds.
    @inlinable @inline(__always)
    public init(reading bytes: UnsafeRawBufferPointer, at offset: Int) {
        let high = UInt64(bytes.loadBigEndian(at: offset, as: UInt16.self))
        let low = UInt64(bytes.loadBigEndian(at: offset + 2, as: UInt32.self))
        self.init(rawValue: high << 32 | low)
    }

    /// Writes the six octets at `offset`; the caller has checked the bounds.
    @inlinable @inline(__always)
    public func write(to bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBigEndian(UInt16(truncatingIfNeeded: rawValue >> 32), at: offset)
        bytes.storeBigEndian(UInt32(truncatingIfNeeded: rawValue), at: offset + 2)
    }

    public var octets: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * $0)) } }

    /// Group bit: multicast or broadcast.
    @inlinable public var isMulticast: Bool { rawValue & 0x0100_0000_0000 != 0 }
    @inlinable public var isBroadcast: Bool { self == .broadcast }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        octets.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}
