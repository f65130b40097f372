public import TakeoverCore
public import TakeoverLinux
import Synchronization
public import Logging

/// The kernel side of one interface: the XDP program (when it can be attached) and the NIC's acceptance of the
/// peer's MAC. Owned by the engine; the takeover actions flip its mode and its watched addresses.
// @unchecked: PacketMembership is a non-Sendable class we only close; all mutable state is in `state`.
public final class InterfaceDataPlane: @unchecked Sendable {
    public let interface: String
    public let ownMAC: MACAddress
    public let peerMAC: MACAddress
    /// Nil when XDP could not be attached (or the configuration chose libpcap); `xdpUnavailableReason` says why.
    public let xdp: XDPAttachment?
    public let xdpUnavailableReason: String?
    public let membership: PacketMembership?
    /// The mode used while we serve none of the peer's groups: monitor in state-based mode, off in stateless.
    public let idleMode: XDPMode
    private struct State {
        var mode: XDPMode
        /// How many served groups watch each address.
        var watched: [IPAddress: Int] = [:]
    }
    private let state: Mutex<State>

    public init(
        interface: String, ownMAC: MACAddress, peerMAC: MACAddress, mode engineMode: EngineMode,
        capture: CaptureBackend, log: Logger
    ) throws(EngineError) {
        self.interface = interface
        self.ownMAC = ownMAC
        self.peerMAC = peerMAC
        idleMode = engineMode == .stateBased ? .monitor : .off
        state = Mutex(State(mode: idleMode))
        var attachment: XDPAttachment?
        var reason: String?
        if capture == .pcap {
            reason = "capture = pcap in the configuration"
        } else {
            do {
                let program = try XDPProgram()
                try program.configure(ownMAC: ownMAC, peerMAC: peerMAC)
                try program.setMode(idleMode)
                let attached = try program.attach(toInterface: interface, preference: Self.attachPreference(for: interface, log: log))
                if let fallback = attached.fallbackReason { log.notice("\(interface): XDP in \(attached.mode) mode: \(fallback)") }
                if let stale = attached.replacedStaleProgram {
                    log.notice("\(interface): replaced takeover XDP program \(stale.id) left attached by an earlier run")
                }
                attachment = attached
            } catch {
                if capture == .xdp { throw .xdpRequired(interface: interface, error) }
                reason = "\(error)"
                log.warning(
                    "\(interface): XDP unavailable, falling back (no frame rewrite for stale client ARP caches; the announcements move clients): \(error)")
            }
        }
        xdp = attachment
        xdpUnavailableReason = reason
        if engineMode == .stateBased {
            do {
                let joined = try PacketMembership(interface: interface, peerMAC: peerMAC)
                if case .promiscuous(let why) = joined.mode { log.notice("\(interface): promiscuous mode (\(why))") }
                membership = joined
            } catch {
                throw .membershipFailed(interface: interface, error)
            }
        } else {
            membership = nil
        }
    }

    /// Native XDP, except on drivers whose native path cannot deliver a frame whose destination MAC the
    /// program rewrote: veth classifies the frame as "other host" when the peer transmits it, runs XDP on that
    /// skb, and `eth_type_trans` never turns "other host" back into "host", so the stack drops it. Generic XDP
    /// re-classifies a frame whose Ethernet header changed.
    static func attachPreference(for interface: String, log: Logger) -> XDPAttachPreference {
        guard let driver = try? InterfaceDriver.name(of: interface), driver == "veth" else {
            return .nativeWithGenericFallback
        }
        log.notice("\(interface): veth: attaching XDP in generic mode (native veth XDP drops frames whose destination MAC was rewritten)")
        return .genericOnly
    }

    public var currentMode: XDPMode { state.withLock { $0.mode } }

    /// Sets the XDP mode (a map write, no reload); a no-op without XDP.
    public func setMode(_ next: XDPMode) throws(XDPError) {
        try state.withLock { (state) throws(XDPError) in
            guard next != state.mode else { return }
            try xdp?.program.setMode(next)
            state.mode = next
        }
    }

    /// Starts (or stops) sending ARP requests and neighbour solicitations for `address` to the responder.
    /// Counted, so two groups sharing an address never unwatch it for each other.
    public func watch(_ addresses: [IPAddress], _ on: Bool) throws(XDPError) {
        try state.withLock { (state) throws(XDPError) in
            for address in addresses {
                let count = state.watched[address, default: 0] + (on ? 1 : -1)
                if count <= 0 {
                    state.watched[address] = nil
                    try xdp?.program.unwatch(address)
                } else {
                    state.watched[address] = count
                    if count == 1 && on { try xdp?.program.watch(address) }
                }
            }
        }
    }

    /// Detaches XDP and drops the MAC membership; idempotent.
    public func close() {
        if let xdp { try? xdp.detach() }
        membership?.close()
    }
}
