/// Why a netlink message could not be built or read. Every malformed or truncated input ends here, never in a
/// trap: offsets are from the start of the buffer handed to the reader.
public enum NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The caller's buffer cannot hold the message; `needed` is the length it would take.
    case bufferTooSmall(needed: Int, available: Int)
    /// The prefix length exceeds the family's address length in bits.
    case invalidPrefixLength(UInt8, family: NetlinkAddressFamily)
    /// An interface name or label that the kernel cannot take: empty, longer than 15 bytes, or with a NUL.
    case invalidName(String)
    /// Fewer than 16 bytes where a message header should start, or an `nlmsg_len` below 16.
    case truncatedHeader(offset: Int)
    /// `nlmsg_len` claims more bytes than the datagram holds.
    case messageOverrunsBuffer(offset: Int, length: UInt32, available: Int)
    /// The payload is shorter than the fixed header its type needs (`ifaddrmsg`, `nlmsgerr`, ...).
    case truncatedPayload(type: NetlinkMessageType, needed: Int, available: Int)
    /// An attribute whose `rta_len` is below 4 or runs past its container.
    case malformedAttribute(offset: Int)
    /// An attribute whose payload has the wrong size for its type.
    case attributeLength(type: UInt16, expected: Int, actual: Int)
    /// A string attribute without its terminating NUL, or not UTF-8.
    case malformedString(type: UInt16)
    /// A reply lacks an attribute it must carry.
    case missingAttribute(type: UInt16)
    /// A message of a type the caller did not expect at this point.
    case unexpectedMessageType(NetlinkMessageType)
    /// An address message of a family other than IPv4 or IPv6.
    case unsupportedAddressFamily(UInt8)

    public var description: String {
        switch self {
        case .bufferTooSmall(let needed, let available):
            "netlink buffer too small: \(needed) bytes needed, \(available) available"
        case .invalidPrefixLength(let length, let family):
            "prefix length \(length) is longer than a \(family) address"
        case .invalidName(let name):
            "\"\(name)\" is not a valid interface name or label (1 to 15 bytes, no NUL)"
        case .truncatedHeader(let offset):
            "truncated netlink header at offset \(offset)"
        case .messageOverrunsBuffer(let offset, let length, let available):
            "netlink message at offset \(offset) claims \(length) bytes, only \(available) present"
        case .truncatedPayload(let type, let needed, let available):
            "\(type) payload of \(available) bytes, \(needed) needed"
        case .malformedAttribute(let offset):
            "malformed netlink attribute at offset \(offset)"
        case .attributeLength(let type, let expected, let actual):
            "attribute \(type) has \(actual) bytes, \(expected) expected"
        case .malformedString(let type):
            "string attribute \(type) is not NUL-terminated UTF-8"
        case .missingAttribute(let type):
            "reply lacks attribute \(type)"
        case .unexpectedMessageType(let type):
            "unexpected \(type)"
        case .unsupportedAddressFamily(let family):
            "address family \(family) is neither IPv4 nor IPv6"
        }
    }
}
