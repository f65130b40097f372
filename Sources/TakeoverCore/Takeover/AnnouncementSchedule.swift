// When a node takes over, every neighbour must learn that the peer's addresses now live at our MAC. Hosts
// differ in what they heed (RFC 5227 §3), so each IPv4 address goes out as gratuitous ARP in both forms and
// each IPv6 address as an unsolicited neighbor advertisement with Override; the burst is repeated `count`
// times, `spacing` apart, for the frames a busy switch or NIC drops, then refreshed every `refresh`. Every
// known client also gets one unicast ARP reply or advertisement: a host that ignores broadcast announcements
// (Linux with arp_accept=0 creates no entry from one) still takes a reply addressed to it.
//
//   start(at: t)  round 0 at t: GARP req + GARP reply per IPv4, NA per IPv6, then one unicast per client
//                 round k at (start of round k-1) + spacing, k < count; then every `refresh` (0: never)
//   addClient     a client added between rounds gets its unicast at once, not with the next round
//   stop()        nothing more, ever, until the next start (failback: never two owners at once)
//
// Pure and pull-driven: the engine's loop asks `nextDeadline`, waits at most that long, and calls `due(at:)`,
// which hands each announcement to a callback. A callback that could not send (transmit ring full) returns
// false; the schedule then stops where it was and resumes from that announcement on the next call. A round
// that starts late keeps its spacing to the next one: rounds are never sent back to back to catch up.

/// One announcement to send: which form, for which of our addresses, and to whom.
public struct Announcement: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public enum Kind: UInt8, Hashable, Sendable, BitwiseCopyable, CaseIterable {
        /// Gratuitous ARP, request form (op 1, sender = target = the address), broadcast.
        case gratuitousARPRequest
        /// Gratuitous ARP, reply form (op 2, target MAC = ours), broadcast.
        case gratuitousARPReply
        /// Unsolicited neighbor advertisement (Override) to all nodes.
        case unsolicitedNeighborAdvertisement
        /// ARP reply addressed to one known client.
        case unicastARPReply
        /// Neighbor advertisement (Override, not Solicited) addressed to one known client.
        case unicastNeighborAdvertisement
    }

    public var kind: Kind
    /// The address announced (ours now), IPv4 in mapped form.
    public var address: FlowAddress
    /// The client a unicast kind goes to; nil for the broadcast kinds.
    public var client: KnownClient?
    /// The round it belongs to, counted from 0 at `start`; refresh rounds continue the count.
    public var round: Int

    @inlinable
    public init(kind: Kind, address: FlowAddress, client: KnownClient? = nil, round: Int) {
        self.kind = kind
        self.address = address
        self.client = client
        self.round = round
    }

    /// The frame that carries it, from `mac`, tagged with `vlan` when given.
    @inlinable
    public func frame(from mac: MACAddress, vlan: VLANTag?) -> NeighborFrame {
        let v4 = IPv4Address(rawValue: UInt32(truncatingIfNeeded: address.low))
        let v6 = IPv6Address(high: address.high, low: address.low)
        let clientMAC = client?.mac ?? .broadcast
        let clientAddress = client?.address ?? FlowAddress(high: 0, low: 0)
        switch kind {
        case .gratuitousARPRequest:
            return .arp(.gratuitousRequest(mac: mac, address: v4, vlan: vlan))
        case .gratuitousARPReply:
            return .arp(.gratuitousReply(mac: mac, address: v4, vlan: vlan))
        case .unsolicitedNeighborAdvertisement:
            return .neighborAdvertisement(.unsolicited(senderMAC: mac, target: v6, vlan: vlan))
        case .unicastARPReply:
            return .arp(
                .reply(
                    senderMAC: mac, senderAddress: v4, targetMAC: clientMAC,
                    targetAddress: IPv4Address(rawValue: UInt32(truncatingIfNeeded: clientAddress.low)), vlan: vlan))
        case .unicastNeighborAdvertisement:
            return .neighborAdvertisement(
                FrameBuilder.NeighborAdvertisement(
                    ethernetDestination: clientMAC, senderMAC: mac, source: v6,
                    destination: IPv6Address(high: clientAddress.high, low: clientAddress.low), target: v6,
                    flags: .override, vlan: vlan))
        }
    }

    public var description: String {
        let target = client.map { " to \($0)" } ?? ""
        return "round \(round) \(kind) \(address.ipAddress)\(target)"
    }
}

