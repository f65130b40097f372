// The Internet checksum (RFC 1071): the 16-bit one's-complement of the one's-complement sum of the data
// taken as big-endian 16-bit words, an odd trailing byte padded with a zero byte.
//
// One's-complement addition is commutative and byte-order independent (RFC 1071 §2): summing the data as
// native 64-bit words, folding the result to 16 bits and swapping the two bytes on a little-endian host gives
// the same sum as adding big-endian 16-bit words one by one — eight bytes per add instead of two. The same
// property makes a chunk that starts at an odd position cheap: sum it as if it started at an even one and
// swap the bytes of its folded sum.
//
//   data  : | 45 00 | 00 54 | a1 b2 | 40 00 | 40 01 | ...       big-endian 16-bit words
//   load  :   [ 8 bytes as one native UInt64 ] [ 8 bytes ] ...  64-bit adds, carries counted and added back
//   fold  :   64 → 32 → 16 bits with end-around carry, then to network order
//
// Incremental updates (RFC 1624 Eqn. 3, HC' = ~(~HC + ~m + m')) patch a checksum after a field changed,
// without touching the rest of the data; see `updated(_:replacing:with:)`.
// Ethernet addresses are covered by no IP-layer checksum (neither the IPv4 header checksum nor the TCP, UDP,
// ICMP or ICMPv6 ones, whose pseudo-headers hold IP addresses only), so rewriting a frame's MAC addresses
// needs no checksum update at all. ARP has no checksum either.

/// A running Internet checksum: add data in pieces of any length and alignment, read `checksum` at the end.
///
/// ```
/// var sum = InternetChecksum.ipv4PseudoHeader(source: a, destination: b, protocolNumber: 6, length: 20)
/// sum.add(bytes: tcpHeader)
/// tcpHeader.storeBigEndian(sum.checksum, at: 16)   // with the checksum field zero while summing
/// ```
public struct InternetChecksum: Sendable, BitwiseCopyable {
    /// Sum of big-endian 16-bit words added so far, not yet folded; cannot overflow before 2^48 adds.
    @usableFromInline var accumulator: UInt64
    /// An odd number of bytes has been added, so the next byte is the low half of a 16-bit word.
    @usableFromInline var atOddPosition: Bool

    @inlinable public init() {
        accumulator = 0
        atOddPosition = false
    }

    /// Adds `bytes` as the data following everything added so far (any length, any alignment).
    @inlinable
    public mutating func add(bytes: UnsafeRawBufferPointer) {
        let sum = Self.networkOrderSum(of: bytes)
        accumulator &+= UInt64(atOddPosition ? sum.byteSwapped : sum)
        if bytes.count & 1 != 0 { atOddPosition.toggle() }
    }

    /// Adds `bytes` as the data following everything added so far (any length, any alignment).
    @inlinable
    public mutating func add(bytes: UnsafeMutableRawBufferPointer) {
        add(bytes: UnsafeRawBufferPointer(bytes))
    }

    /// Adds a 16-bit value as the next two bytes, big-endian.
    @inlinable @inline(__always)
    public mutating func add(_ word: UInt16) {
        accumulator &+= UInt64(atOddPosition ? word.byteSwapped : word)
    }

    /// Adds a 32-bit value as the next four bytes, big-endian.
    @inlinable @inline(__always)
    public mutating func add(_ word: UInt32) {
        add(UInt16(truncatingIfNeeded: word >> 16))
        add(UInt16(truncatingIfNeeded: word))
    }

    /// Adds a 64-bit value as the next eight bytes, big-endian.
    @inlinable @inline(__always)
    public mutating func add(_ word: UInt64) {
        add(UInt32(truncatingIfNeeded: word >> 32))
        add(UInt32(truncatingIfNeeded: word))
    }

    /// Adds an IPv4 address as the next four bytes.
    @inlinable @inline(__always)
    public mutating func add(_ address: IPv4Address) { add(address.rawValue) }

