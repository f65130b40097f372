public import TakeoverCore
import TakeoverLinux
public import Logging

/// A takeover node: builds every part from an `EngineConfiguration`, runs them, and tears them down. This is
/// the embeddable API (`import Takeover`): make one, `start()`, watch `onStateChange` (or `controller.groups` and `controller.timelines`), and
/// `shutdown()` — which hands the groups we serve to the peer first when it is alive.
///
/// Open the engine in the network namespace it serves: the sockets, the XDP attachment and the controller
/// thread all live in the namespace of the thread that creates and starts it.
public final class Engine: Sendable {
    public let configuration: EngineConfiguration
    public let controller: FailoverController
    public let dataPlanes: [InterfaceDataPlane]
    /// The standby's session trackers, one per interface (state-based mode; empty in stateless mode).
    public let capturePipelines: [String: CapturePipeline]
    /// Per interface whose tracker reads AF_XDP, the tap `takeover capture` reads (see `CaptureTap`).
    public let captureTaps: [String: CaptureTap]
    private let responders: InterfaceResponders
    private let resetRecovery: TCPResetRecovery?
    private let resumers: [String: ResumeTCPRecovery]
    private let trafficWatch: PeerTrafficWatch?
    private let log: Logger

    /// How long the capture may see nothing from the peer's MAC, while its heartbeats arrive, before the
    /// engine warns that the switch is not delivering the peer's traffic.
    public static let defaultPeerTrafficWarningWindow = Duration.seconds(10)

