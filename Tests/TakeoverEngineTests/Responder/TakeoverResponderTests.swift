import Foundation
import Synchronization
import TakeoverCore
import TakeoverEngine
import Testing

/// The responder loop in-process, over a scripted port: takeover, answers, announcement rounds, release and a
/// second takeover on the same thread, a sink out of buffers, shutdown.
@Suite struct TakeoverResponderTests {
    static let ourMAC = MACAddress("02:00:00:00:00:0b")!
    static let clientMAC = MACAddress("02:00:00:00:00:0c")!
    static let owned4 = IPv4Address(192, 0, 2, 99)
    static let owned6 = IPv6Address("2001:db8::99")!
    static let client4 = IPv4Address(192, 0, 2, 10)
    static let client6 = IPv6Address("2001:db8::10")!

    static func arpRequest(for target: IPv4Address, from sender: IPv4Address = client4) throws -> [UInt8] {
        let request = FrameBuilder.ARP.request(senderMAC: clientMAC, senderAddress: sender, targetAddress: target)
        var frame = [UInt8](repeating: 0, count: FrameBuilder.ARP.frameLength(vlan: nil))
        _ = try frame.withUnsafeMutableBytes { try request.write(into: $0) }
        return frame
    }

    static func responder(
        _ port: ScriptedPort, count: Int = 3, spacing: Duration = .milliseconds(40), refresh: Duration = .zero
    ) throws -> TakeoverResponder {
        try TakeoverResponder(
            port: port,
            configuration: TakeoverResponderConfiguration(
                mac: ourMAC, announcements: .init(count: count, spacing: spacing, refresh: refresh)))
    }

    @Test func standbyTakeoverAnswersAnnouncesAndReleases() throws {
        let port = ScriptedPort()
        let responder = try Self.responder(port)
        defer { responder.shutdown() }

        // Standing by: a request for the address is drained, not answered, and nothing is announced.
        port.inject(try Self.arpRequest(for: Self.owned4))
        #expect(eventually { responder.status.framesReceived == 1 })
        #expect(port.sent.isEmpty)
        #expect(!responder.status.isAnswering && responder.firstAnnouncementAt == nil)

        let beforeTakeover = monotonicNow()
        try responder.takeOver(
            addresses: [.v4(Self.owned4), .v6(Self.owned6)],
            clients: [KnownClient(mac: Self.clientMAC, address: .v4(Self.client4))])
        // Three rounds of three broadcast frames, plus one unicast ARP reply in round 0.
        #expect(eventually { port.sent.count >= 10 && responder.status.announcementRounds == 3 })
        let status = responder.status
        #expect(status.isAnswering && status.takeovers == 1)
        #expect(status.addresses == [.v4(Self.owned4), .v6(Self.owned6)])
        let applied = try #require(status.takeoverAppliedAt)
        let first = try #require(status.firstAnnouncementAt)
        #expect(beforeTakeover <= applied && applied <= first)
        let announcements = port.sent.compactMap(SentFrame.init)
        #expect(announcements.count == 10)
        // The stamp is the first frame's: after it was handed over, before the second was.
        #expect(announcements[0].at <= first && first <= announcements[1].at)
        #expect(announcements.allSatisfy { $0.source == Self.ourMAC })
        #expect(announcements.filter(\.isGratuitousARP).count == 6)
        #expect(
            announcements.filter { $0.advertisement != nil && $0.destination == .ipv6Multicast(.allNodes) }.count == 3)
        let unicast = announcements.filter { $0.destination == Self.clientMAC }
        #expect(unicast.count == 1 && unicast.first?.arp?.operation == 2)
        // Rounds start at least `spacing` apart. A frame's stamp lags its round's start by the time taken to
        // build and hand over the frames before it (more in round 0, which also flushes for the stamp), so
        // first frames of two rounds may be a little closer: 1 ms of slack.
        let roundStarts = [announcements[0].at, announcements[4].at, announcements[7].at]
        for (earlier, later) in zip(roundStarts, roundStarts.dropFirst()) {
            #expect(later.nanoseconds(since: earlier) >= 39_000_000, "\(roundStarts)")
        }