    /// Adds an IPv6 address as the next sixteen bytes.
    @inlinable @inline(__always)
    public mutating func add(_ address: IPv6Address) {
        add(address.high)
        add(address.low)
    }

    /// Adds a MAC address as the next six bytes (the ICMPv6 link-layer address options carry one).
    @inlinable @inline(__always)
    public mutating func add(_ address: MACAddress) {
        add(UInt16(truncatingIfNeeded: address.rawValue >> 32))
        add(UInt32(truncatingIfNeeded: address.rawValue))
    }

    /// The one's-complement sum of everything added, folded to 16 bits (not yet complemented).
    @inlinable
    public var foldedSum: UInt16 { Self.fold(accumulator) }

    /// The value for the checksum field: the complement of `foldedSum`. Summing data that already holds a
    /// correct checksum gives `foldedSum == 0xFFFF`, i.e. `checksum == 0`, which is how receivers verify it.
    /// (UDP alone sends a computed 0 as 0xFFFF, since 0 there means "no checksum"; RFC 768.)
    @inlinable
    public var checksum: UInt16 { ~foldedSum }

    /// The checksum of `bytes` alone.
    @inlinable
    public static func checksum(of bytes: UnsafeRawBufferPointer) -> UInt16 {
        ~networkOrderSum(of: bytes)
    }

    // MARK: Pseudo-headers

    /// The IPv4 pseudo-header of TCP and UDP (RFC 9293 §3.1, RFC 768): source, destination, zero, protocol,
    /// and the length of the TCP/UDP header plus payload.
    @inlinable
    public static func ipv4PseudoHeader(
        source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8, length: UInt16
    ) -> InternetChecksum {
        var sum = InternetChecksum()
        sum.add(source)
        sum.add(destination)
        sum.add(UInt16(protocolNumber))
        sum.add(length)
        return sum
    }

    /// The IPv6 pseudo-header of TCP, UDP and ICMPv6 (RFC 8200 §8.1): source, destination, 32-bit
    /// upper-layer length, three zero bytes, next header.
    @inlinable
    public static func ipv6PseudoHeader(
        source: IPv6Address, destination: IPv6Address, nextHeader: UInt8, length: UInt32
    ) -> InternetChecksum {
        var sum = InternetChecksum()
        sum.add(source)
        sum.add(destination)
        sum.add(length)
        sum.add(UInt32(nextHeader))
        return sum
    }

    // MARK: Incremental update (RFC 1624)

    /// The checksum after one 16-bit word of the covered data changed from `old` to `new`:
    /// RFC 1624 Eqn. 3, HC' = ~(~HC + ~m + m'). The word must sit at an even offset from the start of the
    /// checksummed data (true for every header field the engine rewrites).
    @inlinable
    public static func updated(_ checksum: UInt16, replacing old: UInt16, with new: UInt16) -> UInt16 {
        ~fold(UInt64(~checksum) &+ UInt64(~old) &+ UInt64(new))
    }

    /// The checksum after a 32-bit field (two 16-bit words, e.g. an IPv4 address or a sequence number)
    /// changed from `old` to `new`; Eqn. 3 applied to both words at once.
    @inlinable
    public static func updated(_ checksum: UInt16, replacing old: UInt32, with new: UInt32) -> UInt16 {
        let removed = UInt64(~UInt16(truncatingIfNeeded: old >> 16)) &+ UInt64(~UInt16(truncatingIfNeeded: old))
        let added = UInt64(UInt16(truncatingIfNeeded: new >> 16)) &+ UInt64(UInt16(truncatingIfNeeded: new))
        return ~fold(UInt64(~checksum) &+ removed &+ added)
    }

    // MARK: The summing loop