    public init(
        configuration: EngineConfiguration, logger: Logger = Logger(label: "takeover"),
        peerTrafficWarningWindow: Duration = Engine.defaultPeerTrafficWarningWindow,
        onStateChange: (@Sendable (FailoverStateChange) -> Void)? = nil
    ) throws(EngineError) {
        self.configuration = configuration
        log = logger
        let authenticator: HMACAuthenticator
        do {
            authenticator = try HMACAuthenticator(key: SecretFile.read(configuration.heartbeat.keyFile))
        } catch let error as SecretFile.Error {
            throw .keyUnreadable(error)
        } catch let error as KeyError {
            throw .keyRejected(error)
        } catch {
            throw .invalidConfiguration(["heartbeat.key-file: \(error)"])
        }
        let netlink: RouteNetlinkSocket
        do {
            netlink = try RouteNetlinkSocket()
        } catch {
            throw .netlinkUnavailable(error)
        }

        var planes: [String: InterfaceDataPlane] = [:]
        var links: [String: LinkInfo] = [:]
        var built: [InterfaceDataPlane] = []
        var openedResponders: InterfaceResponders?
        var openedRecovery: TCPResetRecovery?
        var pipelines: [String: CapturePipeline] = [:]
        var taps: [String: CaptureTap] = [:]
        // A failure half-way must leave no XDP program attached and no responder or capture thread running.
        var succeeded = false
        defer {
            if !succeeded {
                openedResponders?.shutdown()
                pipelines.values.forEach { $0.stop() }
                openedRecovery?.close()
                built.forEach { $0.close() }
            }
        }
        for interface in configuration.interfaces {
            let link: LinkInfo
            do {
                link = try netlink.link(named: interface.name)
            } catch {
                throw .netlinkUnavailable(error)
            }
            guard let ownMAC = interface.mac ?? link.hardwareAddress else {
                throw .invalidConfiguration(["interfaces: \(interface.name) has no Ethernet address"])
            }
            let plane = try InterfaceDataPlane(
                interface: interface.name, ownMAC: ownMAC, peerMAC: interface.peerMAC, mode: configuration.engine.mode,
                capture: configuration.engine.capture, log: logger)
            built.append(plane)
            planes[interface.name] = plane
            links[interface.name] = link
        }

        var watched: [String: [IPAddress]] = [:]
        var groups: [UInt16: TakeoverActions.Group] = [:]
        for group in configuration.groups {
            guard let plane = planes[group.interface], let index = links[group.interface]?.index else {
                throw .invalidConfiguration(["groups: group \(group.id) names interface \(group.interface), which is not configured"])
            }
            let peerPreferred =
                group.peerPriority != group.priority
                ? group.peerPriority > group.priority : configuration.peer.id < configuration.node.id
            groups[group.id] = .init(configuration: group, dataPlane: plane, interfaceIndex: index, peerPreferred: peerPreferred)
            if peerPreferred { watched[group.interface, default: []] += group.addresses.map(\.address) }
        }
        let books = Dictionary(
            uniqueKeysWithValues: built.map { ($0.interface, LinkAddressBook(capacity: Self.sessionCapacity)) })
        let inboxes =
            configuration.engine.mode == .stateBased
            ? try Self.neighborInboxes(for: built, links: links, log: logger) : [:]
        let responders = try InterfaceResponders(
            interfaces: built.map {
                (name: $0.interface, mac: $0.ownMAC, watched: watched[$0.interface] ?? [], inbox: inboxes[$0.interface])
            },
            announcements: configuration.announcements, correspondents: books, log: logger)
        openedResponders = responders
        let recovery = try Self.makeTCPRecovery(configuration, planes: built, books: books, log: logger)
        openedRecovery = recovery
        let resumers = try Self.makeResumers(configuration, planes: built, fallback: recovery, log: logger)
        let sessionSources = SessionSources()
        let actions = TakeoverActions(
            groups: groups, netlink: netlink,
            hooks: HookRunner(hooks: configuration.hooks, nodeName: configuration.node.name, log: logger),
            responder: responders, tcpRecovery: recovery, resumers: resumers, sessions: sessionSources, log: logger)
        let controllerConfiguration = FailoverControllerConfiguration(
            nodeID: configuration.node.id, channels: configuration.heartbeat.channels,
            groups: configuration.groups.map {
                FailoverGroup(id: $0.id, priority: $0.priority, preempt: configuration.failover.preempt,
                              preemptDelay: configuration.failover.preemptDelay)
            },
            interval: configuration.heartbeat.interval, missCount: configuration.heartbeat.missCount,
            usesPeerTraffic: configuration.heartbeat.usesPeerTraffic,
            unansweredRequests: configuration.heartbeat.unansweredRequests, startupWait: configuration.failover.startupWait,
            stallCover: configuration.heartbeat.stallCover, cpus: configuration.heartbeat.cpus)
        let controller: FailoverController
        do {
            controller = try FailoverController(
                configuration: controllerConfiguration, authenticator: authenticator, actions: actions,
                onStateChange: onStateChange,
                onDiagnostic: { [logger] diagnostic in logger.warning("\(diagnostic)") })
        } catch {
            throw .controller(error)
        }
        self.controller = controller
        if configuration.engine.mode == .stateBased {
            for plane in built {
                let (pipeline, tap) = try Self.startPipeline(
                    on: plane, book: books[plane.interface]!, payloads: resumers[plane.interface]?.payloads,
                    inbox: inboxes[plane.interface], unansweredRequests: configuration.heartbeat.unansweredRequests,
                    controller: controller, log: logger)
                pipelines[plane.interface] = pipeline
                taps[plane.interface] = tap
            }
        }
        sessionSources.set(pipelines)
        do {
            trafficWatch =
                pipelines.isEmpty
                ? nil
                : try PeerTrafficWatch(
                    watched: built.compactMap { plane in
                        pipelines[plane.interface].map {
                            .init(interface: plane.interface, peerMAC: plane.peerMAC, pipeline: $0)
                        }
                    },
                    controller: controller, window: peerTrafficWarningWindow, log: logger)
        } catch {
            throw .threadFailed("peer traffic watch", error)
        }
        dataPlanes = built
        capturePipelines = pipelines
        captureTaps = taps
        self.responders = responders
        resetRecovery = recovery
        self.resumers = resumers
        succeeded = true
    }

    /// Sessions each interface's tracker holds: allocated once, and scanned whole at takeover, on the controller
    /// thread, under the tracker's lock (16 384 sessions: 20 480 slots of 128 bytes, ≈ 0.5 ms here). More are
    /// refused and counted (`CapturePipelineStatistics.tracker.tableFull`).
    public static let sessionCapacity = 1 << 14

    /// Which interfaces track the peer's sessions over AF_XDP: those with the XDP program attached and one RX
    /// queue in use (the program redirects to the socket of the queue a frame arrived on; the pipeline opens one).
    /// Each gets the inbox through which its capture hands the responder the ARP/ND frames the program sends to
    /// that socket in takeover mode.
    private static func neighborInboxes(
        for planes: [InterfaceDataPlane], links: [String: LinkInfo], log: Logger
    ) throws(EngineError) -> [String: FrameInbox] {
        var inboxes: [String: FrameInbox] = [:]
        for plane in planes where plane.xdp != nil {
            // The queues in use; a driver that does not say has as many as the device allocated.
            let queues =
                (try? InterfaceDriver.receiveQueuesInUse(of: plane.interface))
                ?? links[plane.interface]?.receiveQueueCount.map(Int.init) ?? 0
            guard queues == 1 else {
                let message =
                    "\(plane.interface): session tracking on libpcap, not AF_XDP: \(queues == 0 ? "unknown" : "\(queues)") RX "
                        + "queues, and the capture opens one AF_XDP socket (one queue: ethtool -L \(plane.interface) combined 1)"
                log.notice("\(message)")
                continue
            }
            do {
                inboxes[plane.interface] = try FrameInbox.neighborDiscovery()
            } catch {
                throw .captureFailed(interface: plane.interface, "responder inbox: \(error)")
            }
        }
        return inboxes
    }

