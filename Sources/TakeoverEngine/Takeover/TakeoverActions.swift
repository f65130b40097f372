public import TakeoverCore
import TakeoverLinux
import Synchronization
import Logging

/// The engine's answer to a group changing hands, in the order issue #4 gives, each step stamped into the
/// failover timeline:
///
///   start serving: 1. XDP to takeover mode and watch the group's addresses (frames still sent to the peer's MAC
///                     now reach our stack; ARP/ND for them go to the responder)
///                  2.–3. the responder answers ARP/ND and sends the announcements
///                  (5a. resume policy: the tracked sessions rebuilt as quiet sockets — before the addresses are
///                     local, so no client segment meets a stack without its socket and draws a RST)
///                  4. the addresses are added to the interface over rtnetlink (and, for IPv6, awaited until the
///                     kernel delivers them locally: see `LocalDelivery`)
///                  5. TCP recovery (`engine.tcp-policy`) for the sessions the tracker holds whose server side is
///                     one of the group's addresses (resume: the rebuilt sockets transmit and go to the service)
///                  6. notify hooks (on their own thread)
///   stop serving:  the same undone in reverse, then the release is reported finished.
///
/// XDP rewrites frames addressed to the peer's MAC only while we serve a group the peer prefers: serving our
/// own group needs no rewrite, and rewriting while the peer is alive would take its frames.
final class TakeoverActions: FailoverActions {
    struct Group: Sendable {
        var configuration: ServiceGroupConfiguration
        var dataPlane: InterfaceDataPlane
        var interfaceIndex: UInt32
        /// The peer wins this group when both are healthy, so serving it means the peer is gone.
        var peerPreferred: Bool
    }

    private let groups: [UInt16: Group]
    private let netlink: RouteNetlinkSocket
    private let hooks: HookRunner
    private let responder: any AddressResponder
    /// nil for `tcp-policy = "none"`.
    private let tcpRecovery: (any TCPRecovery)?
    /// `tcp-policy = "resume"`: per interface, in two stages around the address (`tcpRecovery` is then its fallback).
    private let resumers: [String: ResumeTCPRecovery]
    private let sessions: SessionSources
    /// The loopback's MTU: how `LocalDelivery` recognises a local route.
    private let loopbackMTU: UInt32
    private let log: Logger
    /// Groups we serve that the peer prefers, per interface: XDP is in takeover mode while this is not empty.
    private let foreignServed = Mutex<[String: Set<UInt16>]>([:])

    init(
        groups: [UInt16: Group], netlink: RouteNetlinkSocket, hooks: HookRunner, responder: any AddressResponder,
        tcpRecovery: (any TCPRecovery)?, resumers: [String: ResumeTCPRecovery] = [:], sessions: SessionSources,
        log: Logger
    ) {
        self.resumers = resumers
        self.groups = groups
        self.netlink = netlink
        self.hooks = hooks
        self.responder = responder
        self.tcpRecovery = tcpRecovery
        self.sessions = sessions
        loopbackMTU = (try? netlink.link(named: "lo"))?.mtu ?? 65536
        self.log = log
    }

