import TakeoverCore
import Testing

/// The announcement schedule against a fake clock: which announcements, in which round, at which moment.
@Suite struct AnnouncementScheduleTests {
    static let start = MonotonicTime(nanoseconds: 10_000_000_000)
    static func at(milliseconds: UInt64) -> MonotonicTime { start + milliseconds * 1_000_000 }

    static let secondIPv4 = IPv4Address(198, 51, 100, 99)
    static let v4Client = KnownClient(mac: TakeoverLab.clientMAC, address: .v4(TakeoverLab.clientIPv4))
    static let v6Client = KnownClient(mac: TakeoverLab.clientMAC, address: .v6(TakeoverLab.clientIPv6))

    /// 192.0.2.99, 2001:db8::99, 198.51.100.99.
    static func addresses() throws -> OwnedAddressSet {
        var set = OwnedAddressSet(capacity: 4)
        try set.insert(.v4(TakeoverLab.ownedIPv4))
        try set.insert(.v6(TakeoverLab.ownedIPv6))
        try set.insert(.v4(secondIPv4))
        return set
    }

    /// A short readable form of one announcement: kind, address, and for unicasts the client.
    static func label(_ announcement: Announcement) -> String {
        let address = "\(announcement.address.ipAddress)"
        switch announcement.kind {
        case .gratuitousARPRequest: return "garp-req \(address)"
        case .gratuitousARPReply: return "garp-rep \(address)"
        case .unsolicitedNeighborAdvertisement: return "na \(address)"
        case .unicastARPReply: return "arp-rep \(address)>\(announcement.client!.address.ipAddress)"
        case .unicastNeighborAdvertisement: return "ucast-na \(address)>\(announcement.client!.address.ipAddress)"
        }
    }

    static let broadcastRound = [
        "garp-req 192.0.2.99", "garp-rep 192.0.2.99", "na 2001:db8::99", "garp-req 198.51.100.99",
        "garp-rep 198.51.100.99",
    ]
    static let clientUnicasts = [
        "arp-rep 192.0.2.99>192.0.2.10", "arp-rep 198.51.100.99>192.0.2.10", "ucast-na 2001:db8::99>2001:db8::10",
    ]

    /// Drives `schedule` like the engine loop would, always waking exactly at `nextDeadline` (and checking
    /// that one nanosecond earlier nothing is due), until `horizon`. Returns (ms after start, round, labels).
    static func run(
        _ schedule: inout AnnouncementSchedule, until horizon: MonotonicTime
    ) -> [(milliseconds: UInt64, round: Int, labels: [String])] {
        var rounds: [(UInt64, Int, [String])] = []
        var wakeups = 0
        while let deadline = schedule.nextDeadline, deadline <= horizon, wakeups < 1000 {
            wakeups += 1
            if deadline.nanoseconds > 0 {
                #expect(schedule.due(at: MonotonicTime(nanoseconds: deadline.nanoseconds - 1)) { _ in true } == 0)
            }
            var emitted: [Announcement] = []
            schedule.due(at: deadline) {
                emitted.append($0)
                return true
            }
            #expect(!emitted.isEmpty)
            for round in Set(emitted.map(\.round)).sorted() {
                rounds.append(
                    (
                        deadline.nanoseconds(since: start) / 1_000_000, round,
                        emitted.filter { $0.round == round }.map(label)
                    ))
            }
        }
        return rounds
    }

    struct TimingCase: CustomTestStringConvertible, Sendable {
        var count: Int
        var spacingMilliseconds: Int
        var refreshMilliseconds: Int
        /// Expected round start times, in ms after the takeover, up to 3.5 s.
        var roundTimes: [UInt64]
        var testDescription: String {
            "count \(count) spacing \(spacingMilliseconds) ms refresh \(refreshMilliseconds) ms"
        }
    }