        // Answering: an ARP request gets a reply from our MAC, unicast to the asker.
        port.inject(try Self.arpRequest(for: Self.owned4))
        #expect(eventually { port.sent.count == 11 })
        let reply = try #require(port.sent.last.flatMap(SentFrame.init))
        #expect(reply.destination == Self.clientMAC && reply.arp?.operation == 2)
        #expect(reply.arp?.senderProtocolAddress == Self.owned4 && reply.arp?.senderHardwareAddress == Self.ourMAC)
        #expect(eventually { responder.status.responder.arpRepliesSent == 1 && responder.status.knownClients == 1 })

        // Release: confirmed, and from then on nothing is answered or announced.
        #expect(responder.release(timeout: .seconds(2)))
        let sentAtRelease = port.sent.count
        #expect(!responder.status.isAnswering)
        port.inject(try Self.arpRequest(for: Self.owned4))
        #expect(eventually { responder.status.framesReceived == 3 })
        Thread.sleep(forTimeInterval: 0.1)
        #expect(port.sent.count == sentAtRelease)

        // A second takeover on the same thread; the asker learned earlier gets its unicast now.
        try responder.takeOver(addresses: [.v4(Self.owned4)])
        #expect(eventually { responder.status.takeovers == 2 && responder.status.firstAnnouncementAt != nil })
        #expect(eventually { port.sent.count >= sentAtRelease + 3 })
        let second = port.sent[sentAtRelease...].compactMap(SentFrame.init)
        #expect(second.prefix(3).map { $0.destination } == [.broadcast, .broadcast, Self.clientMAC])
        let secondFirst = try #require(responder.firstAnnouncementAt)
        #expect(secondFirst > first)
    }

    @Test func theFirstAnnouncementIsReportedOnceWithItsStamp() throws {
        let port = ScriptedPort()
        let responder = try Self.responder(port, count: 2, spacing: .milliseconds(20))
        defer { responder.shutdown() }
        let reported = Mutex<[MonotonicTime]>([])
        try responder.takeOver(addresses: [.v4(Self.owned4)]) { stamp in reported.withLock { $0.append(stamp) } }
        #expect(eventually { port.sent.count == 4 && responder.status.announcementRounds == 2 })
        let first = try #require(responder.firstAnnouncementAt)
        #expect(reported.withLock { $0 } == [first])
        #expect(port.sent[0].at <= first && first <= port.sent[1].at)
    }

    @Test func solicitationsAnsweredAndAskersAnnouncedTo() throws {
        let port = ScriptedPort()
        let responder = try Self.responder(port, count: 1)
        defer { responder.shutdown() }
        try responder.takeOver(addresses: [.v6(Self.owned6)])
        #expect(eventually { port.sent.count == 1 })
        // A neighbor solicitation from the client, as the parser reads it (hop limit 255, source option).
        let solicitation: [UInt8] = Self.neighborSolicitation()
        port.inject(solicitation)
        #expect(eventually { port.sent.count == 2 })
        let answer = try #require(port.sent.last.flatMap(SentFrame.init))
        #expect(answer.destination == Self.clientMAC)
        #expect(answer.advertisement?.target == Self.owned6)
        #expect(answer.advertisement?.isSolicited == true && answer.advertisement?.isOverride == true)
        #expect(answer.ipDestination == FlowAddress(Self.client6))
        #expect(eventually { responder.status.responder.neighborAdvertisementsSent == 1 })
    }

    @Test func announcementsWaitForAFreeBufferAndResume() throws {
        let port = ScriptedPort()
        port.refuseNextTransmits(2)
        let responder = try Self.responder(port, count: 1)
        defer { responder.shutdown() }
        try responder.takeOver(addresses: [.v4(Self.owned4), .v6(Self.owned6)])
        #expect(eventually { port.sent.count == 3 })
        Thread.sleep(forTimeInterval: 0.05)
        let frames = port.sent.compactMap(SentFrame.init)
        // Nothing lost, nothing repeated, in order.
        #expect(frames.count == 3)
        #expect(frames.prefix(2).allSatisfy(\.isGratuitousARP) && frames[2].advertisement != nil)
        #expect(eventually { responder.status.announcementsSent == 3 })
        #expect(responder.status.announcementsDeferred == 2)
    }

    @Test func clientsAnnouncedToDuringATakeoverGetTheirUnicastAtOnce() throws {
        let port = ScriptedPort()
        let responder = try Self.responder(port, count: 2, spacing: .milliseconds(100))
        defer { responder.shutdown() }
        try responder.takeOver(addresses: [.v4(Self.owned4)])
        #expect(eventually { port.sent.count == 2 })
        // The session table reports a client after round 0 went out: its unicast goes now, before round 1.
        try responder.announce(to: [KnownClient(mac: Self.clientMAC, address: .v4(Self.client4))])
        #expect(eventually { port.sent.count == 5 })
        let frames = port.sent.compactMap(SentFrame.init)
        #expect(frames.map(\.destination) == [.broadcast, .broadcast, Self.clientMAC, .broadcast, .broadcast])
        #expect(frames[2].arp?.targetProtocolAddress == Self.client4)
        #expect(eventually { responder.status.announcedClients == 1 })
        Thread.sleep(forTimeInterval: 0.15)
        #expect(port.sent.count == 5, "two rounds, no refresh: nothing more")
    }

    /// A source whose socket went away: every wait fails.
    final class VanishedSource: PacketSource, Sendable {
        struct Gone: Error, CustomStringConvertible { var description: String { "interface removed" } }
        func waitForFrames(timeout: Duration) throws(Gone) -> Bool { throw Gone() }
        func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(Gone) -> Int { throw Gone() }
        func statistics() throws(Gone) -> PacketSourceStatistics { throw Gone() }
    }

    @Test func aFailingSourceEndsTheLoopAndSaysWhy() throws {
        let sink = ScriptedPort()
        let responder = try TakeoverResponder(
            source: VanishedSource(), sink: sink, configuration: TakeoverResponderConfiguration(mac: Self.ourMAC))
        defer { responder.shutdown() }
        #expect(eventually { !responder.status.isRunning })
        #expect(responder.status.lastError == "receive: interface removed")
        #expect(throws: TakeoverResponderError.notRunning) { try responder.takeOver(addresses: [.v4(Self.owned4)]) }
        #expect(responder.release(timeout: .milliseconds(10)), "nothing answers: released at once")
        #expect(sink.sent.isEmpty)
    }

    @Test func shutdownEndsTheLoop() throws {
        let port = ScriptedPort()
        let responder = try Self.responder(port)
        #expect(responder.shutdown(timeout: .seconds(2)))
        #expect(!responder.status.isRunning)
        #expect(throws: TakeoverResponderError.notRunning) { try responder.takeOver(addresses: [.v4(Self.owned4)]) }
        // Nothing answers once the loop has ended, so a release has nothing to wait for.
        #expect(responder.release(timeout: .milliseconds(10)))
        let addresses = (0..<17).map { IPAddress.v4(IPv4Address(192, 0, 2, UInt8($0))) }
        #expect(throws: TakeoverResponderError.tooManyAddresses(count: 17, capacity: 16)) {
            try responder.takeOver(addresses: addresses)
        }
    }

    /// Ethernet + IPv6 (hop limit 255) + ICMPv6 NS for 2001:db8::99 with a source link-layer address option,
    /// checksum filled in (RFC 4443 pseudo-header) by hand: the responder does not check it, the kernel does.
    static func neighborSolicitation() -> [UInt8] {
        var frame: [UInt8] = []
        frame += [0x33, 0x33, 0xFF, 0x00, 0x00, 0x99] + clientMAC.octets + [0x86, 0xDD]
        let source = client6
        let destination = owned6.solicitedNodeMulticast
        func bytes(_ address: IPv6Address) -> [UInt8] {
            (0..<8).map { UInt8(truncatingIfNeeded: address.high >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: address.low >> (56 - 8 * $0)) }
        }
        var icmp: [UInt8] = [135, 0, 0, 0, 0, 0, 0, 0] + bytes(owned6) + [1, 1] + clientMAC.octets
        var sum: UInt32 = 0
        let pseudo = bytes(source) + bytes(destination) + [0, 0, 0, UInt8(icmp.count), 0, 0, 0, 58]
        for chunk in stride(from: 0, to: pseudo.count, by: 2) {
            sum += UInt32(pseudo[chunk]) << 8 | UInt32(pseudo[chunk + 1])
        }
        for chunk in stride(from: 0, to: icmp.count, by: 2) {
            sum += UInt32(icmp[chunk]) << 8 | UInt32(icmp[chunk + 1])
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        icmp[2] = UInt8(checksum >> 8)
        icmp[3] = UInt8(checksum & 0xFF)
        frame += [0x60, 0, 0, 0, 0, UInt8(icmp.count), 58, 255] + bytes(source) + bytes(destination) + icmp
        return frame
    }
}
