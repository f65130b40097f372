import Foundation
import TakeoverCore
import TakeoverLab
import Testing

/// The real daemon, twice, in a namespace lab: alpha serves group 1 (192.0.2.100), beta stands by; a client on
/// the same hub. Root (CI runs as root); every wait bounded; the lab tears itself down.
@Suite("takeover run: failover in a namespace lab", .serialized)
struct FailoverLabTests {
    static let groupAddress = "192.0.2.100"

    struct Lab {
        let lab: NetworkLab
        let scratch: ScratchDirectory
        let client: LabHost
        /// A client whose neighbour entry for the group address is pinned to alpha's MAC (announcements cannot
        /// move it): only beta's XDP rewrite can serve it after a takeover.
        let pinnedClient: LabHost
        let alpha: LabHost
        let beta: LabHost
        let alphaLinks: [LabInterface]
        let betaLAN: LabInterface
        let alphaLAN: LabInterface
        let clientLAN: LabInterface

        init(_ label: String) throws {
            lab = try NetworkLab(label)
            scratch = try ScratchDirectory()
            let lan = try lab.addHub("lan")
            let heartbeat = try lab.addHub("hb")
            client = try lab.addHost("client")
            pinnedClient = try lab.addHost("pinned")
            alpha = try lab.addHost("alpha")
            beta = try lab.addHost("beta")
            clientLAN = try lab.connect(client, to: lan, addresses: ["192.0.2.50/24"])
            _ = try lab.connect(pinnedClient, to: lan, addresses: ["192.0.2.51/24"])
            alphaLAN = try lab.connect(alpha, to: lan, addresses: ["192.0.2.11/24"])
            betaLAN = try lab.connect(beta, to: lan, addresses: ["192.0.2.12/24"])
            let alphaHB = try lab.connect(alpha, to: heartbeat, interface: "eth1", addresses: ["198.51.100.11/24"])
            _ = try lab.connect(beta, to: heartbeat, interface: "eth1", addresses: ["198.51.100.12/24"])
            alphaLinks = [alphaLAN, alphaHB]
            try lab.runChecked(in: pinnedClient, [
                "ip", "neigh", "replace", FailoverLabTests.groupAddress, "lladdr", alphaLAN.mac.description,
                "dev", "eth0", "nud", "permanent",
            ])
            #expect(try takeover("keygen", "--output", scratch.path + "/key").status == 0)
        }

        /// The configuration of one node, written to the scratch directory.
        /// `metrics`: the metrics address ("127.0.0.1:9464"), nil for none.
        func configuration(
            me: (id: Int, name: String, lan: LabInterface, last: Int), peer: (id: Int, name: String, lan: LabInterface, last: Int),
            metrics: String? = nil, unansweredWindow: Duration? = nil
        ) throws -> String {
            var configuration = LabTakeoverConfiguration(
                me: .init(
                    id: me.id, name: me.name, priority: me.name == "alpha" ? 200 : 100, mac: me.lan.mac,
                    lanAddress: "192.0.2.\(me.last)", heartbeatLink: ("eth1", "198.51.100.\(me.last)")),
                peer: .init(
                    id: peer.id, name: peer.name, priority: peer.name == "alpha" ? 200 : 100, mac: peer.lan.mac,
                    lanAddress: "192.0.2.\(peer.last)", heartbeatLink: ("eth1", "198.51.100.\(peer.last)")),
                groupAddresses: ["\(FailoverLabTests.groupAddress)/24"], keyFile: "\(scratch.path)/key",
                controlSocket: controlSocket(me.name))
            configuration.metricsAddress = metrics
            configuration.unansweredWindow = unansweredWindow
            let text = configuration.text
            return try scratch.file("\(me.name).toml", text)
        }

        /// The control socket of node `name` (in the scratch directory).
        func controlSocket(_ name: String) -> String { "\(scratch.path)/\(name).sock" }

        func startNodes(alphaMetrics: String? = nil, unansweredWindow: Duration? = nil) throws -> (alpha: LabProcess, beta: LabProcess) {
            let alphaConfig = try configuration(
                me: (1, "alpha", alphaLAN, 11), peer: (2, "beta", betaLAN, 12), metrics: alphaMetrics,
                unansweredWindow: unansweredWindow)
            let betaConfig = try configuration(
                me: (2, "beta", betaLAN, 12), peer: (1, "alpha", alphaLAN, 11), unansweredWindow: unansweredWindow)
            let alphaProcess = try lab.start(in: alpha, [takeoverExecutable, "run", "--config", alphaConfig])
            let betaProcess = try lab.start(in: beta, [takeoverExecutable, "run", "--config", betaConfig])
            return (alphaProcess, betaProcess)
        }

