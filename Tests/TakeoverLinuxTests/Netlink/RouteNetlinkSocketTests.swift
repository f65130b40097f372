import Foundation
import Glibc
import TakeoverCore
import TakeoverLinux
import Testing

/// RouteNetlinkSocket against the kernel, in a namespace of its own with a veth pair (nl0 ↔ nl1), checked
/// against what `ip -j` reports. Root only; TEST-NET addresses only; the namespace is deleted in a `defer`.
///
/// A netlink socket stays in the namespace it was opened in, so each test opens its socket on a thread that
/// has entered the namespace (`NamespaceLab.inNamespace`) and then uses it from the test itself.
@Suite("rtnetlink socket (root, namespaces)")
struct RouteNetlinkSocketTests {
    static let mac = MACAddress(2, 0, 0x5E, 0x10, 0, 0x42)
    static let ipv4 = IPAddress.v4(IPv4Address(192, 0, 2, 10))
    static let ipv6 = IPAddress.v6(IPv6Address("2001:db8::10")!)

    /// One namespace with nl0 (fixed MAC, MTU 1400) and its peer nl1, both up.
    static func makeLab(_ lab: NamespaceLab) throws -> String {
        let namespace = try lab.addNamespace("n")
        try NamespaceLab.run(["ip", "-n", namespace, "link", "add", "nl0", "type", "veth", "peer", "name", "nl1"])
        try NamespaceLab.run(["ip", "-n", namespace, "link", "set", "nl0", "address", "\(mac)", "mtu", "1400", "up"])
        try NamespaceLab.run(["ip", "-n", namespace, "link", "set", "nl1", "up"])
        return namespace
    }

    static func openSocket(in namespace: String, timeout: Duration = .seconds(2)) throws -> RouteNetlinkSocket {
        try NamespaceLab.inNamespace(namespace) { try RouteNetlinkSocket(timeout: timeout) }
    }

    /// `ip -j addr show dev <interface>` as (address text, prefix length, flags) triples.
    static func ipAddresses(_ namespace: String, _ interface: String) throws -> Set<String> {
        let json = try NamespaceLab.run(["ip", "-n", namespace, "-j", "addr", "show", "dev", interface])
        let interfaces = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        var found: Set<String> = []
        for entry in interfaces {
            for info in entry["addr_info"] as? [[String: Any]] ?? [] {
                guard let local = info["local"] as? String, let prefix = info["prefixlen"] as? Int else { continue }
                guard local.hasPrefix("192.0.2.") || local.hasPrefix("2001:db8:") else { continue }
                found.insert("\(local)/\(prefix)" + ((info["tentative"] as? Bool) == true ? " tentative" : ""))
            }
        }
        return found
    }

    static func ours(_ addresses: [InterfaceAddressInfo]) -> Set<String> {
        Set(addresses.filter { address in
            switch address.address {
            case .v4(let v4): v4.rawValue >> 8 == 0xC0_00_02
            case .v6(let v6): v6.high >> 32 == 0x2001_0DB8
            }
        }.map { "\($0.address)/\($0.prefixLength)" + ($0.flags.contains(.tentative) ? " tentative" : "") })
    }

    /// Runs `body` and returns the RouteNetlinkError it threw (nil if it did not throw; any other error fails
    /// the test).
    static func failure(_ body: () throws -> Void) -> RouteNetlinkError? {
        do {
            try body()
            return nil
        } catch let error as RouteNetlinkError {
            return error
        } catch {
            Issue.record("not a RouteNetlinkError: \(error)")
            return nil
        }
    }

    @Test func addListAndRemoveIPv4AndIPv6() throws {
        let lab = NamespaceLab(test: "nladd")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)

        try socket.addAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
        try socket.addAddress(Self.ipv6, prefixLength: 64, interface: "nl0")
        let expected: Set<String> = ["192.0.2.10/24", "2001:db8::10/64"]  // IPv6 not tentative: NODAD
        #expect(Self.ours(try socket.addresses(interface: "nl0")) == expected)
        #expect(try Self.ipAddresses(namespace, "nl0") == expected)

