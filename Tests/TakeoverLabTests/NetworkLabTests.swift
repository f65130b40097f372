import Foundation
import Testing
import TakeoverCore
import TakeoverLab

#if canImport(Glibc)
import Glibc
#endif

/// Root tests of the lab itself: it builds what it says, hub mode really mirrors, and teardown leaves nothing.
@Suite(.serialized) struct NetworkLabTests {
    /// Client, primary and standby on one hub, as the failover tests use it.
    typealias HubLab = FailoverHub

    static func namespacesOnMachine() throws -> [String] {
        let list = Process()
        list.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        list.arguments = ["-j", "netns", "list"]
        let pipe = Pipe()
        list.standardOutput = pipe
        try list.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        list.waitUntilExit()
        guard !data.isEmpty, let entries = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            return []
        }
        return entries.compactMap { $0["name"] as? String }
    }

    @Test func hubMirrorsClientPrimaryTrafficToTheStandby() throws {
        let setup = try HubLab("hub")
        let lab = setup.lab
        defer { lab.teardown() }

        #expect(setup.client.mac != setup.primary.mac)
        let capture = try lab.startTcpdump(in: setup.standby.host, ["-n", "-e", "-l", "-U", "icmp"])

        let ping = try lab.run(in: setup.client.host, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.20"])
        #expect(ping.succeeded, "\(ping.standardOutput)\(ping.standardError)")
        #expect(ping.standardOutput.contains("3 received"))

        let sawBoth = waitUntil(timeout: .seconds(3)) {
            capture.standardOutput.components(separatedBy: "192.0.2.20 > 192.0.2.10: ICMP echo reply").count > 3
        }
        capture.stop()
        let lines = capture.standardOutput.split(separator: "\n")
        #expect(sawBoth)
        // The standby is neither source nor destination: it sees these only because the bridge is a hub.
        let requests = lines.filter {
            $0.contains("\(setup.client.mac) > \(setup.primary.mac)") && $0.contains("192.0.2.10 > 192.0.2.20: ICMP echo request")
        }
        let replies = lines.filter {
            $0.contains("\(setup.primary.mac) > \(setup.client.mac)") && $0.contains("192.0.2.20 > 192.0.2.10: ICMP echo reply")
        }
        #expect(requests.count == 3, "\(lines)")
        #expect(replies.count == 3, "\(lines)")
    }

    /// On a learning bridge the standby would see none of the client↔primary unicast once the bridge has learned
    /// both MACs (the ARP exchange teaches it before the first ping); the mirror of the primary's port brings it,
    /// both directions. Traffic between the client and the standby's own neighbour is not mirrored.
    @Test func mirrorPortBringsThePrimarysTrafficToTheStandbyOfALearningBridge() throws {
        let setup = try FailoverHub("mirror", topology: .mirror)
        let lab = setup.lab
        defer { lab.teardown() }
        let capture = try lab.startTcpdump(in: setup.standby.host, ["-n", "-e", "-l", "-U", "icmp"])
        #expect(try lab.run(in: setup.client.host, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.20"]).succeeded)
        let sawReplies = waitUntil(timeout: .seconds(3)) {
            capture.standardOutput.components(separatedBy: "192.0.2.20 > 192.0.2.10: ICMP echo reply").count > 3
        }
        capture.stop()
        let lines = capture.standardOutput.split(separator: "\n")
        #expect(sawReplies, "\(lines)")
        #expect(lines.filter { $0.contains("\(setup.client.mac) > \(setup.primary.mac)") && $0.contains("echo request") }.count == 3)
        #expect(lines.filter { $0.contains("\(setup.primary.mac) > \(setup.client.mac)") && $0.contains("echo reply") }.count == 3)
    }

    @Test func cuttingTheLinkIsolatesTheHost() throws {
        let setup = try HubLab("link")
        let lab = setup.lab
        defer { lab.teardown() }
        let arguments = ["ping", "-c", "1", "-W", "1", "192.0.2.20"]

        #expect(try lab.run(in: setup.client.host, arguments).succeeded)
        try lab.setLink(setup.primary, up: false)
        #expect(try !lab.run(in: setup.client.host, arguments).succeeded)
        try lab.setLink(setup.primary, up: true)
        // Carrier and bridge port come back within a moment; bounded retries.
        #expect(waitUntil(timeout: .seconds(5)) { (try? lab.run(in: setup.client.host, arguments).succeeded) == true })
    }

    @Test func teardownDeletesEveryNamespaceAndKillsEveryProcess() throws {
        let setup = try HubLab("down")
        let lab = setup.lab
        let namespaces = lab.liveNamespaces
        #expect(namespaces.count == 4)
        #expect(Set(try Self.namespacesOnMachine()).isSuperset(of: namespaces))
        let sleeper = try lab.start(in: setup.primary.host, ["sleep", "60"])
        #expect(sleeper.isRunning)

        lab.teardown()
        lab.teardown()  // idempotent

        #expect(!sleeper.isRunning)
        #expect(kill(sleeper.processIdentifier, 0) == -1 && errno == ESRCH)
        #expect(Set(try Self.namespacesOnMachine()).isDisjoint(with: namespaces))
        #expect(lab.liveNamespaces.isEmpty)
        #expect(throws: LabError.self) { try lab.addHost("late") }
    }

    @Test func deinitTearsDownWhenATestThrows() throws {
        struct Planned: Error {}
        var namespaces: [String] = []
        func failingTest() throws {
            let lab = try NetworkLab("throw")
            _ = try lab.addHost("one")
            namespaces = lab.liveNamespaces
            throw Planned()
        }
        #expect(throws: Planned.self) { try failingTest() }
        #expect(namespaces.count == 1)
        #expect(Set(try Self.namespacesOnMachine()).isDisjoint(with: namespaces))
    }

    @Test func leftoversOfADeadRunAreRemovedAndLiveLabsAreNot() throws {
        // A process that has exited stands for a test run that crashed before its teardown.
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        #expect(waitUntil(timeout: .seconds(5)) { !finished.isRunning })
        let stale = "tklab-stale-\(finished.processIdentifier)-1-host"

        let live = try NetworkLab("live")
        defer { live.teardown() }
        _ = try live.addHost("host")

        let create = Process()
        create.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        create.arguments = ["netns", "add", stale]
        try create.run()
        #expect(waitUntil(timeout: .seconds(5)) { !create.isRunning })
        let orphan = Process()
        orphan.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        orphan.arguments = ["netns", "exec", stale, "sleep", "60"]
        try orphan.run()
        defer { if orphan.isRunning { kill(orphan.processIdentifier, SIGKILL) } }
        #expect(try Self.namespacesOnMachine().contains(stale))

        let removed = NetworkLab.removeLeftovers()
        #expect(removed.contains(stale))
        #expect(try !Self.namespacesOnMachine().contains(stale))
        #expect(waitUntil(timeout: .seconds(5)) { !orphan.isRunning })
        #expect(Set(try Self.namespacesOnMachine()).isSuperset(of: live.liveNamespaces))
    }

    @Test func refusesAddressesOutsideTheDocumentationRanges() throws {
        let lab = try NetworkLab("addr")
        defer { lab.teardown() }
        let hub = try lab.addHub()
        let host = try lab.addHost("host")
        for address in ["10.0.0.1/24", "192.0.3.1/24", "8.8.8.8/32", "2001:db9::1/64", "192.0.2.1", "192.0.2.1/16"] {
            #expect(throws: LabError.self, "\(address)") { try lab.connect(host, to: hub, addresses: [address]) }
        }
        let interface = try lab.connect(host, to: hub, addresses: ["203.0.113.5/24", "2001:db8::5/64"])
        let shown = try lab.runChecked(in: host, ["ip", "-o", "address", "show", "dev", "eth0"])
        #expect(shown.contains("203.0.113.5/24"))
        #expect(shown.contains("2001:db8::5/64"))
        #expect(!shown.contains("tentative"))  // DAD is off: usable at once
        #expect(interface.ipv4 == IPv4Address(203, 0, 113, 5))
        #expect(throws: LabError.self) { try NetworkLab("has space") }
        #expect(throws: LabError.self) { try NetworkLab("has-dash") }
    }

    @Test func withNamespaceRunsInsideTheHostsNamespace() throws {
        let lab = try NetworkLab("thread")
        defer { lab.teardown() }
        let host = try lab.addHost("inside")
        var expected = stat()
        #expect(stat("/run/netns/\(host.namespace)", &expected) == 0)

        let inside = try lab.withNamespace(of: host) { () -> ino_t in
            var current = stat()
            #expect(stat("/proc/thread-self/ns/net", &current) == 0)
            return current.st_ino
        }
        var outside = stat()
        #expect(stat("/proc/thread-self/ns/net", &outside) == 0)
        #expect(inside == expected.st_ino)
        #expect(outside.st_ino != expected.st_ino)  // the caller's thread did not move
    }

    @Test func runReportsStatusOutputAndTimeouts() throws {
        let lab = try NetworkLab("run")
        defer { lab.teardown() }
        let host = try lab.addHost("host")
        let result = try lab.run(in: host, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.standardOutput == "out\n")
        #expect(result.standardError == "err\n")
        let started = ContinuousClock.now
        #expect(throws: LabError.self) { try lab.run(in: host, ["sleep", "30"], timeout: .milliseconds(300)) }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
