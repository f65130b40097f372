// Netlink and rtnetlink numbers, spelled out in Swift so the core needs no kernel headers.
// Sources: linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h, linux/if_link.h, linux/if.h. The Linux tests
// compile a C program against those headers and compare every value here (NetlinkHeaderAgreementTests).
//
// Netlink integers are in the host's byte order (the kernel and this process share a machine); only address
// payloads (IFA_ADDRESS, IFLA_ADDRESS) are in network order.

/// `nlmsg_type`: the control types below 16, rtnetlink's request and notification types above.
public struct NetlinkMessageType: RawRepresentable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noop = NetlinkMessageType(rawValue: 1)
    /// An acknowledgement: errno 0 for success, else the failure (`NetlinkAcknowledgement`).
    public static let error = NetlinkMessageType(rawValue: 2)
    /// The end of a multipart dump.
    public static let done = NetlinkMessageType(rawValue: 3)
    public static let overrun = NetlinkMessageType(rawValue: 4)

    public static let newLink = NetlinkMessageType(rawValue: 16)
    public static let deleteLink = NetlinkMessageType(rawValue: 17)
    public static let getLink = NetlinkMessageType(rawValue: 18)
    public static let newAddress = NetlinkMessageType(rawValue: 20)
    public static let deleteAddress = NetlinkMessageType(rawValue: 21)
    public static let getAddress = NetlinkMessageType(rawValue: 22)

    public var description: String {
        switch self {
        case .noop: "NLMSG_NOOP"
        case .error: "NLMSG_ERROR"
        case .done: "NLMSG_DONE"
        case .overrun: "NLMSG_OVERRUN"
        case .newLink: "RTM_NEWLINK"
        case .deleteLink: "RTM_DELLINK"
        case .getLink: "RTM_GETLINK"
        case .newAddress: "RTM_NEWADDR"
        case .deleteAddress: "RTM_DELADDR"
        case .getAddress: "RTM_GETADDR"
        default: "netlink type \(rawValue)"
        }
    }
}

/// `nlmsg_flags`. The same bits mean different things for GET, NEW and ACK messages, hence the aliases.
public struct NetlinkMessageFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = NetlinkMessageFlags(rawValue: 0x01)
    /// Part of a multipart reply, ended by NLMSG_DONE.
    public static let multipart = NetlinkMessageFlags(rawValue: 0x02)
    /// Ask for an acknowledgement (an NLMSG_ERROR with errno 0) on success.
    public static let acknowledge = NetlinkMessageFlags(rawValue: 0x04)
    public static let echo = NetlinkMessageFlags(rawValue: 0x08)
    /// The dump changed while it was being read: its contents may be inconsistent; dump again.
    public static let dumpInterrupted = NetlinkMessageFlags(rawValue: 0x10)
    public static let dumpFiltered = NetlinkMessageFlags(rawValue: 0x20)

    // GET requests
    public static let root = NetlinkMessageFlags(rawValue: 0x100)
    public static let match = NetlinkMessageFlags(rawValue: 0x200)
    public static let dump: NetlinkMessageFlags = [.root, .match]

    // NEW requests
    public static let replace = NetlinkMessageFlags(rawValue: 0x100)
    public static let exclusive = NetlinkMessageFlags(rawValue: 0x200)
    public static let create = NetlinkMessageFlags(rawValue: 0x400)
    public static let append = NetlinkMessageFlags(rawValue: 0x800)

    // NLMSG_ERROR replies
    /// The kernel left out the request's payload (NETLINK_CAP_ACK, or any success ack).
    public static let capped = NetlinkMessageFlags(rawValue: 0x100)
    /// Extended-ACK attributes follow (NETLINK_EXT_ACK).
    public static let acknowledgementAttributes = NetlinkMessageFlags(rawValue: 0x200)
}

/// Address families as rtnetlink carries them (one octet in `ifaddrmsg`, `ifinfomsg`).
public enum NetlinkAddressFamily: UInt8, Hashable, Sendable, BitwiseCopyable {
    case unspecified = 0  // AF_UNSPEC
    case ipv4 = 2  // AF_INET
    case ipv6 = 10  // AF_INET6

    public init(of address: IPAddress) {
        switch address {
        case .v4: self = .ipv4
        case .v6: self = .ipv6
        }
    }

    /// Octets of one address of this family (0 for `.unspecified`).
    public var addressLength: Int {
        switch self {
        case .unspecified: 0
        case .ipv4: 4
        case .ipv6: 16
        }
    }

    public var maximumPrefixLength: UInt8 { UInt8(addressLength * 8) }
}

/// Attribute types of RTM_NEWADDR/RTM_DELADDR/RTM_GETADDR (`IFA_*`).
public enum AddressAttributeType {
    /// The prefix address; for point-to-point links the peer's address.
    public static let address: UInt16 = 1
    /// The interface's own address (equal to `address` unless point-to-point).
    public static let local: UInt16 = 2
    public static let label: UInt16 = 3
    public static let broadcast: UInt16 = 4
    public static let anycast: UInt16 = 5
    public static let cacheInfo: UInt16 = 6
    public static let multicast: UInt16 = 7
    /// 32-bit flags; overrides the 8-bit `ifa_flags` of the fixed header.
    public static let flags: UInt16 = 8
}

