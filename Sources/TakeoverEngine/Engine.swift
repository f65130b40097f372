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
    private let responders: InterfaceResponders
    private let log: Logger

    public init(
        configuration: EngineConfiguration, logger: Logger = Logger(label: "takeover"),
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
        var interfaceIndexes: [String: UInt32] = [:]
        var built: [InterfaceDataPlane] = []
        var openedResponders: InterfaceResponders?
        // A failure half-way must leave no XDP program attached and no responder thread running.
        var succeeded = false
        defer {
            if !succeeded {
                openedResponders?.shutdown()
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
            interfaceIndexes[interface.name] = link.index
        }

        var watched: [String: [IPAddress]] = [:]
        var groups: [UInt16: TakeoverActions.Group] = [:]
        for group in configuration.groups {
            guard let plane = planes[group.interface], let index = interfaceIndexes[group.interface] else {
                throw .invalidConfiguration(["groups: group \(group.id) names interface \(group.interface), which is not configured"])
            }
            let peerPreferred =
                group.peerPriority != group.priority
                ? group.peerPriority > group.priority : configuration.peer.id < configuration.node.id
            groups[group.id] = .init(configuration: group, dataPlane: plane, interfaceIndex: index, peerPreferred: peerPreferred)
            if peerPreferred { watched[group.interface, default: []] += group.addresses.map(\.address) }
        }
        let responders = try InterfaceResponders(
            interfaces: built.map { (name: $0.interface, mac: $0.ownMAC, watched: watched[$0.interface] ?? []) },
            announcements: configuration.announcements, log: logger)
        openedResponders = responders
        let actions = TakeoverActions(
            groups: groups, netlink: netlink,
            hooks: HookRunner(hooks: configuration.hooks, nodeName: configuration.node.name, log: logger),
            responder: responders, log: logger)
        let controllerConfiguration = FailoverControllerConfiguration(
            nodeID: configuration.node.id, channels: configuration.heartbeat.channels,
            groups: configuration.groups.map {
                FailoverGroup(id: $0.id, priority: $0.priority, preempt: configuration.failover.preempt,
                              preemptDelay: configuration.failover.preemptDelay)
            },
            interval: configuration.heartbeat.interval, missCount: configuration.heartbeat.missCount,
            usesPeerTraffic: configuration.heartbeat.usesPeerTraffic, startupWait: configuration.failover.startupWait)
        do {
            controller = try FailoverController(
                configuration: controllerConfiguration, authenticator: authenticator, actions: actions,
                onStateChange: onStateChange)
        } catch {
            throw .controller(error)
        }
        dataPlanes = built
        self.responders = responders
        succeeded = true
    }

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
        log.notice("node \(configuration.node.name) started: \(backends.joined(separator: "; "))")
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
        responders.shutdown()
        dataPlanes.forEach { $0.close() }
        log.notice("node \(configuration.node.name) stopped\(stopped ? "" : " (controller did not stop in time)")")
        return stopped
    }
}
