// Answers ARP and neighbor solicitations for the addresses we have taken over, from our own MAC (seed 000:
// the standby answers from its own address; seed 001: a client's cache follows the first reply it gets).
//
// Per frame: one pass over the parsed frame's plain fields, a scan of a few owned addresses, a probe of the
// known-client index, and the reply built in place in the sink's transmit buffer. Nothing is allocated.
//
//   ARP request  "who has P? tell C (C-MAC)"   P owned  →  ARP reply  "P is at OUR-MAC"  unicast to C-MAC
//   NS           "who has P?" from C (C-MAC)   P owned  →  NA (Solicited, Override) P at OUR-MAC, to C
//   NS           "who has P?" from :: (DAD)    P owned  →  NA (Override) P at OUR-MAC, to all nodes
//   ARP request or NS for a watched P (the live peer's)  →  no answer; C remembered for the takeover's unicasts
//   anything else                                        →  ignored, counted by reason

/// Why the responder did not answer a frame.
public enum NeighborIgnoreReason: UInt8, Hashable, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    /// The frame parser refused it as malformed (truncated, inconsistent lengths, bad options).
    case malformed
    /// Neither ARP nor an ICMPv6 neighbor solicitation (IP traffic, other ICMPv6, other EtherTypes).
    case notNeighborDiscovery
    /// ARP, but not a request (a reply, or an unknown operation).
    case notARPRequest
    /// A request or solicitation for an address we do not answer for.
    case notOwned
    /// Tagged for another VLAN than ours (or tagged when we are untagged, or the reverse).
    case otherVLAN
    /// Sent from our own MAC: our own traffic seen by the capture.
    case fromOurselves
    /// The asker gave a multicast, broadcast or zero MAC, or a multicast IPv6 source: no unicast answer.
    case invalidSender
    /// Another MAC claims an address we answer for (an ARP message whose sender address is ours, or a
    /// neighbor advertisement for it): two owners at once, which failback exists to prevent.
    case addressConflict
    /// A solicitation RFC 4861 §7.1.1 says to discard: hop limit not 255, or a duplicate address detection
    /// probe (source ::) that carries a source link-layer address option.
    case invalidSolicitation

    public var description: String {
        switch self {
        case .malformed: "malformed"
        case .notNeighborDiscovery: "not ARP or neighbor solicitation"
        case .notARPRequest: "ARP but not a request"
        case .notOwned: "not an address we answer for"
        case .otherVLAN: "another VLAN"
        case .fromOurselves: "from our own MAC"
        case .invalidSender: "invalid sender"
        case .addressConflict: "address conflict"
        case .invalidSolicitation: "invalid neighbor solicitation"
        }
    }
}

/// What `NeighborResponder.decide` makes of a frame.
public enum NeighborDecision: Hashable, Sendable, BitwiseCopyable {
    /// Send `reply`; `asker` (when not nil) is a client to remember.
    case reply(NeighborFrame, asker: KnownClient?)
    /// A watched address was asked for: remember `asker`, answer nothing.
    case learn(KnownClient)
    case ignore(NeighborIgnoreReason)
}

/// What `NeighborResponder.respond` did with a frame.
public enum NeighborResponse: Hashable, Sendable, BitwiseCopyable {
    /// The reply was submitted to the sink.
    case answered(NeighborFrame)
    /// Ours to answer, but the sink took nothing (`.noBufferAvailable`, or `.abandoned` when its buffers are
    /// smaller than the reply).
    case unsent(NeighborFrame, TransmitOutcome)
    /// Someone asked for a watched address; remembered as a client, not answered.
    case learned(KnownClient)
    case ignored(NeighborIgnoreReason)
}