/// The takeover announcements over time. Pure: the caller passes the time; storage is allocated at init.
public struct AnnouncementSchedule: ~Copyable {
    public struct Configuration: Hashable, Sendable {
        /// Rounds sent at takeover, the first at once (at least 1).
        public var count: Int
        /// From the start of one takeover round to the start of the next.
        public var spacing: Duration
        /// From the start of the last takeover round (then of each refresh) to the next refresh; `.zero`: none.
        public var refresh: Duration
        /// Most addresses one takeover announces.
        public var addressCapacity: Int
        /// Most clients that get a unicast announcement.
        public var clientCapacity: Int

        public init(
            count: Int = 3, spacing: Duration = .milliseconds(100), refresh: Duration = .zero,
            addressCapacity: Int = 16, clientCapacity: Int = 4096
        ) {
            precondition(count >= 1, "AnnouncementSchedule: at least one round")
            precondition(spacing >= .zero && refresh >= .zero, "AnnouncementSchedule: negative interval")
            self.count = count
            self.spacing = spacing
            self.refresh = refresh
            self.addressCapacity = addressCapacity
            self.clientCapacity = clientCapacity
        }
    }

    public let configuration: Configuration
    @usableFromInline let spacing: UInt64
    @usableFromInline let refresh: UInt64
    /// The addresses the current takeover announces (copied at `start`).
    public private(set) var addresses: OwnedAddressSet
    /// Clients to be sent one unicast each.
    public private(set) var clients: KnownClientTable

    @usableFromInline var active = false
    /// A round has begun and not every announcement of it was taken.
    @usableFromInline var inRound = false
    @usableFromInline var round = 0
    @usableFromInline var roundStartedAt = MonotonicTime.zero
    /// When the next round begins; nil when none will (takeover rounds done, refresh off).
    @usableFromInline var nextRoundAt: MonotonicTime?
    // The cursor inside a round: broadcast forms address by address, then unicasts client by client.
    @usableFromInline var addressCursor = 0
    @usableFromInline var formCursor = 0
    @usableFromInline var clientCursor = 0
    @usableFromInline var clientAddressCursor = 0
    /// Clients before this position have had their unicast.
    @usableFromInline var clientsAnnounced = 0

    public init(configuration: Configuration) {
        self.configuration = configuration
        spacing = configuration.spacing.nanosecondsClamped
        refresh = configuration.refresh.nanosecondsClamped
        addresses = OwnedAddressSet(capacity: configuration.addressCapacity)
        clients = KnownClientTable(capacity: configuration.clientCapacity)
    }

    /// Started and not stopped (it may have nothing more to send).
    @inlinable public var isActive: Bool { active }

    /// Rounds begun since the last `start`.
    @inlinable public var roundsStarted: Int { round + (inRound ? 1 : 0) }

    /// When `due` next has something to send: in the past while a round is unfinished, nil when stopped or
    /// when nothing more is scheduled.
    @inlinable
    public var nextDeadline: MonotonicTime? {
        guard active else { return nil }
        return inRound || hasLateClients ? roundStartedAt : nextRoundAt
    }

    /// Clients added after the unicasts of a round that has begun: they are due at once, not a spacing later
    /// (nor never, once the takeover rounds are over and refresh is off).
    @inlinable var hasLateClients: Bool { !inRound && round > 0 && clientsAnnounced < clients.count }

    /// Begins a takeover: round 0 is due at `now`. Copies `addresses` (announced until `stop`) and forgets
    /// the clients of any earlier takeover; add this one's with `addClient`/`addClients`.
    public mutating func start(at now: MonotonicTime, addresses owned: borrowing OwnedAddressSet)
        throws(TakeoverTableError)
    {
        try addresses.replace(with: owned)
        clients.removeAll()
        active = true
        inRound = false
        round = 0
        nextRoundAt = now
        clientsAnnounced = 0
        clientCursor = 0
        clientAddressCursor = 0
    }

