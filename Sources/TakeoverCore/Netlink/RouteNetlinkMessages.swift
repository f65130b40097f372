// rtnetlink requests (addresses and links) and the replies they bring, as pure bytes.
//
//   ifaddrmsg (8): family(1) prefixlen(1) flags(1) scope(1) index(4)
//   ifinfomsg (16): family(1) pad(1) type(2) index(4, signed) flags(4) change(4)
//
// Requests carry the attributes in the order iproute2 writes them, so a request can be compared byte for
// byte with what `ip` sends (the Core tests do, against captures).

/// How a request names an interface.
public enum InterfaceReference: Hashable, Sendable, CustomStringConvertible {
    case name(String)
    case index(UInt32)

    public var description: String {
        switch self {
        case .name(let name): name
        case .index(let index): "interface #\(index)"
        }
    }
}

/// An address to add to or remove from an interface.
public struct InterfaceAddressRequest: Hashable, Sendable {
    public var address: IPAddress
    public var prefixLength: UInt8
    public var interfaceIndex: UInt32
    /// Sent both in the 8-bit `ifa_flags` and, when any bit is set, in IFA_FLAGS (which overrides it).
    public var flags: InterfaceAddressFlags
    /// IFA_LABEL (IPv4 only; the kernel ignores it for IPv6): at most 15 bytes, like an interface name.
    public var label: String?

    /// `flags` defaults to `[.noDAD]` for IPv6, so a taken-over address answers at once instead of sitting
    /// "tentative" through duplicate address detection, and to none for IPv4.
    public init(
        address: IPAddress, prefixLength: UInt8, interfaceIndex: UInt32, flags: InterfaceAddressFlags? = nil,
        label: String? = nil
    ) {
        self.address = address
        self.prefixLength = prefixLength
        self.interfaceIndex = interfaceIndex
        if let flags {
            self.flags = flags
        } else if case .v6 = address {
            self.flags = .noDAD
        } else {
            self.flags = []
        }
        self.label = label
    }
}

/// The rtnetlink requests this project sends.
public enum RouteNetlinkRequest: Hashable, Sendable {
    /// RTM_NEWADDR with NLM_F_CREATE | NLM_F_EXCL: fails with EEXIST when the address is there already.
    case addAddress(InterfaceAddressRequest)
    /// RTM_DELADDR: fails with EADDRNOTAVAIL when the address is not there.
    case removeAddress(InterfaceAddressRequest)
    /// RTM_GETLINK for one interface, by name (IFLA_IFNAME) or index; answered by one RTM_NEWLINK.
    case getLink(InterfaceReference)
    /// RTM_GETLINK dump: every interface.
    case dumpLinks
    /// RTM_GETADDR dump, for one family or (`.unspecified`) both.
    case dumpAddresses(NetlinkAddressFamily)

    public static let addressHeaderLength = 8
    public static let linkHeaderLength = 16

    public var messageType: NetlinkMessageType {
        switch self {
        case .addAddress: .newAddress
        case .removeAddress: .deleteAddress
        case .getLink, .dumpLinks: .getLink
        case .dumpAddresses: .getAddress
        }
    }

    public var flags: NetlinkMessageFlags {
        switch self {
        case .addAddress: [.request, .acknowledge, .create, .exclusive]
        case .removeAddress: [.request, .acknowledge]
        case .getLink: [.request]  // the reply (NEWLINK or ERROR) is the answer; no extra ack
        case .dumpLinks, .dumpAddresses: [.request, .dump]
        }
    }

    /// Whether the answer is a multipart dump ended by NLMSG_DONE.
    public var isDump: Bool { flags.contains(.dump) }

    /// Writes the request into `buffer` and returns its length.
    public func encode(
        sequence: UInt32, portID: UInt32 = 0, into buffer: UnsafeMutableRawBufferPointer
    ) throws(NetlinkError) -> Int {
        var writer = try NetlinkMessageWriter(
            into: buffer, type: messageType, flags: flags, sequence: sequence, portID: portID)
        switch self {
        case .addAddress(let request), .removeAddress(let request):
            try Self.writeAddress(request, into: &writer)
        case .getLink(let reference):
            var index: UInt32 = 0
            if case .index(let value) = reference { index = value }
            if case .name(let name) = reference { try Self.validateName(name) }
            try Self.writeLinkHeader(index: index, into: &writer)
            try writer.appendAttribute(type: LinkAttributeType.extendedMask, value: rtextFilterSkipStatistics)
            if case .name(let name) = reference {
                try writer.appendAttribute(type: LinkAttributeType.interfaceName, string: name)
            }
        case .dumpLinks:
            try Self.writeLinkHeader(index: 0, into: &writer)
            try writer.appendAttribute(type: LinkAttributeType.extendedMask, value: rtextFilterSkipStatistics)
        case .dumpAddresses(let family):
            try writer.appendFixedHeader(count: Self.addressHeaderLength) { header in
                header.storeBytes(of: family.rawValue, toByteOffset: 0, as: UInt8.self)
            }
        }
        return writer.finish()
    }

