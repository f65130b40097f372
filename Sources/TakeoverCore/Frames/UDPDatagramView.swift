/// A UDP header (RFC 768) and a payload bounded by the UDP length field.
///
///     0      2      4        6       8
///     | sport| dport| length | csum  | payload
public struct UDPDatagramView {
    /// Header and payload: exactly `length` bytes, or for a first fragment what the fragment carries.
    public let bytes: UnsafeRawBufferPointer

    public static let headerLength = 8

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.headerLength else { throw .truncated(.udp) }
        let length = bytes.loadBigEndian(at: 4, as: UInt16.self)
        guard Int(length) >= Self.headerLength, Int(length) <= bytes.count else { throw .badUDPLength(length) }
        self.bytes = bytes.frameSlice(from: 0, count: Int(length))
    }

    /// The UDP header at the start of an IP first fragment: its length field covers the whole datagram, of
    /// which only `bytes` are here, so the payload is what this fragment carries (never more than `length`).
    @inlinable
    public init(firstFragment bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.headerLength else { throw .truncated(.udp) }
        let length = bytes.loadBigEndian(at: 4, as: UInt16.self)
        guard Int(length) >= Self.headerLength else { throw .badUDPLength(length) }
        self.bytes = bytes.frameSlice(from: 0, count: min(Int(length), bytes.count))
    }

    @inlinable public var sourcePort: UInt16 { bytes.loadBigEndian(at: 0) }
    @inlinable public var destinationPort: UInt16 { bytes.loadBigEndian(at: 2) }
    /// The length field: header plus the whole datagram's payload.
    @inlinable public var length: UInt16 { bytes.loadBigEndian(at: 4) }
    @inlinable public var checksum: UInt16 { bytes.loadBigEndian(at: 6) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.frameSlice(from: Self.headerLength) }
}