    /// Folds a wide one's-complement sum to 16 bits with end-around carry.
    @inlinable @inline(__always)
    static func fold(_ wide: UInt64) -> UInt16 {
        var sum = (wide & 0xFFFF_FFFF) &+ (wide >> 32)  // ≤ 2^33 - 2
        sum = (sum & 0xFFFF_FFFF) &+ (sum >> 32)  // ≤ 2^32 - 1
        sum = (sum & 0xFFFF) &+ (sum >> 16)  // ≤ 0x1FFFE
        sum = (sum & 0xFFFF) &+ (sum >> 16)  // ≤ 0xFFFF
        return UInt16(truncatingIfNeeded: sum)
    }

    /// The folded one's-complement sum of `bytes` read as big-endian 16-bit words starting at an even
    /// position. Loads are unaligned, so `bytes` may start at any address.
    @inlinable
    static func networkOrderSum(of bytes: UnsafeRawBufferPointer) -> UInt16 {
        guard var cursor = bytes.baseAddress else { return 0 }
        var remaining = bytes.count
        var sum: UInt64 = 0
        // Carries out of bit 63 are counted and added back once at the end (end-around carry).
        var carries: UInt64 = 0
        @inline(__always) func add(_ word: UInt64) {
            let (result, overflow) = sum.addingReportingOverflow(word)
            sum = result
            carries &+= overflow ? 1 : 0
        }
        while remaining >= 32 {
            add(cursor.loadUnaligned(as: UInt64.self))
            add(cursor.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            add(cursor.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            add(cursor.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            cursor += 32
            remaining -= 32
        }
        while remaining >= 8 {
            add(cursor.loadUnaligned(as: UInt64.self))
            cursor += 8
            remaining -= 8
        }
        if remaining > 0 {
            // The last 1–7 bytes as whole 16-bit lanes of one word (where a lane sits in the word does not
            // matter to a lane-wise sum). A final odd byte is the first byte of its lane, zero-padded (RFC 1071):
            // big-endian `byte << 8` read back in native order.
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            if remaining & 4 != 0 {
                tail = UInt64(cursor.loadUnaligned(as: UInt32.self))
                cursor += 4
                shift = 32
            }
            if remaining & 2 != 0 {
                tail |= UInt64(cursor.loadUnaligned(as: UInt16.self)) << shift
                cursor += 2
                shift += 16
            }
            if remaining & 1 != 0 {
                tail |= UInt64(UInt16(bigEndian: UInt16(cursor.load(as: UInt8.self)) << 8)) << shift
            }
            add(tail)
        }
        // Adding the carries back can overflow once more; then the wrapped result is below `carries` (< 2^60),
        // so adding that last carry cannot overflow.
        let (total, overflow) = sum.addingReportingOverflow(carries)
        // The fold works lane-wise, so it is byte-order neutral; only its 16-bit result needs swapping.
        return UInt16(bigEndian: fold(total &+ (overflow ? 1 : 0)))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Stores `value` big-endian at `offset` and patches the big-endian checksum at `checksumOffset` for the
    /// change (RFC 1624), so the rest of the covered data need not be read. The field must sit at an even
    /// distance from the start of the checksummed data; the caller has checked both offsets' bounds.
    @inlinable
    public func storeBigEndian(_ value: UInt16, at offset: Int, updatingChecksumAt checksumOffset: Int) {
        let old: UInt16 = loadBigEndian(at: offset)
        let checksum: UInt16 = loadBigEndian(at: checksumOffset)
        storeBigEndian(value, at: offset)
        storeBigEndian(InternetChecksum.updated(checksum, replacing: old, with: value), at: checksumOffset)
    }

    /// The 32-bit form of `storeBigEndian(_:at:updatingChecksumAt:)`.
    @inlinable
    public func storeBigEndian(_ value: UInt32, at offset: Int, updatingChecksumAt checksumOffset: Int) {
        let old: UInt32 = loadBigEndian(at: offset)
        let checksum: UInt16 = loadBigEndian(at: checksumOffset)
        storeBigEndian(value, at: offset)
        storeBigEndian(InternetChecksum.updated(checksum, replacing: old, with: value), at: checksumOffset)
    }
}
