// Builds one netlink message in a caller's buffer, without allocating.
//
//   0       4       6       8          12        16
//   +-------+-------+-------+----------+---------+----------------------+-----------------------------+
//   | len   | type  | flags | sequence | port id | family header        | attribute | attribute | ... |
//   +-------+-------+-------+----------+---------+----------------------+-----------------------------+
//   nlmsghdr (host byte order)           (ifaddrmsg, ifinfomsg, ...)   each: len(2) type(2) payload pad→4
//
// Every part starts on a 4-byte boundary (NLMSG_ALIGN / RTA_ALIGN); padding is written as zeros, and `len`
// covers the padding of the last attribute, as the kernel's own builders do.

/// Writes a message header, a fixed family header and attributes into a buffer; `finish()` sets the length.
public struct NetlinkMessageWriter {
    public static let headerLength = 16
    public static let attributeHeaderLength = 4

    /// Rounds up to the 4-byte netlink alignment (NLMSG_ALIGN, RTA_ALIGN).
    @inlinable @inline(__always)
    public static func align(_ length: Int) -> Int { (length + 3) & ~3 }

    @usableFromInline let buffer: UnsafeMutableRawBufferPointer
    /// Bytes written so far, padding included.
    public private(set) var length: Int

    /// Starts a message at the beginning of `buffer`.
    public init(
        into buffer: UnsafeMutableRawBufferPointer, type: NetlinkMessageType, flags: NetlinkMessageFlags,
        sequence: UInt32, portID: UInt32 = 0
    ) throws(NetlinkError) {
        guard buffer.count >= Self.headerLength else {
            throw .bufferTooSmall(needed: Self.headerLength, available: buffer.count)
        }
        self.buffer = buffer
        self.length = Self.headerLength
        buffer.storeBytes(of: UInt32(Self.headerLength), toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: type.rawValue, toByteOffset: 4, as: UInt16.self)
        buffer.storeBytes(of: flags.rawValue, toByteOffset: 6, as: UInt16.self)
        buffer.storeBytes(of: sequence, toByteOffset: 8, as: UInt32.self)
        buffer.storeBytes(of: portID, toByteOffset: 12, as: UInt32.self)
    }

    /// Reserves `count` bytes plus padding, zeroed, and returns them (without the padding).
    @usableFromInline
    mutating func reserve(_ count: Int) throws(NetlinkError) -> UnsafeMutableRawBufferPointer {
        let end = length + Self.align(count)
        guard end <= buffer.count else { throw .bufferTooSmall(needed: end, available: buffer.count) }
        let region = UnsafeMutableRawBufferPointer(rebasing: buffer[length..<end])
        region.initializeMemory(as: UInt8.self, repeating: 0)
        length = end
        return UnsafeMutableRawBufferPointer(rebasing: region[0..<count])
    }

    /// Appends the fixed family header (`ifaddrmsg`, `ifinfomsg`) of `count` bytes; `write` fills the zeroed
    /// region with host-order fields.
    public mutating func appendFixedHeader(
        count: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(NetlinkError) {
        write(try reserve(count))
    }

    /// Appends an attribute with a `payloadCount`-byte payload that `write` fills.
    public mutating func appendAttribute(
        type: UInt16, payloadCount: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(NetlinkError) {
        let attributeLength = Self.attributeHeaderLength + payloadCount
        guard attributeLength <= Int(UInt16.max) else {
            throw .bufferTooSmall(needed: attributeLength, available: Int(UInt16.max))
        }
        let region = try reserve(attributeLength)
        region.storeBytes(of: UInt16(attributeLength), toByteOffset: 0, as: UInt16.self)
        region.storeBytes(of: type, toByteOffset: 2, as: UInt16.self)
        write(UnsafeMutableRawBufferPointer(rebasing: region[Self.attributeHeaderLength...]))
    }

    /// Appends a host-order integer attribute (u8, u16, u32, u64).
    public mutating func appendAttribute<T: FixedWidthInteger>(type: UInt16, value: T) throws(NetlinkError) {
        try appendAttribute(type: type, payloadCount: MemoryLayout<T>.size) { payload in
            payload.storeBytes(of: value, toByteOffset: 0, as: T.self)
        }
    }

    /// Appends an address attribute: 4 or 16 octets in network order.
    public mutating func appendAttribute(type: UInt16, address: IPAddress) throws(NetlinkError) {
        switch address {
        case .v4(let v4):
            try appendAttribute(type: type, payloadCount: 4) { v4.write(to: $0, at: 0) }
        case .v6(let v6):
            try appendAttribute(type: type, payloadCount: 16) { v6.write(to: $0, at: 0) }
        }
    }

    /// Appends a NUL-terminated string attribute (interface names, labels).
    public mutating func appendAttribute(type: UInt16, string: some StringProtocol) throws(NetlinkError) {
        let utf8 = string.utf8
        try appendAttribute(type: type, payloadCount: utf8.count + 1) { payload in
            _ = payload.initializeMemory(as: UInt8.self, from: utf8)  // the NUL is the zeroed last byte
        }
    }

    /// Sets `nlmsg_len` and returns the message's length: the bytes to send.
    @discardableResult
    public func finish() -> Int {
        buffer.storeBytes(of: UInt32(length), toByteOffset: 0, as: UInt32.self)
        return length
    }
}