    /// The standby's tracker on one interface: the peer's frames in both directions, through the link-address
    /// learner, into the pipeline; peer frames feed the controller's liveness signal.
    ///
    /// Over AF_XDP when the interface has an `inbox` (see `neighborInboxes`): the XDP program redirects the peer's
    /// traffic to the socket (monitor mode), and in takeover mode the ARP/ND for the addresses we answer, which
    /// the capture diverts to the responder's inbox. Otherwise, or when the socket cannot be opened (said in the
    /// log), over libpcap (TPACKET_V3 blocks, 1 ms): with no socket registered the program's redirects fall back
    /// to XDP_PASS, so the kernel's packet taps see every frame it selects. Returns the AF_XDP pipeline's
    /// `CaptureTap` with it (nil over libpcap, which `takeover capture` can read beside it).
    private static func startPipeline(
        on plane: InterfaceDataPlane, book: LinkAddressBook, payloads: SessionPayloadCapture?,
        inbox: FrameInbox?, unansweredRequests: UnansweredRequestRule?, controller: FailoverController, log: Logger
    ) throws(EngineError) -> (CapturePipeline, CaptureTap?) {
        func pipeline(reading source: consuming some PacketSource & SendableMetatype) throws(EngineError) -> CapturePipeline {
            do {
                return try CapturePipeline(
                    source: source,
                    configuration: CapturePipelineConfiguration(
                        peerMAC: plane.peerMAC, sessionCapacity: sessionCapacity, unansweredRequests: unansweredRequests),
                    clock: MonotonicClock.now, peerTrafficSeen: { controller.peerTrafficSeen(at: $0) },
                    unansweredRequestsSeen: { controller.unansweredRequestsSeen(at: $0) }, payloads: payloads)
            } catch {
                throw .captureFailed(interface: plane.interface, "session tracker threads: \(error)")
            }
        }
        if let inbox, let xdp = plane.xdp {
            let opened: (socket: AFXDPSocket, tap: CaptureTap)?
            do {
                // Receive only: the responder and the reset policy transmit on ports of their own.
                opened = (
                    try AFXDPSocket(
                        interface: plane.interface,
                        configuration: AFXDPConfiguration(frameCount: 2048, transmitFrameCount: 0), program: xdp.program),
                    try CaptureTap()
                )
            } catch {
                log.warning("\(plane.interface): AF_XDP capture not opened (\(error)); session tracking on libpcap")
                opened = nil
            }
            if let (socket, tap) = opened {
                log.notice(
                    "\(plane.interface): session tracking on AF_XDP, \(socket.bindMode) mode\(socket.copyModeReason.map { " (\($0))" } ?? "")")
                let learning = LinkAddressLearningSource(
                    AFXDPPacketSource(socket, clock: MonotonicClock.now), peerMAC: plane.peerMAC, book: book)
                // A fresh inbox and a fresh tap have no writer yet. The tap is outermost: a capture also shows the
                // ARP/ND diverted to the responder.
                let source = CaptureTapSource(NeighborDiversionSource(learning, inbox: inbox)!, tap: tap)!
                return (try pipeline(reading: source), tap)
            }
        }
        let capture: PcapCapture
        do {
            capture = try PcapCapture(
                PcapCaptureConfiguration(interface: plane.interface, delivery: .blocks(timeout: .milliseconds(1))))
            try capture.setFilter(peerTrafficFilter(peerMAC: plane.peerMAC, ownMAC: plane.ownMAC))
        } catch {
            throw .captureFailed(interface: plane.interface, "\(error)")
        }
        return (
            try pipeline(reading: LinkAddressLearningSource(capture, peerMAC: plane.peerMAC, book: book)),
            nil
        )
    }

    /// The XDP program's monitor selection as a libpcap filter: frames to the peer's MAC, and unicast frames
    /// from it to other hosts — the traffic of its sessions. Not our own frames (libpcap also sees what we
    /// send), not the peer's frames to us (heartbeats) nor its broadcasts: those reach us on any switch, so
    /// they would hide a switch that does not deliver the sessions.
    public static func peerTrafficFilter(peerMAC: MACAddress, ownMAC: MACAddress) -> String {
        "(ether dst \(peerMAC) and not ether src \(ownMAC)) or "
            + "(ether src \(peerMAC) and not ether dst \(ownMAC) and not ether multicast)"
    }