    /// Interface names and labels: 1 to 15 bytes (IFNAMSIZ with its NUL), no NUL inside.
    static func validateName(_ name: String) throws(NetlinkError) {
        let utf8 = name.utf8
        guard (1...15).contains(utf8.count), !utf8.contains(0) else { throw .invalidName(name) }
    }

    private static func writeLinkHeader(index: UInt32, into writer: inout NetlinkMessageWriter) throws(NetlinkError) {
        try writer.appendFixedHeader(count: linkHeaderLength) { header in
            header.storeBytes(of: index, toByteOffset: 4, as: UInt32.self)  // family AF_UNSPEC, type 0
        }
    }

    private static func writeAddress(
        _ request: InterfaceAddressRequest, into writer: inout NetlinkMessageWriter
    ) throws(NetlinkError) {
        let family = NetlinkAddressFamily(of: request.address)
        guard request.prefixLength <= family.maximumPrefixLength else {
            throw .invalidPrefixLength(request.prefixLength, family: family)
        }
        if let label = request.label { try validateName(label) }
        try writer.appendFixedHeader(count: addressHeaderLength) { header in
            header.storeBytes(of: family.rawValue, toByteOffset: 0, as: UInt8.self)
            header.storeBytes(of: request.prefixLength, toByteOffset: 1, as: UInt8.self)
            header.storeBytes(of: UInt8(truncatingIfNeeded: request.flags.rawValue), toByteOffset: 2, as: UInt8.self)
            // scope 0: RT_SCOPE_UNIVERSE, what `ip addr add` sends for a global address
            header.storeBytes(of: request.interfaceIndex, toByteOffset: 4, as: UInt32.self)
        }
        // iproute2's order: IFA_LOCAL, IFA_LABEL, IFA_ADDRESS; then IFA_FLAGS.
        try writer.appendAttribute(type: AddressAttributeType.local, address: request.address)
        if let label = request.label {
            try writer.appendAttribute(type: AddressAttributeType.label, string: label)
        }
        try writer.appendAttribute(type: AddressAttributeType.address, address: request.address)
        if !request.flags.isEmpty {
            try writer.appendAttribute(type: AddressAttributeType.flags, value: request.flags.rawValue)
        }
    }
}

/// One interface, as an RTM_NEWLINK reply or notification describes it.
public struct LinkInfo: Hashable, Sendable, CustomStringConvertible {
    public var index: UInt32
    public var name: String
    /// IFLA_ADDRESS when it is an Ethernet address; nil for links without one (or with another kind).
    public var hardwareAddress: MACAddress?
    public var mtu: UInt32
    public var flags: InterfaceFlags
    /// IFLA_OPERSTATE, when the kernel sent it.
    public var operationalState: LinkOperationalState?
    /// IFLA_CARRIER, when the kernel sent it; otherwise judge by `flags.contains(.lowerUp)`.
    public var carrier: Bool?
    /// `ifi_type`: ARPHRD_* (1 is Ethernet, 772 loopback).
    public var hardwareType: UInt16
    /// IFLA_NUM_RX_QUEUES, when the kernel sent it.
    public var receiveQueueCount: UInt32?

    public static let ethernetHardwareType: UInt16 = 1

    public init(
        index: UInt32, name: String, hardwareAddress: MACAddress?, mtu: UInt32, flags: InterfaceFlags,
        operationalState: LinkOperationalState?, carrier: Bool?, hardwareType: UInt16, receiveQueueCount: UInt32? = nil
    ) {
        self.receiveQueueCount = receiveQueueCount
        self.index = index
        self.name = name
        self.hardwareAddress = hardwareAddress
        self.mtu = mtu
        self.flags = flags
        self.operationalState = operationalState
        self.carrier = carrier
        self.hardwareType = hardwareType
    }