    func startServing(_ context: FailoverActionContext) {
        guard let group = groups[context.group] else { return }
        let addresses = group.configuration.addresses.map(\.address)
        context.step("xdp-takeover") {
            if group.peerPreferred { updateForeign(group, serving: true) }
            do {
                try group.dataPlane.watch(addresses, true)
            } catch {
                log.error("group \(group.configuration.id): XDP watch failed: \(error)")
            }
        }
        context.step("responder") { responder.startAnswering(addresses, on: group.configuration.interface) }
        let interface = group.configuration.interface
        let served = Set(addresses.map(FlowAddress.init))
        let pipeline = sessions.pipeline(on: interface)
        // The peer's sessions on the addresses we now serve, read from the tracker (a timeline step of its own).
        func trackedSessions(_ pipeline: CapturePipeline) -> [Session] {
            context.step("tcp-sessions") { pipeline.sessions { $0.serverSide(among: served) != nil } }
        }
        var quiet: ResumeTCPRecovery.QuietStage?
        if let resumer = resumers[interface], let pipeline {
            quiet = context.step("tcp-rebuild") { resumer.rebuildQuietly(trackedSessions(pipeline), addresses: addresses) }
        }
        context.step("address-add") {
            for address in group.configuration.addresses {
                do throws(RouteNetlinkError) {
                    try netlink.addAddress(address.address, prefixLength: address.prefixLength, interfaceIndex: group.interfaceIndex)
                } catch .addressAlreadyAssigned(_, _) {
                    // Already there: a restart after a crash, or a retry after a timed-out reply.
                } catch {
                    log.error("group \(group.configuration.id): adding \(address) failed: \(error)")
                }
            }
        }
        let ipv6 = addresses.compactMap { address -> IPv6Address? in if case .v6(let v6) = address { v6 } else { nil } }
        if !ipv6.isEmpty {
            // Clients reconnect within a millisecond of a reset: the addresses must take packets by then.
            context.step("address-local") {
                let late = LocalDelivery.await(ipv6, loopbackMTU: loopbackMTU, timeout: .milliseconds(50))
                if !late.isEmpty {
                    log.warning(
                        "group \(group.configuration.id): \(late) not delivered locally 50 ms after being added")
                }
            }
        }
        if let quiet, let resumer = resumers[interface] {
            context.step("tcp-recovery") {
                resumer.finish(quiet, addresses: addresses, interface: interface, context: context)
            }
        } else if let tcpRecovery, let pipeline {
            context.step("tcp-recovery") {
                tcpRecovery.recover(trackedSessions(pipeline), addresses: addresses, interface: interface, context: context)
            }
        }
        context.step("hooks") { hooks.run(group: group.configuration.id, transition: context.transition) }
    }

    func stopServing(_ context: FailoverActionContext) {
        guard let group = groups[context.group] else {
            context.releaseFinished()
            return
        }
        let addresses = group.configuration.addresses.map(\.address)
        context.step("responder-stop") { responder.stopAnswering(addresses, on: group.configuration.interface) }
        context.step("address-remove") {
            for address in group.configuration.addresses {
                do throws(RouteNetlinkError) {
                    try netlink.removeAddress(address.address, prefixLength: address.prefixLength, interfaceIndex: group.interfaceIndex)
                } catch .addressNotAssigned(_, _) {
                    // Already gone.
                } catch {
                    log.error("group \(group.configuration.id): removing \(address) failed: \(error)")
                }
            }
        }
        context.step("xdp-release") {
            do {
                try group.dataPlane.watch(addresses, false)
            } catch {
                log.error("group \(group.configuration.id): XDP unwatch failed: \(error)")
            }
            if group.peerPreferred { updateForeign(group, serving: false) }
        }
        context.step("hooks") { hooks.run(group: group.configuration.id, transition: context.transition) }
        context.releaseFinished()
    }

    private func updateForeign(_ group: Group, serving: Bool) {
        let interface = group.configuration.interface
        let anyForeign = foreignServed.withLock { served in
            if serving {
                served[interface, default: []].insert(group.configuration.id)
            } else {
                served[interface]?.remove(group.configuration.id)
            }
            return !(served[interface]?.isEmpty ?? true)
        }
        do {
            try group.dataPlane.setMode(anyForeign ? .takeover : group.dataPlane.idleMode)
        } catch {
            log.error("\(interface): XDP mode change failed: \(error)")
        }
    }
}

/// The session trackers per interface, filled in once the engine has started them (they need the controller,
/// which needs the actions).
final class SessionSources: Sendable {
    private let pipelines = Mutex<[String: CapturePipeline]>([:])

    func set(_ pipelines: [String: CapturePipeline]) { self.pipelines.withLock { $0 = pipelines } }

    func pipeline(on interface: String) -> CapturePipeline? { pipelines.withLock { $0[interface] } }
}

/// Answers ARP and neighbour solicitations for addresses and announces them (gratuitous ARP, unsolicited NA).
/// The engine's responder implements it over the capture backend's transmit path.
public protocol AddressResponder: Sendable {
    func startAnswering(_ addresses: [IPAddress], on interface: String)
    func stopAnswering(_ addresses: [IPAddress], on interface: String)
}