/// Attribute types of RTM_NEWLINK/RTM_GETLINK (`IFLA_*`) that this code reads or writes.
public enum LinkAttributeType {
    public static let address: UInt16 = 1
    public static let broadcast: UInt16 = 2
    public static let interfaceName: UInt16 = 3
    public static let mtu: UInt16 = 4
    public static let link: UInt16 = 5
    public static let master: UInt16 = 10
    public static let operationalState: UInt16 = 16
    /// `RTEXT_FILTER_*` bits: which optional parts a GETLINK reply carries.
    public static let extendedMask: UInt16 = 29
    /// IFLA_NUM_RX_QUEUES: the RX queues the device has (an AF_XDP socket binds one).
    public static let receiveQueueCount: UInt16 = 32
    public static let carrier: UInt16 = 33
}

/// `RTEXT_FILTER_SKIP_STATS`: leave the (large) statistics out of link replies.
public let rtextFilterSkipStatistics: UInt32 = 1 << 3

/// Attribute types inside an NLMSG_ERROR payload when NETLINK_EXT_ACK is on (`NLMSGERR_ATTR_*`).
public enum AcknowledgementAttributeType {
    /// NUL-terminated text explaining the failure (or a warning on success).
    public static let message: UInt16 = 1
    /// Offset, in the original request, of the attribute the kernel rejected.
    public static let offset: UInt16 = 2
    public static let cookie: UInt16 = 3
    public static let policy: UInt16 = 4
    /// Type of a required attribute the request lacked.
    public static let missingType: UInt16 = 5
    public static let missingNest: UInt16 = 6
}

/// Socket-level constants a netlink socket needs (`SOL_NETLINK` options and `NETLINK_ROUTE`).
public enum NetlinkSocketConstants {
    public static let protocolRoute: Int32 = 0  // NETLINK_ROUTE
    public static let socketLevel: Int32 = 270  // SOL_NETLINK
    public static let capAcknowledgement: Int32 = 10  // NETLINK_CAP_ACK
    public static let extendedAcknowledgement: Int32 = 11  // NETLINK_EXT_ACK
    public static let multicastGroupLink: UInt32 = 1  // RTNLGRP_LINK (group numbers start at 1)
}

/// `IFA_F_*`: per-address flags (the full 32-bit set carried in IFA_FLAGS).
public struct InterfaceAddressFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let secondary = InterfaceAddressFlags(rawValue: 0x01)
    /// Skip IPv6 duplicate address detection: the address is usable at once instead of "tentative" for ~1 s.
    public static let noDAD = InterfaceAddressFlags(rawValue: 0x02)
    public static let optimistic = InterfaceAddressFlags(rawValue: 0x04)
    public static let dadFailed = InterfaceAddressFlags(rawValue: 0x08)
    public static let homeAddress = InterfaceAddressFlags(rawValue: 0x10)
    public static let deprecated = InterfaceAddressFlags(rawValue: 0x20)
    public static let tentative = InterfaceAddressFlags(rawValue: 0x40)
    public static let permanent = InterfaceAddressFlags(rawValue: 0x80)
    public static let manageTemporaryAddresses = InterfaceAddressFlags(rawValue: 0x100)
    public static let noPrefixRoute = InterfaceAddressFlags(rawValue: 0x200)
    public static let multicastAutoJoin = InterfaceAddressFlags(rawValue: 0x400)
    public static let stablePrivacy = InterfaceAddressFlags(rawValue: 0x800)
}

/// `IFF_*`: interface flags from `ifinfomsg.ifi_flags`.
public struct InterfaceFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Administratively up.
    public static let up = InterfaceFlags(rawValue: 0x1)
    public static let broadcast = InterfaceFlags(rawValue: 0x2)
    public static let loopback = InterfaceFlags(rawValue: 0x8)
    public static let pointToPoint = InterfaceFlags(rawValue: 0x10)
    /// Operationally up (RFC 2863 "up").
    public static let running = InterfaceFlags(rawValue: 0x40)
    public static let noARP = InterfaceFlags(rawValue: 0x80)
    public static let promiscuous = InterfaceFlags(rawValue: 0x100)
    public static let multicast = InterfaceFlags(rawValue: 0x1000)
    /// The driver signals carrier (layer 1 up).
    public static let lowerUp = InterfaceFlags(rawValue: 0x10000)
    public static let dormant = InterfaceFlags(rawValue: 0x20000)
}

/// RFC 2863 operational state (`IF_OPER_*`, attribute IFLA_OPERSTATE).
public enum LinkOperationalState: UInt8, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    case unknown = 0
    case notPresent = 1
    case down = 2
    case lowerLayerDown = 3
    case testing = 4
    case dormant = 5
    case up = 6

    /// The spelling `ip` uses (`operstate` in `ip -j link`).
    public var description: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .notPresent: "NOTPRESENT"
        case .down: "DOWN"
        case .lowerLayerDown: "LOWERLAYERDOWN"
        case .testing: "TESTING"
        case .dormant: "DORMANT"
        case .up: "UP"
        }
    }
}
