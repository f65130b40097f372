import Foundation
import Testing
import TakeoverCore
import TakeoverLab
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// Root tests: the membership really lands in the interface's address list (or makes it promiscuous),
/// and really goes away on close.
@Suite(.serialized) struct PacketMembershipTests {
    static let peerMAC = MACAddress(0x02, 0x74, 0x6B, 0x00, 0x00, 0x99)

    /// The interface's unicast/multicast address list as `bridge fdb` reports it for a non-bridge device.
    static func addressList(_ lab: NetworkLab, _ host: LabHost) throws -> String {
        try lab.runChecked(in: host, ["bridge", "fdb", "show", "dev", "eth0"])
    }

    /// How many holders keep the interface promiscuous.
    static func promiscuity(_ lab: NetworkLab, _ host: LabHost) throws -> Int {
        let json = try lab.runChecked(in: host, ["ip", "-d", "-j", "link", "show", "dev", "eth0"])
        let entries = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        return try #require(entries?.first?["promiscuity"] as? Int)
    }

    static func standby(_ label: String) throws -> (NetworkLab, LabHost) {
        let lab = try NetworkLab(label)
        let host = try lab.addHost("standby")
        _ = try lab.connect(host, to: try lab.addHub(), addresses: ["203.0.113.3/24"])
        return (lab, host)
    }

    @Test func unicastMembershipAddsThePeersMACUntilClosed() throws {
        let (lab, host) = try Self.standby("memb")
        defer { lab.teardown() }
        #expect(try !Self.addressList(lab, host).contains("\(Self.peerMAC)"))
        let baseline = try Self.promiscuity(lab, host)

        let membership = try lab.withNamespace(of: host) {
            try PacketMembership(interface: "eth0", peerMAC: Self.peerMAC)
        }
        #expect(membership.mode == .unicastAddress(Self.peerMAC))
        #expect(try Self.addressList(lab, host).contains("\(Self.peerMAC) self permanent"))
        // veth has no hardware unicast filter, so the kernel makes it promiscuous on its own (a NIC with
        // IFF_UNICAST_FLT would not); either way the count returns to the baseline on close.
        #expect(try Self.promiscuity(lab, host) == baseline + 1)

        membership.close()
        membership.close()  // idempotent
        #expect(try !Self.addressList(lab, host).contains("\(Self.peerMAC)"))
        #expect(try Self.promiscuity(lab, host) == baseline)
    }

    @Test func promiscuousMembershipIsCountedAndReleasedOnDeinit() throws {
        let (lab, host) = try Self.standby("promisc")
        defer { lab.teardown() }
        let baseline = try Self.promiscuity(lab, host)
        do {
            let membership = try lab.withNamespace(of: host) {
                try PacketMembership(interface: "eth0", peerMAC: Self.peerMAC, promiscuous: true)
            }
            #expect(membership.mode == .promiscuous(.requested))
            #expect(try Self.promiscuity(lab, host) == baseline + 1)
            #expect(try !Self.addressList(lab, host).contains("\(Self.peerMAC)"))
            withExtendedLifetime(membership) {}
        }
        #expect(try Self.promiscuity(lab, host) == baseline)
    }

    @Test func missingInterfaceNamesTheCallAndErrno() throws {
        let (lab, host) = try Self.standby("membnodev")
        defer { lab.teardown() }
        let error = try lab.withNamespace(of: host) { () -> SystemCallError? in
            do {
                _ = try PacketMembership(interface: "eth9", peerMAC: Self.peerMAC)
                return nil
            } catch let error as SystemCallError { return error }
        }
        #expect(error?.call == "if_nametoindex(eth9)")
        #expect(error?.errno == ENODEV)
    }
}