/// Counters since the responder was made.
public struct NeighborResponderCounters: Hashable, Sendable, BitwiseCopyable {
    public var arpRepliesSent: UInt64 = 0
    public var neighborAdvertisementsSent: UInt64 = 0
    /// Replies the sink did not take.
    public var unsent: UInt64 = 0
    /// Requests for watched addresses whose asker was remembered (not answered).
    public var askersLearned: UInt64 = 0
    /// Askers not remembered because the client table was full.
    public var clientsNotRecorded: UInt64 = 0
    @usableFromInline var ignoredCounts: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0)

    @inlinable public init() {}

    public var answered: UInt64 { arpRepliesSent + neighborAdvertisementsSent }

    /// Frames ignored for `reason`.
    @inlinable
    public subscript(ignored reason: NeighborIgnoreReason) -> UInt64 {
        get {
            withUnsafeBytes(of: ignoredCounts) { $0.load(fromByteOffset: Int(reason.rawValue) * 8, as: UInt64.self) }
        }
        set {
            withUnsafeMutableBytes(of: &ignoredCounts) {
                $0.storeBytes(of: newValue, toByteOffset: Int(reason.rawValue) * 8, as: UInt64.self)
            }
        }
    }

    /// Frames ignored for any reason.
    public var ignored: UInt64 { NeighborIgnoreReason.allCases.reduce(0) { $0 + self[ignored: $1] } }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.arpRepliesSent == rhs.arpRepliesSent && lhs.neighborAdvertisementsSent == rhs.neighborAdvertisementsSent
            && lhs.unsent == rhs.unsent && lhs.askersLearned == rhs.askersLearned
            && lhs.clientsNotRecorded == rhs.clientsNotRecorded
            && NeighborIgnoreReason.allCases.allSatisfy { lhs[ignored: $0] == rhs[ignored: $0] }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(arpRepliesSent)
        hasher.combine(neighborAdvertisementsSent)
        hasher.combine(unsent)
        hasher.combine(askersLearned)
        hasher.combine(clientsNotRecorded)
        for reason in NeighborIgnoreReason.allCases { hasher.combine(self[ignored: reason]) }
    }
}

/// Answers ARP requests and neighbor solicitations for the addresses it owns, from `mac`, and remembers who
/// asked. Pure: it reads parsed frames and writes replies into a `PacketSink`; it never reads a clock.
public struct NeighborResponder: ~Copyable {
    /// The MAC every reply comes from (ours, not the peer's).
    public let mac: MACAddress
    /// The VLAN we answer on: frames with exactly this tag, replies with it. `nil`: untagged frames only.
    public let vlan: VLANTag?
    /// What we answer for. Empty: we answer nothing (standby, or after failback).
    public var owned: OwnedAddressSet
    /// What we only listen for: the live peer's addresses while we stand by. Whoever asks for one is a client
    /// the takeover must tell, so it is remembered; nothing is answered.
    public var watched: OwnedAddressSet
    /// Everyone who asked us since the table was last cleared.
    public var clients: KnownClientTable
    @usableFromInline var storedCounters = NeighborResponderCounters()

    public var counters: NeighborResponderCounters { storedCounters }

    public init(mac: MACAddress, vlan: VLANTag? = nil, addressCapacity: Int = 16, clientCapacity: Int = 4096) {
        self.mac = mac
        self.vlan = vlan
        owned = OwnedAddressSet(capacity: addressCapacity)
        watched = OwnedAddressSet(capacity: addressCapacity)
        clients = KnownClientTable(capacity: clientCapacity)
    }

    /// Parses `bytes` and answers it if it is ours.
    @inlinable
    public mutating func respond<Sink: PacketSink & ~Copyable>(
        toFrame bytes: UnsafeRawBufferPointer, via sink: inout Sink
    ) throws(Sink.TransmitError) -> NeighborResponse {
        let frame: ParsedFrame
        do { frame = try FrameParser.parse(bytes) } catch {
            // LLDP, MPLS, 802.3 lengths…: well-formed, just not ours to read.
            let reason: NeighborIgnoreReason
            if case .unsupportedEtherType = error { reason = .notNeighborDiscovery } else { reason = .malformed }
            storedCounters[ignored: reason] += 1
            return .ignored(reason)
        }
        return try respond(to: frame, via: &sink)
    }

    /// Answers `frame` if it is ours: builds the reply in the sink's buffer, submits it, remembers the asker.
    /// The caller flushes the sink.
    @inlinable
    public mutating func respond<Sink: PacketSink & ~Copyable>(
        to frame: ParsedFrame, via sink: inout Sink
    ) throws(Sink.TransmitError) -> NeighborResponse {
        switch decide(frame) {
        case .ignore(let reason):
            storedCounters[ignored: reason] += 1
            return .ignored(reason)
        case .learn(let asker):
            guard clients.record(asker) != .full else {
                storedCounters.clientsNotRecorded += 1
                return .learned(asker)
            }
            storedCounters.askersLearned += 1
            return .learned(asker)
        case .reply(let reply, let asker):
            if let asker, clients.record(asker) == .full { storedCounters.clientsNotRecorded += 1 }
            let outcome = try sink.transmit(reply)
            guard case .submitted = outcome else {
                storedCounters.unsent += 1
                return .unsent(reply, outcome)
            }
            switch reply {
            case .arp: storedCounters.arpRepliesSent += 1
            case .neighborAdvertisement: storedCounters.neighborAdvertisementsSent += 1
            }
            return .answered(reply)
        }
    }

