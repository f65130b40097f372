import Foundation
import Logging
import Synchronization
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux
import Testing

/// Root tests of state-based takeover with `tcp-policy = "reset"`: alpha is the real daemon (`takeover run`, so it
/// can be killed), beta an in-process `Engine` (its tracker and timelines are read directly), a client with real
/// kernel TCP sockets (Python) on the same LAN; servers are Python on alpha and beta. Heartbeats every 10 ms on
/// the LAN and a second link. Times come from CLOCK_MONOTONIC on both sides (shared by every namespace).
@Suite("state-based takeover: session tracking and the reset policy", .serialized)
struct TCPResetLabTests {
    static let groupV4 = "192.0.2.100"
    static let groupV6 = "2001:db8::100"
    static let servicePort: UInt16 = 7000
    /// Nobody answers here (alpha drops it): a connection attempt whose sequence state stays unknown.
    static let silentPort: UInt16 = 9
    static let python = "/usr/bin/python3"

    /// Answers each line with "<name> <line>"; IPv4 and IPv6 on one dual-stack socket.
    static let server = """
        import socket, sys, threading
        name, port = sys.argv[1], int(sys.argv[2])
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", port))
        listener.listen(16)
        print("ready", flush=True)
        def serve(connection):
            try:
                for line in connection.makefile("rb"):
                    connection.sendall(name.encode() + b" " + line)
            except OSError:
                pass
            connection.close()
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve, args=(connection,), daemon=True).start()
        """

    /// One long-lived connection: a request/response every 5 ms until the connection fails, then reconnects
    /// (every 5 ms, bounded) and reports who answered. Prints events with CLOCK_MONOTONIC nanoseconds.
    static let client = """
        import socket, sys, time
        address, port = sys.argv[1], int(sys.argv[2])
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        now = time.monotonic_ns
        def connect():
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(0.5)
            s.connect((address, port))
            s.settimeout(10)
            return s
        def exchange(s, n):
            s.sendall(b"%d\\n" % n)
            data = b""
            while not data.endswith(b"\\n"):
                chunk = s.recv(100)
                if not chunk:
                    raise EOFError
                data += chunk
            return data.split()[0].decode()
        s = connect()
        print("connected %s %d" % (exchange(s, 0), now()), flush=True)
        n, last_sent, deadline = 1, now(), time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                last_sent = now()
                exchange(s, n)
                n += 1
                time.sleep(0.005)
            except ConnectionResetError:
                print("reset %d last-sent %d exchanges %d" % (now(), last_sent, n), flush=True)
                break
            except EOFError:
                print("eof %d" % now(), flush=True)
                break
            except socket.timeout:
                print("timeout %d" % now(), flush=True)
                break
        s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                s = connect()
                print("reconnected %s %d" % (exchange(s, n), now()), flush=True)
                break
            except OSError:
                time.sleep(0.005)
        """

    /// Opens `count` connections, exchanges one request on each, then idles until each is reset (it sends
    /// nothing more, so nothing but a reset from the standby can end them); prints how many were reset and when.
    static let manyClients = """
        import socket, sys, time, selectors
        address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        sockets = []
        for n in range(count):
            s = socket.create_connection((address, port), timeout=5)
            s.sendall(b"%d\\n" % n)
            data = b""
            while not data.endswith(b"\\n"):
                data += s.recv(100)
            s.setblocking(False)
            sockets.append(s)
        print("ready %d" % len(sockets), flush=True)
        selector = selectors.DefaultSelector()
        for s in sockets:
            selector.register(s, selectors.EVENT_READ)
        resets, first, last, other = 0, 0, 0, 0
        deadline = time.monotonic() + 60
        while resets + other < count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                try:
                    key.fileobj.recv(100)
                    other += 1
                except ConnectionResetError:
                    resets += 1
                    last = time.monotonic_ns()
                    first = first or last
                selector.unregister(key.fileobj)
        print("resets %d other %d first %d last %d" % (resets, other, first, last), flush=True)
        """