    @Test(arguments: [
        TimingCase(count: 3, spacingMilliseconds: 100, refreshMilliseconds: 0, roundTimes: [0, 100, 200]),
        TimingCase(count: 1, spacingMilliseconds: 100, refreshMilliseconds: 1000, roundTimes: [0, 1000, 2000, 3000]),
        TimingCase(
            count: 2, spacingMilliseconds: 50, refreshMilliseconds: 500,
            roundTimes: [0, 50, 550, 1050, 1550, 2050, 2550, 3050]),
        TimingCase(count: 4, spacingMilliseconds: 0, refreshMilliseconds: 0, roundTimes: [0, 0, 0, 0]),
        TimingCase(count: 5, spacingMilliseconds: 1000, refreshMilliseconds: 0, roundTimes: [0, 1000, 2000, 3000]),
    ])
    func roundsFollowCountSpacingAndRefresh(_ timing: TimingCase) throws {
        var schedule = AnnouncementSchedule(
            configuration: .init(
                count: timing.count, spacing: .milliseconds(timing.spacingMilliseconds),
                refresh: .milliseconds(timing.refreshMilliseconds), addressCapacity: 4, clientCapacity: 8))
        let idleDeadline = schedule.nextDeadline
        let idleActive = schedule.isActive
        #expect(idleDeadline == nil && !idleActive)
        let owned = try Self.addresses()
        try schedule.start(at: Self.start, addresses: owned)
        #expect(schedule.nextDeadline == Self.start, "round 0 is due at once")
        schedule.addClient(Self.v4Client)
        schedule.addClient(Self.v6Client)

        let rounds = Self.run(&schedule, until: Self.at(milliseconds: 3500))
        #expect(rounds.map(\.milliseconds) == timing.roundTimes)
        #expect(rounds.map(\.round) == Array(0..<timing.roundTimes.count))
        for (index, round) in rounds.enumerated() {
            // Every round: both gratuitous forms per IPv4 address, an NA per IPv6 address; round 0 also one
            // unicast per client and address of its family.
            #expect(round.labels == Self.broadcastRound + (index == 0 ? Self.clientUnicasts : []), "round \(index)")
        }
        let ended = timing.refreshMilliseconds == 0 && timing.roundTimes.count == timing.count
        #expect((schedule.nextDeadline == nil) == ended)
        #expect(schedule.roundsStarted == rounds.count)
    }

    @Test func aLateLoopSendsOneRoundAndKeepsTheSpacing() throws {
        var schedule = AnnouncementSchedule(configuration: .init(count: 3, spacing: .milliseconds(100)))
        try schedule.start(at: Self.start, addresses: try Self.addresses())
        #expect(schedule.due(at: Self.start) { _ in true } == 5)
        #expect(schedule.nextDeadline == Self.at(milliseconds: 100))
        // The loop oversleeps by 250 ms: round 1 only, not rounds 1 and 2 back to back.
        var rounds: [Int] = []
        schedule.due(at: Self.at(milliseconds: 350)) {
            rounds.append($0.round)
            return true
        }
        #expect(rounds == [1, 1, 1, 1, 1])
        #expect(schedule.nextDeadline == Self.at(milliseconds: 450))
        #expect(schedule.due(at: Self.at(milliseconds: 449)) { _ in true } == 0)
        #expect(schedule.due(at: Self.at(milliseconds: 450)) { _ in true } == 5)
        #expect(schedule.nextDeadline == nil)
    }