    /// What to do with `frame`, without doing it (no counter, no client recorded).
    @inlinable
    public func decide(_ frame: ParsedFrame) -> NeighborDecision {
        if frame.source == mac { return .ignore(.fromOurselves) }
        if let vlan {
            guard frame.vlanTagCount == 1, frame.vlanTags.0.identifier == vlan.identifier else {
                return .ignore(.otherVLAN)
            }
        } else if frame.vlanTagCount != 0 {
            return .ignore(.otherVLAN)
        }
        switch frame.network {
        case .arp(let arp):
            return decide(arp)
        case .ipv6(let ip):
            switch frame.transport {
            case .neighborSolicitation(let solicitation):
                return decide(solicitation, ip: ip, ethernetSource: frame.source)
            case .neighborAdvertisement(let advertisement):
                return .ignore(owned.contains(advertisement.target) ? .addressConflict : .notNeighborDiscovery)
            default:
                return .ignore(.notNeighborDiscovery)
            }
        case .ipv4:
            return .ignore(.notNeighborDiscovery)
        }
    }

    @inlinable
    func decide(_ arp: ARPSummary) -> NeighborDecision {
        // Whatever the operation, a sender address of ours from another MAC is a second owner.
        if owned.contains(arp.senderProtocolAddress) { return .ignore(.addressConflict) }
        guard arp.operation == ARPPacketView.request else { return .ignore(.notARPRequest) }
        let isOwned = owned.contains(arp.targetProtocolAddress)
        guard isOwned || watched.contains(arp.targetProtocolAddress) else { return .ignore(.notOwned) }
        let asker = arp.senderHardwareAddress
        guard asker != .zero, !asker.isMulticast else { return .ignore(isOwned ? .invalidSender : .notOwned) }
        // An RFC 5227 probe (sender 0.0.0.0) comes from a host without an address: no client to remember.
        let client =
            arp.senderProtocolAddress == .any
            ? nil : KnownClient(mac: asker, address: FlowAddress(arp.senderProtocolAddress))
        guard isOwned else { return client.map { .learn($0) } ?? .ignore(.notOwned) }
        // A probe is answered as Linux does: to the prober's MAC, target address 0.0.0.0.
        let reply = FrameBuilder.ARP.reply(
            senderMAC: mac, senderAddress: arp.targetProtocolAddress, targetMAC: asker,
            targetAddress: arp.senderProtocolAddress, vlan: vlan)
        return .reply(.arp(reply), asker: client)
    }

    @inlinable
    func decide(
        _ solicitation: NeighborDiscoverySummary, ip: IPSummary, ethernetSource: MACAddress
    ) -> NeighborDecision {
        let isOwned = owned.contains(solicitation.target)
        guard isOwned || watched.contains(solicitation.target) else { return .ignore(.notOwned) }
        // What we would refuse to answer we also do not learn from: watched addresses end in `.notOwned`.
        func refuse(_ reason: NeighborIgnoreReason) -> NeighborDecision { .ignore(isOwned ? reason : .notOwned) }
        // A solicitation that crossed a router is forged or misrouted (RFC 4861 §7.1.1).
        guard ip.hopLimit == 255 else { return refuse(.invalidSolicitation) }
        let source = IPv6Address(high: ip.source.high, low: ip.source.low)
        if source == .any {
            // Duplicate address detection: nobody to remember; no source option allowed, and the answer goes
            // to all nodes.
            guard isOwned, !solicitation.hasLinkLayerAddress else { return refuse(.invalidSolicitation) }
            let reply = FrameBuilder.NeighborAdvertisement.solicited(
                senderMAC: mac, target: solicitation.target, requesterMAC: ethernetSource, requesterAddress: source,
                vlan: vlan)
            return .reply(.neighborAdvertisement(reply), asker: nil)
        }
        guard source.high >> 56 != 0xFF else { return refuse(.invalidSender) }
        // The source link-layer option names the asker; without one, its Ethernet source does.
        let asker = solicitation.hasLinkLayerAddress ? solicitation.linkLayerAddress : ethernetSource
        guard asker != .zero, !asker.isMulticast else { return refuse(.invalidSender) }
        guard isOwned else { return .learn(KnownClient(mac: asker, address: ip.source)) }
        let reply = FrameBuilder.NeighborAdvertisement.solicited(
            senderMAC: mac, target: solicitation.target, requesterMAC: asker, requesterAddress: source, vlan: vlan)
        return .reply(.neighborAdvertisement(reply), asker: KnownClient(mac: asker, address: ip.source))
    }
}