    /// Decodes an RTM_NEWLINK (or RTM_DELLINK) message. Unknown attributes are skipped; IFLA_IFNAME and
    /// IFLA_MTU must be present.
    public init(decoding message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == .newLink || message.type == .deleteLink else {
            throw .unexpectedMessageType(message.type)
        }
        let header = try message.fixedHeader(count: RouteNetlinkRequest.linkHeaderLength)
        var name: String?
        var mtu: UInt32?
        var hardwareAddress: MACAddress?
        var operationalState: LinkOperationalState?
        var carrier: Bool?
        var receiveQueueCount: UInt32?
        var attributes = try message.attributes(afterFixedHeader: RouteNetlinkRequest.linkHeaderLength)
        while let attribute = try attributes.next() {
            switch attribute.type {
            case LinkAttributeType.interfaceName: name = try attribute.string()
            case LinkAttributeType.mtu: mtu = try attribute.integer()
            case LinkAttributeType.address: hardwareAddress = attribute.macAddress
            case LinkAttributeType.operationalState:
                // A state this code does not know (a newer kernel) reads as unknown rather than failing.
                operationalState = LinkOperationalState(rawValue: try attribute.integer(as: UInt8.self)) ?? .unknown
            case LinkAttributeType.carrier: carrier = try attribute.integer(as: UInt8.self) != 0
            case LinkAttributeType.receiveQueueCount: receiveQueueCount = try attribute.integer()
            default: break
            }
        }
        guard let name else { throw .missingAttribute(type: LinkAttributeType.interfaceName) }
        guard let mtu else { throw .missingAttribute(type: LinkAttributeType.mtu) }
        self.init(
            index: header.loadUnaligned(fromByteOffset: 4, as: UInt32.self), name: name,
            hardwareAddress: hardwareAddress, mtu: mtu,
            flags: InterfaceFlags(rawValue: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
            operationalState: operationalState, carrier: carrier,
            hardwareType: header.loadUnaligned(fromByteOffset: 2, as: UInt16.self), receiveQueueCount: receiveQueueCount)
    }

    /// Carrier as the kernel reports it: IFLA_CARRIER when present, else IFF_LOWER_UP.
    public var hasCarrier: Bool { carrier ?? flags.contains(.lowerUp) }

    public var description: String {
        "\(index): \(name) \(hardwareAddress.map { "\($0)" } ?? "-") mtu \(mtu) "
            + "\(operationalState.map { "\($0)" } ?? "?") carrier \(hasCarrier ? "on" : "off")"
    }
}

/// One address on one interface, as an RTM_NEWADDR reply or notification describes it.
public struct InterfaceAddressInfo: Hashable, Sendable, CustomStringConvertible {
    /// The interface's own address: IFA_LOCAL when present (IPv4), else IFA_ADDRESS (IPv6).
    public var address: IPAddress
    public var prefixLength: UInt8
    public var interfaceIndex: UInt32
    /// IFA_FLAGS when present, else the 8-bit `ifa_flags`.
    public var flags: InterfaceAddressFlags
    /// `ifa_scope`: 0 global, 253 link, 254 host.
    public var scope: UInt8
    public var label: String?

    public init(
        address: IPAddress, prefixLength: UInt8, interfaceIndex: UInt32, flags: InterfaceAddressFlags,
        scope: UInt8, label: String?
    ) {
        self.address = address
        self.prefixLength = prefixLength
        self.interfaceIndex = interfaceIndex
        self.flags = flags
        self.scope = scope
        self.label = label
    }

    /// Decodes an RTM_NEWADDR (or RTM_DELADDR) message of family IPv4 or IPv6.
    public init(decoding message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == .newAddress || message.type == .deleteAddress else {
            throw .unexpectedMessageType(message.type)
        }
        let header = try message.fixedHeader(count: RouteNetlinkRequest.addressHeaderLength)
        let familyNumber = header.loadUnaligned(fromByteOffset: 0, as: UInt8.self)
        guard let family = NetlinkAddressFamily(rawValue: familyNumber), family != .unspecified else {
            throw .unsupportedAddressFamily(familyNumber)
        }
        let prefixLength = header.loadUnaligned(fromByteOffset: 1, as: UInt8.self)
        guard prefixLength <= family.maximumPrefixLength else {
            throw .invalidPrefixLength(prefixLength, family: family)
        }
        var local: IPAddress?
        var address: IPAddress?
        var flags = InterfaceAddressFlags(rawValue: UInt32(header.loadUnaligned(fromByteOffset: 2, as: UInt8.self)))
        var label: String?
        var attributes = try message.attributes(afterFixedHeader: RouteNetlinkRequest.addressHeaderLength)
        while let attribute = try attributes.next() {
            switch attribute.type {
            case AddressAttributeType.local: local = try attribute.ipAddress(family: family)
            case AddressAttributeType.address: address = try attribute.ipAddress(family: family)
            case AddressAttributeType.label: label = try attribute.string()
            case AddressAttributeType.flags: flags = InterfaceAddressFlags(rawValue: try attribute.integer())
            default: break
            }
        }
        guard let own = local ?? address else { throw .missingAttribute(type: AddressAttributeType.address) }
        self.init(
            address: own, prefixLength: prefixLength,
            interfaceIndex: header.loadUnaligned(fromByteOffset: 4, as: UInt32.self), flags: flags,
            scope: header.loadUnaligned(fromByteOffset: 3, as: UInt8.self), label: label)
    }

    public var description: String {
        "\(address)/\(prefixLength) on #\(interfaceIndex)" + (label.map { " label \($0)" } ?? "")
    }
}