        func ping(from host: LabHost? = nil, _ count: Int = 3) throws -> Bool {
            try lab.run(in: host ?? client, ["ping", "-c", "\(count)", "-i", "0.2", "-W", "1", FailoverLabTests.groupAddress]).succeeded
        }

        func neighbourMAC(in host: LabHost) throws -> String {
            try lab.runChecked(in: host, ["ip", "neigh", "show", FailoverLabTests.groupAddress])
        }

        func addresses(of host: LabHost) throws -> String {
            try lab.runChecked(in: host, ["ip", "-o", "addr", "show", "dev", "eth0"])
        }

        func xdpAttached(_ host: LabHost) throws -> Bool {
            try lab.runChecked(in: host, ["ip", "-d", "link", "show", "dev", "eth0"]).contains("prog/xdp")
        }
    }

    @Test("primary's links cut: the standby answers for the group address, announces it, and serves even a client pinned to the primary's MAC")
    func linkCutTakeover() throws {
        let lab = try Lab("failcut")
        defer { lab.lab.teardown() }
        let (alpha, beta) = try lab.startNodes()
        #expect(alpha.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10)), "\(alpha.standardError)")
        #expect(beta.waitForOutput(containing: "group 1: initializing → standby", timeout: .seconds(10)), "\(beta.standardError)")
        #expect(try lab.ping(), "the client reaches the group address on alpha")
        #expect(try lab.ping(from: lab.pinnedClient), "the pinned client reaches it on alpha")
        #expect(try lab.neighbourMAC(in: lab.client).contains(lab.alphaLAN.mac.description))
        #expect(try lab.xdpAttached(lab.beta), "beta watches alpha with XDP")

        for link in lab.alphaLinks { try lab.lab.setLink(link, up: false) }
        #expect(
            beta.waitForOutput(containing: "group 1: standby → active", timeout: .seconds(5)),
            "beta takes over: \(beta.standardError)")
        #expect(try lab.addresses(of: lab.beta).contains(Self.groupAddress + "/24"), "beta added the group address")
        // The announcements (gratuitous ARP) move the ordinary client's entry to beta's MAC.
        let moved = waitUntil(timeout: .seconds(2)) {
            (try? lab.neighbourMAC(in: lab.client).contains(lab.betaLAN.mac.description)) ?? false
        }
        let entry = try lab.neighbourMAC(in: lab.client)
        #expect(moved, "the client's neighbour entry: \(entry)")
        #expect(try lab.ping(), "the client reaches the group address through beta")
        // The pinned client still sends to alpha's MAC; beta's XDP program rewrites those frames to its own MAC.
        #expect(try lab.neighbourMAC(in: lab.pinnedClient).contains(lab.alphaLAN.mac.description))
        #expect(try lab.ping(from: lab.pinnedClient), "the pinned client is served through beta's XDP rewrite")

        // Graceful stop: exit 0, nothing left behind.
        #expect(beta.stop(grace: .seconds(5)) == 0, "\(beta.standardError)")
        #expect(!(try lab.addresses(of: lab.beta).contains(Self.groupAddress)), "beta removed the group address")
        #expect(!(try lab.xdpAttached(lab.beta)), "beta detached its XDP program")
        _ = alpha.stop(grace: .seconds(5))
    }

    @Test("graceful handoff: SIGTERM on the active node, the standby takes over at once and the active one exits clean")
    func gracefulHandoff() throws {
        let lab = try Lab("failhand")
        defer { lab.lab.teardown() }
        let (alpha, beta) = try lab.startNodes()
        #expect(alpha.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10)), "\(alpha.standardError)")
        #expect(beta.waitForOutput(containing: "group 1: initializing → standby", timeout: .seconds(10)), "\(beta.standardError)")
        #expect(alpha.stop(grace: .seconds(5)) == 0, "\(alpha.standardError)")
        #expect(beta.waitForOutput(containing: "standby → active (peer is shutting down", timeout: .seconds(2)), "\(beta.standardError)")
        #expect(!(try lab.addresses(of: lab.alpha).contains(Self.groupAddress)), "alpha removed the group address")
        #expect(!(try lab.xdpAttached(lab.alpha)), "alpha detached its XDP program")
        #expect(try lab.ping(), "the client reaches the group address through beta")
        _ = beta.stop(grace: .seconds(5))
    }
}