    /// Adds a client to announce to, once: in the current round if its unicasts have not reached the end yet,
    /// otherwise at once on its own (the next `due` call), carrying the number of the round it missed. Returns
    /// false when the table is full. A known address takes the new MAC.
    @discardableResult
    public mutating func addClient(_ client: KnownClient) -> Bool {
        clients.record(client) != .full
    }

    /// Adds every client of `table` (the responder's askers); returns how many did not fit.
    @discardableResult
    public mutating func addClients(from table: borrowing KnownClientTable) -> Int {
        var dropped = 0
        for position in 0..<table.count where !addClient(table[position]) { dropped += 1 }
        return dropped
    }

    /// Adds every client of `sequence` (the session table's peers); returns how many did not fit.
    @discardableResult
    public mutating func addClients(_ sequence: some Sequence<KnownClient>) -> Int {
        var dropped = 0
        for client in sequence where !addClient(client) { dropped += 1 }
        return dropped
    }

    /// Ends the announcements: `due` sends nothing until the next `start`.
    public mutating func stop() {
        active = false
        inRound = false
        nextRoundAt = nil
    }

    /// Hands every announcement due at `now` to `emit`, in order, and returns how many it took. `emit` returns
    /// false when it could not send one; that one is offered again on the next call.
    @inlinable @discardableResult
    public mutating func due(at now: MonotonicTime, _ emit: (Announcement) -> Bool) -> Int {
        var taken = 0
        while active {
            if hasLateClients {
                guard emitUnicasts(round: round - 1, &taken, emit) else { break }
                clientsAnnounced = clientCursor
            }
            if !inRound {
                guard let next = nextRoundAt, next <= now else { break }
                inRound = true
                roundStartedAt = now
                addressCursor = 0
                formCursor = 0
                clientCursor = clientsAnnounced
                clientAddressCursor = 0
            }
            guard emitRound(&taken, emit) else { break }
            inRound = false
            round += 1
            clientsAnnounced = clientCursor
            let interval = round < configuration.count ? spacing : refresh
            nextRoundAt = round < configuration.count || refresh > 0 ? roundStartedAt + interval : nil
        }
        return taken
    }

    /// Emits the rest of the current round from the cursor; false if `emit` refused one.
    @inlinable
    mutating func emitRound(_ taken: inout Int, _ emit: (Announcement) -> Bool) -> Bool {
        while addressCursor < addresses.count {
            let address = addresses[addressCursor]
            let forms = address.isIPv4 ? 2 : 1
            while formCursor < forms {
                let kind: Announcement.Kind =
                    !address.isIPv4
                    ? .unsolicitedNeighborAdvertisement : formCursor == 0 ? .gratuitousARPRequest : .gratuitousARPReply
                guard emit(Announcement(kind: kind, address: address, round: round)) else { return false }
                taken += 1
                formCursor += 1
            }
            formCursor = 0
            addressCursor += 1
        }
        return emitUnicasts(round: round, &taken, emit)
    }

    /// Emits one unicast per client from the client cursor on, for each address of the client's family; false if
    /// `emit` refused one (the cursor stays on it).
    @inlinable
    mutating func emitUnicasts(round: Int, _ taken: inout Int, _ emit: (Announcement) -> Bool) -> Bool {
        while clientCursor < clients.count {
            let client = clients[clientCursor]
            while clientAddressCursor < addresses.count {
                let address = addresses[clientAddressCursor]
                if address.isIPv4 == client.address.isIPv4 {
                    let kind: Announcement.Kind = address.isIPv4 ? .unicastARPReply : .unicastNeighborAdvertisement
                    guard emit(Announcement(kind: kind, address: address, client: client, round: round)) else {
                        return false
                    }
                    taken += 1
                }
                clientAddressCursor += 1
            }
            clientAddressCursor = 0
            clientCursor += 1
        }
        return true
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to `0...UInt64.max` (the schedule's times are `MonotonicTime` nanoseconds).
    @usableFromInline
    var nanosecondsClamped: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000)).partialValue
    }
}