        // Our dump agrees with ip's on flags and index too, and the family filter works.
        let index = try socket.link(named: "nl0").index
        let v6Only = try socket.addresses(interfaceIndex: index, family: .ipv6)
        #expect(v6Only.allSatisfy { if case .v6 = $0.address { true } else { false } })
        let ours6 = try #require(v6Only.first { $0.address == Self.ipv6 })
        #expect(ours6.flags.contains(.noDAD) && ours6.flags.contains(.permanent))
        #expect(ours6.interfaceIndex == index)
        #expect(Self.ours(try socket.addresses(interface: "nl1")).isEmpty)  // nl1 has only its fe80:: address

        try socket.removeAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
        try socket.removeAddress(Self.ipv6, prefixLength: 64, interfaceIndex: index)
        #expect(Self.ours(try socket.addresses(interface: "nl0")).isEmpty)
        #expect(try Self.ipAddresses(namespace, "nl0").isEmpty)
    }

    /// 750 addresses (about 60 KB of RTM_NEWADDR) make a dump of several datagrams (the kernel fills each up
    /// to 32 KB at most): every one must come back, as `ip -j` sees them, and go away again.
    @Test func dumpSpanningSeveralDatagrams() throws {
        let lab = NamespaceLab(test: "nlmany")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)
        var added: [IPAddress] = []
        for network in [IPv4Address(192, 0, 2, 0), IPv4Address(198, 51, 100, 0), IPv4Address(203, 0, 113, 0)] {
            added += (1...250).map { .v4(IPv4Address(rawValue: network.rawValue | UInt32($0))) }
        }
        for address in added { try socket.addAddress(address, prefixLength: 32, interface: "nl0") }
        let listed = try socket.addresses(interface: "nl0", family: .ipv4)
        #expect(Set(listed.map(\.address)) == Set(added))
        #expect(listed.count == added.count)

        let json = try NamespaceLab.run(["ip", "-n", namespace, "-4", "-j", "addr", "show", "dev", "nl0"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        let theirs = entries.flatMap { $0["addr_info"] as? [[String: Any]] ?? [] }.compactMap { $0["local"] as? String }
        #expect(Set(theirs) == Set(added.map { (address: IPAddress) in address.description }))

        for address in added { try socket.removeAddress(address, prefixLength: 32, interface: "nl0") }
        #expect(try socket.addresses(interface: "nl0", family: .ipv4).isEmpty)
    }

    @Test func labelIsApplied() throws {
        let lab = NamespaceLab(test: "nllabel")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)
        try socket.addAddress(.v4(IPv4Address(192, 0, 2, 11)), prefixLength: 32, interface: "nl0", label: "nl0:tk")
        let json = try NamespaceLab.run(["ip", "-n", namespace, "-j", "addr", "show", "dev", "nl0"])
        #expect(json.contains("\"label\":\"nl0:tk\""))
        #expect(try socket.addresses(interface: "nl0").contains { $0.label == "nl0:tk" && $0.prefixLength == 32 })
    }

    /// Adding what is there and removing what is not are told apart from other failures, with the kernel's
    /// own text — the same text `ip` prints for the same mistake.
    @Test func duplicateAddAndMissingRemoveAreDistinct() throws {
        let lab = NamespaceLab(test: "nldup")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)
        try socket.addAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
        try socket.addAddress(Self.ipv6, prefixLength: 64, interface: "nl0")

        let duplicate4 = Self.failure {
            try socket.addAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
        }
        guard case .addressAlreadyAssigned(let operation, let message)? = duplicate4 else {
            Issue.record("expected addressAlreadyAssigned, got \(String(describing: duplicate4))")
            return
        }
        #expect(operation == .addAddress(Self.ipv4, prefixLength: 24, interface: .name("nl0")))
        #expect(duplicate4?.errno == EEXIST)
        let ipSays = try NamespaceLab.run(
            ["ip", "-n", namespace, "addr", "add", "192.0.2.10/24", "dev", "nl0"], allowFailure: true)
        #expect(ipSays.contains("Error: \(try #require(message))"), "ip said: \(ipSays)")

        let duplicate6 = Self.failure {
            try socket.addAddress(Self.ipv6, prefixLength: 64, interface: "nl0")
        }
        #expect(duplicate6?.errno == EEXIST)
        if case .addressAlreadyAssigned = duplicate6 {} else { Issue.record("IPv6 duplicate: \(String(describing: duplicate6))") }

        try socket.removeAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
        try socket.removeAddress(Self.ipv6, prefixLength: 64, interface: "nl0")
        for address in [Self.ipv4, Self.ipv6] {
            let prefix: UInt8 = address == Self.ipv4 ? 24 : 64
            let missing = Self.failure {
                try socket.removeAddress(address, prefixLength: prefix, interface: "nl0")
            }
            guard case .addressNotAssigned(let operation, _)? = missing else {
                Issue.record("expected addressNotAssigned for \(address), got \(String(describing: missing))")
                continue
            }
            #expect(operation == .removeAddress(address, prefixLength: prefix, interface: .name("nl0")))
            #expect(missing?.errno == EADDRNOTAVAIL)
        }
        let ipSaysOnRemove = try NamespaceLab.run(
            ["ip", "-n", namespace, "addr", "del", "192.0.2.10/24", "dev", "nl0"], allowFailure: true)
        let missing = Self.failure {
            try socket.removeAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
        }
        #expect(ipSaysOnRemove.contains("Error: \(try #require(missing?.kernelMessage))"), "ip said: \(ipSaysOnRemove)")
    }

    @Test func missingInterfaceIsNamed() throws {
        let lab = NamespaceLab(test: "nlmiss")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)

        let cases: [(String, () throws -> Void)] = [
            ("nope0", { try socket.addAddress(Self.ipv4, prefixLength: 24, interface: "nope0") }),
            ("nope1", { try socket.removeAddress(Self.ipv6, prefixLength: 64, interface: "nope1") }),
            ("nope2", { _ = try socket.link(named: "nope2") }),
            ("nope3", { _ = try socket.addresses(interface: "nope3") }),
        ]
        for (name, body) in cases {
            let error = Self.failure(body)
            guard case .interfaceNotFound(let operation, _)? = error else {
                Issue.record("\(name): expected interfaceNotFound, got \(String(describing: error))")
                continue
            }
            #expect(operation.interface == .name(name))
            #expect("\(error!)".contains("no network interface named \"\(name)\""), "\(error!)")
            #expect(error?.errno == ENODEV)
        }
        // By index: the lookup and the kernel's own check of ifa_index (IPv4 and IPv6 paths).
        let unused: UInt32 = 999_999
        for body: () throws -> Void in [
            { _ = try socket.link(index: unused) },
            { try socket.addAddress(Self.ipv4, prefixLength: 24, interfaceIndex: unused) },
            { try socket.addAddress(Self.ipv6, prefixLength: 64, interfaceIndex: unused) },
        ] {
            let error = Self.failure(body)
            guard case .interfaceNotFound(let operation, _)? = error else {
                Issue.record("expected interfaceNotFound, got \(String(describing: error))")
                continue
            }
            #expect(operation.interface == .index(unused))
            #expect("\(error!)".contains("no network interface with index \(unused)"), "\(error!)")
        }
        // A name the kernel could not hold is refused before anything is sent.
        let tooLong = Self.failure { _ = try socket.link(named: "sixteen-bytes-xx") }
        #expect(tooLong == .invalidRequest(.getLink(.name("sixteen-bytes-xx")), .invalidName("sixteen-bytes-xx")))
    }

    @Test func linkLookupAgreesWithIpLink() throws {
        let lab = NamespaceLab(test: "nllink")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)

        let json = try NamespaceLab.run(["ip", "-n", namespace, "-j", "link", "show"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        let links = try socket.links()
        #expect(Set(links.map(\.name)) == Set(entries.compactMap { $0["ifname"] as? String }))
        for entry in entries {
            let name = try #require(entry["ifname"] as? String)
            let byName = try socket.link(named: name)
            #expect(byName.index == UInt32(try #require(entry["ifindex"] as? Int)), "\(name)")
            #expect(byName.mtu == UInt32(try #require(entry["mtu"] as? Int)), "\(name)")
            #expect(byName.operationalState?.description == entry["operstate"] as? String, "\(name)")
            let flags = entry["flags"] as? [String] ?? []
            #expect(byName.flags.contains(.up) == flags.contains("UP"), "\(name)")
            #expect(byName.flags.contains(.lowerUp) == flags.contains("LOWER_UP"), "\(name)")
            if let address = entry["address"] as? String, entry["link_type"] as? String == "ether" {
                #expect(byName.hardwareAddress == MACAddress(address), "\(name)")
            }
            #expect(try socket.link(index: byName.index) == byName)
            #expect(links.contains(byName))
        }
        let nl0 = try socket.link(named: "nl0")
        #expect(nl0.hardwareAddress == Self.mac)
        #expect(nl0.mtu == 1400)
        #expect(nl0.hardwareType == LinkInfo.ethernetHardwareType)
    }

    /// Carrier follows the peer: nl1 down takes nl0's carrier away.
    @Test func carrierFollowsThePeer() throws {
        let lab = NamespaceLab(test: "nlcarrier")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace)
        #expect(try socket.link(named: "nl0").hasCarrier)
        try NamespaceLab.run(["ip", "-n", namespace, "link", "set", "nl1", "down"])
        let down = try socket.link(named: "nl0")
        #expect(!down.hasCarrier)
        #expect(down.operationalState == .lowerLayerDown)
        #expect(down.flags.contains(.up))
    }

    /// A zero timeout gives up before reading; the kernel's late answer (for nl1) is then skipped by its
    /// sequence number, so the next call (for nl0) gets nl0, not the stale nl1 reply.
    @Test func timeoutThenStaleReplyIsSkipped() throws {
        let lab = NamespaceLab(test: "nltime")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let socket = try Self.openSocket(in: namespace, timeout: .zero)
        let error = Self.failure { _ = try socket.link(named: "nl1") }
        #expect(error == .timedOut(.getLink(.name("nl1")), after: .zero))
        socket.timeout = .seconds(2)
        #expect(try socket.link(named: "nl0").name == "nl0")
    }

    /// A socket opened without CAP_NET_ADMIN may read but not change addresses; the error says so.
    @Test func withoutCapabilitiesAddIsRefusedAsPrivilege() throws {
        let lab = NamespaceLab(test: "nlcap")
        defer { lab.destroy() }
        let namespace = try Self.makeLab(lab)
        let outcome = try NamespaceLab.inNamespace(namespace, withoutCapabilities: true) {
            () throws -> (RouteNetlinkError?, String?) in
            let socket = try RouteNetlinkSocket()
            let name = try? socket.link(named: "nl0").name
            return (Self.failure {
                try socket.addAddress(Self.ipv4, prefixLength: 24, interface: "nl0")
            }, name)
        }
        #expect(outcome.1 == "nl0")
        guard case .insufficientPrivileges? = outcome.0 else {
            Issue.record("expected insufficientPrivileges, got \(String(describing: outcome.0))")
            return
        }
        #expect("\(outcome.0!)".contains("CAP_NET_ADMIN"))
        #expect(try Self.ipAddresses(namespace, "nl0").isEmpty)
    }
}
