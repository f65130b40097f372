// Reads netlink datagrams: the messages in one datagram, the attributes in one message, acknowledgements.
//
// The views below point into the caller's buffer and are valid only while it is. Each step checks the
// lengths it is about to trust (NLMSG_OK / RTA_OK) before reading, and a bad length ends the walk with a
// `NetlinkError` rather than a trap; an iterator that has thrown returns nil afterwards.

/// One message of a datagram: its header fields and the payload after the 16-byte header.
public struct NetlinkMessage {
    public let type: NetlinkMessageType
    public let flags: NetlinkMessageFlags
    public let sequence: UInt32
    /// The sender's port id: for kernel replies, the port id of the socket that asked.
    public let portID: UInt32
    /// The bytes after the header, up to `nlmsg_len` (padding after it excluded).
    public let payload: UnsafeRawBufferPointer
    /// Offset of the header in the datagram, for error reports.
    public let offset: Int

    /// Reads the family header of `count` bytes at the start of the payload, or throws if it is shorter.
    @inlinable
    public func fixedHeader(count: Int) throws(NetlinkError) -> UnsafeRawBufferPointer {
        guard payload.count >= count else {
            throw .truncatedPayload(type: type, needed: count, available: payload.count)
        }
        return UnsafeRawBufferPointer(rebasing: payload[0..<count])
    }

    /// The attributes after a family header of `fixedHeaderCount` bytes (aligned up, as NLMSG_ALIGN does).
    public func attributes(afterFixedHeader fixedHeaderCount: Int) throws(NetlinkError) -> NetlinkAttributeIterator {
        let start = NetlinkMessageWriter.align(fixedHeaderCount)
        guard payload.count >= start else {
            throw .truncatedPayload(type: type, needed: start, available: payload.count)
        }
        return NetlinkAttributeIterator(
            UnsafeRawBufferPointer(rebasing: payload[start...]),
            baseOffset: offset + NetlinkMessageWriter.headerLength + start)
    }
}

/// Walks the messages of one received datagram (NLMSG_OK / NLMSG_NEXT).
public struct NetlinkMessageIterator {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    public init(_ datagram: UnsafeRawBufferPointer) { self.bytes = datagram }

    public mutating func next() throws(NetlinkError) -> NetlinkMessage? {
        let remaining = bytes.count - offset
        guard remaining > 0 else { return nil }
        let start = offset
        offset = bytes.count  // stays at the end if this message is malformed
        guard remaining >= NetlinkMessageWriter.headerLength else { throw .truncatedHeader(offset: start) }
        let length = bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self)
        guard length >= UInt32(NetlinkMessageWriter.headerLength) else { throw .truncatedHeader(offset: start) }
        guard length <= UInt32(remaining) else {
            throw .messageOverrunsBuffer(offset: start, length: length, available: remaining)
        }
        let end = start + Int(length)
        // The last message of a datagram may lack its trailing padding.
        offset = min(start + NetlinkMessageWriter.align(Int(length)), bytes.count)
        return NetlinkMessage(
            type: NetlinkMessageType(rawValue: bytes.loadUnaligned(fromByteOffset: start + 4, as: UInt16.self)),
            flags: NetlinkMessageFlags(rawValue: bytes.loadUnaligned(fromByteOffset: start + 6, as: UInt16.self)),
            sequence: bytes.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self),
            portID: bytes.loadUnaligned(fromByteOffset: start + 12, as: UInt32.self),
            payload: UnsafeRawBufferPointer(rebasing: bytes[(start + NetlinkMessageWriter.headerLength)..<end]),
            offset: start)
    }
}

/// One attribute (`struct rtattr` / `struct nlattr`) and typed reads of its payload.
public struct NetlinkAttribute {
    /// The attribute type without the NLA_F_NESTED and NLA_F_NET_BYTEORDER bits.
    public let type: UInt16
    public let isNested: Bool
    public let payload: UnsafeRawBufferPointer

    static let nestedBit: UInt16 = 0x8000
    static let networkByteOrderBit: UInt16 = 0x4000

    /// A host-order integer; the payload must be exactly its size.
    @inlinable
    public func integer<T: FixedWidthInteger>(as _: T.Type = T.self) throws(NetlinkError) -> T {
        guard payload.count == MemoryLayout<T>.size else {
            throw .attributeLength(type: type, expected: MemoryLayout<T>.size, actual: payload.count)
        }
        return payload.loadUnaligned(as: T.self)
    }

    /// The text before the terminating NUL.
    public func string() throws(NetlinkError) -> String {
        guard let end = payload.firstIndex(of: 0) else { throw .malformedString(type: type) }
        guard let text = String(validating: payload[..<end], as: UTF8.self) else {
            throw .malformedString(type: type)
        }
        return text
    }

    /// An IPv4 or IPv6 address in network order; the payload must be 4 or 16 bytes as `family` says.
    public func ipAddress(family: NetlinkAddressFamily) throws(NetlinkError) -> IPAddress {
        switch family {
        case .ipv4:
            guard payload.count == 4 else { throw .attributeLength(type: type, expected: 4, actual: payload.count) }
            return .v4(IPv4Address(reading: payload, at: 0))
        case .ipv6:
            guard payload.count == 16 else { throw .attributeLength(type: type, expected: 16, actual: payload.count) }
            return .v6(IPv6Address(reading: payload, at: 0))
        case .unspecified:
            throw .unsupportedAddressFamily(family.rawValue)
        }
    }

    /// An Ethernet address, or nil when the link-layer address is not 6 bytes (tunnels, InfiniBand, none).
    public var macAddress: MACAddress? {
        payload.count == 6 ? MACAddress(reading: payload, at: 0) : nil
    }
}

