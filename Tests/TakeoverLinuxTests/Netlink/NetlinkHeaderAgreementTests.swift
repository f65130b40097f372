import Foundation
import TakeoverCore
@testable import TakeoverLinux
import Testing

/// The core spells the netlink numbers out in Swift (it has no kernel headers); this compiles a C program
/// against the installed linux/*.h and compares every number and struct layout with it.
@Suite("netlink constants agree with the kernel headers")
struct NetlinkHeaderAgreementTests {
    /// Name as the C program prints it → our value.
    static let ours: [String: Int] = [
        "NLMSG_NOOP": Int(NetlinkMessageType.noop.rawValue),
        "NLMSG_ERROR": Int(NetlinkMessageType.error.rawValue),
        "NLMSG_DONE": Int(NetlinkMessageType.done.rawValue),
        "NLMSG_OVERRUN": Int(NetlinkMessageType.overrun.rawValue),
        "RTM_NEWLINK": Int(NetlinkMessageType.newLink.rawValue),
        "RTM_DELLINK": Int(NetlinkMessageType.deleteLink.rawValue),
        "RTM_GETLINK": Int(NetlinkMessageType.getLink.rawValue),
        "RTM_NEWADDR": Int(NetlinkMessageType.newAddress.rawValue),
        "RTM_DELADDR": Int(NetlinkMessageType.deleteAddress.rawValue),
        "RTM_GETADDR": Int(NetlinkMessageType.getAddress.rawValue),
        "NLM_F_REQUEST": Int(NetlinkMessageFlags.request.rawValue),
        "NLM_F_MULTI": Int(NetlinkMessageFlags.multipart.rawValue),
        "NLM_F_ACK": Int(NetlinkMessageFlags.acknowledge.rawValue),
        "NLM_F_ECHO": Int(NetlinkMessageFlags.echo.rawValue),
        "NLM_F_DUMP_INTR": Int(NetlinkMessageFlags.dumpInterrupted.rawValue),
        "NLM_F_DUMP_FILTERED": Int(NetlinkMessageFlags.dumpFiltered.rawValue),
        "NLM_F_ROOT": Int(NetlinkMessageFlags.root.rawValue),
        "NLM_F_MATCH": Int(NetlinkMessageFlags.match.rawValue),
        "NLM_F_DUMP": Int(NetlinkMessageFlags.dump.rawValue),
        "NLM_F_REPLACE": Int(NetlinkMessageFlags.replace.rawValue),
        "NLM_F_EXCL": Int(NetlinkMessageFlags.exclusive.rawValue),
        "NLM_F_CREATE": Int(NetlinkMessageFlags.create.rawValue),
        "NLM_F_APPEND": Int(NetlinkMessageFlags.append.rawValue),
        "NLM_F_CAPPED": Int(NetlinkMessageFlags.capped.rawValue),
        "NLM_F_ACK_TLVS": Int(NetlinkMessageFlags.acknowledgementAttributes.rawValue),
        "AF_UNSPEC": Int(NetlinkAddressFamily.unspecified.rawValue),
        "AF_INET": Int(NetlinkAddressFamily.ipv4.rawValue),
        "AF_INET6": Int(NetlinkAddressFamily.ipv6.rawValue),
        "IFA_ADDRESS": Int(AddressAttributeType.address),
        "IFA_LOCAL": Int(AddressAttributeType.local),
        "IFA_LABEL": Int(AddressAttributeType.label),
        "IFA_BROADCAST": Int(AddressAttributeType.broadcast),
        "IFA_ANYCAST": Int(AddressAttributeType.anycast),
        "IFA_CACHEINFO": Int(AddressAttributeType.cacheInfo),
        "IFA_MULTICAST": Int(AddressAttributeType.multicast),
        "IFA_FLAGS": Int(AddressAttributeType.flags),
        "IFLA_ADDRESS": Int(LinkAttributeType.address),
        "IFLA_BROADCAST": Int(LinkAttributeType.broadcast),
        "IFLA_IFNAME": Int(LinkAttributeType.interfaceName),
        "IFLA_MTU": Int(LinkAttributeType.mtu),
        "IFLA_LINK": Int(LinkAttributeType.link),
        "IFLA_MASTER": Int(LinkAttributeType.master),
        "IFLA_OPERSTATE": Int(LinkAttributeType.operationalState),
        "IFLA_EXT_MASK": Int(LinkAttributeType.extendedMask),
        "IFLA_CARRIER": Int(LinkAttributeType.carrier),
        "RTEXT_FILTER_SKIP_STATS": Int(rtextFilterSkipStatistics),
        "NLMSGERR_ATTR_MSG": Int(AcknowledgementAttributeType.message),
        "NLMSGERR_ATTR_OFFS": Int(AcknowledgementAttributeType.offset),
        "NLMSGERR_ATTR_COOKIE": Int(AcknowledgementAttributeType.cookie),
        "NLMSGERR_ATTR_POLICY": Int(AcknowledgementAttributeType.policy),
        "NLMSGERR_ATTR_MISS_TYPE": Int(AcknowledgementAttributeType.missingType),
        "NLMSGERR_ATTR_MISS_NEST": Int(AcknowledgementAttributeType.missingNest),
        "NETLINK_ROUTE": Int(NetlinkSocketConstants.protocolRoute),
        "SOL_NETLINK": Int(NetlinkSocketConstants.socketLevel),
        "NETLINK_CAP_ACK": Int(NetlinkSocketConstants.capAcknowledgement),
        "NETLINK_EXT_ACK": Int(NetlinkSocketConstants.extendedAcknowledgement),
        "RTNLGRP_LINK": Int(NetlinkSocketConstants.multicastGroupLink),
        "IFA_F_SECONDARY": Int(InterfaceAddressFlags.secondary.rawValue),
        "IFA_F_NODAD": Int(InterfaceAddressFlags.noDAD.rawValue),
        "IFA_F_OPTIMISTIC": Int(InterfaceAddressFlags.optimistic.rawValue),
        "IFA_F_DADFAILED": Int(InterfaceAddressFlags.dadFailed.rawValue),
        "IFA_F_HOMEADDRESS": Int(InterfaceAddressFlags.homeAddress.rawValue),
        "IFA_F_DEPRECATED": Int(InterfaceAddressFlags.deprecated.rawValue),
        "IFA_F_TENTATIVE": Int(InterfaceAddressFlags.tentative.rawValue),
        "IFA_F_PERMANENT": Int(InterfaceAddressFlags.permanent.rawValue),
        "IFA_F_MANAGETEMPADDR": Int(InterfaceAddressFlags.manageTemporaryAddresses.rawValue),
        "IFA_F_NOPREFIXROUTE": Int(InterfaceAddressFlags.noPrefixRoute.rawValue),
        "IFA_F_MCAUTOJOIN": Int(InterfaceAddressFlags.multicastAutoJoin.rawValue),
        "IFA_F_STABLE_PRIVACY": Int(InterfaceAddressFlags.stablePrivacy.rawValue),
        "IFF_UP": Int(InterfaceFlags.up.rawValue),
        "IFF_BROADCAST": Int(InterfaceFlags.broadcast.rawValue),
        "IFF_LOOPBACK": Int(InterfaceFlags.loopback.rawValue),
        "IFF_POINTOPOINT": Int(InterfaceFlags.pointToPoint.rawValue),
        "IFF_RUNNING": Int(InterfaceFlags.running.rawValue),
        "IFF_NOARP": Int(InterfaceFlags.noARP.rawValue),
        "IFF_PROMISC": Int(InterfaceFlags.promiscuous.rawValue),
        "IFF_MULTICAST": Int(InterfaceFlags.multicast.rawValue),
        "IFF_LOWER_UP": Int(InterfaceFlags.lowerUp.rawValue),
        "IFF_DORMANT": Int(InterfaceFlags.dormant.rawValue),
        "IF_OPER_UNKNOWN": Int(LinkOperationalState.unknown.rawValue),
        "IF_OPER_NOTPRESENT": Int(LinkOperationalState.notPresent.rawValue),
        "IF_OPER_DOWN": Int(LinkOperationalState.down.rawValue),
        "IF_OPER_LOWERLAYERDOWN": Int(LinkOperationalState.lowerLayerDown.rawValue),
        "IF_OPER_TESTING": Int(LinkOperationalState.testing.rawValue),
        "IF_OPER_DORMANT": Int(LinkOperationalState.dormant.rawValue),
        "IF_OPER_UP": Int(LinkOperationalState.up.rawValue),
        "ARPHRD_ETHER": Int(LinkInfo.ethernetHardwareType),
        "sizeof(struct nlmsghdr)": NetlinkMessageWriter.headerLength,
        "sizeof(struct rtattr)": NetlinkMessageWriter.attributeHeaderLength,
        "sizeof(struct ifaddrmsg)": RouteNetlinkRequest.addressHeaderLength,
        "sizeof(struct ifinfomsg)": RouteNetlinkRequest.linkHeaderLength,
        "sizeof(struct sockaddr_nl)": MemoryLayout<NetlinkSocketAddress>.size,
        "offsetof(struct sockaddr_nl, nl_pid)": MemoryLayout<NetlinkSocketAddress>.offset(of: \.portID)!,
        "offsetof(struct sockaddr_nl, nl_groups)": MemoryLayout<NetlinkSocketAddress>.offset(of: \.groups)!,
    ]