    /// Starts a connection to a port nobody answers and keeps it pending.
    static let silentClient = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((sys.argv[1], int(sys.argv[2])))
        print("sent", flush=True)
        time.sleep(60)
        """

    struct Lab {
        let lab: NetworkLab
        let scratch: ScratchDirectory
        let lanHub: LabHub
        let client: LabHost
        let alpha: LabHost
        let beta: LabHost
        let alphaLinks: [LabInterface]
        let alphaLAN: LabInterface
        let betaLAN: LabInterface
        let clientLAN: LabInterface

        init(_ label: String) throws {
            lab = try NetworkLab(label)
            scratch = try ScratchDirectory()
            lanHub = try lab.addHub("lan")
            let heartbeat = try lab.addHub("hb")
            client = try lab.addHost("client")
            alpha = try lab.addHost("alpha")
            beta = try lab.addHost("beta")
            clientLAN = try lab.connect(client, to: lanHub, addresses: ["192.0.2.50/24", "2001:db8::50/64"])
            alphaLAN = try lab.connect(alpha, to: lanHub, addresses: ["192.0.2.11/24", "2001:db8::11/64"])
            betaLAN = try lab.connect(beta, to: lanHub, addresses: ["192.0.2.12/24", "2001:db8::12/64"])
            let alphaHB = try lab.connect(alpha, to: heartbeat, interface: "eth1", addresses: ["198.51.100.11/24"])
            _ = try lab.connect(beta, to: heartbeat, interface: "eth1", addresses: ["198.51.100.12/24"])
            alphaLinks = [alphaLAN, alphaHB]
            #expect(try takeover("keygen", "--output", scratch.path + "/key").status == 0)
        }

        func configuration(
            me: (id: Int, name: String, last: Int), peer: (id: Int, name: String, lan: LabInterface, last: Int),
            tcpPolicy: TCPPolicy = .reset, resumeSocket: String? = nil
        ) -> String {
            let node = { (id: Int, name: String, mac: MACAddress, last: Int) in
                LabTakeoverConfiguration.Node(
                    id: id, name: name, priority: name == "alpha" ? 200 : 100, mac: mac, lanAddress: "192.0.2.\(last)",
                    heartbeatLink: ("eth1", "198.51.100.\(last)"))
            }
            var configuration = LabTakeoverConfiguration(
                me: node(me.id, me.name, me.name == "alpha" ? alphaLAN.mac : betaLAN.mac, me.last),
                peer: node(peer.id, peer.name, peer.lan.mac, peer.last),
                groupAddresses: ["\(TCPResetLabTests.groupV4)/24", "\(TCPResetLabTests.groupV6)/64"],
                keyFile: "\(scratch.path)/key", controlSocket: "\(scratch.path)/\(me.name).control.sock")
            configuration.peerTraffic = nil  // the daemon's default: the tracker's frames are a liveness signal
            configuration.tcpPolicy = tcpPolicy.rawValue
            configuration.resumeSocket = resumeSocket
            return configuration.text
        }

        /// How alpha fails in a test.
        enum Failure {
            /// Both of alpha's links down.
            case linkCut
            /// A dead machine: alpha's stack silenced on both links (without it alpha's kernel would close the
            /// killed service's sockets with a FIN of its own and keep answering for the address), its daemon and
            /// service SIGKILLed.
            case crash
        }

        /// Prepares `failure` ahead (the `ip`/`nft` is started now, see `PreparedBatch`) and returns what
        /// triggers it: the failure lands when the test says, without a process start at that moment.
        func prepare(_ failure: Failure, daemon: LabProcess, service: LabProcess) throws -> PreparedBatch {
            let devices = alphaLinks.map(\.name)
            switch failure {
            case .linkCut:
                return try PreparedBatch(
                    lab: lab, host: alpha, tool: .ip, fifo: scratch.path + "/link-cut.fifo",
                    commands: devices.map { "link set \($0) down\n" }.joined())
            case .crash:
                return try PreparedBatch(
                    lab: lab, host: alpha, tool: .nft, fifo: scratch.path + "/silence.fifo",
                    commands: NetworkLab.silencingRuleset(devices: devices))
            }
        }

        /// Triggers a prepared `failure` of alpha.
        func fail(_ failure: Failure, _ batch: PreparedBatch, daemon: LabProcess, service: LabProcess) throws {
            try batch.apply()
            if failure == .crash {
                kill(daemon.processIdentifier, SIGKILL)
                kill(service.processIdentifier, SIGKILL)
            }
        }

        func startAlpha() throws -> LabProcess {
            let file = try scratch.file(
                "alpha.toml", configuration(me: (1, "alpha", 11), peer: (2, "beta", betaLAN, 12)))
            let alpha = try lab.start(in: self.alpha, [takeoverExecutable, "run", "--config", file])
            #expect(
                alpha.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10)),
                "\(alpha.standardError)")
            return alpha
        }

        /// Beta's engine, made and started inside beta's namespace (its threads stay there).
        func startBeta(
            log: LogCollector, warningWindow: Duration = Engine.defaultPeerTrafficWarningWindow,
            tcpPolicy: TCPPolicy = .reset
        ) throws -> Engine {
            let text = configuration(me: (2, "beta", 12), peer: (1, "alpha", alphaLAN, 11), tcpPolicy: tcpPolicy)
            let configuration = try ConfigurationLoader.parse(text)
            let engine = try lab.withNamespace(of: beta) {
                let engine = try Engine(
                    configuration: configuration, logger: log.logger, peerTrafficWarningWindow: warningWindow)
                try engine.start()
                return engine
            }
            #expect(waitUntil(timeout: .seconds(5)) { engine.controller.state(of: 1) == .standby })
            return engine
        }

        /// Shut down inside the namespace: interface indexes (XDP detach, addresses) belong to it.
        func stop(_ engine: Engine) {
            _ = try? lab.withNamespace(of: beta) { engine.shutdown(timeout: .seconds(3)) }
        }

        func startServer(in host: LabHost, name: String) throws -> LabProcess {
            let server = try lab.start(
                in: host,
                [TCPResetLabTests.python, "-c", TCPResetLabTests.server, name, "\(TCPResetLabTests.servicePort)"])
            guard server.waitForOutput(containing: "ready", timeout: .seconds(10)) else {
                throw LabError.launchFailed(arguments: server.arguments, reason: "server: \(server.standardError)")
            }
            return server
        }

        func startClient(_ address: String) throws -> LabProcess {
            let client = try lab.start(
                in: client,
                [TCPResetLabTests.python, "-c", TCPResetLabTests.client, address, "\(TCPResetLabTests.servicePort)"])
            guard client.waitForOutput(containing: "connected alpha", timeout: .seconds(10)) else {
                throw LabError.launchFailed(
                    arguments: client.arguments, reason: "client: \(client.standardOutput) \(client.standardError)")
            }
            return client
        }

        /// Alpha drops what arrives for the silent port, so a connection attempt there stays a lone SYN.
        func startSilentClient() throws -> LabProcess {
            try lab.runChecked(in: alpha, ["nft", "add table inet silent"])
            try lab.runChecked(
                in: alpha, ["nft", "add chain inet silent input { type filter hook input priority 0 ; }"])
            try lab.runChecked(
                in: alpha, ["nft", "add rule inet silent input tcp dport \(TCPResetLabTests.silentPort) drop"])
            let silent = try lab.start(
                in: client,
                [
                    TCPResetLabTests.python, "-c", TCPResetLabTests.silentClient, TCPResetLabTests.groupV4,
                    "\(TCPResetLabTests.silentPort)",
                ])
            #expect(silent.waitForOutput(containing: "sent", timeout: .seconds(10)))
            return silent
        }

        /// Makes the LAN bridge a learning switch (unicast goes only to the port that owns the MAC) or a hub.
        func setLANBridge(learning: Bool) throws {
            // ageing_time in centiseconds: 300 s learns; 0 forgets at once, so every frame floods (and the
            // entries learned meanwhile are flushed).
            var arguments = [
                "ip", "-n", lanHub.namespace, "link", "set", lanHub.bridge, "type", "bridge", "ageing_time",
            ]
            arguments += learning ? ["30000"] : ["0", "fdb_flush"]
            let result = try LabProcess.run(arguments, timeout: .seconds(10))
            #expect(result.succeeded, "\(result.standardError)")
        }
    }

    /// A client's events, from its output.
    struct ClientEvents {
        var resetAt: UInt64?
        var lastSentBeforeReset: UInt64?
        var reconnectedTo: String?
        var reconnectedAt: UInt64?
        var other: [String] = []

        init(_ output: String) {
            for line in output.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                switch words.first {
                case "reset":
                    resetAt = UInt64(words[1])
                    lastSentBeforeReset = UInt64(words[3])
                case "reconnected":
                    reconnectedTo = words[1]
                    reconnectedAt = UInt64(words[2])
                case "connected": break
                default: other.append(String(line))
                }
            }
        }
    }

    @Test(
        "the standby's tracker holds the peer's sessions; it warns when the switch hides the peer's traffic and says when it appears"
    )
    func trackingAndSwitchDiagnosis() throws {
        let lab = try Lab("tcptrack")
        defer { lab.lab.teardown() }
        let alpha = try lab.startAlpha()
        _ = try lab.startServer(in: lab.alpha, name: "alpha")
        // A switch: once it has learned the MACs, the client↔alpha frames no longer reach beta's port.
        try lab.setLANBridge(learning: true)
        _ = try lab.startClient(Self.groupV4)
        Thread.sleep(forTimeInterval: 0.3)
        let log = LogCollector()
        let beta = try lab.startBeta(log: log, warningWindow: .seconds(1))
        defer { lab.stop(beta) }
        let pipeline = try #require(beta.capturePipelines["eth0"])

        #expect(
            waitUntil(timeout: .seconds(5)) { log.contains("no frame from the peer's MAC") },
            "warning: \(log.messages)")
        #expect(log.messages.contains { $0.contains("mirror (SPAN) port") && $0.contains("hub") })
        #expect(pipeline.statistics().sessionCount == 0, "a switch shows the standby none of the peer's sessions")

        // A hub (or a mirror port): the frames arrive, beta says so and tracks the session.
        let warnings = log.messages.count
        try lab.setLANBridge(learning: false)
        #expect(
            waitUntil(timeout: .seconds(5)) {
                log.messages.dropFirst(warnings).contains { $0.contains("capturing the peer's traffic") }
            }, "notice: \(log.messages)")
        #expect(waitUntil(timeout: .seconds(5)) { pipeline.statistics().sessionCount > 0 })
        let group = FlowAddress(IPAddress("192.0.2.100")!)
        let tracked = pipeline.sessions { $0.serverSide(among: [group]) != nil }
        #expect(tracked.count == 1, "\(tracked.map(\.key))")
        if let session = tracked.first {
            #expect(session.flags.contains(.joinedMidstream), "beta joined the connection mid-stream")
            #expect(session.receiveNext(session.serverSide(among: [group])!.other) != nil)
        }
        #expect(pipeline.lastPeerFrame != nil)
        #expect(beta.controller.state(of: 1) == .standby)
        #expect(alpha.isRunning)
        print(
            "MEASURED standby tracker: \(pipeline.statistics().sessionCount) session(s), \(pipeline.statistics().receive.framesReceived) frames"
        )
    }

    /// Also runs beta with `tcp-policy = "resume"`: the connection is over by the takeover, so resume refuses it
    /// and hands it to its reset fallback, which finds it closed.
    @Test("the peer's own traffic, captured by the standby's tracker, keeps it alive while its heartbeats are lost")
    func peerTrafficIsALivenessSignal() throws {
        let lab = try Lab("tcplive")
        defer { lab.lab.teardown() }
        _ = try lab.startAlpha()
        _ = try lab.startServer(in: lab.alpha, name: "alpha")
        let log = LogCollector()
        let beta = try lab.startBeta(log: log, tcpPolicy: .resume)
        defer { lab.stop(beta) }
        let pipeline = try #require(beta.capturePipelines["eth0"])
        let client = try lab.startClient(Self.groupV4)
        // Alpha's heartbeats stop leaving it (both channels); its service traffic goes on.
        try lab.lab.runChecked(in: lab.alpha, ["nft", "add table inet quiet"])
        try lab.lab.runChecked(
            in: lab.alpha, ["nft", "add chain inet quiet output { type filter hook output priority 0 ; }"])
        try lab.lab.runChecked(
            in: lab.alpha,
            [
                "nft", "add rule inet quiet output udp dport \(HeartbeatConfiguration.defaultPort) drop",
            ])
        let silenced = MonotonicClock.now()
        Thread.sleep(forTimeInterval: 0.6)  // twenty failure windows
        let channels = beta.controller.counters.channels
        #expect(
            channels.allSatisfy { ($0.lastAccepted ?? .zero) < silenced }, "no heartbeat got through: \(channels)")
        #expect(beta.controller.state(of: 1) == .standby, "the peer's frames keep it alive")
        #expect(pipeline.lastPeerFrame.map { $0 > silenced } == true)

        // The traffic ends too: now the peer is failed.
        _ = client.stop(grace: .milliseconds(100))
        let stopped = MonotonicClock.now()
        #expect(waitUntil(timeout: .seconds(5)) { beta.controller.state(of: 1) == .active }, "\(log.messages)")
        #expect(
            waitUntil(timeout: .seconds(2)) { beta.tcpResetStatistics?.alreadyClosed == 1 },
            "the closed connection is not reset: \(String(describing: beta.tcpResetStatistics))")
        #expect(
            beta.resumeStatistics["eth0"].map { $0.fellBack == 1 && $0.resumed == 0 } == true,
            "resume refused the closed connection: \(beta.resumeStatistics)")
        let lastFrame = try #require(pipeline.lastPeerFrame)
        if let decided = beta.controller.timelines.last(where: { $0.transition.to == .active })?.transition.at {
            #expect(decided.nanoseconds(since: lastFrame) >= 30_000_000, "not before a whole window without frames")
            print(
                "MEASURED takeover \(decided.nanoseconds(since: lastFrame) / 1000) µs after the peer's last captured frame (window 30 ms), \(decided.nanoseconds(since: stopped) / 1000) µs after the client was stopped"
            )
        }
    }

    /// Cuts the primary in `failure`'s way and checks every client was reset promptly and reconnected to beta.
    func runReset(label: String, failure: Lab.Failure) throws {
        let lab = try Lab(label)
        defer { lab.lab.teardown() }
        let alpha = try lab.startAlpha()
        let alphaServer = try lab.startServer(in: lab.alpha, name: "alpha")
        _ = try lab.startServer(in: lab.beta, name: "beta")
        // The client's entry for the IPv4 group address is pinned to alpha's MAC: it never asks for it, so only
        // the tracker knows it as a client (its unicast announcement comes from there), and after the takeover
        // only beta's XDP rewrite serves it.
        try lab.lab.runChecked(
            in: lab.client,
            [
                "ip", "neigh", "replace", Self.groupV4, "lladdr", lab.alphaLAN.mac.description, "dev", "eth0", "nud",
                "permanent",
            ])
        // Started before beta listens: beta joins it mid-stream.
        let midstream = try lab.startClient(Self.groupV4)
        let log = LogCollector()
        let beta = try lab.startBeta(log: log)
        defer { lab.stop(beta) }
        let pipeline = try #require(beta.capturePipelines["eth0"])
        // Started while beta listens: beta sees the handshake.
        let fromStart = try lab.startClient(Self.groupV6)
        let silent = try lab.startSilentClient()
        defer { _ = silent.stop(grace: .milliseconds(100)) }

        let groups: Set<FlowAddress> = [FlowAddress(IPAddress(Self.groupV4)!), FlowAddress(IPAddress(Self.groupV6)!)]
        func trackedSessions() -> [Session] { pipeline.sessions { $0.serverSide(among: groups) != nil } }
        #expect(waitUntil(timeout: .seconds(5)) { trackedSessions().count == 3 }, "\(trackedSessions().map(\.key))")
        let sessions = trackedSessions()
        func service(_ session: Session) -> Bool {
            session.key.sourcePort == Self.servicePort || session.key.destinationPort == Self.servicePort
        }
        let v4 = sessions.first { service($0) && $0.key.source.isIPv4 }
        let v6 = sessions.first { service($0) && !$0.key.source.isIPv4 }
        #expect(v4?.flags.contains(.joinedMidstream) == true, "IPv4 session joined mid-stream")
        #expect(v6?.flags.contains(.handshakeSeen) == true, "IPv6 session seen from its handshake")
        Thread.sleep(forTimeInterval: 0.2)

        let unicastAnnouncements = try lab.lab.startTcpdump(
            in: lab.client,
            ["-n", "-e", "-l", "arp and ether src \(lab.betaLAN.mac) and ether dst \(lab.clientLAN.mac)"])
        let prepared = try lab.prepare(failure, daemon: alpha, service: alphaServer)
        defer { prepared.cancel() }
        try lab.fail(failure, prepared, daemon: alpha, service: alphaServer)
        #expect(waitUntil(timeout: .seconds(5)) { beta.controller.state(of: 1) == .active }, "beta takes over")
        // The state is published before the actions run, and the resets go out on a thread of their own:
        // wait for both to finish.
        func takeoverTimeline() -> FailoverTimeline? {
            beta.controller.timelines.last {
                $0.transition.to == .active && $0.stamp(of: FailoverTimeline.startServing, .finished) != nil
            }
        }
        #expect(
            waitUntil(timeout: .seconds(2)) { takeoverTimeline() != nil && beta.tcpResetStatistics?.recoveries == 1 })
        let takeover = try #require(takeoverTimeline())
        let decided = takeover.transition.at.nanoseconds
        #expect(midstream.waitForExit(timeout: .seconds(15)), "\(midstream.standardOutput)")
        #expect(fromStart.waitForExit(timeout: .seconds(15)), "\(fromStart.standardOutput)")

        let statistics = try #require(beta.tcpResetStatistics)
        #expect(statistics.sessionsReset == 2, "\(statistics)")
        #expect(statistics.skippedUnknownSequence == 1, "the lone SYN is skipped and counted: \(statistics)")
        #expect(statistics.skippedUnknownClientMAC == 0 && statistics.transmitFailures == 0, "\(statistics)")
        #expect(log.contains("not reset, the client's expected sequence was never seen"), "\(log.messages)")
        let steps = takeover.events.map(\.step)
        let order = ["address-add", "address-local", "tcp-recovery", "hooks"].compactMap { steps.firstIndex(of: $0) }
        #expect(order.count == 4 && order == order.sorted(), "\(steps)")
        let planned = try #require(takeover.stamp(of: "tcp-reset-plan", .finished))
        let sending = try #require(takeover.stamp(of: "tcp-reset-send", .started))
        #expect(planned <= sending, "sent after being planned")
        let durations = ["address-local", "tcp-recovery", "tcp-reset-plan", "tcp-reset-send"].map { step in
            let started = takeover.stamp(of: step, .started)
            let finished = takeover.stamp(of: step, .finished)
            return "\(step) "
                + (started.flatMap { start in finished.map { "\($0.nanoseconds(since: start) / 1000) µs" } } ?? "-")
        }
        print(
            "MEASURED \(label): \(durations.joined(separator: ", ")) (3 sessions, \(Engine.sessionCapacity)-session table; tcp-reset-send on its own thread)"
        )

        // tcpdump prints a frame a moment after it passed: wait for the line before stopping it.
        let unicastReply = "Reply \(Self.groupV4) is-at \(lab.betaLAN.mac)"
        let sawUnicastReply = unicastAnnouncements.waitForOutput(containing: unicastReply, timeout: .seconds(2))
        _ = unicastAnnouncements.stop(grace: .seconds(1))
        #expect(
            sawUnicastReply,
            "a unicast ARP reply to the client the tracker knew: \(unicastAnnouncements.standardOutput)")

        for (name, client) in [("IPv4 mid-stream", midstream), ("IPv6", fromStart)] {
            let events = ClientEvents(client.standardOutput)
            let resetAt = try #require(events.resetAt, "\(name): \(client.standardOutput) \(client.standardError)")
            let lastSent = try #require(events.lastSentBeforeReset)
            #expect(resetAt > decided, "\(name): the reset follows the decision")
            let afterDecision = resetAt - decided
            // Linux's minimum RTO is 200 ms: a reset this soon after the client's last send is ours, not the
            // answer to a retransmission.
            #expect(
                resetAt - lastSent < 200_000_000,
                "\(name): reset \((resetAt - lastSent) / 1_000_000) ms after the last send")
            #expect(afterDecision < 1_000_000_000, "\(name): \(afterDecision / 1_000_000) ms")
            #expect(events.reconnectedTo == "beta", "\(name): \(client.standardOutput)")
            let reconnected = events.reconnectedAt.map { $0 > decided ? ($0 - decided) / 1000 : 0 }
            // The first SYN was answered: the client's connect timeout (0.5 s) never fired — the address took
            // packets the moment the client was reset.
            #expect(
                (reconnected ?? .max) < 400_000,
                "\(name): reconnected \(reconnected.map(String.init) ?? "-") µs after the decision")
            print(
                "MEASURED \(label) \(name): takeover decided → client saw reset \(afterDecision / 1000) µs (last send \((resetAt - lastSent) / 1000) µs before); → reconnected to \(events.reconnectedTo ?? "-") \(reconnected.map(String.init) ?? "-") µs"
            )
        }

        // Beta tracks over AF_XDP (veth here has one RX queue), so in takeover mode its XDP program hands the ARP
        // requests for the group address to the tracker's socket: the receive thread diverts them to the
        // responder, which answers (beta's kernel never sees them). A client that forgot the address asks again.
        #expect(log.contains("eth0: session tracking on AF_XDP"), "\(log.messages)")
        try lab.lab.runChecked(in: lab.client, ["ip", "neigh", "del", Self.groupV4, "dev", "eth0"])
        let ping = try lab.lab.run(in: lab.client, ["ping", "-c", "1", "-W", "2", Self.groupV4])
        #expect(ping.succeeded, "\(ping.standardOutput) \(ping.standardError)")
        let neighbour = try lab.lab.runChecked(in: lab.client, ["ip", "neigh", "show", Self.groupV4, "dev", "eth0"])
        #expect(neighbour.contains("\(lab.betaLAN.mac)"), "\(neighbour)")
        let responder = beta.responderStatuses["eth0"]
        #expect((responder?.framesFromInbox ?? 0) > 0 && responder?.inboxDrops == 0, "\(String(describing: responder))")
    }

    @Test("reset: a few hundred idle sessions are all reset in one burst when the primary's links are cut")
    func resetManySessions() throws {
        let count = 200
        let lab = try Lab("tcpmany")
        defer { lab.lab.teardown() }
        _ = try lab.startAlpha()
        _ = try lab.startServer(in: lab.alpha, name: "alpha")
        let log = LogCollector()
        let beta = try lab.startBeta(log: log)
        defer { lab.stop(beta) }
        let clients = try lab.lab.start(
            in: lab.client, [Self.python, "-c", Self.manyClients, Self.groupV4, "\(Self.servicePort)", "\(count)"])
        #expect(clients.waitForOutput(containing: "ready \(count)", timeout: .seconds(30)), "\(clients.standardError)")
        let pipeline = try #require(beta.capturePipelines["eth0"])
        let group: Set<FlowAddress> = [FlowAddress(IPAddress(Self.groupV4)!)]
        #expect(
            waitUntil(timeout: .seconds(5)) { pipeline.sessions { $0.serverSide(among: group) != nil }.count == count })

        for link in lab.alphaLinks { try lab.lab.setLink(link, up: false) }
        #expect(waitUntil(timeout: .seconds(5)) { beta.controller.state(of: 1) == .active })
        #expect(clients.waitForExit(timeout: .seconds(15)), "\(clients.standardOutput)")
        #expect(waitUntil(timeout: .seconds(2)) { beta.tcpResetStatistics?.recoveries == 1 })
        let statistics = try #require(beta.tcpResetStatistics)
        #expect(statistics.sessionsReset == UInt64(count), "\(statistics)")
        let words = try #require(clients.standardOutput.split(separator: "\n").last { $0.hasPrefix("resets") })
            .split(separator: " ").map(String.init)
        #expect(words[1] == "\(count)", "every idle client saw its reset: \(words)")
        let timeline = try #require(beta.controller.timelines.last { $0.transition.to == .active })
        if let first = UInt64(words[5]), let last = UInt64(words[7]), first > 0,
            let sendStarted = timeline.stamp(of: "tcp-reset-send", .started),
            let sendFinished = timeline.stamp(of: "tcp-reset-send", .finished),
            let recovery = timeline.stamp(of: "tcp-recovery", .started),
            let recovered = timeline.stamp(of: "tcp-recovery", .finished)
        {
            let decided = timeline.transition.at.nanoseconds
            let send = sendFinished.nanoseconds(since: sendStarted)
            let steps = ["tcp-sessions", "tcp-reset-plan"].map { step in
                "\(step) "
                    + (timeline.stamp(of: step, .started).flatMap { start in
                        timeline.stamp(of: step, .finished).map { "\($0.nanoseconds(since: start) / 1000) µs" }
                    } ?? "-")
            }
            print(
                "MEASURED \(count) sessions: tcp-recovery on the controller thread \(recovered.nanoseconds(since: recovery) / 1000) µs (\(steps.joined(separator: ", "))); sending on its own thread \(send / 1000) µs (\(send / UInt64(statistics.framesSent) / 1000) µs a frame, \(statistics.framesSent) frames); decided → first client reset \((first - decided) / 1000) µs, → last \((last - decided) / 1000) µs"
            )
        }
    }

    @Test(
        "reset: the primary's links cut — clients (IPv4 joined mid-stream, IPv6) are reset at once and reconnect to the standby"
    )
    func resetOnLinkCut() throws {
        try runReset(label: "tcpcut", failure: .linkCut)
    }

    @Test("reset: the primary daemon and its service SIGKILLed, its stack silenced — clients are reset and reconnect")
    func resetOnPrimaryKilled() throws {
        try runReset(label: "tcpkill", failure: .crash)
    }
}

/// Keeps every log message of an in-process engine (and prints it, for the test's output).
final class LogCollector: Sendable {
    private let storage = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "beta") { _ in CollectingHandler(collector: self) }
    }

    var messages: [String] { storage.withLock { $0 } }

    func contains(_ text: String) -> Bool { storage.withLock { $0.contains { $0.contains(text) } } }

    fileprivate func append(_ message: String) {
        print("beta: \(message)")
        storage.withLock { $0.append(message) }
    }
}

private struct CollectingHandler: LogHandler {
    let collector: LogCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        collector.append("\(event.level): \(event.message)")
    }
}