    @Test func nothingAfterStopUntilTheNextStart() throws {
        var schedule = AnnouncementSchedule(
            configuration: .init(count: 3, spacing: .milliseconds(100), refresh: .seconds(1)))
        try schedule.start(at: Self.start, addresses: try Self.addresses())
        schedule.addClient(Self.v4Client)
        #expect(schedule.due(at: Self.start) { _ in true } == 7)
        schedule.stop()
        let stillActive = schedule.isActive
        #expect(!stillActive)
        #expect(schedule.nextDeadline == nil)
        for later: UInt64 in [0, 100, 1_000, 60_000] {
            #expect(
                schedule.due(at: Self.at(milliseconds: later)) { _ in
                    Issue.record("sent after stop")
                    return true
                } == 0)
        }
        // Stopped halfway through a round (the sink refused): the rest is never sent either.
        try schedule.start(at: Self.at(milliseconds: 70_000), addresses: try Self.addresses())
        let clientsLeft = schedule.clients.count
        #expect(clientsLeft == 0, "a new takeover forgets the last one's clients")
        var taken = 0
        schedule.due(at: Self.at(milliseconds: 70_000)) { _ in
            taken += 1
            return taken < 3
        }
        #expect(taken == 3)
        schedule.stop()
        #expect(
            schedule.due(at: Self.at(milliseconds: 70_000)) { _ in
                Issue.record("sent after stop")
                return true
            } == 0)
    }

    @Test(arguments: 0..<8)
    func aRefusedAnnouncementIsOfferedAgainAndNothingIsLostOrRepeated(refuseAt: Int) throws {
        func makeSchedule() throws -> AnnouncementSchedule {
            var schedule = AnnouncementSchedule(configuration: .init(count: 1))
            try schedule.start(at: Self.start, addresses: try Self.addresses())
            schedule.addClient(Self.v4Client)
            schedule.addClient(Self.v6Client)
            return schedule
        }
        var reference = try makeSchedule()
        var expected: [String] = []
        reference.due(at: Self.start) {
            expected.append(Self.label($0))
            return true
        }
        #expect(expected == Self.broadcastRound + Self.clientUnicasts)

        var schedule = try makeSchedule()
        var sent: [String] = []
        var offers = 0
        let first = schedule.due(at: Self.start) { announcement in
            offers += 1
            guard offers <= refuseAt else { return false }  // the ring is full from here on
            sent.append(Self.label(announcement))
            return true
        }
        #expect(first == refuseAt)
        #expect(schedule.nextDeadline == Self.start, "an unfinished round stays due")
        // The next call, a little later, resumes with the refused announcement.
        let rest = schedule.due(at: Self.at(milliseconds: 1)) {
            sent.append(Self.label($0))
            return true
        }
        #expect(first + rest == expected.count)
        #expect(sent == expected)
        #expect(schedule.nextDeadline == nil)
    }

    /// The session table's clients reach the responder a moment after its takeover command: when round 0 has
    /// already gone out, their unicasts go at once (carrying round 0), and exactly once.
    @Test func aClientAddedBetweenRoundsGetsOneUnicastAtOnce() throws {
        var schedule = AnnouncementSchedule(
            configuration: .init(count: 2, spacing: .milliseconds(100), refresh: .seconds(1)))
        try schedule.start(at: Self.start, addresses: try Self.addresses())
        schedule.addClient(Self.v4Client)
        var sent: [(milliseconds: UInt64, round: Int, label: String)] = []
        func wake(_ milliseconds: UInt64) {
            schedule.due(at: Self.at(milliseconds: milliseconds)) {
                sent.append((milliseconds, $0.round, Self.label($0)))
                return true
            }
        }
        wake(0)
        let late = KnownClient(mac: TakeoverLab.secondClientMAC, address: .v4(IPv4Address(192, 0, 2, 11)))
        let lateAdded = schedule.addClient(late)
        let knownAdded = schedule.addClient(Self.v4Client)
        #expect(lateAdded)
        #expect(knownAdded, "already known: accepted, not repeated")
        #expect(schedule.nextDeadline == Self.start, "the late client is due now, not at round 1")
        wake(3)
        wake(100)
        wake(1100)
        let unicasts = ["arp-rep 192.0.2.99>", "arp-rep 198.51.100.99>"]
        let expected: [(UInt64, Int, String)] =
            Self.broadcastRound.map { (0, 0, $0) } + unicasts.map { (0, 0, $0 + "192.0.2.10") }
            + unicasts.map { (3, 0, $0 + "192.0.2.11") } + Self.broadcastRound.map { (100, 1, $0) }
            + Self.broadcastRound.map { (1100, 2, $0) }
        #expect(sent.map(\.milliseconds) == expected.map(\.0))
        #expect(sent.map(\.round) == expected.map(\.1))
        #expect(sent.map(\.label) == expected.map(\.2))
    }

    /// Once the takeover rounds are over and refresh is off, nothing is scheduled — yet a client added then
    /// still gets its unicast; a refused one is offered again, and nothing is sent twice.
    @Test func aClientAddedAfterTheLastRoundIsStillAnnouncedOnce() throws {
        var schedule = AnnouncementSchedule(configuration: .init(count: 1, refresh: .zero))
        try schedule.start(at: Self.start, addresses: try Self.addresses())
        #expect(schedule.due(at: Self.start) { _ in true } == Self.broadcastRound.count)
        #expect(schedule.nextDeadline == nil)
        schedule.addClient(Self.v4Client)
        schedule.addClient(Self.v6Client)
        #expect(schedule.nextDeadline == Self.start)
        var sent: [String] = []
        var offers = 0
        let first = schedule.due(at: Self.at(milliseconds: 5)) { announcement in
            offers += 1
            guard offers <= 1 else { return false }
            sent.append(Self.label(announcement))
            return true
        }
        #expect(first == 1)
        #expect(schedule.nextDeadline == Self.start, "the refused unicast stays due")
        let rest = schedule.due(at: Self.at(milliseconds: 6)) {
            sent.append(Self.label($0))
            return true
        }
        #expect(first + rest == Self.clientUnicasts.count)
        #expect(sent == Self.clientUnicasts)
        #expect(schedule.nextDeadline == nil)
        #expect(schedule.due(at: Self.at(milliseconds: 10_000)) { _ in true } == 0, "nothing twice")
    }

    @Test func clientsFromTheResponderAndTheSessionTable() throws {
        var schedule = AnnouncementSchedule(configuration: .init(count: 1, clientCapacity: 3))
        var learned = KnownClientTable(capacity: 8)
        learned.record(Self.v4Client)
        learned.record(Self.v6Client)
        try schedule.start(at: Self.start, addresses: try Self.addresses())
        #expect(schedule.addClients(from: learned) == 0)
        let fromSessions = [
            Self.v4Client,  // also learned by the responder: one entry
            KnownClient(mac: TakeoverLab.otherMAC, address: .v4(IPv4Address(203, 0, 113, 5))),
            KnownClient(mac: TakeoverLab.secondClientMAC, address: .v4(IPv4Address(203, 0, 113, 6))),
        ]
        #expect(schedule.addClients(fromSessions) == 1, "capacity 3: the last one does not fit")
        #expect(schedule.clients.count == 3)
        var unicasts = 0
        schedule.due(at: Self.start) {
            if $0.client != nil { unicasts += 1 }
            return true
        }
        #expect(unicasts == 2 + 1 + 2)  // two IPv4 for each IPv4 client, one IPv6 for the IPv6 client
    }

    @Test func everyKindOfAnnouncementAsTsharkReadsIt() throws {
        let mac = TakeoverLab.ourMAC
        let v4 = FlowAddress(TakeoverLab.ownedIPv4)
        let v6 = FlowAddress(TakeoverLab.ownedIPv6)
        let announcements: [Announcement] = [
            Announcement(kind: .gratuitousARPRequest, address: v4, round: 0),
            Announcement(kind: .gratuitousARPReply, address: v4, round: 0),
            Announcement(kind: .unsolicitedNeighborAdvertisement, address: v6, round: 0),
            Announcement(kind: .unicastARPReply, address: v4, client: Self.v4Client, round: 0),
            Announcement(kind: .unicastNeighborAdvertisement, address: v6, client: Self.v6Client, round: 0),
        ]
        var sink = InMemoryPacketQueue(capacity: 8)
        for announcement in announcements {
            let outcome = try sink.transmit(announcement.frame(from: mac, vlan: nil))
            #expect(outcome != .abandoned)
        }
        let tagged = try sink.transmit(announcements[0].frame(from: mac, vlan: VLANTag(identifier: 42)))
        #expect(tagged != .abandoned)
        let packets = try Judge.tshark(TakeoverLab.drain(sink))
        try #require(packets.count == 6)
        for packet in packets {
            #expect(packet["eth.src"] == "02:00:00:00:00:0b")
            #expect(packet.expertWarnings.isEmpty, "\(packet.expertWarnings)")
        }
        // Gratuitous ARP, both forms: broadcast, sender = target = 192.0.2.99 at our MAC.
        for (packet, opcode, targetMAC) in [
            (packets[0], "1", "00:00:00:00:00:00"), (packets[1], "2", "02:00:00:00:00:0b"),
        ] {
            #expect(packet["eth.dst"] == "ff:ff:ff:ff:ff:ff")
            #expect(packet["arp.opcode"] == opcode)
            #expect(packet["arp.isgratuitous"] == "1")
            #expect(packet["arp.src.hw_mac"] == "02:00:00:00:00:0b")
            #expect(packet["arp.src.proto_ipv4"] == "192.0.2.99")
            #expect(packet["arp.dst.hw_mac"] == targetMAC)
            #expect(packet["arp.dst.proto_ipv4"] == "192.0.2.99")
        }
        // Unsolicited NA: all nodes, Override, not Solicited.
        #expect(packets[2]["eth.dst"] == "33:33:00:00:00:01")
        #expect(packets[2]["ipv6.dst"] == "ff02::1")
        // Unicast ARP reply to the client.
        #expect(packets[3]["eth.dst"] == "02:00:00:00:00:0c")
        #expect(packets[3]["arp.opcode"] == "2")
        #expect(packets[3]["arp.src.proto_ipv4"] == "192.0.2.99")
        #expect(packets[3]["arp.dst.hw_mac"] == "02:00:00:00:00:0c")
        #expect(packets[3]["arp.dst.proto_ipv4"] == "192.0.2.10")
        #expect(packets[3]["arp.isgratuitous"] != "1")
        // Unicast NA to the client: Override, not Solicited (it answers no solicitation).
        #expect(packets[4]["eth.dst"] == "02:00:00:00:00:0c")
        #expect(packets[4]["ipv6.dst"] == "2001:db8::10")
        for packet in [packets[2], packets[4]] {
            #expect(packet["ipv6.src"] == "2001:db8::99")
            #expect(packet["ipv6.hlim"] == "255")
            #expect(packet["icmpv6.type"] == "136")
            #expect(packet["icmpv6.checksum.status"] == Judge.checksumGood)
            #expect(packet["icmpv6.nd.na.flag.s"] == "0")
            #expect(packet["icmpv6.nd.na.flag.o"] == "1")
            #expect(packet["icmpv6.nd.na.target_address"] == "2001:db8::99")
            #expect(packet["icmpv6.opt.target_linkaddr"] == "02:00:00:00:00:0b")
        }
        #expect(packets[5]["vlan.id"] == "42")
        #expect(packets[5]["arp.isgratuitous"] == "1")
    }
}