    @Test func everyNumberMatchesTheCHeaders() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tkx-nlhdr-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("constants.c")
        let binary = directory.appendingPathComponent("constants")
        let prints = Self.ours.keys.sorted().map { name in
            "    printf(\"%s %lld\\n\", \"\(name)\", (long long)(\(name)));"
        }
        let program = """
            #include <stdio.h>
            #include <stddef.h>
            #include <sys/socket.h>
            #include <net/if.h>
            #include <net/if_arp.h>
            #include <linux/if.h>
            #include <linux/netlink.h>
            #include <linux/rtnetlink.h>
            #include <linux/if_addr.h>
            #include <linux/if_link.h>
            #ifndef IFF_LOWER_UP
            #define IFF_LOWER_UP 0x10000
            #define IFF_DORMANT 0x20000
            #endif
            #ifndef SOL_NETLINK
            #define SOL_NETLINK 270
            #endif
            int main(void) {
            \(prints.joined(separator: "\n"))
                return 0;
            }
            """
        try program.write(to: source, atomically: true, encoding: .utf8)
        try NamespaceLab.run(["cc", "-o", binary.path, source.path])
        let output = try NamespaceLab.run([binary.path])
        var theirs: [String: Int] = [:]
        for line in output.split(separator: "\n") {
            guard let space = line.lastIndex(of: " "), let value = Int(line[line.index(after: space)...]) else { continue }
            theirs[String(line[..<space])] = value
        }
        #expect(theirs.count == Self.ours.count)
        for (name, value) in Self.ours.sorted(by: { $0.key < $1.key }) {
            #expect(theirs[name] == value, "\(name)")
        }
    }
}