    /// The `engine.tcp-policy` implementation; nil for `none`, and in stateless mode (no sessions to act on).
    private static func makeTCPRecovery(
        _ configuration: EngineConfiguration, planes: [InterfaceDataPlane], books: [String: LinkAddressBook],
        log: Logger
    ) throws(EngineError) -> TCPResetRecovery? {
        // `resume` resets what it cannot rebuild, so it needs the reset policy too.
        if configuration.engine.tcpPolicy == .none { return nil }
        if configuration.engine.mode == .stateless {
            let message =
                "tcp-policy \(configuration.engine.tcpPolicy.rawValue): stateless mode tracks no sessions, "
                    + "so takeovers reset none"
            log.notice("\(message)")
            return nil
        }
        var ports: [TCPResetRecovery.Port] = []
        for plane in planes {
            do {
                ports.append(try .init(interface: plane.interface, ownMAC: plane.ownMAC, book: books[plane.interface]!))
            } catch {
                ports.forEach { $0.close() }
                throw .captureFailed(interface: plane.interface, "TCP reset transmit port: \(error)")
            }
        }
        return TCPResetRecovery(ports: ports, log: log)
    }

    /// `tcp-policy = "resume"` in state-based mode: per interface, a payload store the tracker fills and the
    /// policy that rebuilds from it, resetting (`fallback`) what it cannot.
    private static func makeResumers(
        _ configuration: EngineConfiguration, planes: [InterfaceDataPlane], fallback: TCPResetRecovery?, log: Logger
    ) throws(EngineError) -> [String: ResumeTCPRecovery] {
        guard configuration.engine.tcpPolicy == .resume, configuration.engine.mode == .stateBased, let fallback else {
            return [:]
        }
        var resumers: [String: ResumeTCPRecovery] = [:]
        for plane in planes {
            do {
                resumers[plane.interface] = try ResumeTCPRecovery(
                    payloads: SessionPayloadCapture(), handoffPath: configuration.engine.resumeSocketPath,
                    fallback: fallback, log: log)
            } catch {
                throw .invalidConfiguration(["engine.resume-socket: \(error)"])
            }
        }
        return resumers
    }

    /// What the `resume` policy has done, per interface; empty unless `tcp-policy = "resume"` in state-based mode.
    public var resumeStatistics: [String: ResumeStatistics] { resumers.mapValues(\.statistics) }

    /// What the `reset` policy (also `resume`'s fallback) has done; nil when `tcp-policy = "none"` or stateless.
    public var tcpResetStatistics: TCPResetStatistics? { resetRecovery?.statistics }

    /// Starts the controller thread (heartbeats, failure detection, takeover).
    public func start() throws(EngineError) {
        do {
            try controller.start()
        } catch {
            throw .controller(error)
        }
        let backends = dataPlanes.map { plane in
            "\(plane.interface): " + (plane.xdp.map { "XDP \($0.mode), \(plane.currentMode)" } ?? "no XDP (\(plane.xdpUnavailableReason ?? "-"))")
        }
        log.notice("node \(configuration.node.name) started: \(backends.joined(separator: "; ")); heartbeats: \(controller.counters.stallCover)")
        if case .realtimeRefused(let error) = controller.scheduling {
            // Heartbeats from an ordinary thread go out late on a busy machine: at 1 ms, late enough for the peer
            // to take over (bench/RESULTS.md, failure detection).
            log.warning(
                "controller thread: SCHED_FIFO refused (\(error)); ordinary scheduling, heartbeats may be late under load — grant CAP_SYS_NICE or raise the miss count")
        }
    }

    /// Each interface's ARP/ND responder, as of its last loop iteration.
    public var responderStatuses: [String: TakeoverResponderStatus] { responders.statuses() }

    /// Sends the takeover announcements again now for every address this node serves; returns them per
    /// interface (empty when it serves none).
    public func announceServedAddresses() -> [String: [IPAddress]] { responders.announceAgain() }

    /// Graceful stop: groups we serve are released to the peer (it takes over at once on our `release`),
    /// then XDP is detached and the MAC membership dropped. Returns false if the controller did not stop
    /// within `timeout` (the data plane is torn down anyway).
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(5)) -> Bool {
        let stopped = controller.shutdown(timeout: timeout)
        trafficWatch?.stop()
        responders.shutdown()
        capturePipelines.values.forEach { $0.stop() }
        resetRecovery?.close()
        dataPlanes.forEach { $0.close() }
        log.notice("node \(configuration.node.name) stopped\(stopped ? "" : " (controller did not stop in time)")")
        return stopped
    }
}