/// Walks attributes (RTA_OK / RTA_NEXT); nested attributes are walked by a new iterator over the payload.
public struct NetlinkAttributeIterator {
    private let bytes: UnsafeRawBufferPointer
    private let baseOffset: Int
    private var offset = 0

    /// `baseOffset` is where `bytes` starts in the datagram, so errors report datagram offsets.
    public init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0) {
        self.bytes = bytes
        self.baseOffset = baseOffset
    }

    public mutating func next() throws(NetlinkError) -> NetlinkAttribute? {
        let remaining = bytes.count - offset
        guard remaining > 0 else { return nil }
        let start = offset
        offset = bytes.count
        guard remaining >= NetlinkMessageWriter.attributeHeaderLength else {
            throw .malformedAttribute(offset: baseOffset + start)
        }
        let length = Int(bytes.loadUnaligned(fromByteOffset: start, as: UInt16.self))
        guard length >= NetlinkMessageWriter.attributeHeaderLength, length <= remaining else {
            throw .malformedAttribute(offset: baseOffset + start)
        }
        let rawType = bytes.loadUnaligned(fromByteOffset: start + 2, as: UInt16.self)
        offset = min(start + NetlinkMessageWriter.align(length), bytes.count)
        return NetlinkAttribute(
            type: rawType & ~(NetlinkAttribute.nestedBit | NetlinkAttribute.networkByteOrderBit),
            isNested: rawType & NetlinkAttribute.nestedBit != 0,
            payload: UnsafeRawBufferPointer(
                rebasing: bytes[(start + NetlinkMessageWriter.attributeHeaderLength)..<(start + length)]))
    }
}

/// The answer to a request with NLM_F_ACK (NLMSG_ERROR), or the end of a dump (NLMSG_DONE): an errno and,
/// with NETLINK_EXT_ACK, the kernel's explanation.
///
///   NLMSG_ERROR payload: int32 -errno | the request's nlmsghdr | its payload unless NLM_F_CAPPED | TLVs if
///   NLM_F_ACK_TLVS.   NLMSG_DONE payload: int32 -errno | TLVs if NLM_F_ACK_TLVS.
public struct NetlinkAcknowledgement: Hashable, Sendable {
    /// The kernel's errno, positive; 0 for success.
    public let errorNumber: Int32
    /// Sequence number of the request this answers (from the echoed header; the reply's own for DONE).
    public let requestSequence: UInt32
    /// NLMSGERR_ATTR_MSG: the kernel's text, such as "ipv4: Address already assigned".
    public let message: String?
    /// NLMSGERR_ATTR_OFFS: offset of the rejected attribute within the request.
    public let offendingAttributeOffset: UInt32?
    /// NLMSGERR_ATTR_MISS_TYPE: the type of a required attribute the request lacked.
    public let missingAttributeType: UInt32?

    public var isSuccess: Bool { errorNumber == 0 }

    public init(decoding message: NetlinkMessage) throws(NetlinkError) {
        let payload = message.payload
        var attributesStart: Int
        switch message.type {
        case .error:
            let minimum = 4 + NetlinkMessageWriter.headerLength
            let fixed = try message.fixedHeader(count: minimum)
            requestSequence = fixed.loadUnaligned(fromByteOffset: 4 + 8, as: UInt32.self)
            attributesStart = minimum
            if !message.flags.contains(.capped) {
                // The whole request follows; its own nlmsg_len says how long.
                let requestLength = Int(fixed.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                guard requestLength >= NetlinkMessageWriter.headerLength else {
                    throw .truncatedHeader(offset: message.offset + NetlinkMessageWriter.headerLength + 4)
                }
                attributesStart = 4 + NetlinkMessageWriter.align(requestLength)
                guard 4 + requestLength <= payload.count else {
                    throw .truncatedPayload(type: message.type, needed: 4 + requestLength, available: payload.count)
                }
            }
        case .done:
            // An empty DONE (some older kernels, and synthetic ones) means success.
            guard payload.count >= 4 else {
                guard payload.isEmpty else {
                    throw .truncatedPayload(type: message.type, needed: 4, available: payload.count)
                }
                self.errorNumber = 0
                self.requestSequence = message.sequence
                self.message = nil
                self.offendingAttributeOffset = nil
                self.missingAttributeType = nil
                return
            }
            requestSequence = message.sequence
            attributesStart = 4
        default:
            throw .unexpectedMessageType(message.type)
        }
        let negativeErrno = payload.loadUnaligned(as: Int32.self)
        // The kernel sends -errno; a positive value is not valid, so keep its magnitude rather than trap.
        errorNumber = negativeErrno == Int32.min ? Int32.max : abs(negativeErrno)

        var text: String?
        var offending: UInt32?
        var missing: UInt32?
        if message.flags.contains(.acknowledgementAttributes), attributesStart < payload.count {
            var attributes = NetlinkAttributeIterator(
                UnsafeRawBufferPointer(rebasing: payload[attributesStart...]),
                baseOffset: message.offset + NetlinkMessageWriter.headerLength + attributesStart)
            while let attribute = try attributes.next() {
                switch attribute.type {
                case AcknowledgementAttributeType.message: text = try attribute.string()
                case AcknowledgementAttributeType.offset: offending = try attribute.integer()
                case AcknowledgementAttributeType.missingType: missing = try attribute.integer()
                default: break
                }
            }
        }
        self.message = text
        self.offendingAttributeOffset = offending
        self.missingAttributeType = missing
    }
}
